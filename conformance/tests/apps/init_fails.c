/* Test fixture for nsgi-conformance: an app whose init refuses to start (check N6), after saying
 * why through the host log. */
#include <string.h>

#include "nsgi.h"

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    (void)app;
    const char *why = "init_fails: the database at db.invalid is unreachable";
    nsgi_bytes msg = {(const uint8_t *)why, strlen(why)};
    host->log(host->host_data, NULL, NSGI_LOG_ERROR, msg);
    return NSGI_E_UNSUPPORTED;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    (void)req;
    (void)env;
    out->vtable = NULL;
    return NSGI_E_APP;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    {(const uint8_t *)"init_fails", 10}, {(const uint8_t *)"C", 1},
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
