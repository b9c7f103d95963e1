/* seeds.c: the steps of the classic WSGI tutorials as one NSGI app in C, on nsgi_app.h.
 *   GET /                 plain text "Hola mundo"           (step 1: text/plain)
 *   GET /html             an HTML page                      (step 2: text/html)
 *   GET /hola?nombre=X    a greeting, X escaped for HTML    (step 3: reading the request)
 *   POST /hola            the same from a form body (application/x-www-form-urlencoded)
 *   anything else         404, python-logo.png included: a file next to the app is not
 *                         served unless the app serves it (see sample-apps/static). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsgi_app.h"

typedef struct seeds_app { const nsgi_host_api *host; } seeds_app;

static const nsgi_header TEXT[] = {{NSGI_BYTES_INIT("Content-Type"), NSGI_BYTES_INIT("text/plain; charset=utf-8")}};
static const nsgi_header HTML[] = {{NSGI_BYTES_INIT("Content-Type"), NSGI_BYTES_INIT("text/html; charset=utf-8")}};
static const char HOLA[] = "Hola mundo\n";
static const char PAGE[] = "<!DOCTYPE html>\n<html lang=\"es\"><head><meta charset=\"utf-8\"><title>Hola</title></head>\n"
                           "<body><h1>Hola mundo</h1><p>Una página HTML servida por una app NSGI en C.</p>\n"
                           "<form method=\"post\" action=\"hola\"><input name=\"nombre\"> <button>Saludar</button></form>"
                           "</body></html>\n";
static const char NOT_FOUND[] = "No encontrado\n";

#define SEND_STATIC(status, headers, text) \
    nsgi_respond_static(host, req, status, headers, 1, text, sizeof text - 1, out)

/* /hola: the name from the query string (GET) or the form body (POST), escaped into the page. */
static nsgi_status greet(const nsgi_host_api *host, nsgi_request *req, const nsgi_environ *env,
                         int is_post, nsgi_body *out) {
    char data[4096], name[256], escaped[256 * 6], page[2048];
    nsgi_bytes source;
    size_t data_len = 0;
    if (is_post) {
        nsgi_status rc = nsgi_read_body(host, req, data, sizeof data, &data_len);
        if (rc == NSGI_E_TOO_LARGE) return SEND_STATIC("413 Content Too Large", TEXT, "Formulario demasiado grande\n");
        if (rc != NSGI_OK) return rc;
        source = nsgi_bytes_make(data, data_len);
    } else {
        nsgi_environ_var(env, "QUERY_STRING", &source);
    }
    size_t name_len = 0;
    nsgi_status rc = nsgi_param_get(source, "nombre", 0, name, sizeof name, &name_len);
    if (rc == NSGI_E_TOO_LARGE) return SEND_STATIC("400 Bad Request", TEXT, "Nombre demasiado largo\n");
    if (rc != NSGI_OK || name_len == 0) strcpy(name, "mundo"), name_len = 5;
    if (nsgi_html_escape(nsgi_bytes_make(name, name_len), escaped, sizeof escaped, NULL) != NSGI_OK) return NSGI_E_APP;
    int n = snprintf(page, sizeof page, "<!DOCTYPE html>\n<meta charset=\"utf-8\"><title>Hola</title>\n<h1>Hola, %s</h1>\n", escaped);
    return nsgi_respond(host, req, "200 OK", HTML, 1, page, (size_t)n, out);
}

static nsgi_status seeds_call(void *self, nsgi_request *req, const nsgi_environ *env, nsgi_body *out) {
    const nsgi_host_api *host = ((seeds_app *)self)->host;
    nsgi_bytes method, path;
    out->vtable = NULL;
    nsgi_environ_var(env, "REQUEST_METHOD", &method);
    nsgi_environ_var(env, "PATH_INFO", &path);
    int get = nsgi_bytes_equal(method, "GET") || nsgi_bytes_equal(method, "HEAD");
    if (get && (nsgi_bytes_equal(path, "/") || path.len == 0)) return SEND_STATIC("200 OK", TEXT, HOLA);
    if (get && nsgi_bytes_equal(path, "/html")) return SEND_STATIC("200 OK", HTML, PAGE);
    if (nsgi_bytes_equal(path, "/hola") && (get || nsgi_bytes_equal(method, "POST")))
        return greet(host, req, env, nsgi_bytes_equal(method, "POST"), out);
    return SEND_STATIC("404 Not Found", TEXT, NOT_FOUND);
}

static nsgi_status seeds_init(const nsgi_host_api *host, const nsgi_init_args *args, void **app_out) {
    (void)args;
    if (host == NULL || app_out == NULL) return NSGI_E_INVAL;
    if (host->abi_major != NSGI_ABI_MAJOR || !NSGI_HAS(host, nsgi_host_api, input_read)) return NSGI_E_UNSUPPORTED;
    seeds_app *app = malloc(sizeof *app);
    if (app == NULL) return NSGI_E_NOMEM;
    app->host = host;
    *app_out = app;
    return NSGI_OK;
}

static void seeds_shutdown(void *app) { free(app); }

static const nsgi_app_descriptor seeds_descriptor = {
    .magic = NSGI_APP_MAGIC,
    .abi_major = NSGI_ABI_MAJOR,
    .abi_minor = NSGI_ABI_MINOR,
    .struct_size = (uint32_t)sizeof(nsgi_app_descriptor),
    .flags = NSGI_APP_THREAD_SAFE,
    .name = NSGI_BYTES_INIT("seeds-c"),
    .sdk_info = NSGI_BYTES_INIT("C (nsgi_app.h)"),
    .init = seeds_init,
    .call = seeds_call,
    .shutdown = seeds_shutdown,
};

NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &seeds_descriptor; }
