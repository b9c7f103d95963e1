//! systemd's readiness protocol (`sd_notify`): READY, RELOADING, STOPPING, STATUS.

/// Sends `state` (e.g. `"READY=1"`) to the service manager when `NOTIFY_SOCKET` is set; does
/// nothing otherwise. (Being written.)
pub fn notify(state: &str) {
    let _ = state;
}
