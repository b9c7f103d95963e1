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
#define APP_NAME "broken_c_no_start_response"
#include "broken_app.h"

typedef struct body {
    int next_calls; /* how many times next() ran; this body never yields anything */
} body;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk_out) {
    body *b = state;
    (void)req;
    (void)chunk_out;
    b->next_calls++;
    return NSGI_DONE; /* an empty body */
}

static const nsgi_body_vtable body_vtable = {
    .struct_size = (uint32_t)sizeof(nsgi_body_vtable),
    .next = body_next,
    .close = body_free,
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

BROKEN_APP_EXPORT(app_call)
