/*
 * continue_after_headers_sent.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: after start_response(..., exc_info) failed because the headers had already been
 *              sent (NSGI_E_HEADERS_SENT), the app swallows the failure and keeps producing
 *              output, instead of aborting.
 * Check:       C80 (docs/conformance.md).
 * Source:      PEP 3333 §The start_response() Callable: with exc_info after the headers were
 *              sent, start_response must raise, and the application "must not" trap that
 *              error; §Error Handling: the error must propagate to the server, which then ends
 *              the response. No linter (wsgiref.validate, Rack::Lint, Werkzeug) checks it.
 *
 * What it does: it starts "200 OK" (checked), and its body yields a first chunk. While
 * producing the second chunk it "hits an error" and, as PEP 3333 suggests for error handling,
 * calls start_response("500 Internal Server Error", ..., exc_info). The headers are already out,
 * so the host answers NSGI_E_HEADERS_SENT. The right reaction is to return an error from next();
 * this app ignores the code (the bug) and yields an error note and the rest of its output, then
 * ends normally. close frees the per-request state.
 *
 * What a host sees: next() keeps returning non-empty chunks after NSGI_E_HEADERS_SENT. NSGI
 * hosts drop that output and abort the connection, since the status can no longer change.
 */
#define APP_NAME "broken_c_continue_after_headers_sent"
#include "broken_app.h"

/* What the body yields, in order; the error strikes while producing chunk 1. */
static const char *const CHUNKS[] = {
    "part 1 of the report\n",
    "error: the report could not be finished\n",
    "part 2 of the report\n",
};
#define FAILING_CHUNK 1

typedef struct body {
    const nsgi_host_api *host;
    size_t next_chunk;
} body;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk_out) {
    body *b = state;
    if (b->next_chunk >= COUNT(CHUNKS)) {
        return NSGI_DONE;
    }
    if (b->next_chunk == FAILING_CHUNK) {
        /* Something went wrong: try to replace the response with an error page. */
        static const nsgi_header error_headers[] = {
            {BYTES("Content-Type"), BYTES("text/plain; charset=utf-8")},
        };
        const nsgi_exc_info exc_info = {
            .struct_size = (uint32_t)sizeof(nsgi_exc_info),
            .code = NSGI_E_APP,
            .type_name = BYTES("ReportError"),
            .message = BYTES("the report could not be finished"),
        };
        /* BUG (deliberate): the host answers NSGI_E_HEADERS_SENT, meaning "abort now"; the app
         * ignores it and goes on yielding data instead of returning an error. */
        (void)b->host->start_response(req, (nsgi_bytes)BYTES("500 Internal Server Error"), error_headers,
                                      COUNT(error_headers), &exc_info);
    }
    const char *text = CHUNKS[b->next_chunk++];
    chunk_out->ptr = (const uint8_t *)text;
    chunk_out->len = strlen(text);
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

    /* No Content-Length: the length is not known up front (and a declared length would add a
     * second, unrelated finding when the host aborts the response). */
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
    b->next_chunk = 0;
    body_out->vtable = &body_vtable;
    body_out->state = b;
    return NSGI_OK;
}

BROKEN_APP_EXPORT(app_call)
