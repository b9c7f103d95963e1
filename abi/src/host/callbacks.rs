//! The host API table handed to apps: the `extern "C"` functions behind `nsgi_host_api`.
//!
//! Each function checks its arguments and the request's phase, records rule breaches on the
//! request, and catches its own panics (answering `NSGI_E_INTERNAL`), so nothing an app passes in
//! can unwind into it or make the host misbehave beyond refusing the call.

use super::handle::{Refused, live_request};
use super::observe::{ErrorsWrite, InputRead, StartResponseCall, WriteCall};
use super::request_state::{HeadState, HeaderSpan, HostShared, Phase, RequestState};
use super::swar;
use super::validate::{check_head_size, check_header, check_status, parse_content_length};
use super::violation::Violation;
use crate::app::raw::bytes_of;
use crate::sys::{
    NSGI_ABI_MAJOR, NSGI_ABI_MINOR, NSGI_E_HEADERS_SENT, NSGI_E_INTERNAL, NSGI_E_INVAL, NSGI_E_IO, NSGI_E_NOT_FOUND,
    NSGI_E_STATE, NSGI_E_TOO_LARGE, NSGI_E_UNSUPPORTED, NSGI_EXC_INFO_V1_0_SIZE, NSGI_HOST_API_V1_0_SIZE,
    NSGI_LOG_DEBUG, NSGI_LOG_ERROR, NSGI_LOG_INFO, NSGI_LOG_WARN, NSGI_OK, nsgi_body, nsgi_bytes, nsgi_exc_info,
    nsgi_header, nsgi_host_api, nsgi_request, nsgi_status,
};
use core::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The host table for one app instance.
pub(crate) fn host_api(shared: *const HostShared, file_body: bool) -> nsgi_host_api {
    nsgi_host_api {
        struct_size: NSGI_HOST_API_V1_0_SIZE,
        abi_major: NSGI_ABI_MAJOR,
        abi_minor: NSGI_ABI_MINOR,
        host_data: shared.cast_mut().cast::<c_void>(),
        log: Some(host_log),
        environ_get: Some(environ_get),
        input_read: Some(input_read),
        input_readline: Some(input_readline),
        errors_write: Some(errors_write),
        errors_flush: Some(errors_flush),
        start_response: Some(start_response),
        write: Some(write),
        file_body: if file_body { Some(file_body_fn) } else { None },
        get_extension: Some(get_extension),
    }
}

/// Runs a callback body, turning a panic into `fallback`.
fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

unsafe extern "C" fn host_log(host_data: *mut c_void, _req: *mut nsgi_request, level: i32, msg: nsgi_bytes) {
    guard((), || {
        if host_data.is_null() {
            return;
        }
        // SAFETY: host_data is the `HostShared` this table was built with; it lives as long as
        // the app instance, which is longer than any call the app may make.
        let shared = unsafe { &*host_data.cast::<HostShared>() };
        // SAFETY: the message bytes the app passed, valid for the duration of this call (abi.md §6).
        let text = String::from_utf8_lossy(unsafe { bytes_of(&msg) });
        let level = match level {
            i32::MIN..=NSGI_LOG_ERROR => log::Level::Error,
            NSGI_LOG_WARN => log::Level::Warn,
            NSGI_LOG_INFO => log::Level::Info,
            NSGI_LOG_DEBUG => log::Level::Debug,
            _ => log::Level::Trace,
        };
        if let Ok(mut capture) = shared.init_log.lock()
            && let Some(lines) = capture.as_mut()
        {
            lines.push(text.clone().into_owned());
        }
        log::log!(target: "nsgi::app", level, "[{}] {}", shared.mount, text);
    })
}

unsafe extern "C" fn environ_get(req: *mut nsgi_request, key: nsgi_bytes, value_out: *mut nsgi_bytes) -> nsgi_status {
    guard(NSGI_E_INTERNAL, || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "environ_get") } {
            Ok(state) => state,
            Err(Refused(status)) => return status,
        };
        if value_out.is_null() || state.environ.is_null() {
            return NSGI_E_INVAL;
        }
        // SAFETY: set by the exchange to the environ it borrows for the request's whole life.
        let environ = unsafe { &*state.environ };
        // SAFETY: the key bytes the app passed, valid for the duration of this call (abi.md §6).
        let key = unsafe { bytes_of(&key) };
        let value = environ.get(key);
        if let Some(observer) = state.observer() {
            observer.environ_get(state.id, key, value.is_some());
        }
        match value {
            Some(value) => {
                // SAFETY: value_out is non-NULL and the app passed it for us to write.
                unsafe { value_out.write(nsgi_bytes::from_slice(value)) };
                NSGI_OK
            }
            None => NSGI_E_NOT_FOUND,
        }
    })
}

