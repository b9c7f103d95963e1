/* An NSGI app, written against nsgi.h alone, that does what hostile or careless apps do, for the
 * gateway tests of issue #9.
 *
 * `/head`          every method: 200, Content-Length 5; a HEAD gets no body at all (correct,
 *                  RFC 9110 §9.3.2), any other method "fine\n".
 * `/head-short`    the same, but a HEAD gets 2 of the 5 declared bytes (also correct for HEAD).
 * `/head-long`     the same, but a HEAD gets 10 bytes (dropped: a HEAD response has no body).
 * `/many-headers`  start_response with 1,000,000 headers; returns what start_response answered
 *                  when it refuses them.
 * `/no-content`    a 204 that produces a body anyway (check C68).
 * anything else    200 "fine\n" with Content-Length 5.
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#define MANY_HEADERS 1000000

static const nsgi_host_api *HOST;

static nsgi_bytes b(const char *s) {
    nsgi_bytes out = {(const uint8_t *)s, strlen(s)};
    return out;
}

static int var_is(nsgi_request *req, const char *name, const char *want) {
    nsgi_bytes value;
    if (HOST->environ_get(req, b(name), &value) != NSGI_OK) return 0;
    return value.len == strlen(want) && memcmp(value.ptr, want, value.len) == 0;
}

/* The body: `text`, given once. */
typedef struct {
    const char *text;
    int sent;
} body_state;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    body_state *body = state;
    (void)req;
    if (body->sent || body->text == NULL) return NSGI_DONE;
    body->sent = 1;
    *chunk = b(body->text);
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable BODY = {sizeof(nsgi_body_vtable), body_next, body_close};

static nsgi_status many_headers(nsgi_request *req) {
    nsgi_header *headers = malloc(MANY_HEADERS * sizeof *headers);
    if (headers == NULL) return NSGI_E_NOMEM;
    for (size_t i = 0; i < MANY_HEADERS; i++) {
        headers[i].name = b("X-Filler");
        headers[i].value = b("x");
    }
    nsgi_status rc = HOST->start_response(req, b("200 OK"), headers, MANY_HEADERS, NULL);
    free(headers);
    return rc;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    (void)env;
    out->vtable = NULL;
    int head = var_is(req, "REQUEST_METHOD", "HEAD");
    const char *text = "fine\n";
    nsgi_status rc;
    if (var_is(req, "PATH_INFO", "/many-headers")) {
        rc = many_headers(req);
    } else if (var_is(req, "PATH_INFO", "/no-content")) {
        rc = HOST->start_response(req, b("204 No Content"), NULL, 0, NULL);
        text = "oops\n";
    } else {
        nsgi_header headers[2] = {{b("Content-Type"), b("text/plain")}, {b("Content-Length"), b("5")}};
        rc = HOST->start_response(req, b("200 OK"), headers, 2, NULL);
        if (head && var_is(req, "PATH_INFO", "/head")) text = NULL;
        if (head && var_is(req, "PATH_INFO", "/head-short")) text = "fi";
        if (head && var_is(req, "PATH_INFO", "/head-long")) text = "fine\nfine\n";
    }
    if (rc != NSGI_OK) return rc;
    body_state *body = calloc(1, sizeof *body);
    if (body == NULL) return NSGI_E_NOMEM;
    body->text = text;
    out->vtable = &BODY;
    out->state = body;
    return NSGI_OK;
}

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    {(const uint8_t *)"hostile", 7}, {(const uint8_t *)"C", 1},
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
