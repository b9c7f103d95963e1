/*
 * bench_app.c: the NSGI side of the benchmark's one app, written in C against nsgi.h alone.
 *
 * Every server in bench/run.sh serves the same three routes (bench/peers/hello_wsgi.py is the
 * WSGI twin of this file, and the generated nginx config has the first two):
 *
 *     GET  /      200, text/plain, "Hello, World!" (13 bytes)
 *     GET  /64k   200, text/plain, 65536 bytes of 'x'
 *     POST (any)  200, application/octet-stream, the request body echoed byte for byte
 *
 * It does what a minimal app does and no more: the bodies are handed to the host in one
 * chunk each, the request body is read through wsgi.input into one buffer. bench/run.sh
 * compiles it with
 *
 *     cc -shared -fPIC -std=c11 -O2 -Wall -Wextra -Werror -fvisibility=hidden \
 *        -I abi/include bench/apps/bench_app.c -o bench_app.so
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#define BIG_LEN 65536
#define LIT(s) {(const uint8_t *)(s), sizeof(s) - 1}

static const char HELLO[] = "Hello, World!";
_Static_assert(sizeof HELLO - 1 == 13, "the hello Content-Length below is \"13\"");

typedef struct bench_app {
    const nsgi_host_api *host;
    uint8_t big[BIG_LEN]; /* the /64k body, filled once in init */
} bench_app;

/* One response body: a single chunk, borrowed (`owned` NULL) or malloc'd (`owned` == ptr). */
typedef struct bench_body {
    const uint8_t *ptr;
    size_t len;
    uint8_t *owned;
    int sent;
} bench_body;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    bench_body *body = state;
    (void)req;
    if (body->sent || body->len == 0) {
        return NSGI_DONE;
    }
    body->sent = 1;
    chunk->ptr = body->ptr;
    chunk->len = body->len;
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    bench_body *body = state;
    (void)req;
    free(body->owned);
    free(body);
}

static const nsgi_body_vtable BODY_VTABLE = {
    .struct_size = (uint32_t)sizeof(nsgi_body_vtable),
    .next = body_next,
    .close = body_close,
};

/* True when the environ variable `name` equals `want`. */
static int var_is(const nsgi_environ *env, const char *name, const char *want) {
    size_t name_len = strlen(name), want_len = strlen(want);
    for (size_t i = 0; i < env->n_vars; i++) {
        const nsgi_header *v = &env->vars[i];
        if (v->name.len == name_len && memcmp(v->name.ptr, name, name_len) == 0) {
            return v->value.len == want_len && memcmp(v->value.ptr, want, want_len) == 0;
        }
    }
    return 0;
}

/* Reads the whole request body into a malloc'd buffer; returns its length, or -1. */
static int64_t read_body(const nsgi_host_api *host, nsgi_request *req, const nsgi_environ *env,
                         uint8_t **out) {
    size_t cap = env->content_length != NSGI_NO_LENGTH ? (size_t)env->content_length : 65536;
    size_t len = 0;
    uint8_t *buf = malloc(cap > 0 ? cap : 1);
    if (buf == NULL) {
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (env->content_length != NSGI_NO_LENGTH) {
                break; /* the gateway never gives more than Content-Length */
            }
            uint8_t *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                return -1;
            }
            buf = grown;
            cap *= 2;
        }
        int64_t n = host->input_read(req, buf + len, cap - len);
        if (n < 0) {
            free(buf);
            return -1;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    *out = buf;
    return (int64_t)len;
}

static nsgi_status app_call(void *app_ptr, nsgi_request *req, const nsgi_environ *env,
                            nsgi_body *out) {
    bench_app *app = app_ptr;
    const nsgi_host_api *host = app->host;
    out->vtable = NULL;
    out->state = NULL;

    bench_body *body = calloc(1, sizeof *body);
    if (body == NULL) {
        return NSGI_E_NOMEM;
    }
    nsgi_bytes content_type = LIT("text/plain");
    if (var_is(env, "REQUEST_METHOD", "POST") || var_is(env, "REQUEST_METHOD", "PUT")) {
        int64_t n = read_body(host, req, env, &body->owned);
        if (n < 0) {
            free(body);
            return NSGI_E_IO;
        }
        body->ptr = body->owned;
        body->len = (size_t)n;
        content_type = (nsgi_bytes)LIT("application/octet-stream");
    } else if (var_is(env, "PATH_INFO", "/64k")) {
        body->ptr = app->big;
        body->len = BIG_LEN;
    } else {
        body->ptr = (const uint8_t *)HELLO;
        body->len = sizeof HELLO - 1;
    }

    /* The two fixed bodies have fixed lengths; only an echoed body's is formatted. */
    char length_text[24];
    nsgi_bytes length = LIT("13");
    if (body->ptr == app->big) {
        length = (nsgi_bytes)LIT("65536");
    } else if (body->owned != NULL) {
        int n = snprintf(length_text, sizeof length_text, "%zu", body->len);
        length = (nsgi_bytes){(const uint8_t *)length_text, (size_t)n};
    }
    const nsgi_header headers[2] = {
        {LIT("Content-Type"), content_type},
        {LIT("Content-Length"), length},
    };
    const nsgi_bytes status = LIT("200 OK");
    nsgi_status rc = host->start_response(req, status, headers, 2, NULL);
    if (rc != NSGI_OK) {
        free(body->owned);
        free(body);
        return rc < 0 ? rc : NSGI_E_APP;
    }
    out->vtable = &BODY_VTABLE;
    out->state = body;
    return NSGI_OK;
}

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args,
                            void **app_out) {
    (void)args;
    if (host == NULL || host->abi_major != NSGI_ABI_MAJOR ||
        !NSGI_HAS(host, nsgi_host_api, start_response) || host->start_response == NULL ||
        host->input_read == NULL) {
        return NSGI_E_UNSUPPORTED;
    }
    bench_app *app = malloc(sizeof *app);
    if (app == NULL) {
        return NSGI_E_NOMEM;
    }
    app->host = host;
    memset(app->big, 'x', BIG_LEN);
    *app_out = app;
    return NSGI_OK;
}

static void app_shutdown(void *app) {
    free(app);
}

static const nsgi_app_descriptor DESCRIPTOR = {
    .magic = NSGI_APP_MAGIC,
    .abi_major = NSGI_ABI_MAJOR,
    .abi_minor = NSGI_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(nsgi_app_descriptor),
    .flags = NSGI_APP_THREAD_SAFE,
    .name = LIT("bench"),
    .sdk_info = LIT("C"),
    .init = app_init,
    .call = app_call,
    .shutdown = app_shutdown,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
