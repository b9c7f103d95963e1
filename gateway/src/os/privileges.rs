//! User and group identities: looking up `--user` and `--group` in the system's user database,
//! and giving up root for good (supplementary groups, then the group, then the user).
//!
//! Every function is safe to call. Nothing here decides whether to drop or to refuse root; the
//! `privilege` module does. A drop is all or nothing: a process that could not finish it must
//! not serve, so [`drop_to`] reports any step that failed and checks the result.

use std::ffi::{CStr, CString};
use std::io;

/// A user and group to run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub(crate) uid: u32,
    /// The group id (also the only supplementary group after the drop).
    pub(crate) gid: u32,
}

/// The effective user id of this process.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective group id of this process.
pub(crate) fn effective_gid() -> u32 {
    // SAFETY: getegid takes no arguments and cannot fail.
    unsafe { libc::getegid() }
}

/// Bytes of the buffer the `get*_r` lookups fill with the entry's strings.
const LOOKUP_BUFFER_BYTES: usize = 16 * 1024;

/// The user `name` (or a numeric id): its uid and primary gid. `Ok(None)` when the database has
/// no such user (a numeric id without an entry is then unknown too: its group is needed).
pub(crate) fn lookup_user(name: &str) -> io::Result<Option<Identity>> {
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buffer = vec![0 as libc::c_char; LOOKUP_BUFFER_BYTES];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    let status = match name.parse::<u32>() {
        // SAFETY: `entry`, `buffer` (with its true length) and `found` are valid and writable for
        // the call; getpwuid_r writes the entry's strings into `buffer` only.
        Ok(uid) => unsafe { libc::getpwuid_r(uid, entry.as_mut_ptr(), buffer.as_mut_ptr(), buffer.len(), &mut found) },
        Err(_) => {
            let cname = CString::new(name)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a user name holds no NUL"))?;
            // SAFETY: as above, and `cname` is a NUL-terminated string that outlives the call.
            unsafe {
                libc::getpwnam_r(
                    cname.as_ptr(),
                    entry.as_mut_ptr(),
                    buffer.as_mut_ptr(),
                    buffer.len(),
                    &mut found,
                )
            }
        }
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status));
    }
    if found.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-null result points at `entry`, which the call filled in.
    let entry = unsafe { entry.assume_init() };
    Ok(Some(Identity {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    }))
}

/// The group `name` (or a numeric id) as a gid. `Ok(None)` when there is no such group name; a
/// numeric id is taken as it is.
pub(crate) fn lookup_group(name: &str) -> io::Result<Option<u32>> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(Some(gid));
    }
    let cname =
        CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a group name holds no NUL"))?;
    let mut entry = std::mem::MaybeUninit::<libc::group>::uninit();
    let mut buffer = vec![0 as libc::c_char; LOOKUP_BUFFER_BYTES];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: `entry`, `buffer` (with its true length) and `found` are valid and writable for the
    // call, and `cname` is a NUL-terminated string that outlives it.
    let status = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            entry.as_mut_ptr(),
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(status));
    }
    if found.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-null result points at `entry`, which the call filled in.
    let entry = unsafe { entry.assume_init() };
    Ok(Some(entry.gr_gid))
}

