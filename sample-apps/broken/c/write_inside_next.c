/*
 * write_inside_next.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: the app calls write() from inside its body's next(), i.e. from within the
 *              iterable it returned.
 * Check:       C85 (docs/conformance.md).
 * Source:      PEP 3333 §The write() Callable: an application must not call write() from
 *              within the iterable it returned, which is why everything passed to write() is
 *              sent before anything the iterable yields. No linter (wsgiref.validate,
 *              Rack::Lint, Werkzeug) checks it.
 *
 * What it does: it starts "200 OK" (checked) in call and returns a body. The body's first next()
 * pushes a line with host->write() and then yields another line as its chunk, mixing the two
 * output paths. The write() result is ignored (the bug). No Content-Length is declared, so
 * whether the host counts the written bytes or not cannot cause a second, unrelated finding.
 * close frees the per-request state.
 *
 * What a host sees: a write() while next() is running. NSGI hosts refuse it (NSGI_E_STATE) and
 * treat it as a fatal error: 500 if nothing was sent yet, and one log line naming the violation.
 */
#define APP_NAME "broken_c_write_inside_next"
#include "broken_app.h"

static const char YIELDED[] = "line yielded by next()\n";

typedef struct body {
    const nsgi_host_api *host;
    int sent;
} body;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk_out) {
    body *b = state;
    if (b->sent) {
        return NSGI_DONE;
    }
    b->sent = 1;
    /* BUG (deliberate): write() from inside the returned iterable; the result is ignored. */
    (void)b->host->write(req, (nsgi_bytes)BYTES("line pushed with write() from next()\n"));
    chunk_out->ptr = (const uint8_t *)YIELDED;
    chunk_out->len = sizeof(YIELDED) - 1;
    return NSGI_OK;
}

static const nsgi_body_vtable body_vtable = {
    .struct_size = (uint32_t)sizeof(nsgi_body_vtable),
    .next = body_next,
    .close = body_free,
};

static nsgi_status app_call(void *self, nsgi_request *req, const nsgi_environ *env, nsgi_body *body_out) {
    app *a = self;
    const nsgi_host_api *host = a->host;
    (void)env;
    body_out->vtable = NULL;
    body_out->state = NULL;

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
    b->host = host;
    b->sent = 0;
    body_out->vtable = &body_vtable;
    body_out->state = b;
    return NSGI_OK;
}

BROKEN_APP_EXPORT(app_call)
