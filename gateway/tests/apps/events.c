/* An NSGI app with an endless body (server-sent events), written against nsgi.h alone.
 *
 * `/events` answers `text/event-stream` and never ends: each `next` hands out the event
 * `data: N` (N counting up) padded to 1 KiB, so a client that stops reading fills the socket at
 * once. `/closes` answers how many event bodies were closed so far, `/opened` how many were
 * started. `/write?N` writes N blocks of 64 KiB of `w` with write() (PEP 3333's imperative API)
 * and returns an empty body; it stops at the first write that fails, and `/write-errors` answers
 * how many stopped so with NSGI_E_IO. `/write-paced` writes `first`, then waits (at most 10 s)
 * until a `/release` request arrives on another connection, then writes `second`: its first
 * write reaches the client only if the host sends written bytes as they come. Anything else
 * answers `ok`. For the gateway's streaming
 * tests (a body closed exactly once when its client goes away, written bytes streamed).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;
static atomic_long OPENED;
static atomic_long CLOSED;
static atomic_long WRITE_IO_ERRORS;
static atomic_long RELEASED;
static char BLOCK[64 * 1024];

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

typedef struct {
    int endless;
    int sent;
    long next_event;
    char text[1024];
} body_state;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    body_state *s = state;
    if (s->endless) {
        memset(s->text, ':', sizeof s->text);
        int n = snprintf(s->text, sizeof s->text, "data: %ld\n", s->next_event++);
        s->text[n] = ':'; /* an SSE comment pads the event to 1 KiB */
        s->text[sizeof s->text - 2] = '\n';
        s->text[sizeof s->text - 1] = '\n';
        chunk->ptr = (const uint8_t *)s->text;
        chunk->len = sizeof s->text;
        return NSGI_OK;
    }
    if (s->sent) return NSGI_DONE;
    s->sent = 1;
    chunk->ptr = (const uint8_t *)s->text;
    chunk->len = strlen(s->text);
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    body_state *s = state;
    if (s->endless) atomic_fetch_add(&CLOSED, 1);
    free(s);
}

static const nsgi_body_vtable BODY = { sizeof(nsgi_body_vtable), body_next, body_close };

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    memset(BLOCK, 'w', sizeof BLOCK);
    *app = NULL;
    return NSGI_OK;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    body_state *s = calloc(1, sizeof *s);
    if (!s) return NSGI_E_NOMEM;
    nsgi_bytes path = var(env, "PATH_INFO");
    const char *type = "text/plain";
    if (is(path, "/events")) {
        s->endless = 1;
        type = "text/event-stream";
        atomic_fetch_add(&OPENED, 1);
    } else if (is(path, "/closes")) {
        snprintf(s->text, sizeof s->text, "%ld", atomic_load(&CLOSED));
    } else if (is(path, "/write")) {
        nsgi_bytes query = var(env, "QUERY_STRING");
        char digits[16] = { 0 };
        memcpy(digits, query.ptr, query.len < 15 ? query.len : 15);
        long blocks = atol(digits);
        HOST->start_response(req, (nsgi_bytes){ (const uint8_t *)"200 OK", 6 }, NULL, 0, NULL);
        for (long i = 0; i < blocks; i++) {
            nsgi_status rc = HOST->write(req, (nsgi_bytes){ (const uint8_t *)BLOCK, sizeof BLOCK });
            if (rc != NSGI_OK) {
                if (rc == NSGI_E_IO) atomic_fetch_add(&WRITE_IO_ERRORS, 1);
                break;
            }
        }
        s->sent = 1; /* an empty body */
        out->vtable = &BODY;
        out->state = s;
        return NSGI_OK;
    } else if (is(path, "/write-paced")) {
        atomic_store(&RELEASED, 0);
        HOST->start_response(req, (nsgi_bytes){ (const uint8_t *)"200 OK", 6 }, NULL, 0, NULL);
        HOST->write(req, (nsgi_bytes){ (const uint8_t *)"first\n", 6 });
        struct timespec tick = { 0, 10 * 1000 * 1000 };
        for (int i = 0; i < 1000 && !atomic_load(&RELEASED); i++) nanosleep(&tick, NULL);
        HOST->write(req, (nsgi_bytes){ (const uint8_t *)"second\n", 7 });
        s->sent = 1; /* an empty body */
        out->vtable = &BODY;
        out->state = s;
        return NSGI_OK;
    } else if (is(path, "/release")) {
        atomic_store(&RELEASED, 1);
        strcpy(s->text, "released");
    } else if (is(path, "/write-errors")) {
        snprintf(s->text, sizeof s->text, "%ld", atomic_load(&WRITE_IO_ERRORS));
    } else if (is(path, "/opened")) {
        snprintf(s->text, sizeof s->text, "%ld", atomic_load(&OPENED));
    } else {
        strcpy(s->text, "ok");
    }
    nsgi_header header = { { (const uint8_t *)"Content-Type", 12 }, { (const uint8_t *)type, strlen(type) } };
    HOST->start_response(req, (nsgi_bytes){ (const uint8_t *)"200 OK", 6 }, &header, 1, NULL);
    out->vtable = &BODY;
    out->state = s;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    { (const uint8_t *)"events", 6 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