/// Checks an app-provided output buffer and returns it as a slice.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes.
unsafe fn out_buffer<'b>(buf: *mut u8, cap: usize) -> Option<&'b mut [u8]> {
    if cap == 0 {
        return Some(&mut []);
    }
    if buf.is_null() {
        return None;
    }
    // SAFETY: per the contract, `buf` points to `cap` writable bytes.
    Some(unsafe { core::slice::from_raw_parts_mut(buf, cap) })
}

/// Tells the observer, if any, about an input read and passes its result through.
fn observe_input(state: &RequestState, line: bool, buf: *mut u8, cap: usize, returned: i64) -> i64 {
    if let Some(observer) = state.observer() {
        let read = InputRead {
            line,
            requested: cap,
            buf_null: buf.is_null() && cap != 0,
            returned,
        };
        observer.input_read(state.id, &read);
    }
    returned
}

unsafe extern "C" fn input_read(req: *mut nsgi_request, buf: *mut u8, cap: usize) -> i64 {
    guard(i64::from(NSGI_E_INTERNAL), || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "input_read") } {
            Ok(state) => state,
            Err(Refused(status)) => return i64::from(status),
        };
        // SAFETY: contract of the ABI: `buf` holds `cap` writable bytes.
        let returned = unsafe { read_input(state, buf, cap) };
        observe_input(state, false, buf, cap, returned)
    })
}

/// `input_read` proper.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes.
unsafe fn read_input(state: &mut RequestState, buf: *mut u8, cap: usize) -> i64 {
    {
        // SAFETY: per this function's contract.
        let Some(out) = (unsafe { out_buffer(buf, cap) }) else {
            return i64::from(NSGI_E_INVAL);
        };
        let Some(input) = state.input else {
            return i64::from(NSGI_E_STATE);
        };
        // SAFETY: the exchange keeps the input alive while the request is live.
        let input = unsafe { &mut *input };
        loop {
            match input.read(out) {
                Ok(n) => return n as i64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return i64::from(NSGI_E_IO),
            }
        }
    }
}

unsafe extern "C" fn input_readline(req: *mut nsgi_request, buf: *mut u8, cap: usize) -> i64 {
    guard(i64::from(NSGI_E_INTERNAL), || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "input_readline") } {
            Ok(state) => state,
            Err(Refused(status)) => return i64::from(status),
        };
        // SAFETY: contract of the ABI: `buf` holds `cap` writable bytes.
        let returned = unsafe { read_line(state, buf, cap) };
        observe_input(state, true, buf, cap, returned)
    })
}

/// `input_readline` proper.
///
/// # Safety
/// `buf` must be NULL or point to `cap` writable bytes.
unsafe fn read_line(state: &mut RequestState, buf: *mut u8, cap: usize) -> i64 {
    {
        // SAFETY: per this function's contract.
        let Some(out) = (unsafe { out_buffer(buf, cap) }) else {
            return i64::from(NSGI_E_INVAL);
        };
        let Some(input) = state.input else {
            return i64::from(NSGI_E_STATE);
        };
        // SAFETY: the exchange keeps the input alive while the request is live.
        let input = unsafe { &mut *input };
        let mut filled = 0;
        while filled < out.len() {
            let available = match input.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return i64::from(NSGI_E_IO),
            };
            if available.is_empty() {
                break;
            }
            let room = (out.len() - filled).min(available.len());
            let (take, line_done) = match available[..room].iter().position(|&b| b == b'\n') {
                Some(newline) => (newline + 1, true),
                None => (room, false),
            };
            out[filled..filled + take].copy_from_slice(&available[..take]);
            input.consume(take);
            filled += take;
            if line_done {
                break;
            }
        }
        filled as i64
    }
}

