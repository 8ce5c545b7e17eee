//! A wrapper for secrets (SMTP password, unsubscribe key) whose `Debug` and `Display` print a
//! placeholder, so that logging a config or an error can never leak one; whose memory is wiped
//! when it is dropped; and whose loading makes the process undumpable, so a crash leaves no
//! core file holding it.

use std::{fmt, sync::Once};

use zeroize::Zeroize;

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    pub(crate) fn new(value: T) -> Self {
        forbid_core_dumps();
        Secret(value)
    }

    /// The secret itself; call only where it is used, never to print it.
    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Makes sure no core file is written for this process from now on: the core size limit
/// goes to zero (soft and hard, so no child can raise it) and the process is marked not
/// dumpable (which also keeps other processes of the user from reading its memory through
/// `/proc`). Called when a secret is loaded, or at start when the environment holds one.
/// Best effort: a system that refuses leaves the process as it was, which is no worse.
pub(crate) fn forbid_core_dumps() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Core,
            rustix::process::Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn loading_a_secret_forbids_core_dumps() {
        let _secret = Secret::new(b"key".to_vec());
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
    }
}
