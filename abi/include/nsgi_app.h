/*
 * nsgi_app.h: helpers for NSGI apps written in C. Header-only, on top of nsgi.h; no change to
 * the ABI and nothing to link. Every function is `static inline`, so a translation unit pays
 * only for what it calls.
 *
 * What is here:
 *   - NSGI_BYTES("literal"), NSGI_BYTES_INIT("literal"), nsgi_str(), nsgi_bytes_equal()
 *   - nsgi_environ_var(): an environ variable straight from the environ (no host call)
 *   - nsgi_param_get(): a query-string or urlencoded-form parameter, percent-decoded into a
 *     caller buffer; nsgi_read_body(): the request body into a caller buffer
 *   - nsgi_html_escape(), nsgi_html_escaped_len(): text made safe for HTML, into a caller buffer
 *   - nsgi_body_from_buffer(), nsgi_body_copy(): a one-chunk body with no hand-written vtable
 *   - nsgi_respond(), nsgi_respond_static(): start_response with Content-Length filled in, and
 *     the body, in one call; nsgi_redirect(): a redirect with Location and a short body
 *
 * Conventions: functions return an nsgi_status (NSGI_OK, or a negative error); output buffers
 * are (buf, cap) pairs and are NUL-terminated when the call succeeds; NSGI_E_TOO_LARGE means the
 * output did not fit, and *len_out then holds the length it needs (without the NUL). Functions
 * that fill an nsgi_body set body_out->vtable to NULL first, so `call` can return their status
 * as it is. Host functions are checked for NULL before use (NSGI_E_UNSUPPORTED).
 *
 * Decoding follows the WHATWG application/x-www-form-urlencoded parser: pairs split on '&',
 * name and value on the first '=', '+' is a space, %XX is a byte, and a '%' not followed by two
 * hex digits stays as it is. Decoded values are bytes (they may contain NUL or be invalid UTF-8:
 * use *len_out, and validate text where it matters).
 */
#ifndef NSGI_APP_H
#define NSGI_APP_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nsgi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Byte strings
 */

/* An nsgi_bytes borrowing `len` bytes at `ptr`. */
static inline nsgi_bytes nsgi_bytes_make(const void *ptr, size_t len) {
    nsgi_bytes b;
    b.ptr = len == 0 ? NULL : (const uint8_t *)ptr;
    b.len = len;
    return b;
}

/* An nsgi_bytes of a string literal, without its NUL: NSGI_BYTES("200 OK"). An expression. */
#define NSGI_BYTES(literal) nsgi_bytes_make("" literal, sizeof(literal) - 1)

/* The same as an initializer, for static tables:
 *   static const nsgi_header headers[] = {{NSGI_BYTES_INIT("Content-Type"), NSGI_BYTES_INIT("text/plain")}}; */
#define NSGI_BYTES_INIT(literal) { (const uint8_t *)("" literal), sizeof(literal) - 1 }

/* An nsgi_bytes of a NUL-terminated string (NULL gives the empty string). */
static inline nsgi_bytes nsgi_str(const char *s) {
    return s == NULL ? nsgi_bytes_make(NULL, 0) : nsgi_bytes_make(s, strlen(s));
}

/* 1 when `b` holds exactly the bytes of the NUL-terminated `s`, else 0. */
static inline int nsgi_bytes_equal(nsgi_bytes b, const char *s) {
    size_t n = s == NULL ? 0 : strlen(s);
    return b.len == n && (n == 0 || memcmp(b.ptr, s, n) == 0);
}

/* ---------------------------------------------------------------------------------------------
 * The environ
 */

/* Looks up the environ variable `name` (e.g. "QUERY_STRING") in `env` itself, without calling
 * the host. NSGI_OK with *value_out set (borrowing the environ), or NSGI_E_NOT_FOUND with
 * *value_out empty. */
static inline nsgi_status nsgi_environ_var(const nsgi_environ *env, const char *name, nsgi_bytes *value_out) {
    size_t i;
    if (value_out == NULL) return NSGI_E_INVAL;
    *value_out = nsgi_bytes_make(NULL, 0);
    if (env == NULL || name == NULL) return NSGI_E_INVAL;
    for (i = 0; env->vars != NULL && i < env->n_vars; i++) {
        if (nsgi_bytes_equal(env->vars[i].name, name)) {
            *value_out = env->vars[i].value;
            return NSGI_OK;
        }
    }
    return NSGI_E_NOT_FOUND;
}

