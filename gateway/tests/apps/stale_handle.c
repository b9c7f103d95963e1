/* A thread-safe NSGI app that keeps its request handle past its request, written against nsgi.h
 * alone. Breaks abi.md §6 and §12 on purpose: a request handle is valid only on the thread
 * serving that request, and only until the body's close returns.
 *
 * Every answer is `status=N` (what the host answered the misused call) and, when the host
 * accepted it, ` value=V` (the PATH_INFO it handed out).
 *
 * `/stash` keeps its handle in a global and answers `stashed`.
 * `/use-stale` looks up PATH_INFO through the kept handle (after that request's close).
 * `/hold` keeps its handle, then waits (at most 10 s) until `/use-held` has used it.
 * `/use-held` waits (at most 10 s) for `/hold` to be running, then looks up PATH_INFO through
 *   its handle: another request, live on another thread.
 * `/null` looks up PATH_INFO through a NULL handle.
 * Anything else does what `/use-stale` does when a handle is kept, then keeps its own (so a
 *   checker that sends a series of requests sees the misuse from the second one on).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;
static _Atomic(nsgi_request *) KEPT;
static atomic_int HOLDING;
static atomic_int RELEASED;

static nsgi_bytes var(const nsgi_environ *env, const char *name) {
    nsgi_bytes none = { NULL, 0 };
    for (size_t i = 0; i < env->n_vars; i++) {
        const nsgi_header *v = &env->vars[i];
        if (v->name.len == strlen(name) && memcmp(v->name.ptr, name, v->name.len) == 0) return v->value;
    }
    return none;
}

static int is(nsgi_bytes value, const char *want) {
    return value.len == strlen(want) && memcmp(value.ptr, want, value.len) == 0;
}

/* Waits until *flag is set, polling every millisecond for at most 10 s. */
static int wait_for(atomic_int *flag) {
    struct timespec pause = { 0, 1000000L };
    for (int i = 0; i < 10000; i++) {
        if (atomic_load(flag)) return 1;
        nanosleep(&pause, NULL);
    }
    return 0;
}

typedef struct {
    char text[256];
    int sent;
} body_state;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    body_state *s = state;
    if (s->sent) return NSGI_DONE;
    s->sent = 1;
    chunk->ptr = (const uint8_t *)s->text;
    chunk->len = strlen(s->text);
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable BODY = { sizeof(nsgi_body_vtable), body_next, body_close };

/* Looks up PATH_INFO through `handle` and describes what the host answered. */
static void misuse(nsgi_request *handle, body_state *s) {
    const char *key = "PATH_INFO";
    nsgi_bytes k = { (const uint8_t *)key, strlen(key) };
    nsgi_bytes value = { NULL, 0 };
    nsgi_status rc = HOST->environ_get(handle, k, &value);
    if (rc == NSGI_OK) {
        snprintf(s->text, sizeof s->text, "status=%d value=%.*s", rc, (int)(value.len < 100 ? value.len : 100),
                 (const char *)value.ptr);
    } else {
        snprintf(s->text, sizeof s->text, "status=%d", rc);
    }
}

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    *app = NULL;
    return NSGI_OK;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    body_state *s = calloc(1, sizeof *s);
    if (!s) return NSGI_E_NOMEM;
    nsgi_bytes path = var(env, "PATH_INFO");
    if (is(path, "/stash")) {
        atomic_store(&KEPT, req);
        strcpy(s->text, "stashed");
    } else if (is(path, "/use-stale")) {
        misuse(atomic_load(&KEPT), s);
    } else if (is(path, "/hold")) {
        atomic_store(&RELEASED, 0);
        atomic_store(&KEPT, req);
        atomic_store(&HOLDING, 1);
        strcpy(s->text, wait_for(&RELEASED) ? "held" : "held, never released");
        atomic_store(&HOLDING, 0);
    } else if (is(path, "/use-held")) {
        if (wait_for(&HOLDING)) {
            misuse(atomic_load(&KEPT), s);
        } else {
            strcpy(s->text, "no request was holding");
        }
        atomic_store(&RELEASED, 1);
    } else if (is(path, "/null")) {
        misuse(NULL, s);
    } else {
        nsgi_request *kept = atomic_exchange(&KEPT, req);
        if (kept != NULL) {
            misuse(kept, s);
        } else {
            strcpy(s->text, "stashed");
        }
    }
    static const char ctype_name[] = "Content-Type", ctype_value[] = "text/plain";
    nsgi_header headers[1] = {
        { { (const uint8_t *)ctype_name, sizeof ctype_name - 1 }, { (const uint8_t *)ctype_value, sizeof ctype_value - 1 } },
    };
    nsgi_bytes status = { (const uint8_t *)"200 OK", 6 };
    nsgi_status rc = HOST->start_response(req, status, headers, 1, NULL);
    if (rc != NSGI_OK) {
        free(s);
        return rc;
    }
    out->vtable = &BODY;
    out->state = s;
    return NSGI_OK;
}

static void app_shutdown(void *app) {
    (void)app;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    { (const uint8_t *)"stale_handle", 12 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, app_shutdown,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
