/*
 * broken_app.h: the correct scaffolding every deliberately broken C app shares, so that each
 * `*.c` file beside it shows only its one bug.
 *
 * It holds what a well-behaved NSGI app written against nsgi.h alone needs around its `call`:
 * an instance that keeps the host table (`init` checks the host speaks v1, `shutdown` frees it),
 * logging through the host, a body that yields one static chunk and frees its state in `close`,
 * and the descriptor plus `nsgi_app_entry_v1`. Nothing here breaks a rule.
 *
 * Use: `#define APP_NAME "broken_c_<file>"`, include this header, write `app_call`, end with
 * `BROKEN_APP_EXPORT(app_call)`.
 */
#ifndef NSGI_BROKEN_APP_H
#define NSGI_BROKEN_APP_H

#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#ifndef APP_NAME
#error "define APP_NAME before including broken_app.h"
#endif

#define BYTES(literal) {(const uint8_t *)(literal), sizeof(literal) - 1}
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* One app instance: the host table it was given at init. */
typedef struct app {
    const nsgi_host_api *host;
} app;

/* Logs through the host, if the host's table has a log function. */
static inline void app_log(const nsgi_host_api *host, nsgi_request *req, int32_t level, const char *msg) {
    if (host == NULL || !NSGI_HAS(host, nsgi_host_api, log) || host->log == NULL) {
        return;
    }
    nsgi_bytes text = {(const uint8_t *)msg, strlen(msg)};
    host->log(host->host_data, req, level, text);
}

static inline nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app_out) {
    (void)args;
    if (host == NULL || app_out == NULL) {
        return NSGI_E_INVAL;
    }
    if (host->abi_major != NSGI_ABI_MAJOR || !NSGI_HAS(host, nsgi_host_api, start_response) ||
        host->start_response == NULL) {
        app_log(host, NULL, NSGI_LOG_ERROR, APP_NAME ": the host does not speak NSGI v1");
        return NSGI_E_UNSUPPORTED;
    }
    app *a = malloc(sizeof *a);
    if (a == NULL) {
        return NSGI_E_NOMEM;
    }
    a->host = host;
    *app_out = a;
    return NSGI_OK;
}

static inline void app_shutdown(void *a) {
    free(a);
}

/* A body's `close` for state that is one malloc'd block. */
static inline void body_free(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

/* A body that yields `text` once. */
typedef struct one_chunk {
    const char *text;
    int sent;
} one_chunk;

static inline nsgi_status one_chunk_next(void *state, nsgi_request *req, nsgi_bytes *chunk_out) {
    one_chunk *b = state;
    (void)req;
    if (b->sent) {
        return NSGI_DONE;
    }
    b->sent = 1;
    chunk_out->ptr = (const uint8_t *)b->text;
    chunk_out->len = strlen(b->text);
    return NSGI_OK;
}

static const nsgi_body_vtable ONE_CHUNK_VTABLE = {
    .struct_size = (uint32_t)sizeof(nsgi_body_vtable),
    .next = one_chunk_next,
    .close = body_free,
};

/* Fills `body_out` with a body yielding the static string `text` once. */
static inline nsgi_status one_chunk_body(const nsgi_host_api *host, nsgi_request *req, const char *text,
                                         nsgi_body *body_out) {
    one_chunk *b = malloc(sizeof *b);
    if (b == NULL) {
        app_log(host, req, NSGI_LOG_ERROR, APP_NAME ": out of memory");
        return NSGI_E_NOMEM;
    }
    b->text = text;
    b->sent = 0;
    body_out->vtable = &ONE_CHUNK_VTABLE;
    body_out->state = b;
    return NSGI_OK;
}

/* The descriptor and the entry symbol, with `call_fn` as the app's call function. */
#define BROKEN_APP_EXPORT(call_fn)                                               \
    static const nsgi_app_descriptor descriptor = {                              \
        .magic = NSGI_APP_MAGIC,                                                 \
        .abi_major = NSGI_ABI_MAJOR,                                             \
        .abi_minor = NSGI_ABI_MINOR,                                             \
        .struct_size = (uint32_t)sizeof(nsgi_app_descriptor),                    \
        .flags = NSGI_APP_THREAD_SAFE,                                           \
        .name = BYTES(APP_NAME),                                                 \
        .sdk_info = BYTES("C"),                                                  \
        .init = app_init,                                                        \
        .call = (call_fn),                                                       \
        .shutdown = app_shutdown,                                                \
    };                                                                           \
    NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {             \
        return &descriptor;                                                      \
    }

#endif /* NSGI_BROKEN_APP_H */
