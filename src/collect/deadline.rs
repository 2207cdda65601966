//! Deadlines for collectors that talk to another process (HAProxy,
//! PostgreSQL, relayed exporters).
//!
//! A dead or hanging server must cost a scrape at most its timeout, and
//! never stall `/metrics` or the push loop. The blocking client call runs on
//! a thread of its own; the scrape waits for it up to the timeout and then
//! reports failure (`haproxy_up 0`, `pg_up 0`) without it. A call that is
//! still hanging from an earlier scrape is not started again: the target
//! reports failure at once until that call returns, so a server that never
//! answers costs one stuck thread, not one per scrape.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// One target's deadline state: whether a call is still running.
#[derive(Debug, Default)]
pub struct Deadline {
    busy: Arc<AtomicBool>,
}

/// Why a call under a deadline gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missed {
    /// It did not return within the timeout.
    TimedOut(Duration),
    /// The call of an earlier scrape has not returned yet.
    StillRunning,
    /// The thread could not be started.
    Spawn(String),
}

impl fmt::Display for Missed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missed::TimedOut(t) => write!(f, "no answer within {t:?}"),
            Missed::StillRunning => f.write_str("the previous call has not returned yet"),
            Missed::Spawn(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl Deadline {
    /// Runs `f` on its own thread and waits for it up to `timeout`.
    pub fn run<T, F>(&self, name: &str, timeout: Duration, f: F) -> Result<T, Missed>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if self.busy.swap(true, Ordering::SeqCst) {
            return Err(Missed::StillRunning);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let busy = self.busy.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("picket-{name}"))
            .spawn(move || {
                let r = f();
                busy.store(false, Ordering::SeqCst);
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            self.busy.store(false, Ordering::SeqCst);
            return Err(Missed::Spawn(e.to_string()));
        }
        rx.recv_timeout(timeout)
            .map_err(|_| Missed::TimedOut(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_hanging_call_times_out_and_is_not_started_twice() {
        let d = Deadline::default();
        assert_eq!(d.run("t", Duration::from_secs(1), || 7), Ok(7));
        let (release, wait) = mpsc::channel::<()>();
        let start = Instant::now();
        let r = d.run("t", Duration::from_millis(100), move || {
            let _ = wait.recv();
        });
        assert_eq!(r, Err(Missed::TimedOut(Duration::from_millis(100))));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(
            d.run("t", Duration::from_secs(1), || 1),
            Err(Missed::StillRunning)
        );
        release.send(()).expect("release");
        let start = Instant::now();
        while d.run("t", Duration::from_secs(1), || 2) != Ok(2) {
            assert!(start.elapsed() < Duration::from_secs(5), "never freed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
