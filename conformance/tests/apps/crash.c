/* Test fixture for nsgi-conformance: an app that aborts the process on /static/hello.txt (check
 * N10), and calls start_response twice on every other path (C39), so that a test can see both
 * the crash and the findings made before it. */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_bytes b(const char *s) {
    nsgi_bytes out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    int *sent = state;
    (void)req;
    if (*sent) return NSGI_DONE;
    *sent = 1;
    *chunk = b("ok");
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
    const char *fatal = "/static/hello.txt";
    if (HOST->environ_get(req, b("PATH_INFO"), &path) == NSGI_OK && path.len == strlen(fatal) &&
        memcmp(path.ptr, fatal, path.len) == 0) {
        abort();
    }
    nsgi_header h = {b("Content-Type"), b("text/plain")};
    HOST->start_response(req, b("200 OK"), &h, 1, NULL);
    HOST->start_response(req, b("200 OK"), &h, 1, NULL);
    int *sent = calloc(1, sizeof *sent);
    if (sent == NULL) return NSGI_E_NOMEM;
    out->vtable = &BODY;
    out->state = sent;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    {(const uint8_t *)"crash", 5}, {(const uint8_t *)"C", 1},
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