/* ---------------------------------------------------------------------------------------------
 * Query strings and application/x-www-form-urlencoded bodies
 */

static inline int nsgi_hex_digit_(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the byte at p[*i] ('+', %XX or itself) and advances *i past what it used. */
static inline uint8_t nsgi_decode_at_(const uint8_t *p, size_t n, size_t *i) {
    uint8_t c = p[*i];
    *i += 1;
    if (c == '+') return ' ';
    if (c == '%' && n - *i >= 2) {
        int hi = nsgi_hex_digit_(p[*i]);
        int lo = nsgi_hex_digit_(p[*i + 1]);
        if (hi >= 0 && lo >= 0) {
            *i += 2;
            return (uint8_t)(hi * 16 + lo);
        }
    }
    return c;
}

/* 1 when p[0..n) decodes to exactly the NUL-terminated `want`. */
static inline int nsgi_decoded_equal_(const uint8_t *p, size_t n, const char *want) {
    size_t i = 0, j = 0, w = strlen(want);
    while (i < n) {
        if (j == w || nsgi_decode_at_(p, n, &i) != (uint8_t)want[j]) return 0;
        j++;
    }
    return j == w;
}

/* Finds the `index`-th (from 0) parameter called `name` in `data` (a QUERY_STRING without its
 * '?', or a urlencoded body), and writes its decoded value to `buf`, NUL-terminated; *len_out
 * (if not NULL) gets the value's length. A parameter without '=' has an empty value. Returns
 * NSGI_OK, NSGI_E_NOT_FOUND, NSGI_E_TOO_LARGE when value and NUL do not fit in `cap` (*len_out
 * then holds the length needed), or NSGI_E_INVAL for a NULL `name` or `buf`.
 *
 *   char name[64];
 *   nsgi_bytes query;
 *   nsgi_environ_var(env, "QUERY_STRING", &query);
 *   if (nsgi_param_get(query, "name", 0, name, sizeof name, NULL) != NSGI_OK) strcpy(name, "world");
 */
static inline nsgi_status nsgi_param_get(nsgi_bytes data, const char *name, size_t index, char *buf, size_t cap,
                                         size_t *len_out) {
    size_t pos = 0;
    if (len_out != NULL) *len_out = 0;
    if (name == NULL || buf == NULL || cap == 0) return NSGI_E_INVAL;
    buf[0] = '\0';
    if (data.ptr == NULL) return NSGI_E_NOT_FOUND;
    while (pos < data.len) {
        const uint8_t *piece = data.ptr + pos;
        const uint8_t *amp = (const uint8_t *)memchr(piece, '&', data.len - pos);
        size_t piece_len = amp != NULL ? (size_t)(amp - piece) : data.len - pos;
        const uint8_t *eq = piece_len == 0 ? NULL : (const uint8_t *)memchr(piece, '=', piece_len);
        size_t name_len = eq != NULL ? (size_t)(eq - piece) : piece_len;
        pos += piece_len + 1;
        if (piece_len == 0 || !nsgi_decoded_equal_(piece, name_len, name)) continue;
        if (index > 0) {
            index--;
            continue;
        }
        {
            const uint8_t *value = eq != NULL ? eq + 1 : piece + piece_len;
            size_t value_len = piece_len - (size_t)(value - piece);
            size_t i = 0, out = 0;
            while (i < value_len) {
                uint8_t byte = nsgi_decode_at_(value, value_len, &i);
                if (out + 1 < cap) buf[out] = (char)byte;
                out++;
            }
            if (len_out != NULL) *len_out = out;
            if (out + 1 > cap) {
                buf[0] = '\0';
                return NSGI_E_TOO_LARGE;
            }
            buf[out] = '\0';
            return NSGI_OK;
        }
    }
    return NSGI_E_NOT_FOUND;
}

/* Reads the whole request body (wsgi.input) into `buf`, NUL-terminated; *len_out (if not NULL)
 * gets its length. A body of `cap` bytes or more is NSGI_E_TOO_LARGE (the rest is not read).
 * NSGI_E_UNSUPPORTED when the host has no input_read; a negative status from it is returned. */
static inline nsgi_status nsgi_read_body(const nsgi_host_api *host, nsgi_request *req, char *buf, size_t cap,
                                         size_t *len_out) {
    size_t used = 0;
    if (len_out != NULL) *len_out = 0;
    if (buf == NULL || cap == 0) return NSGI_E_INVAL;
    buf[0] = '\0';
    if (host == NULL || host->input_read == NULL) return NSGI_E_UNSUPPORTED;
    for (;;) {
        int64_t n;
        if (used == cap - 1) {
            uint8_t probe;
            n = host->input_read(req, &probe, 1);
            if (n < 0) return (nsgi_status)n;
            if (n > 0) {
                buf[0] = '\0';
                return NSGI_E_TOO_LARGE;
            }
            break;
        }
        n = host->input_read(req, (uint8_t *)buf + used, cap - 1 - used);
        if (n < 0) return (nsgi_status)n;
        if (n == 0) break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    if (len_out != NULL) *len_out = used;
    return NSGI_OK;
}

/* ---------------------------------------------------------------------------------------------
 * HTML escaping
 */

/* The character reference replacing `c`, or NULL when `c` needs none. */
static inline const char *nsgi_html_reference_(uint8_t c) {
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    default: return NULL;
    }
}

/* The length of `text` once HTML-escaped (without a NUL). */
static inline size_t nsgi_html_escaped_len(nsgi_bytes text) {
    size_t i, n = 0;
    for (i = 0; i < text.len; i++) {
        const char *ref = nsgi_html_reference_(text.ptr[i]);
        n += ref != NULL ? strlen(ref) : 1;
    }
    return n;
}

/* Writes `text` to `buf` with & < > " ' replaced by character references, NUL-terminated;
 * *len_out (if not NULL) gets the escaped length. NSGI_E_TOO_LARGE when it does not fit (then
 * *len_out holds the length needed and buf is ""). */
static inline nsgi_status nsgi_html_escape(nsgi_bytes text, char *buf, size_t cap, size_t *len_out) {
    size_t i, out = 0, needed = nsgi_html_escaped_len(text);
    if (len_out != NULL) *len_out = needed;
    if (buf == NULL || cap == 0) return NSGI_E_INVAL;
    if (needed + 1 > cap) {
        buf[0] = '\0';
        return NSGI_E_TOO_LARGE;
    }
    for (i = 0; i < text.len; i++) {
        const char *ref = nsgi_html_reference_(text.ptr[i]);
        if (ref == NULL) {
            buf[out++] = (char)text.ptr[i];
        } else {
            size_t n = strlen(ref);
            memcpy(buf + out, ref, n);
            out += n;
        }
    }
    buf[out] = '\0';
    return NSGI_OK;
}

/* ---------------------------------------------------------------------------------------------
 * One-chunk bodies
 */

typedef struct nsgi_fixed_body_state_ {
    const uint8_t *ptr;
    size_t len;
    int sent;
    void (*release)(void *);
    void *release_arg;
} nsgi_fixed_body_state_;

static inline nsgi_status nsgi_fixed_body_next_(void *state, nsgi_request *req, nsgi_bytes *chunk) {
    nsgi_fixed_body_state_ *s = (nsgi_fixed_body_state_ *)state;
    (void)req;
    if (s == NULL || chunk == NULL) return NSGI_E_INVAL;
    if (s->sent || s->len == 0) return NSGI_DONE;
    s->sent = 1;
    *chunk = nsgi_bytes_make(s->ptr, s->len);
    return NSGI_OK;
}

static inline void nsgi_fixed_body_close_(void *state, nsgi_request *req) {
    nsgi_fixed_body_state_ *s = (nsgi_fixed_body_state_ *)state;
    (void)req;
    if (s == NULL) return;
    if (s->release != NULL) s->release(s->release_arg);
    free(s);
}

/* The one vtable of every body made here. */
static inline const nsgi_body_vtable *nsgi_fixed_body_vtable_(void) {
    static const nsgi_body_vtable vtable = {sizeof(nsgi_body_vtable), nsgi_fixed_body_next_, nsgi_fixed_body_close_};
    return &vtable;
}

/* A body of the `len` bytes at `data`, lent to the host (not copied): `data` must stay valid
 * until the body is closed. At close, `release(data)` runs when `release` is not NULL: pass
 * `free` for a malloc'd buffer, NULL for static data. NSGI_E_NOMEM leaves `data` unreleased. */
static inline nsgi_status nsgi_body_from_buffer(nsgi_body *body_out, const void *data, size_t len,
                                                void (*release)(void *)) {
    nsgi_fixed_body_state_ *s;
    if (body_out == NULL) return NSGI_E_INVAL;
    body_out->vtable = NULL;
    body_out->state = NULL;
    if (data == NULL && len > 0) return NSGI_E_INVAL;
    s = (nsgi_fixed_body_state_ *)malloc(sizeof *s);
    if (s == NULL) return NSGI_E_NOMEM;
    s->ptr = (const uint8_t *)data;
    s->len = len;
    s->sent = 0;
    s->release = release;
    s->release_arg = (void *)(uintptr_t)data;
    body_out->vtable = nsgi_fixed_body_vtable_();
    body_out->state = s;
    return NSGI_OK;
}

/* A body of a copy of the `len` bytes at `data` (one allocation, freed at close): for text built
 * in a stack buffer. */
static inline nsgi_status nsgi_body_copy(nsgi_body *body_out, const void *data, size_t len) {
    nsgi_fixed_body_state_ *s;
    if (body_out == NULL) return NSGI_E_INVAL;
    body_out->vtable = NULL;
    body_out->state = NULL;
    if (data == NULL && len > 0) return NSGI_E_INVAL;
    if (len > SIZE_MAX - sizeof *s) return NSGI_E_NOMEM;
    s = (nsgi_fixed_body_state_ *)malloc(sizeof *s + len);
    if (s == NULL) return NSGI_E_NOMEM;
    if (len > 0) memcpy(s + 1, data, len);
    s->ptr = (const uint8_t *)(s + 1);
    s->len = len;
    s->sent = 0;
    s->release = NULL;
    s->release_arg = NULL;
    body_out->vtable = nsgi_fixed_body_vtable_();
    body_out->state = s;
    return NSGI_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Responding in one call
 */

/* The most headers nsgi_respond() and nsgi_redirect() accept from the app. */
#define NSGI_RESPOND_MAX_HEADERS 32

static inline int nsgi_name_is_(nsgi_bytes name, const char *want) {
    size_t i, n = strlen(want);
    if (name.len != n) return 0;
    for (i = 0; i < n; i++) {
        uint8_t c = name.ptr[i];
        if (c >= 'A' && c <= 'Z') c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)want[i]) return 0;
    }
    return 1;
}

