/* An app written with nsgi_app.h, served by the gateway in tests/c_app_helpers.rs. Routes on
 * PATH_INFO; every response goes through a helper of the header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nsgi_app.h"

typedef struct app { const nsgi_host_api *host; } app;

static const nsgi_header TEXT[] = {{NSGI_BYTES_INIT("Content-Type"), NSGI_BYTES_INIT("text/plain; charset=utf-8")}};
static const nsgi_header HTML[] = {{NSGI_BYTES_INIT("Content-Type"), NSGI_BYTES_INIT("text/html; charset=utf-8")}};

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **out) {
    app *a;
    (void)args;
    if (host->abi_major != NSGI_ABI_MAJOR) return NSGI_E_UNSUPPORTED;
    a = (app *)malloc(sizeof *a);
    if (a == NULL) return NSGI_E_NOMEM;
    a->host = host;
    *out = a;
    return NSGI_OK;
}

static nsgi_status say(const nsgi_host_api *host, nsgi_request *req, const char *status, const char *text,
                       nsgi_body *out) {
    return nsgi_respond(host, req, status, TEXT, 1, text, strlen(text), out);
}

static nsgi_status app_call(void *self, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    const nsgi_host_api *host = ((app *)self)->host;
    nsgi_bytes path, query;
    char value[64], escaped[256], page[512];
    size_t len = 0;
    nsgi_status rc;
    nsgi_environ_var(env, "PATH_INFO", &path);
    nsgi_environ_var(env, "QUERY_STRING", &query);

    if (nsgi_bytes_equal(path, "/hello")) {
        static const char hello[] = "Hello, World!";
        return nsgi_respond_static(host, req, "200 OK", TEXT, 1, hello, sizeof hello - 1, out);
    }
    if (nsgi_bytes_equal(path, "/greet")) {
        /* ?name=... percent-decoded, escaped into an HTML page. */
        rc = nsgi_param_get(query, "name", 0, value, sizeof value, &len);
        if (rc == NSGI_E_TOO_LARGE) return say(host, req, "400 Bad Request", "name too long\n", out);
        if (rc != NSGI_OK) strcpy(value, "world");
        if (nsgi_html_escape(nsgi_bytes_make(value, len ? len : strlen(value)), escaped, sizeof escaped, NULL) != NSGI_OK)
            return NSGI_E_APP;
        len = (size_t)snprintf(page, sizeof page, "<p>Hello, %s!</p>", escaped);
        return nsgi_respond(host, req, "200 OK", HTML, 1, page, len, out);
    }
    if (nsgi_bytes_equal(path, "/tags")) {
        /* Every ?tag=, joined with commas. */
        size_t i, used = 0;
        page[0] = '\0';
        for (i = 0; nsgi_param_get(query, "tag", i, value, sizeof value, &len) == NSGI_OK; i++) {
            used += (size_t)snprintf(page + used, sizeof page - used, "%s%s", i ? "," : "", value);
            if (used >= sizeof page) return NSGI_E_APP;
        }
        return nsgi_respond(host, req, "200 OK", TEXT, 1, page, used, out);
    }
    if (nsgi_bytes_equal(path, "/form")) {
        /* A urlencoded POST body of at most 127 bytes; its "msg" field echoed. */
        char body[128];
        size_t body_len = 0;
        rc = nsgi_read_body(host, req, body, sizeof body, &body_len);
        if (rc == NSGI_E_TOO_LARGE) return say(host, req, "413 Content Too Large", "form too large\n", out);
        if (rc != NSGI_OK) return rc;
        if (nsgi_param_get(nsgi_bytes_make(body, body_len), "msg", 0, value, sizeof value, &len) != NSGI_OK)
            return say(host, req, "400 Bad Request", "no msg\n", out);
        return nsgi_respond(host, req, "200 OK", TEXT, 1, value, len, out);
    }
    if (nsgi_bytes_equal(path, "/redirect")) {
        static const nsgi_header cookie[] = {{NSGI_BYTES_INIT("Set-Cookie"), NSGI_BYTES_INIT("seen=1")}};
        return nsgi_redirect(host, req, "303 See Other", "/hello?from=<redirect>", cookie, 1, out);
    }
    if (nsgi_bytes_equal(path, "/owned")) {
        /* A malloc'd buffer lent to the host and freed by the body's close. */
        static const nsgi_header headers[] = {{NSGI_BYTES_INIT("Content-Type"), NSGI_BYTES_INIT("text/plain")},
                                              {NSGI_BYTES_INIT("Content-Length"), NSGI_BYTES_INIT("5")}};
        char *owned = (char *)malloc(5);
        if (owned == NULL) return NSGI_E_NOMEM;
        memcpy(owned, "owned", 5);
        rc = host->start_response(req, NSGI_BYTES("200 OK"), headers, 2, NULL);
        if (rc == NSGI_OK) rc = nsgi_body_from_buffer(out, owned, 5, free);
        if (rc != NSGI_OK) free(owned);
        return rc;
    }
    if (nsgi_bytes_equal(path, "/double-length")) {
        /* nsgi_respond refuses a Content-Length of the app's own. */
        static const nsgi_header headers[] = {{NSGI_BYTES_INIT("Content-Length"), NSGI_BYTES_INIT("2")}};
        rc = nsgi_respond(host, req, "200 OK", headers, 1, "ok", 2, out);
        if (rc == NSGI_E_INVAL && out->vtable == NULL) return say(host, req, "200 OK", "refused\n", out);
        return NSGI_E_APP;
    }
    return say(host, req, "404 Not Found", "not found\n", out);
}

static void app_shutdown(void *self) { free(self); }

static const nsgi_app_descriptor descriptor = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    NSGI_BYTES_INIT("app-helpers-c"), NSGI_BYTES_INIT("C + nsgi_app.h"), app_init, app_call, app_shutdown,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &descriptor; }
