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
#define APP_NAME "broken_c_write_before_start"
#include "broken_app.h"

static const char BODY[] = "rest of the page\n";

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

    return one_chunk_body(host, req, BODY, body_out);
}

BROKEN_APP_EXPORT(app_call)
