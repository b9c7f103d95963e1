/* Unit checks of nsgi_app.h with hostile inputs, run by tests/c_app_helpers.rs. Prints every
 * failed check and exits 1 if any failed. */
#include <stdio.h>
#include <string.h>
#include "nsgi_app.h"

static int failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                          \
        }                                                                        \
    } while (0)

static nsgi_bytes lit(const char *s) { return nsgi_str(s); }

/* The value of `name` (index `index`) in `data` as a string, or a marker for the status. */
static const char *param(const char *data, const char *name, size_t index) {
    static char buf[256];
    size_t len = 0;
    nsgi_status rc = nsgi_param_get(lit(data), name, index, buf, sizeof buf, &len);
    if (rc == NSGI_E_NOT_FOUND) return "<absent>";
    if (rc != NSGI_OK) return "<error>";
    if (strlen(buf) != len) return "<embedded NUL>";
    return buf;
}

static void test_params(void) {
    CHECK(strcmp(param("a=1&b=2", "b", 0), "2") == 0);
    CHECK(strcmp(param("a=1&b=2", "c", 0), "<absent>") == 0);
    CHECK(strcmp(param("", "a", 0), "<absent>") == 0);
    CHECK(strcmp(param("&&&", "a", 0), "<absent>") == 0);
    CHECK(strcmp(param("flag&x=1", "flag", 0), "") == 0);
    CHECK(strcmp(param("e=&x=1", "e", 0), "") == 0);
    CHECK(strcmp(param("e=f=g", "e", 0), "f=g") == 0);
    CHECK(strcmp(param("q=caf%C3%A9+au+lait", "q", 0), "caf\xC3\xA9 au lait") == 0);
    CHECK(strcmp(param("full+name=Ada&na%6De=x", "full name", 0), "Ada") == 0);
    CHECK(strcmp(param("full+name=Ada&na%6De=x", "name", 0), "x") == 0);
    CHECK(strcmp(param("s=%26%3D%2B%25", "s", 0), "&=+%") == 0);
    /* Bad escapes stay literal. */
    CHECK(strcmp(param("p=%", "p", 0), "%") == 0);
    CHECK(strcmp(param("p=%4", "p", 0), "%4") == 0);
    CHECK(strcmp(param("p=%4g%g4", "p", 0), "%4g%g4") == 0);
    CHECK(strcmp(param("p=a%", "p", 0), "a%") == 0);
    CHECK(strcmp(param("p=%%41", "p", 0), "%A") == 0);
    CHECK(strcmp(param("p%=1", "p%", 0), "1") == 0);
    /* A decoded NUL is reported through len_out. */
    CHECK(strcmp(param("z=a%00b", "z", 0), "<embedded NUL>") == 0);
    /* Repeated keys. */
    CHECK(strcmp(param("t=a&u=0&t=b&t=c", "t", 0), "a") == 0);
    CHECK(strcmp(param("t=a&u=0&t=b&t=c", "t", 2), "c") == 0);
    CHECK(strcmp(param("t=a&u=0&t=b&t=c", "t", 3), "<absent>") == 0);
    /* Prefixes of names do not match. */
    CHECK(strcmp(param("ab=1&a=2", "a", 0), "2") == 0);
    CHECK(strcmp(param("a=1", "ab", 0), "<absent>") == 0);
    {
        /* A buffer too small: TOO_LARGE, the length needed, an empty buffer. */
        char small[4];
        size_t len = 0;
        CHECK(nsgi_param_get(lit("k=abcd"), "k", 0, small, sizeof small, &len) == NSGI_E_TOO_LARGE);
        CHECK(len == 4 && small[0] == '\0');
        CHECK(nsgi_param_get(lit("k=abc"), "k", 0, small, sizeof small, &len) == NSGI_OK);
        CHECK(len == 3 && strcmp(small, "abc") == 0);
        CHECK(nsgi_param_get(lit("k=abc"), NULL, 0, small, sizeof small, &len) == NSGI_E_INVAL);
        CHECK(nsgi_param_get(lit("k=abc"), "k", 0, NULL, 8, &len) == NSGI_E_INVAL);
        CHECK(nsgi_param_get(lit("k=abc"), "k", 0, small, 0, &len) == NSGI_E_INVAL);
        CHECK(nsgi_param_get(nsgi_bytes_make(NULL, 0), "k", 0, small, sizeof small, NULL) == NSGI_E_NOT_FOUND);
    }
    {
        /* A huge query: 100 000 pairs, the last one found. */
        static char big[100000 * 8 + 16];
        size_t at = 0, i;
        char value[8];
        for (i = 0; i < 100000; i++) at += (size_t)sprintf(big + at, "k=%u&", (unsigned)(i % 10));
        at += (size_t)sprintf(big + at, "last=%%41");
        CHECK(nsgi_param_get(nsgi_bytes_make(big, at), "last", 0, value, sizeof value, NULL) == NSGI_OK);
        CHECK(strcmp(value, "A") == 0);
        CHECK(nsgi_param_get(nsgi_bytes_make(big, at), "k", 99999, value, sizeof value, NULL) == NSGI_OK);
        CHECK(strcmp(value, "9") == 0);
    }
}

