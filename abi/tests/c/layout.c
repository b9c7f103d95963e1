/*
 * layout.c: pins the C view of the NSGI v1 ABI (abi/include/nsgi.h) to fixed numbers.
 *
 * Every struct's size and every field's offset, and the value of every constant, are asserted
 * at compile time. abi/tests/layout.rs asserts the very same numbers against the Rust types in
 * nsgi::sys (with offset_of!/size_of) and compiles this file with the system C compiler:
 *
 *     cc -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I abi/include abi/tests/c/layout.c
 *
 * Together they catch a change that cbindgen would pass through silently (a reordered, retyped
 * or removed field; a changed constant). A failing assertion here means the ABI changed: v1
 * only ever appends fields at the end of a struct, and never changes a constant.
 *
 * The numeric table is for 64-bit targets (LP64 Unix and LLP64 Windows agree here, since the
 * ABI uses no `long`). Elsewhere only the pointer-size-independent relations are checked.
 */
#include <stddef.h>
#include <stdint.h>

#include "nsgi.h"

#define NSGI_SIZE(T, n) _Static_assert(sizeof(T) == (n), "sizeof(" #T ") != " #n)
#define NSGI_OFFSET(T, f, n) _Static_assert(offsetof(T, f) == (n), "offsetof(" #T ", " #f ") != " #n)
#define NSGI_VALUE(c, v) _Static_assert((c) == (v), #c " != " #v)

/* ---- Constants: the same values on every target. ---- */

NSGI_VALUE(NSGI_ABI_MAJOR, 1);
NSGI_VALUE(NSGI_ABI_MINOR, 0);
NSGI_VALUE(NSGI_APP_MAGIC, 0x4947534E);
/* The magic is the bytes "NSGI" read as a little-endian uint32_t. */
NSGI_VALUE(NSGI_APP_MAGIC, (uint32_t)'N' | (uint32_t)'S' << 8 | (uint32_t)'G' << 16 | (uint32_t)'I' << 24);
NSGI_VALUE(sizeof(NSGI_ENTRY_SYMBOL_V1), sizeof("nsgi_app_entry_v1"));

NSGI_VALUE(NSGI_OK, 0);
NSGI_VALUE(NSGI_DONE, 1);
NSGI_VALUE(NSGI_E_INVAL, -1);
NSGI_VALUE(NSGI_E_STATE, -2);
NSGI_VALUE(NSGI_E_HEADERS_SENT, -3);
NSGI_VALUE(NSGI_E_IO, -4);
NSGI_VALUE(NSGI_E_NOMEM, -5);
NSGI_VALUE(NSGI_E_NOT_FOUND, -6);
NSGI_VALUE(NSGI_E_UNSUPPORTED, -7);
NSGI_VALUE(NSGI_E_TOO_LARGE, -8);
NSGI_VALUE(NSGI_E_PANIC, -9);
NSGI_VALUE(NSGI_E_APP, -10);
NSGI_VALUE(NSGI_E_INTERNAL, -11);
NSGI_VALUE(NSGI_E_RESERVED_MIN, -999);

NSGI_VALUE(NSGI_APP_THREAD_SAFE, 1);
NSGI_VALUE(NSGI_APP_PANIC_ABORT, 2);
NSGI_VALUE(NSGI_ENV_MULTITHREAD, 1);
NSGI_VALUE(NSGI_ENV_MULTIPROCESS, 2);
NSGI_VALUE(NSGI_ENV_RUN_ONCE, 4);
NSGI_VALUE(NSGI_NO_LENGTH, UINT64_MAX);
NSGI_VALUE(NSGI_FILE_TO_EOF, UINT64_MAX);
NSGI_VALUE(NSGI_FILE_TAKE_FD, 1);

NSGI_VALUE(NSGI_LOG_ERROR, 1);
NSGI_VALUE(NSGI_LOG_WARN, 2);
NSGI_VALUE(NSGI_LOG_INFO, 3);
NSGI_VALUE(NSGI_LOG_DEBUG, 4);
NSGI_VALUE(NSGI_LOG_TRACE, 5);

/* ---- Types and relations that hold on every target. ---- */

NSGI_SIZE(nsgi_status, 4);
NSGI_VALUE((nsgi_status)-1 < 0, 1); /* signed */
NSGI_SIZE(nsgi_bytes, 2 * sizeof(void *));
NSGI_SIZE(nsgi_header, 2 * sizeof(nsgi_bytes));
NSGI_SIZE(nsgi_body, 2 * sizeof(void *));
NSGI_OFFSET(nsgi_environ, struct_size, 0);
NSGI_OFFSET(nsgi_exc_info, struct_size, 0);
NSGI_OFFSET(nsgi_body_vtable, struct_size, 0);
NSGI_OFFSET(nsgi_init_args, struct_size, 0);
NSGI_OFFSET(nsgi_host_api, struct_size, 0);
NSGI_OFFSET(nsgi_app_descriptor, magic, 0);
NSGI_OFFSET(nsgi_app_descriptor, abi_major, 4);
NSGI_OFFSET(nsgi_app_descriptor, abi_minor, 6);
NSGI_OFFSET(nsgi_app_descriptor, struct_size, 8);

/* ---- The v1.0 layout on 64-bit targets. ---- */

#if UINTPTR_MAX == 0xffffffffffffffff

