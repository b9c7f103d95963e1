/*
 * hello.c: the classic "Hello, World!" NSGI app, written in plain C11 against nsgi.h alone.
 *
 * It answers every request, whatever the method or path, with
 *
 *     200 OK
 *     Content-Type: text/plain; charset=utf-8
 *     Content-Length: 13
 *
 *     Hello, World!
 *
 * exactly like the Rust sample sample-apps/hello. It is meant to be read top to bottom as a
 * tour of the ABI (the full rules are in docs/abi.md):
 *
 *   1. nsgi_app_entry_v1   the one exported symbol; returns a static descriptor.
 *   2. hello_init          creates the app instance; keeps the host's function table.
 *   3. hello_call          handles one request: start_response, then return a body.
 *   4. hello_body_next     yields the body chunk by chunk (here: one chunk).
 *   5. hello_body_close    releases the body; the host calls it exactly once per body.
 *   6. hello_shutdown      destroys the app instance.
 *
 * Memory rule of thumb: whoever allocates frees. The app mallocs its instance and each body's
 * state and frees them in shutdown/close; everything the host hands over (the host table,
 * environ, request) is borrowed and never freed here.
 *
 * Build (sample-apps/hello-c/build.rs does this):
 *     cc -shared -fPIC -std=c11 -O2 -Wall -Wextra -Werror -pedantic -fvisibility=hidden \
 *        -I abi/include hello.c -o libhello_c.so
 */
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* An nsgi_bytes for a string literal, without its terminating NUL (nsgi_bytes has a length
 * and is never NUL-terminated). Usable in static initializers. */
#define HELLO_BYTES(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}

/* The response body. Its length must match the Content-Length header below. */
static const char HELLO_BODY[] = "Hello, World!";
#define HELLO_BODY_LEN (sizeof(HELLO_BODY) - 1)
_Static_assert(HELLO_BODY_LEN == 13, "Content-Length: 13 must match the body");

/* Writes `msg` to the host log, if the host provides one. `req` may be NULL (no request). */
static void hello_log(const nsgi_host_api *host, nsgi_request *req, int32_t level,
                      const char *msg) {
    /* A function pointer may only be used if the host's table is large enough to contain it
     * (NSGI_HAS checks struct_size) and the pointer is not NULL. */
    if (host == NULL || !NSGI_HAS(host, nsgi_host_api, log) || host->log == NULL) {
        return;
    }
    nsgi_bytes text = {(const uint8_t *)msg, strlen(msg)};
    host->log(host->host_data, req, level, text);
}

/* ------------------------------------------------------------------------------------------ */
/* The app instance                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* One instance per mount. The host may mount the same library several times, so nothing
 * instance-specific lives in globals: it all lives here, behind the `void *app` the host
 * passes back to call() and shutdown(). */
typedef struct hello_app {
    /* The host's function table: borrowed, valid from init until shutdown returns. */
    const nsgi_host_api *host;
} hello_app;

static nsgi_status hello_init(const nsgi_host_api *host, const nsgi_init_args *args,
                              void **app_out) {
    (void)args; /* this app has no configuration */

    if (host == NULL || app_out == NULL) {
        return NSGI_E_INVAL;
    }
    /* The handshake: the host speaks our major version... */
    if (host->abi_major != NSGI_ABI_MAJOR) {
        hello_log(host, NULL, NSGI_LOG_ERROR, "hello-c: the host speaks another NSGI major ABI");
        return NSGI_E_UNSUPPORTED;
    }
    /* ...and its table contains every function we are going to call. Fields appended in later
     * minors would be tested the same way before use. */
    if (!NSGI_HAS(host, nsgi_host_api, start_response) || host->start_response == NULL) {
        hello_log(host, NULL, NSGI_LOG_ERROR,
                  "hello-c: the host's nsgi_host_api is too small or lacks start_response");
        return NSGI_E_UNSUPPORTED;
    }

    hello_app *app = malloc(sizeof *app);
    if (app == NULL) {
        hello_log(host, NULL, NSGI_LOG_ERROR, "hello-c: out of memory in init");
        return NSGI_E_NOMEM;
    }
    app->host = host;
    *app_out = app;
    return NSGI_OK;
}

