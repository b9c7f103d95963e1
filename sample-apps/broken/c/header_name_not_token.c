/*
 * header_name_not_token.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: a header name is not an HTTP token: "Bad Name" contains a space.
 * Check:       C51 (docs/conformance.md).
 * Source:      PEP 3333 §The start_response() Callable: each header_name "must be a valid
 *              HTTP header field-name (as defined by RFC 2616, Section 4.2), without a
 *              trailing colon or other punctuation"; wsgiref.validate (check_headers: names
 *              match [A-Za-z][A-Za-z0-9_-]*), Rack::Lint (no separators or control
 *              characters in names); RFC 9110 §5.1 and §5.6.2 (field-name = token).
 *
 * What it does: it writes a header name the way a human would spell it, with a space. Everything
 * else is right. When the host refuses the headers (NSGI_E_INVAL) the app ignores the refusal,
 * as a sloppy app that never checks return codes would, and returns its body anyway; the host
 * therefore also sees a body produced without a successful start_response, which follows from
 * the same bug. Its close frees the per-request state.
 *
 * What a host sees: start_response returns NSGI_E_INVAL (nothing is stored); NSGI hosts answer
 * 500 and log the violation.
 */
#define APP_NAME "broken_c_header_name_not_token"
#include "broken_app.h"

static const char BODY[] = "ok\n";

static nsgi_status app_call(void *self, nsgi_request *req, const nsgi_environ *env, nsgi_body *body_out) {
    app *a = self;
    const nsgi_host_api *host = a->host;
    (void)env;
    body_out->vtable = NULL;
    body_out->state = NULL;

    static const nsgi_header headers[] = {
        {BYTES("Content-Type"), BYTES("text/plain; charset=utf-8")},
        {BYTES("Content-Length"), BYTES("3")},
        {BYTES("Bad Name"), BYTES("value")},
    };
    /* BUG (deliberate): "Bad Name" is not a token; and the refusal is ignored. */
    (void)host->start_response(req, (nsgi_bytes)BYTES("200 OK"), headers, COUNT(headers), NULL);

    return one_chunk_body(host, req, BODY, body_out);
}

BROKEN_APP_EXPORT(app_call)
