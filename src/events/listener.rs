//! The built-in event listener (`event_listen=IP:PORT`): a small HTTP server (tiny_http)
//! on one thread that hands the query of every `GET` to a handler and answers the
//! status the handler returns, with an empty body. It knows nothing of calls or
//! clients: the client binds it ([`Bound::bind`]) and starts it with a handler that
//! ingests the event ([`Listener::start`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};

/// A listening socket not yet served: bound when the DSN is read, so that a port taken
/// is a DSN error.
pub(crate) struct Bound {
    server: tiny_http::Server,
    addr: SocketAddr,
}

impl Bound {
    pub(crate) fn bind(addr: SocketAddr) -> Result<Bound> {
        let server = tiny_http::Server::http(addr).map_err(|e| {
            Error::invalid_argument(format!("DSN: event_listen: cannot listen on {addr}: {e}"))
        })?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        Ok(Bound { server, addr })
    }

    /// The address listened on, with the port the system chose for `:0`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A running listener. Stops when stopped or dropped.
pub(crate) struct Listener {
    stop: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Serves `bound` on a thread of its own: every `GET` (or `HEAD`) is answered with
    /// `handler(query)`, any other method with 405.
    pub(crate) fn start(
        bound: Bound,
        handler: impl Fn(&str) -> u16 + Send + 'static,
    ) -> Result<Listener> {
        let server = Arc::new(bound.server);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, stop) = (server.clone(), stop.clone());
            std::thread::Builder::new()
                .name("callconnect-events".into())
                .spawn(move || serve(&server, &stop, &handler))
                .map_err(|e| Error::internal(format!("cannot start the event listener: {e}")))?
        };
        Ok(Listener {
            stop,
            server,
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the thread (unless called from it).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(server: &tiny_http::Server, stop: &AtomicBool, handler: &dyn Fn(&str) -> u16) {
    while !stop.load(Ordering::Acquire) {
        let request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let status = match request.method() {
            tiny_http::Method::Get | tiny_http::Method::Head => {
                let query = request.url().split_once('?').map_or("", |(_, q)| q);
                handler(query)
            }
            _ => 405,
        };
        let _ = request.respond(tiny_http::Response::empty(status));
    }
}
