/*
 * nsgi.h: the NSGI v1 C ABI (Native Server Gateway Interface, PEP 3333 for compiled apps).
 *
 * Generated from abi/src/sys.rs by cbindgen — do not edit; regenerate with
 * `NSGI_BLESS=1 cargo test -p nsgi-sdk --test header`.
 *
 * The specification is docs/abi.md. In short: an app is a shared library exporting
 * nsgi_app_entry_v1 (declared at the end of this file); every extensible struct starts with
 * struct_size and only ever grows at the end (test new fields with NSGI_HAS); every buffer
 * that crosses the boundary is borrowed, never freed by the other side.
 *
 * C++ exceptions and longjmp must never cross an nsgi call, in either direction: catch
 * everything inside your own functions and report failures through nsgi_status codes.
 */

#ifndef NSGI_H
#define NSGI_H

#include <stddef.h>
#include <stdint.h>

/**
 * Major version of the ABI. A host loads only apps built for the same major.
 */
#define NSGI_ABI_MAJOR 1

/**
 * Minor version of the ABI. Minors only append; any minor of the same major loads.
 */
#define NSGI_ABI_MINOR 0

/**
 * Magic cookie at the head of `nsgi_app_descriptor`: the bytes `"NSGI"` read as a
 * little-endian `uint32_t`.
 */
#define NSGI_APP_MAGIC 1229411150

/**
 * App flag: `call`, `next` and `close` may run concurrently for different requests.
 */
#define NSGI_APP_THREAD_SAFE (1 << 0)

/**
 * App flag: the app was built with `panic = "abort"`; a panic in it ends the whole process.
 */
#define NSGI_APP_PANIC_ABORT (1 << 1)

/**
 * Environ flag (`wsgi.multithread`): the host may call the app from several threads at once.
 */
#define NSGI_ENV_MULTITHREAD (1 << 0)

/**
 * Environ flag (`wsgi.multiprocess`): other processes serve the same app concurrently.
 */
#define NSGI_ENV_MULTIPROCESS (1 << 1)

/**
 * Environ flag (`wsgi.run_once`): the app is called once in this process (always 0 here).
 */
#define NSGI_ENV_RUN_ONCE (1 << 2)

/**
 * `nsgi_environ.content_length` when the host does not know the body's length: a request
 * without a body, or a chunked body a host streams as it arrives. (nsgi-gateway receives
 * chunked bodies whole, so it passes their length.)
 */
#define NSGI_NO_LENGTH UINT64_MAX

/**
 * `length` argument of `file_body` meaning "to the end of the file".
 */
#define NSGI_FILE_TO_EOF UINT64_MAX

/**
 * `file_body` flag: the host takes ownership of the descriptor instead of duplicating it (on
 * every path: a refused call closes it too).
 */
#define NSGI_FILE_TAKE_FD (1 << 0)

/**
 * Log level: an error.
 */
#define NSGI_LOG_ERROR 1

/**
 * Log level: a warning.
 */
#define NSGI_LOG_WARN 2

/**
 * Log level: information.
 */
#define NSGI_LOG_INFO 3

/**
 * Log level: debugging detail.
 */
#define NSGI_LOG_DEBUG 4

/**
 * Log level: fine tracing.
 */
#define NSGI_LOG_TRACE 5

/**
 * One request, owned by the host. Opaque to the app; valid from the start of `call` until the
 * body's `close` returns (or until `call` returns an error).
 */
typedef struct nsgi_request nsgi_request;

/**
 * Status code returned by every fallible ABI function. Zero and positive values are success
 * codes; negative values are errors. Values are fixed forever and only ever appended.
 */
typedef int32_t nsgi_status;

/**
 * A borrowed byte string. Frozen: never extended.
 *
 * `ptr` may be NULL only when `len` is 0. The bytes are not NUL-terminated and not necessarily
 * UTF-8. Who owns them and for how long is stated wherever an `nsgi_bytes` appears.
 */
typedef struct nsgi_bytes {
    /**
     * First byte, or NULL when `len` is 0.
     */
    const uint8_t *ptr;
    /**
     * Number of bytes.
     */
    size_t len;
} nsgi_bytes;

/**
 * A name/value pair: a response header, an environ variable or an init option. Frozen.
 */
typedef struct nsgi_header {
    /**
     * The name.
     */
    struct nsgi_bytes name;
    /**
     * The value.
     */
    struct nsgi_bytes value;
} nsgi_header;

/**
 * The request environ (PEP 3333 `environ`), owned by the host and immutable. Valid from the start
 * of `call` until the body's `close` returns.
 */
