/* A sloppy NSGI app, written against nsgi.h alone, for the `--validate` tests.
 *
 * `/retry` breaks a rule the host repairs on its own: its first start_response has a malformed
 * status ("20 OK", check C44), which the host refuses; the app then starts again correctly, so a
 * plain gateway answers 200. Under --validate the gateway logs C44 and answers 500.
 * `/twice` calls start_response twice without exc_info (C39), which the host refuses at once.
 * Any other path behaves.
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_bytes b(const char *s) {
    nsgi_bytes out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static int path_is(nsgi_request *req, const char *want) {
    nsgi_bytes path;
    if (HOST->environ_get(req, b("PATH_INFO"), &path) != NSGI_OK) return 0;
    return path.len == strlen(want) && memcmp(path.ptr, want, path.len) == 0;
}

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    int *sent = state;
    (void)req;
    if (*sent) return NSGI_DONE;
    *sent = 1;
    *chunk = b("fine\n");
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable BODY = {sizeof(nsgi_body_vtable), body_next, body_close};

static nsgi_status start(nsgi_request *req, const char *status) {
    nsgi_header headers[2] = {{b("Content-Type"), b("text/plain")}, {b("Content-Length"), b("5")}};
    return HOST->start_response(req, b(status), headers, 2, NULL);
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    (void)env;
    out->vtable = NULL;
    if (path_is(req, "/retry")) {
        start(req, "20 OK"); /* refused: NSGI_E_INVAL */
    }
    nsgi_status rc = start(req, "200 OK");
    if (rc != NSGI_OK) return rc;
    if (path_is(req, "/twice")) {
        start(req, "200 OK"); /* refused: NSGI_E_STATE, and the response is lost */
    }
    int *sent = calloc(1, sizeof *sent);
    if (sent == NULL) return NSGI_E_NOMEM;
    out->vtable = &BODY;
    out->state = sent;
    return NSGI_OK;
}

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    {(const uint8_t *)"sloppy", 6}, {(const uint8_t *)"C", 1},
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
