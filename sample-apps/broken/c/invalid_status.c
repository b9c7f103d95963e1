/*
 * invalid_status.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: the status line is not "NNN Reason": it is "20 OK", a code with two digits.
 * Check:       C44 (docs/conformance.md).
 * Source:      PEP 3333 §The start_response() Callable: the status has the form
 *              '999 Message here'; wsgiref.validate (check_status: a 3-character code that
 *              parses as an integer >= 100) and Werkzeug's lint (a 3-character decimal code)
 *              reject it, as Rack::Lint's rule (status is an Integer >= 100) would; RFC 9110
 *              §15 (status codes are three digits).
 *
 * What it does: everything is right except the status string, a typo for "200 OK". When the
 * host refuses it (NSGI_E_INVAL) the app ignores the refusal, as a sloppy app that never checks
 * return codes would, and returns its body anyway. So the host also sees a body produced
 * without a successful start_response; that follows from the same bug. Its close frees the
 * per-request state.
 *
 * What a host sees: start_response returns NSGI_E_INVAL (nothing is stored); NSGI hosts answer
 * 500 and log the violation.
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#define APP_NAME "broken_c_invalid_status"
#define BYTES(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char BODY[] = "ok\n";

typedef struct app {
    const nsgi_host_api *host;
} app;

typedef struct body {
    int sent;
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
    if (b->sent) {
        return NSGI_DONE;
    }
    b->sent = 1;
    chunk_out->ptr = (const uint8_t *)BODY;
    chunk_out->len = sizeof(BODY) - 1;
    return NSGI_OK;
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
    const nsgi_host_api *host = a->host;
    (void)env;
    body_out->vtable = NULL;
    body_out->state = NULL;

    static const nsgi_header headers[] = {
        {BYTES("Content-Type"), BYTES("text/plain; charset=utf-8")},
        {BYTES("Content-Length"), BYTES("3")},
    };
    /* BUG (deliberate): "20 OK" is not a status line; and the refusal is ignored. */
    (void)host->start_response(req, (nsgi_bytes)BYTES("20 OK"), headers, COUNT(headers), NULL);

    body *b = malloc(sizeof *b);
    if (b == NULL) {
        app_log(host, req, NSGI_LOG_ERROR, APP_NAME ": out of memory");
        return NSGI_E_NOMEM;
    }
    b->sent = 0;
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
