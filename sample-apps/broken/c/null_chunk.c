/*
 * null_chunk.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: next() returns NSGI_OK with a chunk whose pointer is NULL and whose length is 5.
 * Check:       N3 (NSGI-specific; docs/conformance.md).
 * Source:      the NSGI ABI (docs/abi.md §1 rule 3, "ptr may be NULL only when len is 0", and
 *              §9, "a chunk with ptr == NULL and len > 0 is an error"). It is the C form of
 *              PEP 3333's rule that every yielded item is a bytestring (§Unicode Issues,
 *              "bytestrings" must be of type bytes), which wsgiref.validate (check_iterator),
 *              Werkzeug's lint and Rack::Lint enforce by type; only a C ABI can get it wrong.
 *
 * What it does: it starts "200 OK" (checked) and its body serves a greeting from a cache lookup
 * it never checks: the cache is empty, the lookup returns NULL, and the app hands out
 * {NULL, 5} as its chunk (the bug). No Content-Length is declared, so the failure cannot
 * cause a second, unrelated finding. close frees the per-request state.
 *
 * What a host sees: a chunk it must not read. NSGI hosts never dereference it: they fail the
 * response (500 here, since nothing was sent yet) and log the violation.
 */
#define APP_NAME "broken_c_null_chunk"
#include "broken_app.h"

/* The length the greeting would have: "hello". */
#define GREETING_LEN 5

typedef struct body {
    int sent;
} body;

/* A cache that is never filled: every lookup misses. */
static const uint8_t *cached_greeting(void) {
    return NULL;
}

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk_out) {
    body *b = state;
    (void)req;
    if (b->sent) {
        return NSGI_DONE;
    }
    b->sent = 1;
    /* BUG (deliberate): the lookup result is not checked, so this is {NULL, 5}. */
    chunk_out->ptr = cached_greeting();
    chunk_out->len = GREETING_LEN;
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
    b->sent = 0;
    body_out->vtable = &body_vtable;
    body_out->state = b;
    return NSGI_OK;
}

BROKEN_APP_EXPORT(app_call)
