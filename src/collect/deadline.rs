//! Deadlines for collectors that talk to another process (HAProxy,
//! PostgreSQL, relayed exporters).
//!
//! A dead or hanging server must cost a scrape at most its timeout, and
//! never stall `/metrics` or the push loop. The blocking client call runs on
//! a thread of its own; the scrape waits for it up to the timeout and then
//! reports failure (`haproxy_up 0`, `pg_up 0`) without it. One call per
//! target at a time: a second scrape (the push loop and Prometheus scrape
//! independently) waits for a running call that is still within its own
//! timeout, then makes its own. A call already past its timeout is stuck:
//! scrapes report failure at once and start no other call until it
//! returns, so a server that never answers costs one stuck thread, not one
//! per scrape.

use std::fmt;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One target's deadline state: the end of the running call's timeout, if
/// a call is running.
#[derive(Debug, Default)]
pub struct Deadline {
    busy: Arc<(Mutex<Option<Instant>>, Condvar)>,
}

fn set_free(busy: &(Mutex<Option<Instant>>, Condvar)) {
    *busy.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    busy.1.notify_all();
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
            Missed::StillRunning => {
                f.write_str("the call of an earlier scrape has not returned within the timeout")
            }
            Missed::Spawn(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl Deadline {
    /// Runs `f` on its own thread and waits for it; waiting for a running
    /// call of this target and the call itself share `timeout`.
    pub fn run<T, F>(&self, name: &str, timeout: Duration, f: F) -> Result<T, Missed>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let until = Instant::now() + timeout;
        {
            let (lock, cv) = &*self.busy;
            let mut busy = lock.lock().unwrap_or_else(|e| e.into_inner());
            while let Some(theirs) = *busy {
                let now = Instant::now();
                let left = until.saturating_duration_since(now);
                if left.is_zero() || now >= theirs {
                    return Err(Missed::StillRunning);
                }
                busy = cv
                    .wait_timeout(busy, left)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            *busy = Some(until);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let busy = self.busy.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("picket-{name}"))
            .spawn(move || {
                let r = f();
                set_free(&busy);
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            set_free(&self.busy);
            return Err(Missed::Spawn(e.to_string()));
        }
        rx.recv_timeout(until.saturating_duration_since(Instant::now()))
            .map_err(|_| Missed::TimedOut(timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn concurrent_callers_take_turns_within_their_timeout() {
        let d = Arc::new(Deadline::default());
        let d2 = d.clone();
        let slow = std::thread::spawn(move || {
            d2.run("t", Duration::from_secs(2), || {
                std::thread::sleep(Duration::from_millis(150));
                1
            })
        });
        std::thread::sleep(Duration::from_millis(30));
        // Arrives while the slow call runs: waits for it, then runs.
        assert_eq!(d.run("t", Duration::from_secs(2), || 2), Ok(2));
        assert_eq!(slow.join().expect("join"), Ok(1));
    }

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
        // The call is past its timeout, so stuck: the next caller gives up
        // at once and starts no other call.
        let start = Instant::now();
        assert_eq!(
            d.run("t", Duration::from_secs(1), || 1),
            Err(Missed::StillRunning)
        );
        assert!(start.elapsed() < Duration::from_millis(500));
        release.send(()).expect("release");
        let start = Instant::now();
        while d.run("t", Duration::from_secs(1), || 2) != Ok(2) {
            assert!(start.elapsed() < Duration::from_secs(5), "never freed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
