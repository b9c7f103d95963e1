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
#define APP_NAME "broken_c_start_response_twice"
#include "broken_app.h"

static const char BODY[] = "hello\n";

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

    return one_chunk_body(host, req, BODY, body_out);
}

BROKEN_APP_EXPORT(app_call)
