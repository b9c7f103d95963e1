/* A deliberately misbehaving NSGI app, written against nsgi.h alone.
 *
 * Each path breaks one rule of the ABI, so the gateway's end-to-end tests can check that it
 * answers 500 (or aborts a response already under way), logs the violation, and goes on serving.
 * `/ok` behaves.
 */
#include <stdlib.h>
#include <string.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_bytes b(const char *s) {
    nsgi_bytes out = { (const uint8_t *)s, strlen(s) };
    return out;
}

static int path_is(const nsgi_environ *env, const char *want) {
    for (size_t i = 0; i < env->n_vars; i++) {
        const nsgi_header *v = &env->vars[i];
        if (v->name.len == 9 && memcmp(v->name.ptr, "PATH_INFO", 9) == 0) {
            return v->value.len == strlen(want) && memcmp(v->value.ptr, want, v->value.len) == 0;
        }
    }
    return 0;
}

typedef struct {
    int mode;
    int step;
} body_state;

enum { MODE_OK, MODE_NO_START, MODE_NEXT_ERROR, MODE_ERROR_AFTER_DATA, MODE_NULL_CHUNK, MODE_SHORT };

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    body_state *s = state;
    s->step++;
    switch (s->mode) {
    case MODE_NEXT_ERROR:
        return NSGI_E_APP;
    case MODE_ERROR_AFTER_DATA:
        if (s->step == 1) { *chunk = b("partial "); return NSGI_OK; }
        return NSGI_E_APP;
    case MODE_NULL_CHUNK:
        chunk->ptr = NULL;
        chunk->len = 5;
        return NSGI_OK;
    case MODE_SHORT:
        if (s->step == 1) { *chunk = b("short"); return NSGI_OK; }
        return NSGI_DONE;
    default:
        if (s->step == 1) { *chunk = b("ok"); return NSGI_OK; }
        return NSGI_DONE;
    }
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable BODY = { sizeof(nsgi_body_vtable), body_next, body_close };

static nsgi_status start(nsgi_request *req, const char *status, const char *name, const char *value) {
    nsgi_header h = { b(name), b(value) };
    return HOST->start_response(req, b(status), &h, 1, NULL);
}

static nsgi_status make_body(int mode, nsgi_body *out) {
    body_state *s = calloc(1, sizeof *s);
    if (!s) return NSGI_E_NOMEM;
    s->mode = mode;
    out->vtable = &BODY;
    out->state = s;
    return NSGI_OK;
}

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    return NSGI_OK;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    if (path_is(env, "/no-start")) {
        return make_body(MODE_NO_START, out);
    }
    if (path_is(env, "/twice")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        start(req, "200 OK", "Content-Type", "text/plain"); /* no exc_info: a violation */
        return make_body(MODE_OK, out);
    }
    if (path_is(env, "/bad-status")) {
        start(req, "200", "Content-Type", "text/plain");
        return make_body(MODE_OK, out);
    }
    if (path_is(env, "/bad-header")) {
        start(req, "200 OK", "X-Injected", "a\r\nSet-Cookie: evil=1");
        return make_body(MODE_OK, out);
    }
    if (path_is(env, "/call-error")) {
        return NSGI_E_APP;
    }
    if (path_is(env, "/panic")) {
        return NSGI_E_PANIC;
    }
    if (path_is(env, "/short")) {
        start(req, "200 OK", "Content-Length", "100"); /* then only 5 bytes come */
        return make_body(MODE_SHORT, out);
    }
    start(req, "200 OK", "Content-Type", "text/plain");
    if (path_is(env, "/next-error")) return make_body(MODE_NEXT_ERROR, out);
    if (path_is(env, "/error-after-data")) return make_body(MODE_ERROR_AFTER_DATA, out);
    if (path_is(env, "/null-chunk")) return make_body(MODE_NULL_CHUNK, out);
    return make_body(MODE_OK, out);
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    { (const uint8_t *)"misbehave", 9 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