/* start_response(status, headers + extra) after checking that the app's headers do not already
 * have `taken` (case-insensitive). */
static inline nsgi_status nsgi_start_with_(const nsgi_host_api *host, nsgi_request *req, const char *status,
                                           const nsgi_header *headers, size_t n_headers, const nsgi_header *extra,
                                           size_t n_extra, const char *taken) {
    nsgi_header all[NSGI_RESPOND_MAX_HEADERS + 3];
    size_t i;
    if (host == NULL || host->start_response == NULL) return NSGI_E_UNSUPPORTED;
    if (status == NULL || (headers == NULL && n_headers > 0)) return NSGI_E_INVAL;
    if (n_headers > NSGI_RESPOND_MAX_HEADERS || n_extra > 3) return NSGI_E_TOO_LARGE;
    for (i = 0; i < n_headers; i++) {
        if (nsgi_name_is_(headers[i].name, taken)) return NSGI_E_INVAL;
        all[i] = headers[i];
    }
    for (i = 0; i < n_extra; i++) all[n_headers + i] = extra[i];
    return host->start_response(req, nsgi_str(status), all, n_headers + n_extra, NULL);
}

/* `n` in decimal into `buf` (21 bytes hold any size_t up to 64 bits), as an nsgi_bytes. */
static inline nsgi_bytes nsgi_decimal_(size_t n, char buf[21]) {
    size_t at = 21;
    do {
        buf[--at] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0 && at > 0);
    return nsgi_bytes_make(buf + at, 21 - at);
}

