/* Test fixture for nsgi-conformance: one app, written against nsgi.h alone, in which each path
 * breaks exactly one rule (or, for the good paths, none), so that a test can check that the
 * Validator reports each rule under its own check id and nothing else.
 *
 * The path is PATH_INFO; see the table in `routes` below.
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_bytes b(const char *s) {
    nsgi_bytes out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static int var_is(const nsgi_environ *env, const char *name, const char *want) {
    size_t name_len = strlen(name);
    for (size_t i = 0; i < env->n_vars; i++) {
        const nsgi_header *v = &env->vars[i];
        if (v->name.len == name_len && memcmp(v->name.ptr, name, name_len) == 0) {
            return v->value.len == strlen(want) && memcmp(v->value.ptr, want, v->value.len) == 0;
        }
    }
    return 0;
}

enum body_mode {
    BODY_OK,         /* "ok", then done */
    BODY_EMPTY,      /* done at once */
    BODY_LAZY,       /* start_response in the first next, then "lazy" */
    BODY_SHORT,      /* 5 bytes for a Content-Length of 100 */
    BODY_LONG,       /* "12345" then "678" in a second chunk, for a Content-Length of 5 */
    BODY_NULL_CHUNK, /* NULL pointer, length 5 */
    BODY_ERROR,      /* NSGI_E_APP */
    BODY_PANIC,      /* NSGI_E_PANIC */
    BODY_POSITIVE,   /* an unknown positive status */
    BODY_WRITE,      /* write() from inside next */
    BODY_EXC_CARRY,  /* "a", then start_response with exc_info (headers sent) and "b" anyway */
    BODY_EXC_ABORT,  /* "a", then start_response with exc_info (headers sent) and an error */
    BODY_MANY,       /* "chunk" ten times */
    BODY_EXC_DONE,   /* "a", then start_response with exc_info (headers sent) and NSGI_DONE */
    BODY_ENDLESS,    /* 4 KiB chunks, for ever */
};

typedef struct body {
    int mode;
    int step;
    int close_mode; /* 1: write() in close, 2: start_response in close */
} body;

static const nsgi_exc_info EXC = {sizeof(nsgi_exc_info), NSGI_E_APP, {(const uint8_t *)"Error", 5},
                                  {(const uint8_t *)"boom", 4}};

static nsgi_status start(nsgi_request *req, const char *status, const char *name, const char *value) {
    nsgi_header h = {b(name), b(value)};
    return HOST->start_response(req, b(status), &h, 1, NULL);
}

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    body *s = state;
    s->step++;
    switch (s->mode) {
    case BODY_EMPTY:
        return NSGI_DONE;
    case BODY_LAZY:
        if (s->step > 1) return NSGI_DONE;
        start(req, "201 Created", "Content-Type", "text/plain");
        *chunk = b("lazy");
        return NSGI_OK;
    case BODY_SHORT:
        if (s->step > 1) return NSGI_DONE;
        *chunk = b("short");
        return NSGI_OK;
    case BODY_LONG:
        if (s->step == 1) { *chunk = b("12345"); return NSGI_OK; }
        if (s->step == 2) { *chunk = b("678"); return NSGI_OK; }
        return NSGI_DONE;
    case BODY_NULL_CHUNK:
        chunk->ptr = NULL;
        chunk->len = 5;
        return NSGI_OK;
    case BODY_ERROR:
        return NSGI_E_APP;
    case BODY_PANIC:
        return NSGI_E_PANIC;
    case BODY_POSITIVE:
        return 7;
    case BODY_WRITE:
        if (s->step > 1) return NSGI_DONE;
        HOST->write(req, b("written"));
        *chunk = b("ok");
        return NSGI_OK;
    case BODY_EXC_CARRY:
    case BODY_EXC_ABORT:
        if (s->step == 1) { *chunk = b("a"); return NSGI_OK; }
        if (s->step == 2) {
            nsgi_header h = {b("Content-Type"), b("text/plain")};
            nsgi_status rc = HOST->start_response(req, b("500 Internal Server Error"), &h, 1, &EXC);
            if (rc != NSGI_OK && s->mode == BODY_EXC_ABORT) return NSGI_E_APP;
            *chunk = b("b");
            return NSGI_OK;
        }
        return NSGI_DONE;
    case BODY_EXC_DONE:
        if (s->step == 1) { *chunk = b("a"); return NSGI_OK; }
        HOST->start_response(req, b("500 Internal Server Error"), NULL, 0, &EXC);
        return NSGI_DONE;
    case BODY_ENDLESS: {
        static char block[4096];
        chunk->ptr = (const uint8_t *)block;
        chunk->len = sizeof block;
        return NSGI_OK;
    }
    case BODY_MANY:
        if (s->step > 10) return NSGI_DONE;
        *chunk = b("chunk");
        return NSGI_OK;
    default:
        if (s->step > 1) return NSGI_DONE;
        *chunk = b("ok");
        return NSGI_OK;
    }
}

