/*
 * start_response_twice.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: start_response is called a second time without exc_info.
 * Check:       C39 (docs/conformance.md).
 * Source:      PEP 3333 §The start_response() Callable: "the application may call
 *              start_response more than once, if and only if the exc_info argument is
 *              provided", and calling it without exc_info after a first call "is a fatal
 *              error". The PEP's CGI gateway asserts "Headers already set!"; wsgiref.handlers
 *              does the same. No linter (wsgiref.validate, Rack::Lint, Werkzeug) checks it.
 *
 * What it does: it treats start_response as a "set the headers" function. It starts the
 * response with "200 OK", then, having decided to add a Cache-Control header, calls
 * start_response again with the longer list and no exc_info. The first call is checked (it
 * must succeed for the second one to be the only fault); the second one's NSGI_E_STATE is
 * ignored (the bug), and the app returns its body as if all were well. The body matches the
 * first call's Content-Length, and close frees the per-request state.
 *
 * What a host sees: the second start_response returns NSGI_E_STATE. NSGI hosts treat it as a
 * fatal error: 500 if nothing was sent yet, and one log line naming the violation.
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#define APP_NAME "broken_c_start_response_twice"
#define BYTES(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char BODY[] = "hello\n";

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

    static const nsgi_header first[] = {
        {BYTES("Content-Type"), BYTES("text/plain; charset=utf-8")},
        {BYTES("Content-Length"), BYTES("6")},
    };
    nsgi_status rc = host->start_response(req, (nsgi_bytes)BYTES("200 OK"), first, COUNT(first), NULL);
    if (rc != NSGI_OK) {
        app_log(host, req, NSGI_LOG_ERROR, APP_NAME ": start_response failed");
        return rc < 0 ? rc : NSGI_E_APP;
    }

    /* BUG (deliberate): a second start_response without exc_info, to "add" a header. */
    static const nsgi_header second[] = {
        {BYTES("Content-Type"), BYTES("text/plain; charset=utf-8")},
        {BYTES("Content-Length"), BYTES("6")},
        {BYTES("Cache-Control"), BYTES("no-store")},
    };
    (void)host->start_response(req, (nsgi_bytes)BYTES("200 OK"), second, COUNT(second), NULL);

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
