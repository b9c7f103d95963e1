/* An app that starts every response with 1,000,000 headers (an 11 MB head). The host refuses
 * it past its response-head limits; the checker must report that with its own check id, and
 * finish in bounded time and memory. */
#include <stdlib.h>
#include <string.h>
#include "nsgi.h"

#define MANY 1000000

static const nsgi_host_api *HOST;
static nsgi_header *HEADERS;

static nsgi_status init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    HEADERS = malloc(MANY * sizeof *HEADERS);
    if (!HEADERS) return NSGI_E_NOMEM;
    for (size_t i = 0; i < MANY; i++) {
        HEADERS[i].name.ptr = (const uint8_t *)"X-Filler";
        HEADERS[i].name.len = 8;
        HEADERS[i].value.ptr = (const uint8_t *)"x";
        HEADERS[i].value.len = 1;
    }
    return NSGI_OK;
}

static nsgi_status call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app; (void)env; (void)out;
    nsgi_bytes status = { (const uint8_t *)"200 OK", 6 };
    nsgi_status st = HOST->start_response(req, status, HEADERS, MANY, NULL);
    /* Refused: pass the host's answer on, as a careful app does. */
    return st == NSGI_OK ? NSGI_E_APP : st;
}

static const nsgi_app_descriptor D = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    { (const uint8_t *)"many-headers", 12 }, { (const uint8_t *)"C", 1 }, init, call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &D; }