typedef struct nsgi_environ {
    /**
     * `sizeof(nsgi_environ)` as the host knows it.
     */
    uint32_t struct_size;
    /**
     * `NSGI_ENV_*` flags (the `wsgi.multithread` / `multiprocess` / `run_once` booleans).
     */
    uint32_t flags;
    /**
     * CGI variables (REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, CONTENT_TYPE,
     * CONTENT_LENGTH, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, REMOTE_ADDR, HTTP_*); names are
     * unique.
     */
    const struct nsgi_header *vars;
    /**
     * Number of entries in `vars`.
     */
    size_t n_vars;
    /**
     * `wsgi.url_scheme`: `http` or `https`.
     */
    struct nsgi_bytes url_scheme;
    /**
     * The request body length, or `NSGI_NO_LENGTH` when it is not known in advance.
     */
    uint64_t content_length;
} nsgi_environ;

/**
 * PEP 3333 `exc_info`: passed to `start_response` by an app replacing its response after an
 * error. Owned by the app, read only during the call.
 */
typedef struct nsgi_exc_info {
    /**
     * `sizeof(nsgi_exc_info)` as the app knows it.
     */
    uint32_t struct_size;
    /**
     * An app-defined error code (an `nsgi_status` or the app's own).
     */
    int32_t code;
    /**
     * The kind of error, for logs (Python's exception type).
     */
    struct nsgi_bytes type_name;
    /**
     * A human-readable description, for logs.
     */
    struct nsgi_bytes message;
} nsgi_exc_info;

/**
 * Pulls the next chunk of a body. Returns `NSGI_OK` with `*chunk_out` set, `NSGI_DONE` at
 * the end, or a negative error. The chunk is owned by the body and stays valid until the next
 * `next` or `close` call on it.
 */
typedef nsgi_status (*nsgi_body_next_fn)(void *state,
                                         struct nsgi_request *req,
                                         struct nsgi_bytes *chunk_out);

/**
 * Releases a body (PEP 3333 `close()`). Called exactly once for every body a successful `call`
 * returned, on every path: end, error, client disconnect, shutdown.
 */
typedef void (*nsgi_body_close_fn)(void *state, struct nsgi_request *req);

/**
 * The functions of a body, usually a `static`.
 */
typedef struct nsgi_body_vtable {
    /**
     * `sizeof(nsgi_body_vtable)` as its author knows it.
     */
    uint32_t struct_size;
    /**
     * Pulls the next chunk. Required.
     */
    nsgi_body_next_fn next;
    /**
     * Releases the body. Required.
     */
    nsgi_body_close_fn close;
} nsgi_body_vtable;

/**
 * A response body: the PEP 3333 iterable. Frozen pair of a vtable and its state.
 */
typedef struct nsgi_body {
    /**
     * The functions; NULL when `call` failed.
     */
    const struct nsgi_body_vtable *vtable;
    /**
     * Owned by whoever made the body (the app, or the host for `file_body`).
     */
    void *state;
} nsgi_body;

/**
 * Arguments of `init`, owned by the host and valid only during the `init` call.
 */
typedef struct nsgi_init_args {
    /**
     * `sizeof(nsgi_init_args)` as the host knows it.
     */
    uint32_t struct_size;
    /**
     * `NSGI_ENV_*` flags as they will apply to every request.
     */
    uint32_t flags;
    /**
     * Name of this app instance in the gateway configuration.
     */
    struct nsgi_bytes mount_name;
    /**
     * The mount prefix (becomes SCRIPT_NAME); empty for the root.
     */
    struct nsgi_bytes script_name;
    /**
     * The app's own configuration, opaque to the host (JSON text from the gateway config).
     */
    struct nsgi_bytes config;
    /**
     * Flat key/value options from the gateway configuration.
     */
    const struct nsgi_header *options;
    /**
     * Number of entries in `options`.
     */
    size_t n_options;
    /**
     * The most calls the host will make into this instance at once.
     */
    uint32_t max_concurrency;
} nsgi_init_args;

/**
 * `[thread-safe]` Writes a line to the host log. `req` may be NULL.
 */
typedef void (*nsgi_log_fn)(void *host_data,
                            struct nsgi_request *req,
                            int32_t level,
                            struct nsgi_bytes msg);

/**
 * `[request]` Looks up an environ variable; `*value_out` borrows host memory valid as long as the
 * environ. Returns `NSGI_OK` or `NSGI_E_NOT_FOUND`.
 */
typedef nsgi_status (*nsgi_environ_get_fn)(struct nsgi_request *req,
                                           struct nsgi_bytes key,
                                           struct nsgi_bytes *value_out);

/**
 * `[request]` `wsgi.input.read`: copies up to `cap` body bytes into `buf`; returns the count
 * (> 0), 0 at the end of the body, or a negative status.
 */
typedef int64_t (*nsgi_input_read_fn)(struct nsgi_request *req, uint8_t *buf, size_t cap);

/**
 * `[request]` `wsgi.input.readline(cap)`: copies bytes up to and including the first `\n`, or
 * `cap` bytes; returns the count, 0 at the end of the body, or a negative status.
 */