unsafe extern "C" fn errors_write(req: *mut nsgi_request, data: nsgi_bytes) -> nsgi_status {
    guard(NSGI_E_INTERNAL, || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "errors_write") } {
            Ok(state) => state,
            Err(Refused(status)) => return status,
        };
        let Some(errors) = state.errors else {
            return NSGI_E_STATE;
        };
        // SAFETY: the data the app passed, valid for the duration of this call (abi.md §6).
        let bytes = unsafe { bytes_of(&data) };
        // SAFETY: the exchange keeps the error stream alive while the request is live.
        let result = match unsafe { &mut *errors }.write_all(bytes) {
            Ok(()) => NSGI_OK,
            Err(_) => NSGI_E_IO,
        };
        if let Some(observer) = state.observer() {
            let write = ErrorsWrite {
                data: bytes,
                data_null: data.ptr.is_null() && data.len != 0,
                result,
            };
            observer.errors_write(state.id, &write);
        }
        result
    })
}

unsafe extern "C" fn errors_flush(req: *mut nsgi_request) -> nsgi_status {
    guard(NSGI_E_INTERNAL, || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "errors_flush") } {
            Ok(state) => state,
            Err(Refused(status)) => return status,
        };
        let Some(errors) = state.errors else {
            return NSGI_E_STATE;
        };
        // SAFETY: the exchange keeps the error stream alive while the request is live.
        let result = match unsafe { &mut *errors }.flush() {
            Ok(()) => NSGI_OK,
            Err(_) => NSGI_E_IO,
        };
        if let Some(observer) = state.observer() {
            observer.errors_flush(state.id, result);
        }
        result
    })
}

unsafe extern "C" fn start_response(
    req: *mut nsgi_request,
    status: nsgi_bytes,
    headers: *const nsgi_header,
    n_headers: usize,
    exc_info: *const nsgi_exc_info,
) -> nsgi_status {
    guard(NSGI_E_INTERNAL, || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "start_response") } {
            Ok(state) => state,
            Err(Refused(status)) => return status,
        };
        let (phase, head_stored_before, headers_sent_before) = (
            state.call_phase(),
            state.head_state.is_stored(),
            state.head_state.is_sent(),
        );
        // SAFETY: contract of the ABI: the arguments are valid for the duration of the call.
        let result = unsafe { store_response(state, status, headers, n_headers, exc_info) };
        if let Some(observer) = state.observer() {
            let headers_null = headers.is_null() && n_headers != 0;
            let header_slice: &[nsgi_header] = if headers.is_null() || n_headers == 0 {
                &[]
            } else {
                // SAFETY: non-NULL array of `n_headers` entries, provided for the duration of the call.
                unsafe { core::slice::from_raw_parts(headers, n_headers) }
            };
            // SAFETY: a non-NULL exc_info points to a struct that starts with its `struct_size`.
            let exc_info_size = (!exc_info.is_null()).then(|| unsafe { (*exc_info).struct_size });
            let call = StartResponseCall {
                phase,
                // SAFETY: the status bytes the app passed, valid for the duration of this call.
                status: unsafe { bytes_of(&status) },
                headers: header_slice,
                n_headers,
                headers_null,
                exc_info_size,
                head_stored_before,
                headers_sent_before,
                result,
            };
            observer.start_response(state.id, &call);
        }
        result
    })
}

/// Writes the exception an app passed with a start_response that came after the headers were
/// sent to its error stream. Out of line: this is the rare path.
///
/// # Safety
/// `exc_info` must point to an `nsgi_exc_info` valid for the duration of the call.
#[cold]
#[inline(never)]
unsafe fn report_exc_info_after_sent(state: &mut RequestState, exc_info: *const nsgi_exc_info) {
    let Some(errors) = state.errors else {
        return;
    };
    // SAFETY: per the contract; read only within the v1.0 layout, which every exc_info has.
    let info = unsafe { &*exc_info };
    // SAFETY: the exchange keeps the error stream alive while the request is live.
    let errors = unsafe { &mut *errors };
    let _ = if info.struct_size >= NSGI_EXC_INFO_V1_0_SIZE {
        // SAFETY: the v1.0 exc_info fields the app passed, valid during this call.
        let (type_name, message) = unsafe { (bytes_of(&info.type_name), bytes_of(&info.message)) };
        writeln!(
            errors,
            "start_response with exc_info after headers were sent: {}: {} (code {})",
            String::from_utf8_lossy(type_name),
            String::from_utf8_lossy(message),
            info.code
        )
    } else {
        writeln!(errors, "start_response with exc_info after headers were sent")
    };
}

