//! The one HTTP server loop of both binaries: accept, then per request read
//! the head, apply the rate limit and basic auth, read the body, and hand
//! the request to the binary's [`Handler`].
//!
//! Auth comes before the body is read, so an unauthenticated client cannot
//! make the server read (or buffer) a remote_write body. The whole request
//! has the read timeout to arrive (slow-loris bounded, over TLS too). A
//! bcrypt check runs on smol's blocking pool: the event loop keeps serving
//! other connections while it works.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use smol::{Async, LocalExecutor};

use super::auth::Verdict;
use super::{Conn, Web};
use crate::http::{self, ReadError, Request};

/// What a server accepts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time for a TLS handshake, and for a whole request to arrive.
    pub read_timeout: Duration,
    /// Largest request body.
    pub max_body: usize,
}

/// A binary's answer to an authorized request.
#[allow(async_fn_in_trait)] // Runs on one LocalExecutor: no Send needed.
pub trait Handler: 'static {
    /// Answers `req` on `conn` ([`Conn::respond`]). `self` is shared so
    /// the answer can hand work to the blocking pool.
    async fn handle(self: Arc<Self>, req: Request, conn: &mut Conn) -> io::Result<()>;
}

const PLAIN: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");
/// Go's `http.Error` sets it on every error answer.
const NOSNIFF: (&str, &str) = ("X-Content-Type-Options", "nosniff");

/// Serves `listener` until the process ends. Returns only on a listener
/// error.
pub fn serve<H: Handler>(
    listener: TcpListener,
    web: Arc<Web>,
    limits: Limits,
    handler: Arc<H>,
) -> io::Result<()> {
    let ex = LocalExecutor::new();
    smol::block_on(ex.run(async {
        let listener = Async::new(listener)?;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (web, handler) = (web.clone(), handler.clone());
                    ex.spawn(async move {
                        if let Some(conn) = Conn::accept(stream, &web, limits.read_timeout).await {
                            connection(conn, &web, limits, &handler).await;
                        }
                    })
                    .detach();
                }
                Err(e) => {
                    // Out of fds or similar: say so, back off, keep serving.
                    log::error!("accept failed: {e}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn connection<H: Handler>(mut conn: Conn, web: &Web, limits: Limits, handler: &Arc<H>) {
    let mut buf = Vec::new();
    loop {
        let head = http::within(limits.read_timeout, async {
            let (req, len) = http::read_head(&mut conn, &mut buf, limits.max_body).await?;
            Ok((req, len))
        })
        .await;
        let (mut req, len) = match head {
            Ok(r) => r,
            Err(ReadError::Bad(status, msg)) => return refuse(&mut conn, status, msg).await,
            Err(_) => return,
        };
        let current = web.current();
        let cfg = match &current.cfg {
            Ok(c) => c,
            Err(_) => return refuse(&mut conn, 500, "Unable to parse configuration\n").await,
        };
        conn.headers = Arc::new(cfg.headers.clone());
        if !web.admit() {
            return refuse(&mut conn, 429, "Too Many Requests\n").await;
        }
        let allowed = match web.auth().check(&cfg.users, req.header("authorization")) {
            Verdict::Allow => true,
            Verdict::Deny => false,
            Verdict::Check(creds) => {
                let users = cfg.users.clone();
                let auth = web.auth();
                smol::unblock(move || auth.verify(&users, &creds)).await
            }
        };
        if !allowed {
            let h = [PLAIN, NOSNIFF, ("WWW-Authenticate", "Basic")];
            if conn
                .respond(401, &h, b"Unauthorized\n", false)
                .await
                .is_ok()
            {
                conn.linger().await;
            }
            return;
        }
        let body = http::within(limits.read_timeout, async {
            http::read_body(&mut conn, &mut buf, &mut req, len).await
        })
        .await;
        match body {
            Ok(()) => {}
            Err(ReadError::Bad(status, msg)) => return refuse(&mut conn, status, msg).await,
            Err(_) => return,
        }
        let keep = req.keep_alive;
        if let Err(e) = handler.clone().handle(req, &mut conn).await {
            log::debug!("writing a response failed: {e}");
            return;
        }
        if !keep {
            return;
        }
    }
}

async fn refuse(conn: &mut Conn, status: u16, msg: &str) {
    if conn
        .respond(status, &[PLAIN], msg.as_bytes(), false)
        .await
        .is_ok()
    {
        conn.linger().await;
    }
}
