/* A correct app that answers HEAD the way RFC 9110 §9.3.2 allows: the same head as GET,
 * Content-Length included, and no body. Every other method gets the 5 declared bytes.
 * The checker must pass it (no C67 error, exit status 0). */
#include <stdlib.h>
#include <string.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_bytes b(const char *s) {
    nsgi_bytes out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static nsgi_status next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    int *left = state;
    if (*left == 0) return NSGI_DONE;
    *left = 0;
    *chunk = b("fine\n");
    return NSGI_OK;
}

static void close_body(void *state, nsgi_request *req) { (void)req; free(state); }
static const nsgi_body_vtable VT = { sizeof(nsgi_body_vtable), next, close_body };

static nsgi_status init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args; HOST = host; *app = NULL; return NSGI_OK;
}

static nsgi_status call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app; (void)env;
    nsgi_bytes method = {0};
    int head = HOST->environ_get(req, b("REQUEST_METHOD"), &method) == NSGI_OK && method.len == 4
        && memcmp(method.ptr, "HEAD", 4) == 0;
    nsgi_header headers[2] = {{b("Content-Type"), b("text/plain")}, {b("Content-Length"), b("5")}};
    nsgi_status st = HOST->start_response(req, b("200 OK"), headers, 2, NULL);
    if (st != NSGI_OK) return st;
    int *left = malloc(sizeof *left);
    if (!left) return NSGI_E_NOMEM;
    *left = !head;
    out->vtable = &VT;
    out->state = left;
    return NSGI_OK;
}

static const nsgi_app_descriptor D = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    { (const uint8_t *)"head-length", 11 }, { (const uint8_t *)"C", 1 }, init, call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &D; }
