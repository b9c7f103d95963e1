/*
 * write_before_start.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: the app calls write() before start_response.
 * Check:       C84 (docs/conformance.md).
 * Source:      PEP 3333 §The start_response() Callable: start_response returns the write()
 *              callable, so write() exists only once the response has been started; the PEP's
 *              CGI gateway raises "write() before start_response()", and wsgiref.handlers does
 *              the same. Python's linters cannot even see this fault (there is no write()
 *              before start_response in Python); a C ABI can, since host->write is always there.
 *
 * What it does: it pushes a preamble with write() first, then starts the response ("200 OK",
 * checked) and returns the rest of the page as its body. The early write() is refused with
 * NSGI_E_STATE; the app ignores the code (the bug), so the preamble is lost. No Content-Length
 * is declared, so the lost bytes cannot cause a second, unrelated finding. close frees the
 * per-request state.
 *
 * What a host sees: write() with no response started. NSGI hosts refuse it and treat it as a
 * fatal error: 500, and one log line naming the violation.
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#define APP_NAME "broken_c_write_before_start"
#define BYTES(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char BODY[] = "rest of the page\n";

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
    if (host->abi_major != NSGI_ABI_MAJOR || !NSGI_HAS(host, nsgi_host_api, write) ||
        host->start_response == NULL || host->write == NULL) {
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

    /* BUG (deliberate): write() before start_response; the refusal is ignored. */
    (void)host->write(req, (nsgi_bytes)BYTES("preamble written too early\n"));

    static const nsgi_header headers[] = {
        {BYTES("Content-Type"), BYTES("text/plain; charset=utf-8")},
    };
    nsgi_status rc = host->start_response(req, (nsgi_bytes)BYTES("200 OK"), headers, COUNT(headers), NULL);
    if (rc != NSGI_OK) {
        app_log(host, req, NSGI_LOG_ERROR, APP_NAME ": start_response failed");
        return rc < 0 ? rc : NSGI_E_APP;
    }

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
