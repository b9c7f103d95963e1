/* Test fixture for nsgi-conformance: an app that never returns from a call to /some/deep/path
 * (check N9); every other path gets a plain 200. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    int *sent = state;
    (void)req;
    if (*sent) return NSGI_DONE;
    *sent = 1;
    chunk->ptr = (const uint8_t *)"ok";
    chunk->len = 2;
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable BODY = {sizeof(nsgi_body_vtable), body_next, body_close};

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    return NSGI_OK;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    (void)env;
    nsgi_bytes path;
    out->vtable = NULL;
    const char *deep = "/some/deep/path";
    if (HOST->environ_get(req, (nsgi_bytes){(const uint8_t *)"PATH_INFO", 9}, &path) == NSGI_OK &&
        path.len == strlen(deep) && memcmp(path.ptr, deep, path.len) == 0) {
        for (;;) sleep(3600);
    }
    nsgi_header h = {{(const uint8_t *)"Content-Type", 12}, {(const uint8_t *)"text/plain", 10}};
    nsgi_status rc = HOST->start_response(req, (nsgi_bytes){(const uint8_t *)"200 OK", 6}, &h, 1, NULL);
    if (rc != NSGI_OK) return rc;
    int *sent = calloc(1, sizeof *sent);
    if (sent == NULL) return NSGI_E_NOMEM;
    out->vtable = &BODY;
    out->state = sent;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    {(const uint8_t *)"hang", 4}, {(const uint8_t *)"C", 1},
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
