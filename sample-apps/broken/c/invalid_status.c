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
#define APP_NAME "broken_c_invalid_status"
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
    };
    /* BUG (deliberate): "20 OK" is not a status line; and the refusal is ignored. */
    (void)host->start_response(req, (nsgi_bytes)BYTES("20 OK"), headers, COUNT(headers), NULL);

    return one_chunk_body(host, req, BODY, body_out);
}

BROKEN_APP_EXPORT(app_call)
