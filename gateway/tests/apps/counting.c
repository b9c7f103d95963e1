/* A thread-safe NSGI app that counts its response bodies, written against nsgi.h alone, for the
 * client-fault tests: a body the gateway opened must be closed exactly once, whatever the client
 * does.
 *
 *   /stream?N  answers N chunks of 64 KiB of `x` (a response a client can walk away from)
 *   /counts    answers `opened=A closed=B`: bodies handed to the gateway and bodies it closed,
 *              not counting /counts itself
 *   /pid       answers the process id of the worker serving it
 *   /init-ids  answers `uid=R,E gid=R,E`: the real and effective ids the app's init ran with
 *   anything else answers `ok` (counted like /stream)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;
static atomic_long OPENED;
static atomic_long CLOSED;
static char BLOCK[64 * 1024];
static char INIT_IDS[64];

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
    char text[96];
    int sent;
    int counted; /* closing it counts in CLOSED */
    long chunks; /* 64 KiB chunks still to send */
} body_state;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    body_state *s = state;
    if (s->chunks > 0) {
        s->chunks--;
        chunk->ptr = (const uint8_t *)BLOCK;
        chunk->len = sizeof BLOCK;
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
    if (s->counted) atomic_fetch_add(&CLOSED, 1);
    free(s);
}

static const nsgi_body_vtable BODY = { sizeof(nsgi_body_vtable), body_next, body_close };

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    (void)args;
    HOST = host;
    memset(BLOCK, 'x', sizeof BLOCK);
    snprintf(INIT_IDS, sizeof INIT_IDS, "uid=%ld,%ld gid=%ld,%ld", (long)getuid(), (long)geteuid(),
             (long)getgid(), (long)getegid());
    *app = NULL;
    return NSGI_OK;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    body_state *s = calloc(1, sizeof *s);
    if (!s) return NSGI_E_NOMEM;
    nsgi_bytes path = var(env, "PATH_INFO");
    if (is(path, "/counts")) {
        snprintf(s->text, sizeof s->text, "opened=%ld closed=%ld", atomic_load(&OPENED), atomic_load(&CLOSED));
    } else if (is(path, "/init-ids")) {
        snprintf(s->text, sizeof s->text, "%s", INIT_IDS);
    } else if (is(path, "/pid")) {
        snprintf(s->text, sizeof s->text, "%ld", (long)getpid());
    } else {
        s->counted = 1;
        if (is(path, "/stream")) {
            nsgi_bytes query = var(env, "QUERY_STRING");
            char digits[16] = { 0 };
            memcpy(digits, query.ptr, query.len < 15 ? query.len : 15);
            s->chunks = atol(digits);
            s->sent = 1; /* no trailing text */
        } else {
            strcpy(s->text, "ok");
        }
    }
    nsgi_header type = { { (const uint8_t *)"Content-Type", 12 }, { (const uint8_t *)"text/plain", 10 } };
    nsgi_status status = HOST->start_response(req, (nsgi_bytes){ (const uint8_t *)"200 OK", 6 }, &type, 1, NULL);
    if (status != NSGI_OK) {
        free(s);
        return status;
    }
    if (s->counted) atomic_fetch_add(&OPENED, 1);
    out->vtable = &BODY;
    out->state = s;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    { (const uint8_t *)"counting", 8 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
