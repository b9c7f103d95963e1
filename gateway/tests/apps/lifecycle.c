/* An NSGI app for the supervisor's end-to-end tests, written against nsgi.h alone.
 *
 * Each path makes the worker process do one thing a real app might:
 *   /crash   dies of SIGSEGV, writing through a null pointer (a native app's bug)
 *   /sleep   blocks its thread for 10 s, then answers "slept" (a stuck call)
 *   /slow    blocks for 1 s, then answers "slow" (an in-flight request at stop time)
 *   /pid     answers the worker's process id
 *   /env     answers "clean", or the supervisor link variables the app can see
 *   anything else answers "ok"
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;

static nsgi_bytes bytes_of(const char *s) {
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

static void pause_for(time_t seconds) {
    struct timespec left = { seconds, 0 };
    while (nanosleep(&left, &left) != 0) {
        /* interrupted by a signal: sleep the rest */
    }
}

typedef struct {
    char text[256];
    int sent;
} text_body;

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    text_body *body = state;
    if (body->sent) return NSGI_DONE;
    body->sent = 1;
    *chunk = bytes_of(body->text);
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable TEXT_BODY = { sizeof(nsgi_body_vtable), body_next, body_close };

static nsgi_status answer(nsgi_request *req, const char *text, nsgi_body *out) {
    text_body *body = calloc(1, sizeof *body);
    if (!body) return NSGI_E_NOMEM;
    snprintf(body->text, sizeof body->text, "%s", text);
    char length[32];
    snprintf(length, sizeof length, "%zu", strlen(body->text));
    nsgi_header headers[2] = {
        { bytes_of("Content-Type"), bytes_of("text/plain") },
        { bytes_of("Content-Length"), bytes_of(length) },
    };
    nsgi_status status = HOST->start_response(req, bytes_of("200 OK"), headers, 2, NULL);
    if (status != NSGI_OK) {
        free(body);
        return status;
    }
    out->vtable = &TEXT_BODY;
    out->state = body;
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
    char text[256];
    if (path_is(env, "/crash")) {
        /* A real invalid access: raise(SIGSEGV) would only reach the Rust runtime's handler. */
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        return NSGI_E_APP;
    }
    if (path_is(env, "/sleep")) {
        pause_for(10);
        return answer(req, "slept", out);
    }
    if (path_is(env, "/slow")) {
        pause_for(1);
        return answer(req, "slow", out);
    }
    if (path_is(env, "/pid")) {
        snprintf(text, sizeof text, "%ld", (long)getpid());
        return answer(req, text, out);
    }
    if (path_is(env, "/env")) {
        static const char *const NAMES[] = { "NSGI_WORKER", "NSGI_LISTENER_FDS", "NSGI_CONTROL_FD",
                                             "NSGI_SUPERVISOR_PID" };
        text[0] = '\0';
        for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
            if (getenv(NAMES[i])) {
                strncat(text, NAMES[i], sizeof text - strlen(text) - 2);
                strcat(text, " ");
            }
        }
        return answer(req, text[0] ? text : "clean", out);
    }
    return answer(req, "ok", out);
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    { (const uint8_t *)"lifecycle", 9 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
