/*
 * hop_by_hop_header.c: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
 *
 * Rule broken: the app sets a hop-by-hop header, "Connection: close".
 * Check:       C53 (docs/conformance.md).
 * Source:      PEP 3333 §Other HTTP Features: applications "must not" generate hop-by-hop
 *              headers; §The start_response() Callable: they are "forbidden" to use
 *              hop-by-hop headers or anything that affects the persistence of the connection,
 *              and a server should treat an attempt as a fatal error at start_response (as
 *              wsgiref.handlers does with wsgiref.util.is_hop_by_hop); RFC 9110 §7.6.1. None
 *              of the three linters checks it.
 *
 * What it does: it tries to make the client close the connection after this response, which
 * only the server may decide. Everything else is right. When the host refuses the headers
 * (NSGI_E_INVAL) the app ignores the refusal, as a sloppy app that never checks return codes
 * would, and returns its body anyway; the host therefore also sees a body produced without a
 * successful start_response, which follows from the same bug. Its close frees the per-request
 * state.
 *
 * What a host sees: start_response returns NSGI_E_INVAL (nothing is stored); NSGI hosts answer
 * 500 and log the violation.
 */
#define APP_NAME "broken_c_hop_by_hop_header"
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
        {BYTES("Connection"), BYTES("close")},
    };
    /* BUG (deliberate): Connection is hop-by-hop; and the refusal is ignored. */
    (void)host->start_response(req, (nsgi_bytes)BYTES("200 OK"), headers, COUNT(headers), NULL);

    return one_chunk_body(host, req, BODY, body_out);
}

BROKEN_APP_EXPORT(app_call)