typedef int64_t (*nsgi_input_readline_fn)(struct nsgi_request *req, uint8_t *buf, size_t cap);

/**
 * `[request]` `wsgi.errors.write`: writes to the host's error log, tagged with the request.
 */
typedef nsgi_status (*nsgi_errors_write_fn)(struct nsgi_request *req, struct nsgi_bytes data);

/**
 * `[request]` `wsgi.errors.flush`.
 */
typedef nsgi_status (*nsgi_errors_flush_fn)(struct nsgi_request *req);

/**
 * `[request]` PEP 3333 `start_response(status, response_headers, exc_info)`. The host copies the
 * status and headers before returning. `exc_info` is NULL when absent. A head past the host's
 * limits (header count or bytes) is refused with `NSGI_E_TOO_LARGE`.
 */
typedef nsgi_status (*nsgi_start_response_fn)(struct nsgi_request *req,
                                              struct nsgi_bytes status,
                                              const struct nsgi_header *headers,
                                              size_t n_headers,
                                              const struct nsgi_exc_info *exc_info);

/**
 * `[request]` The `write()` callable: sends or buffers body bytes before returning. During `call`
 * only: from inside the body's `next` or `close` it returns `NSGI_E_STATE` and the response fails.
 */
typedef nsgi_status (*nsgi_write_fn)(struct nsgi_request *req, struct nsgi_bytes data);

/**
 * `[request]` `wsgi.file_wrapper`: makes a host-owned body that sends `length` bytes of the file
 * `fd` from `offset` (sendfile where the transport allows).
 */
typedef nsgi_status (*nsgi_file_body_fn)(struct nsgi_request *req,
                                         int32_t fd,
                                         uint64_t offset,
                                         uint64_t length,
                                         uint32_t flags,
                                         struct nsgi_body *body_out);

/**
 * `[thread-safe]` Looks up a host extension by its NUL-terminated id; NULL when absent.
 */
typedef const void *(*nsgi_get_extension_fn)(void *host_data, const char *id);

/**
 * The host's functions, passed to `init`. Owned by the host, valid from `init` until `shutdown`
 * returns. An app must check `struct_size` before using a field appended after v1.0, and must
 * treat a NULL function as "not provided".
 */
typedef struct nsgi_host_api {
    /**
     * `sizeof(nsgi_host_api)` as the host knows it.
     */
    uint32_t struct_size;
    /**
     * ABI major the host speaks.
     */
    uint16_t abi_major;
    /**
     * ABI minor the host speaks.
     */
    uint16_t abi_minor;
    /**
     * Opaque host pointer passed back to `log` and `get_extension`.
     */
    void *host_data;
    /**
     * Host log.
     */
    nsgi_log_fn log;
    /**
     * Environ lookup by name.
     */
    nsgi_environ_get_fn environ_get;
    /**
     * `wsgi.input.read`.
     */
    nsgi_input_read_fn input_read;
    /**
     * `wsgi.input.readline`.
     */
    nsgi_input_readline_fn input_readline;
    /**
     * `wsgi.errors.write`.
     */
    nsgi_errors_write_fn errors_write;
    /**
     * `wsgi.errors.flush`.
     */
    nsgi_errors_flush_fn errors_flush;
    /**
     * `start_response`.
     */
    nsgi_start_response_fn start_response;
    /**
     * `write()`.
     */
    nsgi_write_fn write;
    /**
     * `wsgi.file_wrapper`; NULL when unsupported.
     */
    nsgi_file_body_fn file_body;
    /**
     * Extension lookup.
     */
    nsgi_get_extension_fn get_extension;
} nsgi_host_api;

/**
 * Creates an app instance. Runs on the host's control thread. On success writes the instance to
 * `*app_out` and returns `NSGI_OK`; on failure logs why through `host->log`.
 */
typedef nsgi_status (*nsgi_app_init_fn)(const struct nsgi_host_api *host,
                                        const struct nsgi_init_args *args,
                                        void **app_out);

/**
 * Handles one request (PEP 3333 `application(environ, start_response)`). On success fills
 * `*body_out` and returns `NSGI_OK`; on failure leaves `body_out->vtable` NULL, has released
 * everything it made, and returns a negative status.
 */
typedef nsgi_status (*nsgi_app_call_fn)(void *app,
                                        struct nsgi_request *req,
                                        const struct nsgi_environ *environ,
                                        struct nsgi_body *body_out);

/**
 * Destroys an app instance after every request has finished. Nothing is called afterwards.
 */
typedef void (*nsgi_app_shutdown_fn)(void *app);

/**
 * What `nsgi_app_entry_v1` returns: a static description of the app.
 */
