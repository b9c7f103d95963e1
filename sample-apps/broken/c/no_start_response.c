/*
 * no_start_response.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: the app never calls start_response. Its body is empty, so no chunk ever shows
 *              the mistake: the response just ends without a status line.
 * Check:       C41 (docs/conformance.md).
 * Source:      PEP 3333 §Specification Details: "the application must invoke the
 *              start_response() callable before the iterable yields its first body bytestring";
 *              the PEP's own CGI gateway sends the headers with a final write(b'') when the
 *              body was empty, which fails ("write() before start_response()") if
 *              start_response never ran. wsgiref.validate, Rack::Lint and Werkzeug notice only
 *              when a chunk is produced, so an empty body slips past all three.
 *
 * What it does: it acts like a sloppy handler for "delete this thing": it does its work, has
 * nothing to say, and returns an empty body without ever starting the response. Everything
 * else is correct: it checks the host table in init, allocates and frees its state, and its
 * body's close frees the per-request state.
 *
 * What a host sees: call returns NSGI_OK with a valid body, the first next() returns NSGI_DONE,
 * and no successful start_response happened. NSGI hosts answer 500 and log the violation.
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#define APP_NAME "broken_c_no_start_response"
#define BYTES(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}

typedef struct app {
    const nsgi_host_api *host;
} app;

typedef struct body {
    int next_calls; /* how many times next() ran; this body never yields anything */
} body;

static void app_log(const nsgi_host_api *host, nsgi_request *req, int32_t level, const char *msg) {
    if (host == NULL || !NSGI_HAS(host, nsgi_host_api, log) || host->log == NULL) {
        return;
    }
    nsgi_bytes text = {(const uint8_t *)msg, strlen(msg)};
    host->log(host->host_data, req, level, text);
}

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app_out) {
    (void)args;
    if (host == NULL || app_out == NULL) {
        return NSGI_E_INVAL;
    }
    if (host->abi_major != NSGI_ABI_MAJOR || !NSGI_HAS(host, nsgi_host_api, start_response) ||
        host->start_response == NULL) {
        app_log(host, NULL, NSGI_LOG_ERROR, APP_NAME ": the host does not speak NSGI v1");
        return NSGI_E_UNSUPPORTED;
    }
    app *a = malloc(sizeof *a);
    if (a == NULL) {
        return NSGI_E_NOMEM;
    }
    a->host = host;
    *app_out = a;
    return NSGI_OK;
}

static void app_shutdown(void *a) {
    free(a);
}

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk_out) {
    body *b = state;
    (void)req;
    (void)chunk_out;
    b->next_calls++;
    return NSGI_DONE; /* an empty body */
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable body_vtable = {
    .struct_size = (uint32_t)sizeof(nsgi_body_vtable),
    .next = body_next,
    .close = body_close,
};

static nsgi_status app_call(void *self, nsgi_request *req, const nsgi_environ *env, nsgi_body *body_out) {
    app *a = self;
    (void)env;
    body_out->vtable = NULL;
    body_out->state = NULL;

    /* ... the work of the request would happen here ... */

    /* BUG (deliberate): no start_response call at all, not even "204 No Content". */
    body *b = malloc(sizeof *b);
    if (b == NULL) {
        app_log(a->host, req, NSGI_LOG_ERROR, APP_NAME ": out of memory");
        return NSGI_E_NOMEM;
    }
    b->next_calls = 0;
    body_out->vtable = &body_vtable;
    body_out->state = b;
    return NSGI_OK;
}

static const nsgi_app_descriptor descriptor = {
    .magic = NSGI_APP_MAGIC,
    .abi_major = NSGI_ABI_MAJOR,
    .abi_minor = NSGI_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(nsgi_app_descriptor),
    .flags = NSGI_APP_THREAD_SAFE,
    .name = BYTES(APP_NAME),
    .sdk_info = BYTES("C"),
    .init = app_init,
    .call = app_call,
    .shutdown = app_shutdown,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &descriptor;
}
