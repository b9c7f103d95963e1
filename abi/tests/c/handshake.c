/* Handshake fixtures for the host SDK's load checks: one library per VARIANT_* macro. */
#include <string.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_status init_ok(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    return NSGI_OK;
}

static nsgi_status init_fails(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)app;
    const char *msg = "missing setting `db_url` in the app config";
    if (args->config.len == 0 && host->log) {
        nsgi_bytes m = { (const uint8_t *)msg, strlen(msg) };
        host->log(host->host_data, NULL, NSGI_LOG_ERROR, m);
    }
    return NSGI_E_APP;
}

static nsgi_status call_stub(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app; (void)req; (void)env; (void)out;
    return NSGI_E_APP;
}

#define NAME { (const uint8_t *)"fixture", 7 }
#define SDK { (const uint8_t *)"C", 1 }

#if defined(VARIANT_BAD_MAGIC)
static const nsgi_app_descriptor D = { 0x12345678u, 1, 0, sizeof(nsgi_app_descriptor), 0, NAME, SDK, init_ok, call_stub, NULL };
#elif defined(VARIANT_WRONG_MAJOR)
static const nsgi_app_descriptor D = { NSGI_APP_MAGIC, 2, 0, sizeof(nsgi_app_descriptor), 0, NAME, SDK, init_ok, call_stub, NULL };
#elif defined(VARIANT_TOO_SMALL)
static const nsgi_app_descriptor D = { NSGI_APP_MAGIC, 1, 0, 16, 0, NAME, SDK, init_ok, call_stub, NULL };
#elif defined(VARIANT_NO_CALL)
static const nsgi_app_descriptor D = { NSGI_APP_MAGIC, 1, 0, sizeof(nsgi_app_descriptor), 0, NAME, SDK, init_ok, NULL, NULL };
#elif defined(VARIANT_INIT_FAILS)
static const nsgi_app_descriptor D = { NSGI_APP_MAGIC, 1, 0, sizeof(nsgi_app_descriptor), 0, NAME, SDK, init_fails, call_stub, NULL };
#else
static const nsgi_app_descriptor D = { NSGI_APP_MAGIC, 1, 3, sizeof(nsgi_app_descriptor), 0, NAME, SDK, init_ok, call_stub, NULL };
#endif

#if defined(VARIANT_V2_ONLY)
/* Built for a future major: only the v2 entry symbol exists. */
NSGI_EXPORT const void *nsgi_app_entry_v2(void) { return &D; }
#elif defined(VARIANT_NO_ENTRY)
NSGI_EXPORT int some_other_library_function(void) { return 42; }
#elif defined(VARIANT_NULL_DESCRIPTOR)
NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return NULL; }
#else
NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &D; }
#endif
