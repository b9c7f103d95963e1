/* An app that breaks no rule but a recommendation: its responses carry content without a
 * Content-Type (C55, a warning). It proves that --strict turns warnings into errors. */
#include <stdlib.h>
#include <string.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_status next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    int *step = state;
    if ((*step)++ > 0) return NSGI_DONE;
    chunk->ptr = (const uint8_t *)"untyped";
    chunk->len = 7;
    return NSGI_OK;
}

static void close_body(void *state, nsgi_request *req) { (void)req; free(state); }
static const nsgi_body_vtable VT = { sizeof(nsgi_body_vtable), next, close_body };

static nsgi_status init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args; HOST = host; *app = NULL; return NSGI_OK;
}

static nsgi_status call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app; (void)env;
    nsgi_header length = { { (const uint8_t *)"Content-Length", 14 }, { (const uint8_t *)"7", 1 } };
    nsgi_bytes status = { (const uint8_t *)"200 OK", 6 };
    nsgi_status st = HOST->start_response(req, status, &length, 1, NULL);
    if (st != NSGI_OK) return st;
    int *step = calloc(1, sizeof *step);
    if (!step) return NSGI_E_NOMEM;
    out->vtable = &VT;
    out->state = step;
    return NSGI_OK;
}

static const nsgi_app_descriptor D = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    { (const uint8_t *)"warning-only", 12 }, { (const uint8_t *)"C", 1 }, init, call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &D; }
