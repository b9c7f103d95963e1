/* An NSGI app that answers with host file bodies (`file_body`), written against nsgi.h alone.
 *
 * The query string is a file path. `/chunked?PATH` answers the whole file with no
 * Content-Length (chunked framing); `/length?PATH` declares the file's size; `/short?PATH`
 * declares 10 bytes more than the file has (the host must refuse it); `/written?PATH` writes
 * `head:` with write() first, then answers the file; `/take-refused?PATH` opens the file, passes
 * its descriptor with NSGI_FILE_TAKE_FD to a file_body call the host must refuse (NULL
 * body_out), and answers `closed` when the host closed the descriptor, `open` otherwise.
 * For the gateway's sendfile tests.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "nsgi.h"

static const nsgi_host_api *HOST;

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
    char text[32];
    int sent;
} text_state;

static nsgi_status text_next(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    (void)req;
    text_state *s = state;
    if (s->sent) return NSGI_DONE;
    s->sent = 1;
    chunk->ptr = (const uint8_t *)s->text;
    chunk->len = strlen(s->text);
    return NSGI_OK;
}

static void text_close(void *state, nsgi_request *req) {
    (void)req;
    free(state);
}

static const nsgi_body_vtable TEXT = { sizeof(nsgi_body_vtable), text_next, text_close };

static nsgi_status answer_text(nsgi_request *req, const char *status, const char *text, nsgi_body *out) {
    text_state *s = calloc(1, sizeof *s);
    if (!s) return NSGI_E_NOMEM;
    snprintf(s->text, sizeof s->text, "%s", text);
    HOST->start_response(req, (nsgi_bytes){ (const uint8_t *)status, strlen(status) }, NULL, 0, NULL);
    out->vtable = &TEXT;
    out->state = s;
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
    nsgi_bytes path = var(env, "PATH_INFO");
    nsgi_bytes query = var(env, "QUERY_STRING");
    char file[512] = { 0 };
    memcpy(file, query.ptr, query.len < sizeof file - 1 ? query.len : sizeof file - 1);
    if (!HOST->file_body) return answer_text(req, "501 Not Implemented", "no file_body", out);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return answer_text(req, "404 Not Found", "no such file", out);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NSGI_E_IO;
    }
    if (is(path, "/take-refused")) {
        nsgi_status rc = HOST->file_body(req, fd, 0, NSGI_FILE_TO_EOF, NSGI_FILE_TAKE_FD, NULL);
        int closed = fcntl(fd, F_GETFD) == -1 && errno == EBADF;
        if (!closed) close(fd);
        return answer_text(req, "200 OK", rc == NSGI_E_INVAL ? (closed ? "closed" : "open") : "accepted", out);
    }
    char length[32];
    snprintf(length, sizeof length, "%lld", (long long)st.st_size + (is(path, "/short") ? 10 : 0));
    nsgi_header headers[2] = {
        { { (const uint8_t *)"Content-Type", 12 }, { (const uint8_t *)"application/octet-stream", 24 } },
        { { (const uint8_t *)"Content-Length", 14 }, { (const uint8_t *)length, strlen(length) } },
    };
    size_t n_headers = is(path, "/length") || is(path, "/short") ? 2 : 1;
    HOST->start_response(req, (nsgi_bytes){ (const uint8_t *)"200 OK", 6 }, headers, n_headers, NULL);
    if (is(path, "/written")) HOST->write(req, (nsgi_bytes){ (const uint8_t *)"head:", 5 });
    nsgi_status rc = HOST->file_body(req, fd, 0, NSGI_FILE_TO_EOF, NSGI_FILE_TAKE_FD, out);
    return rc;
}

static const nsgi_app_descriptor DESCRIPTOR = {
    NSGI_APP_MAGIC, NSGI_ABI_MAJOR, NSGI_ABI_MINOR, sizeof(nsgi_app_descriptor), NSGI_APP_THREAD_SAFE,
    { (const uint8_t *)"files", 5 }, { (const uint8_t *)"C", 1 },
    app_init, app_call, NULL,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) {
    return &DESCRIPTOR;
}