static inline nsgi_status nsgi_respond_(const nsgi_host_api *host, nsgi_request *req, const char *status,
                                        const nsgi_header *headers, size_t n_headers, const void *data, size_t len,
                                        int copy, nsgi_body *body_out) {
    char digits[21];
    nsgi_header length;
    nsgi_status rc;
    if (body_out == NULL) return NSGI_E_INVAL;
    body_out->vtable = NULL;
    body_out->state = NULL;
    if (data == NULL && len > 0) return NSGI_E_INVAL;
    length.name = NSGI_BYTES("Content-Length");
    length.value = nsgi_decimal_(len, digits);
    rc = nsgi_start_with_(host, req, status, headers, n_headers, &length, 1, "content-length");
    if (rc != NSGI_OK) return rc;
    return copy ? nsgi_body_copy(body_out, data, len) : nsgi_body_from_buffer(body_out, data, len, NULL);
}

/* Starts the response with `status` ("200 OK"), `headers` and a Content-Length of `len`, and
 * fills *body_out with a copy of the `len` bytes at `data`. Returns what `call` should return:
 *
 *   return nsgi_respond(host, req, "200 OK", headers, 1, page, page_len, body_out);
 *
 * NSGI_E_INVAL when `headers` already has a Content-Length; NSGI_E_TOO_LARGE past
 * NSGI_RESPOND_MAX_HEADERS headers; otherwise start_response's status. */
