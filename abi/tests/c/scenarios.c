/* Run-time scenarios for the host SDK's exchange, dispatched on PATH_INFO. Written against
 * nsgi.h alone, like any third-party C app. */
#include <stdlib.h>
#include <string.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;
static int CLOSES; /* how many bodies were closed: read back through /closes */

static nsgi_bytes b(const char *s) { nsgi_bytes o = { (const uint8_t *)s, strlen(s) }; return o; }

static int path_is(nsgi_request *req, const char *want) {
    nsgi_bytes v;
    if (HOST->environ_get(req, b("PATH_INFO"), &v) != NSGI_OK) return 0;
    return v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0;
}

typedef struct { int mode; int step; char buf[64]; } state;
enum { PLAIN, LAZY, EMPTY_CHUNKS, EXC_BEFORE, EXC_AFTER, LONG_BODY, MANY, INPUT_LINES };

static nsgi_status start(nsgi_request *req, const char *status, const nsgi_exc_info *exc) {
    nsgi_header h = { b("Content-Type"), b("text/plain") };
    return HOST->start_response(req, b(status), &h, 1, exc);
}

static nsgi_status next(void *st, nsgi_request *req, nsgi_bytes *chunk) {
    state *s = st;
    s->step++;
    switch (s->mode) {
    case LAZY:
        if (s->step == 1) { if (start(req, "201 Created", NULL) != NSGI_OK) return NSGI_E_APP; *chunk = b("lazy"); return NSGI_OK; }
        return NSGI_DONE;
    case EMPTY_CHUNKS:
        if (s->step < 4) { chunk->ptr = NULL; chunk->len = 0; return NSGI_OK; }
        if (s->step == 4) { *chunk = b("after empties"); return NSGI_OK; }
        return NSGI_DONE;
    case EXC_AFTER:
        if (s->step == 1) { *chunk = b("partial"); return NSGI_OK; }
        {
            nsgi_exc_info exc = { sizeof exc, -1000, b("DbError"), b("connection lost") };
            nsgi_status st2 = start(req, "500 Internal Server Error", &exc);
            return st2 == NSGI_E_HEADERS_SENT ? NSGI_E_APP : NSGI_OK; /* abort properly */
        }
    case LONG_BODY:
        if (s->step <= 3) { *chunk = b("0123456789"); return NSGI_OK; }
        return NSGI_DONE;
    case MANY:
        if (s->step <= 5) { *chunk = b("x"); return NSGI_OK; }
        return NSGI_DONE;
    case INPUT_LINES: {
        int64_t n = HOST->input_readline(req, (uint8_t *)s->buf, 4);
        if (n < 0) return (nsgi_status)n;
        if (n == 0) return NSGI_DONE;
        chunk->ptr = (const uint8_t *)s->buf; chunk->len = (size_t)n;
        return NSGI_OK;
    }
    default:
        if (s->step == 1) { *chunk = b("plain"); return NSGI_OK; }
        return NSGI_DONE;
    }
}

static void close_body(void *st, nsgi_request *req) { (void)req; CLOSES++; free(st); }
static const nsgi_body_vtable VT = { sizeof(nsgi_body_vtable), next, close_body };

static nsgi_status body(int mode, nsgi_body *out) {
    state *s = calloc(1, sizeof *s);
    if (!s) return NSGI_E_NOMEM;
    s->mode = mode;
    out->vtable = &VT; out->state = s;
    return NSGI_OK;
}

static nsgi_status init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args; HOST = host; *app = NULL; return NSGI_OK;
}

static nsgi_status call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app; (void)env;
    if (path_is(req, "/lazy")) return body(LAZY, out);
    if (path_is(req, "/closes")) {
        static char text[32];
        int n = CLOSES, i = 0; char tmp[16]; int t = 0;
        do { tmp[t++] = (char)('0' + n % 10); n /= 10; } while (n);
        while (t) text[i++] = tmp[--t];
        text[i] = 0;
        start(req, "200 OK", NULL);
        HOST->write(req, b(text));
        return body(MANY + 100, out); /* default mode: one "plain" chunk */
    }
    if (path_is(req, "/exc-before")) {
        start(req, "200 OK", NULL);
        nsgi_exc_info exc = { sizeof exc, -1000, b("ValueError"), b("bad input") };
        if (start(req, "503 Service Unavailable", &exc) != NSGI_OK) return NSGI_E_APP;
        return body(PLAIN, out);
    }
    if (path_is(req, "/exc-after")) { start(req, "200 OK", NULL); return body(EXC_AFTER, out); }
    if (path_is(req, "/empty-chunks")) { start(req, "200 OK", NULL); return body(EMPTY_CHUNKS, out); }
    if (path_is(req, "/long")) {
        nsgi_header h = { b("Content-Length"), b("15") };
        HOST->start_response(req, b("200 OK"), &h, 1, NULL);
        return body(LONG_BODY, out);
    }
    if (path_is(req, "/many")) { start(req, "200 OK", NULL); return body(MANY, out); }
    if (path_is(req, "/write")) {
        start(req, "200 OK", NULL);
        if (HOST->write(req, b("written ")) != NSGI_OK) return NSGI_E_APP;
        return body(PLAIN, out);
    }
    if (path_is(req, "/lines")) { start(req, "200 OK", NULL); return body(INPUT_LINES, out); }
    if (path_is(req, "/input")) {
        static uint8_t buf[256];
        int64_t total = 0, n;
        while ((n = HOST->input_read(req, buf + total, sizeof buf - (size_t)total)) > 0) total += n;
        if (n < 0) return (nsgi_status)n;
        nsgi_header h = { b("Content-Type"), b("application/octet-stream") };
        HOST->start_response(req, b("200 OK"), &h, 1, NULL);
        nsgi_bytes data = { buf, (size_t)total };
        HOST->write(req, data);
        return body(MANY + 100, out);
    }
    if (path_is(req, "/errors")) {
        HOST->errors_write(req, b("first line\nsecond "));
        HOST->errors_write(req, b("line\n"));
        HOST->errors_flush(req);
        start(req, "200 OK", NULL);
        return body(PLAIN, out);
    }
    start(req, "200 OK", NULL);
    return body(PLAIN, out);
}

static const nsgi_app_descriptor D = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    { (const uint8_t *)"scenarios", 9 }, { (const uint8_t *)"C", 1 }, init, call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &D; }
