/* An NSGI app whose `init` always fails, written against nsgi.h alone: for the tests that show
 * when the gateway runs `init` (serving, and `--check-config`) and how it reports the failure.
 */
#include <string.h>
#include "nsgi.h"

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    static const char WHY[] = "init_fails: this app refuses to start";
    nsgi_bytes msg = { (const uint8_t *)WHY, strlen(WHY) };
    (void)args;
    *app = NULL;
    host->log(host->host_data, NULL, NSGI_LOG_ERROR, msg);
    return NSGI_E_INVAL;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    (void)req;
    (void)env;
    (void)out;
    return NSGI_E_STATE;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    { (const uint8_t *)"init_fails", 10 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