/// Gives up root for good: the supplementary groups become `identity.gid` alone, then the real,
/// effective and saved group ids, then the user ids, become `identity`'s. Then checks that root
/// cannot be taken back. Keeps the parent-death signal, which the kernel clears when the
/// credentials change.
pub(crate) fn drop_to(identity: &Identity) -> io::Result<()> {
    let death_signal = parent_death_signal()?;
    let groups = [identity.gid as libc::gid_t];
    // SAFETY: `groups` is a valid array of one gid, and its length is passed.
    if unsafe { libc::setgroups(groups.len() as _, groups.as_ptr()) } != 0 {
        return Err(step_error("setgroups"));
    }
    // SAFETY: setresgid takes plain integers.
    if unsafe { libc::setresgid(identity.gid, identity.gid, identity.gid) } != 0 {
        return Err(step_error("setresgid"));
    }
    // SAFETY: setresuid takes plain integers.
    if unsafe { libc::setresuid(identity.uid, identity.uid, identity.uid) } != 0 {
        return Err(step_error("setresuid"));
    }
    if identity.uid != 0 {
        // SAFETY: setuid takes a plain integer; it must fail now that no id of ours is 0.
        if unsafe { libc::setuid(0) } == 0 {
            return Err(io::Error::other("root could be taken back after the drop"));
        }
    }
    if effective_uid() != identity.uid || effective_gid() != identity.gid {
        return Err(io::Error::other("the ids did not change"));
    }
    if death_signal != 0 {
        crate::os::process::set_parent_death_signal(death_signal)?;
    }
    Ok(())
}

fn step_error(step: &str) -> io::Error {
    let error = io::Error::last_os_error();
    io::Error::new(error.kind(), format!("{step}: {error}"))
}

/// The parent-death signal in force (0: none). Always 0 where the kernel has none.
fn parent_death_signal() -> io::Result<libc::c_int> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut signal: libc::c_int = 0;
        // SAFETY: PR_GET_PDEATHSIG writes one int through the pointer, which points at `signal`.
        if unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut signal as *mut libc::c_int) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(signal)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Ok(0)
    }
}

/// The user name of `uid`, for messages (the number when it has none).
pub(crate) fn user_name(uid: u32) -> String {
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buffer = vec![0 as libc::c_char; LOOKUP_BUFFER_BYTES];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: `entry`, `buffer` (with its true length) and `found` are valid and writable.
    let status = unsafe { libc::getpwuid_r(uid, entry.as_mut_ptr(), buffer.as_mut_ptr(), buffer.len(), &mut found) };
    if status != 0 || found.is_null() {
        return uid.to_string();
    }
    // SAFETY: the call filled `entry`; its pw_name points into `buffer`, NUL-terminated, and
    // `buffer` is still alive here.
    let name = unsafe { CStr::from_ptr(entry.assume_init().pw_name) };
    name.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_numeric_ids_are_found() {
        let root = lookup_user("root").expect("lookup").expect("root exists");
        assert_eq!(root, Identity { uid: 0, gid: 0 });
        assert_eq!(lookup_user("0").expect("lookup"), Some(Identity { uid: 0, gid: 0 }));
        assert_eq!(user_name(0), "root");
        assert_eq!(lookup_group("12345").expect("lookup"), Some(12345));
        assert_eq!(lookup_group("root").expect("lookup"), Some(0));
    }

    #[test]
    fn a_drop_keeps_the_parent_death_signal() {
        use std::os::unix::process::CommandExt;
        if effective_uid() != 0 {
            eprintln!("not root: a drop cannot be tried");
            return;
        }
        let nobody = Identity { uid: 65534, gid: 65534 };
        let mut command = std::process::Command::new("true");
        // SAFETY: the closure runs in the child between fork and exec; it only makes system
        // calls and allocates nothing unless a call fails (then the spawn reports the error).
        unsafe {
            command.pre_exec(move || {
                crate::os::process::set_parent_death_signal(libc::SIGUSR2)?;
                drop_to(&nobody)?;
                if parent_death_signal()? != libc::SIGUSR2 {
                    return Err(io::Error::other("the parent-death signal was lost"));
                }
                Ok(())
            });
        }
        let status = command
            .status()
            .expect("the child drops root and keeps its death signal");
        assert!(status.success());
    }

    #[test]
    fn unknown_names_are_none() {
        assert_eq!(lookup_user("no-such-user-nsgi").expect("lookup"), None);
        assert_eq!(lookup_group("no-such-group-nsgi").expect("lookup"), None);
        assert!(lookup_user("a\0b").is_err());
    }
}