static inline nsgi_status nsgi_respond(const nsgi_host_api *host, nsgi_request *req, const char *status,
                                       const nsgi_header *headers, size_t n_headers, const void *data, size_t len,
                                       nsgi_body *body_out) {
    return nsgi_respond_(host, req, status, headers, n_headers, data, len, 1, body_out);
}

/* nsgi_respond() for data that outlives the request (a literal, a static table): lent, not
 * copied. */
static inline nsgi_status nsgi_respond_static(const nsgi_host_api *host, nsgi_request *req, const char *status,
                                              const nsgi_header *headers, size_t n_headers, const void *data,
                                              size_t len, nsgi_body *body_out) {
    return nsgi_respond_(host, req, status, headers, n_headers, data, len, 0, body_out);
}

/* Answers with a redirect: `status` is one of "301 Moved Permanently", "302 Found",
 * "303 See Other" (after a form POST), "307 Temporary Redirect", "308 Permanent Redirect";
 * `location` is sent as given (encode it yourself); `headers` are added (a Set-Cookie, say).
 * The body is a short HTML page linking to `location`. NSGI_E_INVAL when `location` is empty or
 * holds a control character, or when `headers` already has a Location. */
static inline nsgi_status nsgi_redirect(const nsgi_host_api *host, nsgi_request *req, const char *status,
                                        const char *location, const nsgi_header *headers, size_t n_headers,
                                        nsgi_body *body_out) {
    static const char before[] = "<!DOCTYPE html>\n<p>Redirecting to <a href=\"";
    static const char middle[] = "\">here</a>.</p>\n";
    nsgi_header extra[3];
    char digits[21];
    size_t i, escaped_len = 0, page_len;
    char *page;
    nsgi_status rc;
    if (body_out == NULL) return NSGI_E_INVAL;
    body_out->vtable = NULL;
    body_out->state = NULL;
    if (location == NULL || location[0] == '\0') return NSGI_E_INVAL;
    for (i = 0; location[i] != '\0'; i++) {
        if ((unsigned char)location[i] < 0x20 || location[i] == 0x7f) return NSGI_E_INVAL;
    }
    escaped_len = nsgi_html_escaped_len(nsgi_str(location));
    page_len = sizeof before - 1 + escaped_len + sizeof middle - 1;
    page = (char *)malloc(page_len + 1);
    if (page == NULL) return NSGI_E_NOMEM;
    memcpy(page, before, sizeof before - 1);
    (void)nsgi_html_escape(nsgi_str(location), page + sizeof before - 1, escaped_len + 1, NULL);
    memcpy(page + sizeof before - 1 + escaped_len, middle, sizeof middle);
    extra[0].name = NSGI_BYTES("Location");
    extra[0].value = nsgi_str(location);
    extra[1].name = NSGI_BYTES("Content-Type");
    extra[1].value = NSGI_BYTES("text/html; charset=utf-8");
    extra[2].name = NSGI_BYTES("Content-Length");
    extra[2].value = nsgi_decimal_(page_len, digits);
    rc = nsgi_start_with_(host, req, status, headers, n_headers, extra, 3, "location");
    if (rc == NSGI_OK) rc = nsgi_body_from_buffer(body_out, page, page_len, free);
    if (rc != NSGI_OK) free(page);
    return rc;
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NSGI_APP_H */
