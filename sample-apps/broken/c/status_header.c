/*
 * status_header.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: the app sends a "Status" header, CGI's way of setting the status.
 * Check:       C50 (docs/conformance.md).
 * Source:      wsgiref.validate (check_headers refuses a header named Status, since it
 *              clashes with CGI and HTTP status is not carried in headers); Werkzeug's lint and
 *              Rack::Lint refuse it too. In WSGI and NSGI the status is the first argument of
 *              start_response (PEP 3333 §The start_response() Callable).
 *
 * What it does: it was ported from a CGI script and still sets "Status: 200 OK" among its
 * headers. Everything else is right. When the host refuses the headers (NSGI_E_INVAL) the app
 * ignores the refusal, as a sloppy app that never checks return codes would, and returns its
 * body anyway; the host therefore also sees a body produced without a successful
 * start_response, which follows from the same bug. Its close frees the per-request state.
 *
 * What a host sees: start_response returns NSGI_E_INVAL (nothing is stored); NSGI hosts answer
 * 500 and log the violation.
 */
#define APP_NAME "broken_c_status_header"
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
        {BYTES("Status"), BYTES("200 OK")},
    };
    /* BUG (deliberate): a Status header; and the refusal is ignored. */
    (void)host->start_response(req, (nsgi_bytes)BYTES("200 OK"), headers, COUNT(headers), NULL);

    return one_chunk_body(host, req, BODY, body_out);
}

BROKEN_APP_EXPORT(app_call)