NSGI_SIZE(nsgi_bytes, 16);
NSGI_OFFSET(nsgi_bytes, ptr, 0);
NSGI_OFFSET(nsgi_bytes, len, 8);

NSGI_SIZE(nsgi_header, 32);
NSGI_OFFSET(nsgi_header, name, 0);
NSGI_OFFSET(nsgi_header, value, 16);

NSGI_SIZE(nsgi_environ, 48);
NSGI_OFFSET(nsgi_environ, struct_size, 0);
NSGI_OFFSET(nsgi_environ, flags, 4);
NSGI_OFFSET(nsgi_environ, vars, 8);
NSGI_OFFSET(nsgi_environ, n_vars, 16);
NSGI_OFFSET(nsgi_environ, url_scheme, 24);
NSGI_OFFSET(nsgi_environ, content_length, 40);

NSGI_SIZE(nsgi_exc_info, 40);
NSGI_OFFSET(nsgi_exc_info, struct_size, 0);
NSGI_OFFSET(nsgi_exc_info, code, 4);
NSGI_OFFSET(nsgi_exc_info, type_name, 8);
NSGI_OFFSET(nsgi_exc_info, message, 24);

NSGI_SIZE(nsgi_body_vtable, 24);
NSGI_OFFSET(nsgi_body_vtable, struct_size, 0);
NSGI_OFFSET(nsgi_body_vtable, next, 8);
NSGI_OFFSET(nsgi_body_vtable, close, 16);

NSGI_SIZE(nsgi_body, 16);
NSGI_OFFSET(nsgi_body, vtable, 0);
NSGI_OFFSET(nsgi_body, state, 8);

NSGI_SIZE(nsgi_init_args, 80);
NSGI_OFFSET(nsgi_init_args, struct_size, 0);
NSGI_OFFSET(nsgi_init_args, flags, 4);
NSGI_OFFSET(nsgi_init_args, mount_name, 8);
NSGI_OFFSET(nsgi_init_args, script_name, 24);
NSGI_OFFSET(nsgi_init_args, config, 40);
NSGI_OFFSET(nsgi_init_args, options, 56);
NSGI_OFFSET(nsgi_init_args, n_options, 64);
NSGI_OFFSET(nsgi_init_args, max_concurrency, 72);

NSGI_SIZE(nsgi_host_api, 96);
NSGI_OFFSET(nsgi_host_api, struct_size, 0);
NSGI_OFFSET(nsgi_host_api, abi_major, 4);
NSGI_OFFSET(nsgi_host_api, abi_minor, 6);
NSGI_OFFSET(nsgi_host_api, host_data, 8);
NSGI_OFFSET(nsgi_host_api, log, 16);
NSGI_OFFSET(nsgi_host_api, environ_get, 24);
NSGI_OFFSET(nsgi_host_api, input_read, 32);
NSGI_OFFSET(nsgi_host_api, input_readline, 40);
NSGI_OFFSET(nsgi_host_api, errors_write, 48);
NSGI_OFFSET(nsgi_host_api, errors_flush, 56);
NSGI_OFFSET(nsgi_host_api, start_response, 64);
NSGI_OFFSET(nsgi_host_api, write, 72);
NSGI_OFFSET(nsgi_host_api, file_body, 80);
NSGI_OFFSET(nsgi_host_api, get_extension, 88);

NSGI_SIZE(nsgi_app_descriptor, 72);
NSGI_OFFSET(nsgi_app_descriptor, magic, 0);
NSGI_OFFSET(nsgi_app_descriptor, abi_major, 4);
NSGI_OFFSET(nsgi_app_descriptor, abi_minor, 6);
NSGI_OFFSET(nsgi_app_descriptor, struct_size, 8);
NSGI_OFFSET(nsgi_app_descriptor, flags, 12);
NSGI_OFFSET(nsgi_app_descriptor, name, 16);
NSGI_OFFSET(nsgi_app_descriptor, sdk_info, 32);
NSGI_OFFSET(nsgi_app_descriptor, init, 48);
NSGI_OFFSET(nsgi_app_descriptor, call, 56);
NSGI_OFFSET(nsgi_app_descriptor, shutdown, 64);

#endif /* 64-bit */

/* ---- NSGI_HAS works on a v1.0 struct and refuses a field beyond a short struct_size. ---- */

static const nsgi_host_api full_table = {sizeof(nsgi_host_api), 1, 0, NULL, NULL, NULL, NULL, NULL,
                                         NULL, NULL, NULL, NULL, NULL, NULL};
static const nsgi_host_api short_table = {(uint32_t)offsetof(nsgi_host_api, file_body), 1, 0, NULL,
                                          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

/*
 * NSGI_HAS reads an object, so it is not a constant expression: layout.rs also builds this file
 * with -DNSGI_LAYOUT_MAIN and runs it, and the exit status reports these checks.
 */
int nsgi_layout_has_checks(void);
int nsgi_layout_has_checks(void) {
    return NSGI_HAS(&full_table, nsgi_host_api, get_extension) &&
           NSGI_HAS(&short_table, nsgi_host_api, write) &&
           !NSGI_HAS(&short_table, nsgi_host_api, file_body);
}

#ifdef NSGI_LAYOUT_MAIN
int main(void) {
    return nsgi_layout_has_checks() ? 0 : 1;
}
#endif