/// `start_response` proper: checks the call and stores a copy of the head.
///
/// # Safety
/// `headers` must be NULL or point to `n_headers` headers, and `exc_info` must be NULL or point to
/// an `nsgi_exc_info`, all valid for the duration of the call.
unsafe fn store_response(
    state: &mut RequestState,
    status: nsgi_bytes,
    headers: *const nsgi_header,
    n_headers: usize,
    exc_info: *const nsgi_exc_info,
) -> nsgi_status {
    {
        // First, so that nothing else (here or in an observer) walks a head of unbounded size.
        // SAFETY: contract of the ABI: the header array is valid for the duration of the call.
        if let Err(too_large) = unsafe { check_head_limits(state, status, headers, n_headers) } {
            state.violate(Violation::HeadTooLarge(too_large));
            return NSGI_E_TOO_LARGE;
        }
        if !matches!(state.phase, Phase::InCall | Phase::InNext) {
            state.violate(Violation::StartResponseOutOfTurn);
            return NSGI_E_STATE;
        }
        if exc_info.is_null() {
            if state.head_state.is_stored() {
                state.violate(Violation::StartResponseTwice);
                return NSGI_E_STATE;
            }
        } else if state.head_state.is_sent() {
            state.head_state = HeadState::AbortedAfterSent;
            // SAFETY: non-NULL exc_info provided by the app for the duration of this call.
            unsafe { report_exc_info_after_sent(state, exc_info) };
            return NSGI_E_HEADERS_SENT;
        }
        // SAFETY: the status bytes the app passed, valid for the duration of this call.
        let status = unsafe { bytes_of(&status) };
        let code = match check_status(status) {
            Ok(code) => code,
            Err(problem) => {
                state.violate(Violation::InvalidStatus(problem));
                return NSGI_E_INVAL;
            }
        };
        if headers.is_null() && n_headers != 0 {
            state.violate(Violation::NullArgument("header array"));
            return NSGI_E_INVAL;
        }
        let headers: &[nsgi_header] = if n_headers == 0 {
            &[]
        } else {
            // SAFETY: non-NULL array of `n_headers` entries, provided for the duration of the call.
            unsafe { core::slice::from_raw_parts(headers, n_headers) }
        };
        let mut content_length = None;
        for header in headers {
            // SAFETY: the header bytes the app passed, valid for the duration of this call.
            let (name, value) = unsafe { (bytes_of(&header.name), bytes_of(&header.value)) };
            if let Err(problem) = check_header(name, value) {
                state.violate(Violation::InvalidHeader {
                    name: String::from_utf8_lossy(name).into_owned(),
                    problem,
                });
                return NSGI_E_INVAL;
            }
            if swar::eq_ignore_ascii_case(name, b"content-length") {
                match parse_content_length(value) {
                    Some(length) if content_length.is_none_or(|seen| seen == length) => content_length = Some(length),
                    _ => {
                        state.violate(Violation::InvalidContentLength);
                        return NSGI_E_INVAL;
                    }
                }
            }
        }
        // Everything checks out: store a copy (replacing an earlier head on the exc_info path).
        state.status.clear();
        state.status.extend_from_slice(status);
        state.status_code = code;
        state.header_data.clear();
        state.headers.clear();
        for header in headers {
            let offset = |data: &Vec<u8>| data.len() as u32;
            let name_start = offset(&state.header_data);
            // SAFETY: the header bytes the app passed, valid for the duration of this call.
            let (name, value) = unsafe { (bytes_of(&header.name), bytes_of(&header.value)) };
            state.header_data.extend_from_slice(name);
            let name_end = offset(&state.header_data);
            state.header_data.extend_from_slice(value);
            let value_end = offset(&state.header_data);
            state.headers.push(HeaderSpan {
                name: (name_start, name_end),
                value: (name_end, value_end),
            });
        }
        state.content_length = content_length;
        // Stored again over an earlier head on the exc_info path (never over sent headers: that
        // call was refused above).
        state.head_state = HeadState::Stored;
        state.refusal_pending = false;
        NSGI_OK
    }
}