static void body_close(void *state, nsgi_request *req) {
    body *s = state;
    if (s->close_mode == 1) HOST->write(req, b("late"));
    if (s->close_mode == 2) start(req, "200 OK", "Content-Type", "text/plain");
    free(state);
}

static const nsgi_body_vtable BODY = {sizeof(nsgi_body_vtable), body_next, body_close};
static const nsgi_body_vtable NO_CLOSE = {sizeof(nsgi_body_vtable), body_next, NULL};

static nsgi_status make(int mode, nsgi_body *out) {
    body *s = calloc(1, sizeof *s);
    if (s == NULL) return NSGI_E_NOMEM;
    s->mode = mode;
    out->vtable = &BODY;
    out->state = s;
    return NSGI_OK;
}

static nsgi_status ok_text(nsgi_request *req, nsgi_body *out) {
    nsgi_status rc = start(req, "200 OK", "Content-Type", "text/plain");
    if (rc != NSGI_OK) return rc;
    return make(BODY_OK, out);
}

static nsgi_status routes(nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
#define PATH(p) var_is(env, "PATH_INFO", p)
    nsgi_header two[2];
    /* Good paths. */
    if (PATH("/ok")) return ok_text(req, out);
    if (PATH("/lazy")) return make(BODY_LAZY, out);
    if (PATH("/many")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        return make(BODY_MANY, out);
    }
    if (PATH("/write")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        HOST->write(req, b("written"));
        return make(BODY_EMPTY, out);
    }
    if (PATH("/exc-before")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        nsgi_header h = {b("Content-Type"), b("text/plain")};
        HOST->start_response(req, b("503 Service Unavailable"), &h, 1, &EXC);
        return make(BODY_OK, out);
    }
    if (PATH("/exc-after-abort")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        return make(BODY_EXC_ABORT, out);
    }
    if (PATH("/hop-read")) {
        nsgi_bytes value;
        HOST->environ_get(req, b("HTTP_CONNECTION"), &value);
        return ok_text(req, out);
    }
    /* start_response */
    if (PATH("/twice")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        start(req, "200 OK", "Content-Type", "text/plain");
        return make(BODY_OK, out);
    }
    if (PATH("/retry-after-refusal")) {
        start(req, "200", "Content-Type", "text/plain");
        return ok_text(req, out);
    }
    if (PATH("/no-start")) return make(BODY_EMPTY, out);
    if (PATH("/chunk-before-start")) return make(BODY_OK, out);
    if (PATH("/status-code")) { start(req, "20 OK", "Content-Type", "text/plain"); return make(BODY_OK, out); }
    if (PATH("/status-shape")) { start(req, "200", "Content-Type", "text/plain"); return make(BODY_OK, out); }
    if (PATH("/status-crlf")) { start(req, "200 OK\r\n", "Content-Type", "text/plain"); return make(BODY_OK, out); }
    if (PATH("/null-headers")) {
        HOST->start_response(req, b("200 OK"), NULL, 2, NULL);
        return make(BODY_OK, out);
    }
    if (PATH("/exc-small")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        nsgi_exc_info small = EXC;
        small.struct_size = 4;
        HOST->start_response(req, b("500 Oops"), NULL, 0, &small);
        return make(BODY_OK, out);
    }
    if (PATH("/exc-after-carry-on")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        return make(BODY_EXC_CARRY, out);
    }
    if (PATH("/exc-then-done")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        return make(BODY_EXC_DONE, out);
    }
    if (PATH("/exc-in-call-carry-on")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        HOST->write(req, b("sent"));
        HOST->start_response(req, b("500 Internal Server Error"), NULL, 0, &EXC);
        return make(BODY_EMPTY, out);
    }
    if (PATH("/status-999")) { start(req, "999 Odd", "Content-Type", "text/plain"); return make(BODY_OK, out); }
    /* headers */
    if (PATH("/crlf-name")) { start(req, "200 OK", "X-A\r\nSet-Cookie", "x=1"); return make(BODY_OK, out); }
    if (PATH("/status-header")) { start(req, "200 OK", "Status", "200 OK"); return make(BODY_OK, out); }
    if (PATH("/bad-name")) { start(req, "200 OK", "Bad Name", "x"); return make(BODY_OK, out); }
    if (PATH("/crlf-value")) { start(req, "200 OK", "X-A", "a\r\nSet-Cookie: x=1"); return make(BODY_OK, out); }
    if (PATH("/hop")) { start(req, "200 OK", "Connection", "close"); return make(BODY_OK, out); }
    if (PATH("/te")) { start(req, "200 OK", "Transfer-Encoding", "chunked"); return make(BODY_OK, out); }
    if (PATH("/bad-length")) { start(req, "200 OK", "Content-Length", "12x"); return make(BODY_OK, out); }
    if (PATH("/no-type")) { start(req, "200 OK", "X-Nothing", "1"); return make(BODY_OK, out); }
    if (PATH("/204-type")) { start(req, "204 No Content", "Content-Type", "text/plain"); return make(BODY_EMPTY, out); }
    if (PATH("/204-length")) { start(req, "204 No Content", "Content-Length", "0"); return make(BODY_EMPTY, out); }
    if (PATH("/304-entity")) { start(req, "304 Not Modified", "Last-Modified", "x"); return make(BODY_EMPTY, out); }
    if (PATH("/etag")) {
        two[0].name = b("Content-Type"); two[0].value = b("text/plain");
        two[1].name = b("ETag"); two[1].value = b("unquoted");
        HOST->start_response(req, b("200 OK"), two, 2, NULL);
        return make(BODY_OK, out);
    }
    if (PATH("/location")) {
        two[0].name = b("Content-Type"); two[0].value = b("text/plain");
        two[1].name = b("Location"); two[1].value = b("/relative");
        HOST->start_response(req, b("302 Found"), two, 2, NULL);
        return make(BODY_OK, out);
    }
    /* body */
    if (PATH("/null-body")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        out->vtable = NULL;
        return NSGI_OK;
    }
    if (PATH("/no-close")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        out->vtable = &NO_CLOSE;
        out->state = NULL;
        return NSGI_OK;
    }
    if (PATH("/short")) {
        two[0].name = b("Content-Type"); two[0].value = b("text/plain");
        two[1].name = b("Content-Length"); two[1].value = b("100");
        HOST->start_response(req, b("200 OK"), two, 2, NULL);
        return make(BODY_SHORT, out);
    }
    if (PATH("/long")) {
        two[0].name = b("Content-Type"); two[0].value = b("text/plain");
        two[1].name = b("Content-Length"); two[1].value = b("5");
        HOST->start_response(req, b("200 OK"), two, 2, NULL);
        return make(BODY_LONG, out);
    }
    if (PATH("/long-write")) {
        two[0].name = b("Content-Type"); two[0].value = b("text/plain");
        two[1].name = b("Content-Length"); two[1].value = b("3");
        HOST->start_response(req, b("200 OK"), two, 2, NULL);
        HOST->write(req, b("0123456789"));
        return make(BODY_EMPTY, out);
    }
    if (PATH("/endless")) {
        two[0].name = b("Content-Type"); two[0].value = b("text/plain");
        two[1].name = b("Content-Length"); two[1].value = b("5");
        HOST->start_response(req, b("200 OK"), two, 2, NULL);
        return make(BODY_ENDLESS, out);
    }
    if (PATH("/1xx-body")) { start(req, "102 Processing", "X-A", "1"); return make(BODY_OK, out); }
    if (PATH("/204-body")) { start(req, "204 No Content", "X-A", "1"); return make(BODY_OK, out); }
    if (PATH("/null-chunk")) { start(req, "200 OK", "Content-Type", "text/plain"); return make(BODY_NULL_CHUNK, out); }
    if (PATH("/next-error")) { start(req, "200 OK", "Content-Type", "text/plain"); return make(BODY_ERROR, out); }
    if (PATH("/next-panic")) { start(req, "200 OK", "Content-Type", "text/plain"); return make(BODY_PANIC, out); }
    if (PATH("/next-positive")) { start(req, "200 OK", "Content-Type", "text/plain"); return make(BODY_POSITIVE, out); }
    if (PATH("/call-error")) return NSGI_E_APP;
    if (PATH("/call-panic")) return NSGI_E_PANIC;
    /* write and the other request functions */
    if (PATH("/write-before")) {
        HOST->write(req, b("early"));
        return ok_text(req, out);
    }
    if (PATH("/write-in-next")) { start(req, "200 OK", "Content-Type", "text/plain"); return make(BODY_WRITE, out); }
    if (PATH("/write-null")) {
        start(req, "200 OK", "Content-Type", "text/plain");
        nsgi_bytes bad = {NULL, 3};
        HOST->write(req, bad);
        return make(BODY_OK, out);
    }
    if (PATH("/errors-null")) {
        nsgi_bytes bad = {NULL, 3};
        HOST->errors_write(req, bad);
        return ok_text(req, out);
    }
    if (PATH("/read-null")) {
        HOST->input_read(req, NULL, 16);
        return ok_text(req, out);
    }
    if (PATH("/write-in-close") || PATH("/start-in-close")) {
        nsgi_status rc = ok_text(req, out);
        if (rc == NSGI_OK) ((body *)out->state)->close_mode = PATH("/write-in-close") ? 1 : 2;
        return rc;
    }
    return ok_text(req, out);
#undef PATH
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    out->vtable = NULL;
    return routes(req, env, out);
}

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    {(const uint8_t *)"violations", 10}, {(const uint8_t *)"C", 1},
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