typedef struct nsgi_app_descriptor {
    /**
     * `NSGI_APP_MAGIC`.
     */
    uint32_t magic;
    /**
     * `NSGI_ABI_MAJOR` the app was built against.
     */
    uint16_t abi_major;
    /**
     * `NSGI_ABI_MINOR` the app was built against.
     */
    uint16_t abi_minor;
    /**
     * `sizeof(nsgi_app_descriptor)` as the app knows it.
     */
    uint32_t struct_size;
    /**
     * `NSGI_APP_*` flags.
     */
    uint32_t flags;
    /**
     * The app's name (static).
     */
    struct nsgi_bytes name;
    /**
     * Free-form build information for diagnostics (static), e.g. `nsgi-sdk 0.1.0` or `C`.
     */
    struct nsgi_bytes sdk_info;
    /**
     * Creates an instance. Required.
     */
    nsgi_app_init_fn init;
    /**
     * Handles a request. Required.
     */
    nsgi_app_call_fn call;
    /**
     * Destroys an instance. Optional.
     */
    nsgi_app_shutdown_fn shutdown;
} nsgi_app_descriptor;

/**
 * The signature of `nsgi_app_entry_v1`, the one symbol a v1 app exports. It must have no side
 * effects: it only returns a pointer to static data.
 */
typedef const struct nsgi_app_descriptor *(*nsgi_app_entry_fn)(void);

/**
 * Success.
 */
#define NSGI_OK 0

/**
 * The body iterator is exhausted (returned by `next`; not an error).
 */
#define NSGI_DONE 1

/**
 * A bad argument: malformed status line or header, NULL where not allowed.
 */
#define NSGI_E_INVAL -1

/**
 * A call-order violation: `write` before `start_response` or outside `call`, a second
 * `start_response` without `exc_info`, use after `close`.
 */
#define NSGI_E_STATE -2

/**
 * `start_response` with `exc_info` after the response headers were sent.
 */
#define NSGI_E_HEADERS_SENT -3

/**
 * The client went away or the transport failed.
 */
#define NSGI_E_IO -4

/**
 * An allocation failed.
 */
#define NSGI_E_NOMEM -5

/**
 * An environ key or an extension is absent.
 */
#define NSGI_E_NOT_FOUND -6

/**
 * The feature is not provided by this host or app.
 */
#define NSGI_E_UNSUPPORTED -7

/**
 * A host limit was exceeded (e.g. a response head with more headers or bytes than the host
 * accepts, refused by `start_response`).
 */
#define NSGI_E_TOO_LARGE -8

/**
 * The callee caught a panic. The code that panicked is never run on the same state again: a
 * panicked body is poisoned; the Rust SDK replaces a panicked app value with a fresh one.
 */
#define NSGI_E_PANIC -9

/**
 * A generic application failure.
 */
#define NSGI_E_APP -10

/**
 * A host internal failure, including a panic caught in a host callback.
 */
#define NSGI_E_INTERNAL -11

/**
 * Codes from -1 to this value are reserved for the ABI; apps may use lower values for their own
 * errors (they are handled like `NSGI_E_APP`).
 */
#define NSGI_E_RESERVED_MIN -999

/**
 * Name of the symbol every v1 app exports (the Rust constant of the same name).
 */
#define NSGI_ENTRY_SYMBOL_V1 "nsgi_app_entry_v1"

/**
 * True when the struct behind `p` (of type `T`, whose first field is `uint32_t struct_size`) is
 * large enough to contain `field`. Test every field appended after v1.0 before reading it, e.g.
 * `NSGI_HAS(host, nsgi_host_api, some_v1_1_fn) && host->some_v1_1_fn != NULL`.
 * Needs <stddef.h> for offsetof, which this header includes.
 */
#define NSGI_HAS(p, T, field) ((p)->struct_size >= offsetof(T, field) + sizeof((p)->field))

/**
 * Exports a symbol from the shared library even when it is built with hidden visibility
 * (-fvisibility=hidden) or on Windows.
 */
#if defined(_MSC_VER)
#define NSGI_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define NSGI_EXPORT __attribute__((visibility("default")))
#else
#define NSGI_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif /* __cplusplus */

/**
 * The one symbol a v1 app exports; the app defines it, the host looks it up by name. It returns
 * a pointer to a static descriptor (never NULL for a working app) and must have no side effects:
 * no allocation, no threads, no I/O, because the host may call it just to check the version.
 * Define it in exactly one translation unit of the library:
 *
 *     static const nsgi_app_descriptor descriptor = { NSGI_APP_MAGIC, ... };
 *     NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void) { return &descriptor; }
 *
 * C++ exceptions and longjmp must never cross this or any other nsgi call.
 */
NSGI_EXPORT const nsgi_app_descriptor *nsgi_app_entry_v1(void);

#ifdef __cplusplus
}  /* extern "C" */
#endif /* __cplusplus */

#endif /* NSGI_H */