/// Checks the size of a head against the instance's limits (no limit without an instance).
///
/// # Safety
/// `headers` must be NULL or point to `n_headers` headers valid for the duration of the call,
/// and `status` and every listed header's name and value must point to their bytes for as long.
unsafe fn check_head_limits(
    state: &RequestState,
    status: nsgi_bytes,
    headers: *const nsgi_header,
    n_headers: usize,
) -> Result<(), super::validate::HeadTooLarge> {
    if state.shared.is_null() {
        return Ok(());
    }
    // SAFETY: set by the exchange to its instance's `HostShared`, which outlives the request.
    let limits = unsafe { &(*state.shared).head_limits };
    let listed: &[nsgi_header] = if headers.is_null() || n_headers == 0 || n_headers > limits.max_headers {
        &[]
    } else {
        // SAFETY: per this function's contract (and only read when within the count limit).
        unsafe { core::slice::from_raw_parts(headers, n_headers) }
    };
    // SAFETY: per this function's contract, each listed header's name and value point to their
    // bytes for the duration of the call; so does `status`, as the app passed it to us.
    let pairs = listed
        .iter()
        .map(|h| unsafe { (bytes_of(&h.name), bytes_of(&h.value)) });
    // SAFETY: as above, for the status the app passed.
    check_head_size(unsafe { bytes_of(&status) }, n_headers, pairs, limits)
}

unsafe extern "C" fn write(req: *mut nsgi_request, data: nsgi_bytes) -> nsgi_status {
    guard(NSGI_E_INTERNAL, || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "write") } {
            Ok(state) => state,
            Err(Refused(status)) => return status,
        };
        let (phase, head_stored) = (state.call_phase(), state.head_state.is_stored());
        let result = write_data(state, data);
        if let Some(observer) = state.observer() {
            let call = WriteCall {
                phase,
                len: data.len,
                data_null: data.ptr.is_null() && data.len != 0,
                head_stored,
                result,
            };
            observer.write(state.id, &call);
        }
        result
    })
}

/// `write` proper: checks the call and queues the bytes.
fn write_data(state: &mut RequestState, data: nsgi_bytes) -> nsgi_status {
    {
        if state.phase == Phase::InNext {
            state.violate(Violation::WriteInsideNext);
            return NSGI_E_STATE;
        }
        if state.phase != Phase::InCall {
            return NSGI_E_STATE;
        }
        if !state.head_state.is_stored() {
            state.violate(Violation::WriteBeforeStart);
            return NSGI_E_STATE;
        }
        if state.head_state.is_aborted() {
            state.violate(Violation::ContinuedAfterHeadersSent);
            return NSGI_E_STATE;
        }
        if data.ptr.is_null() && data.len != 0 {
            return NSGI_E_INVAL;
        }
        if state.client_gone {
            return NSGI_E_IO;
        }
        // SAFETY: the data the app passed, valid for the duration of this call (abi.md §6).
        let data = unsafe { bytes_of(&data) };
        if !data.is_empty() {
            state.head_state = HeadState::Sent;
            state.pending.extend_from_slice(data);
            // Sent at once where the host streams (PEP 3333: written data is sent, or on its way,
            // while the app goes on); held for the response otherwise.
            if !state.flush_written() {
                return NSGI_E_IO;
            }
        }
        NSGI_OK
    }
}

unsafe extern "C" fn file_body_fn(
    req: *mut nsgi_request,
    fd: i32,
    offset: u64,
    length: u64,
    flags: u32,
    body_out: *mut nsgi_body,
) -> nsgi_status {
    guard(NSGI_E_INTERNAL, || {
        // SAFETY: a host request function, called by the app; the state is not borrowed yet.
        let state = match unsafe { live_request(req, "file_body") } {
            Ok(state) => state,
            Err(Refused(status)) => return super::file_body::refuse(fd, flags, status),
        };
        if !state.file_body_supported {
            return super::file_body::refuse(fd, flags, NSGI_E_UNSUPPORTED);
        }
        if body_out.is_null() || fd < 0 {
            return super::file_body::refuse(fd, flags, NSGI_E_INVAL);
        }
        match super::file_body::make(fd, offset, length, flags) {
            Ok(body) => {
                // SAFETY: non-NULL out-pointer the app passed for us to fill.
                unsafe { body_out.write(body) };
                NSGI_OK
            }
            Err(status) => status,
        }
    })
}

unsafe extern "C" fn get_extension(_host_data: *mut c_void, _id: *const c_char) -> *const c_void {
    // ABI v1.0 defines no extensions.
    core::ptr::null()
}