static void hello_shutdown(void *app) {
    /* Every request has finished; nothing is called after this. */
    free(app);
}

/* ------------------------------------------------------------------------------------------ */
/* The response body (the PEP 3333 iterable)                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Per-request body state: the host may run several bodies at once (this app is thread-safe),
 * so each one gets its own. */
typedef struct hello_body {
    int sent; /* 0 until the one chunk has been handed out */
} hello_body;

static nsgi_status hello_body_next(void *state, nsgi_request *req, nsgi_bytes *chunk_out) {
    hello_body *body = state;
    (void)req;

    if (body->sent) {
        return NSGI_DONE; /* end of the body */
    }
    body->sent = 1;
    /* The chunk must stay valid until the next next()/close() call: a static string does. */
    chunk_out->ptr = (const uint8_t *)HELLO_BODY;
    chunk_out->len = HELLO_BODY_LEN;
    return NSGI_OK;
}

static void hello_body_close(void *state, nsgi_request *req) {
    /* Called exactly once for every body call() returned: at the end, on error, or when the
     * client went away. After it returns, `req` and the environ are gone. */
    (void)req;
    free(state);
}

/* The body's functions: static, shared by every body. */
static const nsgi_body_vtable hello_body_vtable = {
    .struct_size = (uint32_t)sizeof(nsgi_body_vtable),
    .next = hello_body_next,
    .close = hello_body_close,
};

/* ------------------------------------------------------------------------------------------ */
/* One request: PEP 3333 application(environ, start_response)                                 */
/* ------------------------------------------------------------------------------------------ */

static nsgi_status hello_call(void *app_ptr, nsgi_request *req, const nsgi_environ *env,
                              nsgi_body *body_out) {
    hello_app *app = app_ptr;
    const nsgi_host_api *host = app->host;
    (void)env; /* same answer for every method and path */

    /* If this call fails, the host must see no body. */
    body_out->vtable = NULL;
    body_out->state = NULL;

    /* start_response copies the status and headers before it returns, so locals would do; the
     * host sends them with the first non-empty chunk. */
    static const nsgi_header headers[] = {
        {HELLO_BYTES("Content-Type"), HELLO_BYTES("text/plain; charset=utf-8")},
        {HELLO_BYTES("Content-Length"), HELLO_BYTES("13")},
    };
    const nsgi_bytes status = HELLO_BYTES("200 OK");
    nsgi_status rc =
        host->start_response(req, status, headers, sizeof headers / sizeof headers[0], NULL);
    if (rc != NSGI_OK) {
        /* E.g. NSGI_E_INVAL for a malformed header. Report the host's code; nothing to free. */
        hello_log(host, req, NSGI_LOG_ERROR, "hello-c: start_response failed");
        return rc < 0 ? rc : NSGI_E_APP;
    }

    hello_body *body = malloc(sizeof *body);
    if (body == NULL) {
        hello_log(host, req, NSGI_LOG_ERROR, "hello-c: out of memory for the body");
        return NSGI_E_NOMEM; /* the host answers 500: no headers have gone out yet */
    }
    body->sent = 0;

    body_out->vtable = &hello_body_vtable;
    body_out->state = body; /* from now on the host owns the duty to call close() */
    return NSGI_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The entry point                                                                            */
/* ------------------------------------------------------------------------------------------ */

static const nsgi_app_descriptor hello_descriptor = {
    .magic = NSGI_APP_MAGIC,
    .abi_major = NSGI_ABI_MAJOR,
    .abi_minor = NSGI_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(nsgi_app_descriptor),
    /* call/next/close touch only per-request state and the immutable app instance, so the
     * host may run requests in parallel. */
    .flags = NSGI_APP_THREAD_SAFE,
    .name = HELLO_BYTES("hello-c"),
    .sdk_info = HELLO_BYTES("C"),
    .init = hello_init,
    .call = hello_call,
    .shutdown = hello_shutdown,
};

/* The only exported symbol. No side effects: it just points at static data. */
NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &hello_descriptor;
}
