/* An NSGI app whose init obeys marker files, for the supervisor's boot tests (nsgi.h alone).
 *
 * Its configuration (--app-config FILE) is a path prefix P. At init:
 *   P.hang exists   init never returns (an app stuck connecting to something at start-up)
 *   P.fail exists   init fails with NSGI_E_APP (a deploy that cannot boot)
 *   otherwise       init succeeds
 * Requests: /crash dies of SIGSEGV, /pid answers the worker's process id, anything else "ok".
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;
static char PREFIX[1024];

static nsgi_bytes bytes_of(const char *s) {
    nsgi_bytes out = { (const uint8_t *)s, strlen(s) };
    return out;
}

static int marker_exists(const char *suffix) {
    char path[1100];
    snprintf(path, sizeof path, "%s%s", PREFIX, suffix);
    return access(path, F_OK) == 0;
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

typedef struct {
    char text[64];
    int sent;
} text_body;

static text_body BODY; /* calls are serialised: the app is not declared thread-safe */

static nsgi_status body_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    text_body *body = state;
    if (body->sent) return NSGI_DONE;
    body->sent = 1;
    *chunk = bytes_of(body->text);
    return NSGI_OK;
}

static void body_close(void *state, nsgi_request *req) {
    (void)state;
    (void)req;
}

static const nsgi_body_vtable TEXT_BODY = { sizeof(nsgi_body_vtable), body_next, body_close };

static nsgi_status app_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app) {
    HOST = host;
    *app = NULL;
    size_t len = args->config.len < sizeof PREFIX - 1 ? args->config.len : sizeof PREFIX - 1;
    memcpy(PREFIX, args->config.ptr, len);
    PREFIX[len] = '\0';
    while (len > 0 && (PREFIX[len - 1] == '\n' || PREFIX[len - 1] == '\r')) PREFIX[--len] = '\0';
    if (marker_exists(".fail")) return NSGI_E_APP;
    while (marker_exists(".hang")) {
        struct timespec tick = { 0, 50 * 1000 * 1000 };
        nanosleep(&tick, NULL);
    }
    return NSGI_OK;
}

static nsgi_status app_call(void *app, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    (void)app;
    if (path_is(env, "/crash")) {
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        return NSGI_E_APP;
    }
    if (path_is(env, "/pid")) {
        snprintf(BODY.text, sizeof BODY.text, "%ld", (long)getpid());
    } else {
        snprintf(BODY.text, sizeof BODY.text, "ok");
    }
    BODY.sent = 0;
    char length[32];
    snprintf(length, sizeof length, "%zu", strlen(BODY.text));
    nsgi_header headers[2] = {
        { bytes_of("Content-Type"), bytes_of("text/plain") },
        { bytes_of("Content-Length"), bytes_of(length) },
    };
    nsgi_status status = HOST->start_response(req, bytes_of("200 OK"), headers, 2, NULL);
    if (status != NSGI_OK) return status;
    out->vtable = &TEXT_BODY;
    out->state = &BODY;
    return NSGI_OK;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), 0,
    { (const uint8_t *)"bootgate", 8 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
