/*
 * header_value_crlf.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: a header value contains CR LF ("hello\r\nSet-Cookie: injected=1"), the classic
 *              response-splitting / header-injection bug.
 * Check:       C52 (docs/conformance.md).
 * Source:      PEP 3333 §The start_response() Callable: header values "must not" include "any
 *              control characters, including carriage returns or linefeeds, either embedded or
 *              at the end"; wsgiref.validate (check_headers: no byte below 0x20), Rack::Lint (no
 *              NUL, CR or LF); RFC 9110 §5.5 (field values).
 *
 * What it does: it copies text it got from elsewhere into an X-Greeting header without
 * sanitising it. Everything else is right. When the host refuses the headers (NSGI_E_INVAL)
 * the app ignores the refusal, as a sloppy app that never checks return codes would, and
 * returns its body anyway; the host therefore also sees a body produced without a successful
 * start_response, which follows from the same bug. Its close frees the per-request state.
 *
 * What a host sees: start_response returns NSGI_E_INVAL (nothing is stored); NSGI hosts answer
 * 500 and log the violation. No injected header ever reaches the client.
 */
#define APP_NAME "broken_c_header_value_crlf"
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
        {BYTES("X-Greeting"), BYTES("hello\r\nSet-Cookie: injected=1")},
    };
    /* BUG (deliberate): a value with CR LF in it; and the refusal is ignored. */
    (void)host->start_response(req, (nsgi_bytes)BYTES("200 OK"), headers, COUNT(headers), NULL);

    return one_chunk_body(host, req, BODY, body_out);
}

BROKEN_APP_EXPORT(app_call)