static void test_escape(void) {
    char buf[64];
    size_t len = 0;
    CHECK(nsgi_html_escape(lit("<a href=\"x\">Tom & 'J'</a>"), buf, sizeof buf, &len) == NSGI_OK);
    CHECK(strcmp(buf, "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;J&#39;&lt;/a&gt;") == 0);
    CHECK(len == strlen(buf));
    CHECK(nsgi_html_escape(lit(""), buf, sizeof buf, &len) == NSGI_OK && len == 0 && buf[0] == '\0');
    /* Exactly fits, then one byte short. */
    CHECK(nsgi_html_escape(lit("<"), buf, 5, &len) == NSGI_OK && strcmp(buf, "&lt;") == 0);
    CHECK(nsgi_html_escape(lit("<"), buf, 4, &len) == NSGI_E_TOO_LARGE && len == 4 && buf[0] == '\0');
    CHECK(nsgi_html_escape(lit("x"), NULL, 4, &len) == NSGI_E_INVAL);
}

static void test_bytes(void) {
    nsgi_bytes b = NSGI_BYTES("200 OK");
    static const nsgi_header table[] = {{NSGI_BYTES_INIT("Content-Type"), NSGI_BYTES_INIT("text/plain")}};
    CHECK(b.len == 6 && memcmp(b.ptr, "200 OK", 6) == 0);
    CHECK(NSGI_BYTES("").len == 0 && NSGI_BYTES("").ptr == NULL);
    CHECK(table[0].name.len == 12 && table[0].value.len == 10);
    CHECK(nsgi_bytes_equal(nsgi_str("abc"), "abc"));
    CHECK(!nsgi_bytes_equal(nsgi_str("abc"), "ab"));
    CHECK(nsgi_str(NULL).len == 0);
}

static void test_environ(void) {
    nsgi_header vars[2];
    nsgi_environ env;
    nsgi_bytes v;
    memset(&env, 0, sizeof env);
    vars[0].name = NSGI_BYTES("REQUEST_METHOD");
    vars[0].value = NSGI_BYTES("GET");
    vars[1].name = NSGI_BYTES("QUERY_STRING");
    vars[1].value = NSGI_BYTES("a=1");
    env.struct_size = sizeof env;
    env.vars = vars;
    env.n_vars = 2;
    CHECK(nsgi_environ_var(&env, "QUERY_STRING", &v) == NSGI_OK && nsgi_bytes_equal(v, "a=1"));
    CHECK(nsgi_environ_var(&env, "QUERY", &v) == NSGI_E_NOT_FOUND && v.len == 0);
    CHECK(nsgi_environ_var(NULL, "QUERY", &v) == NSGI_E_INVAL);
}

static int released;
static void count_release(void *p) { (void)p; released++; }

static void test_bodies(void) {
    nsgi_body body;
    nsgi_bytes chunk;
    static const char text[] = "fixed";
    char stack[16];
    CHECK(nsgi_body_from_buffer(&body, text, 5, count_release) == NSGI_OK);
    CHECK(body.vtable->next(body.state, NULL, &chunk) == NSGI_OK && chunk.len == 5 && chunk.ptr == (const uint8_t *)text);
    CHECK(body.vtable->next(body.state, NULL, &chunk) == NSGI_DONE);
    CHECK(body.vtable->next(body.state, NULL, &chunk) == NSGI_DONE);
    body.vtable->close(body.state, NULL);
    CHECK(released == 1);

    strcpy(stack, "copied");
    CHECK(nsgi_body_copy(&body, stack, 6) == NSGI_OK);
    strcpy(stack, "XXXXXX");
    CHECK(body.vtable->next(body.state, NULL, &chunk) == NSGI_OK && chunk.len == 6 && memcmp(chunk.ptr, "copied", 6) == 0);
    body.vtable->close(body.state, NULL);

    CHECK(nsgi_body_copy(&body, NULL, 0) == NSGI_OK);
    CHECK(body.vtable->next(body.state, NULL, &chunk) == NSGI_DONE);
    body.vtable->close(body.state, NULL);
    CHECK(nsgi_body_copy(&body, NULL, 3) == NSGI_E_INVAL && body.vtable == NULL);
    CHECK(nsgi_body_from_buffer(NULL, text, 5, NULL) == NSGI_E_INVAL);
}

static void test_decimal(void) {
    char digits[21];
    nsgi_bytes d = nsgi_decimal_(0, digits);
    CHECK(d.len == 1 && d.ptr[0] == '0');
    d = nsgi_decimal_(1234567, digits);
    CHECK(d.len == 7 && memcmp(d.ptr, "1234567", 7) == 0);
    d = nsgi_decimal_((size_t)-1, digits);
    CHECK(d.len >= 10);
}

int main(void) {
    test_params();
    test_escape();
    test_bytes();
    test_environ();
    test_bodies();
    test_decimal();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("nsgi_app.h: all checks passed\n");
    return 0;
}
