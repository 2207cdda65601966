//! Deadlines for collectors that talk to another process (HAProxy,
//! PostgreSQL, relayed exporters).
//!
//! A dead or hanging server must cost a scrape at most its timeout, and
//! never stall `/metrics` or the push loop. The blocking client call runs on
//! the target's worker thread; the scrape waits for it up to the timeout and
//! then reports failure (`haproxy_up 0`, `pg_up 0`) without it. One call per
//! target at a time: a second scrape (the push loop and Prometheus scrape
//! independently) waits for a running call that is still within its own
//! timeout, then makes its own. A call already past its timeout is stuck:
//! scrapes report failure at once and start no other call until it
//! returns, so a server that never answers costs one stuck thread, not one
//! per scrape.
//!
//! The worker thread lives as long as the target and is started on the
//! first call: starting a thread per call cost more CPU than the HAProxy
//! collector's whole parse (clone, stack mapping and teardown each scrape).

use std::fmt;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// One target's deadline state: the end of the running call's timeout, if
/// a call is running, and the worker thread that runs the calls.
#[derive(Debug, Default)]
pub struct Deadline {
    busy: Arc<(Mutex<Option<Instant>>, Condvar)>,
    worker: Mutex<Option<mpsc::Sender<Job>>>,
}

fn set_free(busy: &(Mutex<Option<Instant>>, Condvar)) {
    *busy.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    busy.1.notify_all();
}

/// Why a call under a deadline gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Missed {
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
    /// Runs `f` on the target's worker thread and waits for it; waiting for
    /// a running call of this target and the call itself share `timeout`.
    pub(crate) fn run<T, F>(&self, name: &str, timeout: Duration, f: F) -> Result<T, Missed>
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
        let job: Job = Box::new(move || {
            let r = f();
            set_free(&busy);
            let _ = tx.send(r);
        });
        if let Err(e) = self.submit(name, job) {
            set_free(&self.busy);
            return Err(Missed::Spawn(e.to_string()));
        }
        rx.recv_timeout(until.saturating_duration_since(Instant::now()))
            .map_err(|_| Missed::TimedOut(timeout))
    }

    /// Hands `job` to the worker, starting it if there is none (or it is
    /// gone). The caller holds the target's turn, so the worker is idle.
    fn submit(&self, name: &str, job: Job) -> std::io::Result<()> {
        let mut worker = self.worker.lock().unwrap_or_else(|e| e.into_inner());
        let job = match worker.as_ref() {
            Some(w) => match w.send(job) {
                Ok(()) => return Ok(()),
                // The worker is gone: start another one.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("picket-{name}"))
            .spawn(move || {
                for job in rx {
                    job();
                }
            })?;
        // The receiver is alive: the thread was just started with it.
        let _ = tx.send(job);
        *worker = Some(tx);
        Ok(())
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
    fn calls_reuse_one_worker_thread() {
        let d = Deadline::default();
        let id = || std::thread::current().id();
        let first = d.run("t", Duration::from_secs(1), id).expect("first");
        assert_ne!(first, std::thread::current().id());
        for _ in 0..3 {
            assert_eq!(d.run("t", Duration::from_secs(1), id), Ok(first));
        }
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
