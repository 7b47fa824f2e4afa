//! What any client, token or not, can hold: connections (idle ones
//! included), time to send a request, buffer space, and places among the
//! live pages. A client over a limit makes room by closing the one that
//! uses it least: the oldest idle connection, the page that stopped reading.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use futures_util::stream::{self, Stream, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::Service as _;

use super::server::MAX_CLIENTS;

/// TCP connections held at once, idle ones included: far below the file
/// descriptor limit. When all are taken, a new connection closes the oldest
/// one that has no live stream (idle, or in a request of milliseconds).
pub const MAX_CONNECTIONS: usize = 512;
/// A connection must send a whole request header this soon after it opens
/// or after its previous request, else it is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The kernel's send buffer per connection (it doubles it for bookkeeping):
/// what a page that stops reading can pin in kernel memory.
const SEND_BUFFER: usize = 64 * 1024;
/// What hyper buffers per connection before it stops taking more from a stream.
const WRITE_BUFFER: usize = 64 * 1024;

/// Accepts connections for `router` until the process ends, within the
/// limits above.
pub(super) async fn accept(
    listener: tokio::net::TcpListener,
    router: Router,
    header_timeout: Duration,
) -> std::io::Result<()> {
    let conns = Arc::new(Conns::default());
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            // Out of descriptors or memory for a moment: the connections
            // held are bounded, so this passes.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Each event is small and must leave at once: without TCP_NODELAY a
        // small write waits behind the browser's delayed ACK (up to 40 ms).
        let _ = tcp.set_nodelay(true);
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&tcp, SEND_BUFFER);
        let Some(conn) = conns.admit() else {
            continue;
        };
        let router = router.clone();
        let conns = conns.clone();
        tokio::spawn(async move {
            let for_requests = conn.clone();
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(for_requests.clone());
                router.clone().call(req)
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(WRITE_BUFFER);
            let serving = http.serve_connection(TokioIo::new(tcp), service);
            tokio::select! {
                _ = serving => {}
                () = conn.evict.notified() => {}
            }
            conns.leave(&conn);
        });
    }
}

/// The open connections, at most [`MAX_CONNECTIONS`].
#[derive(Default)]
struct Conns {
    open: Mutex<Vec<Arc<Conn>>>,
}

/// One TCP connection.
pub struct Conn {
    opened: Instant,
    /// Live `/events` streams on it: while any, it is not idle.
    streams: AtomicUsize,
    evict: tokio::sync::Notify,
}

/// Marks a connection busy with a stream while it lives.
pub(super) struct Streaming(Arc<Conn>);

impl Conn {
    pub(super) fn streaming(self: Arc<Self>) -> Streaming {
        self.streams.fetch_add(1, Ordering::SeqCst);
        Streaming(self)
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Conns {
    /// A place for a new connection: a free one, or the oldest connection's
    /// without a live stream, which is closed. None when every connection
    /// carries a stream (at most [`MAX_CLIENTS`] do, so only if the limits
    /// are set so).
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut open = lock(&self.open);
        if open.len() >= MAX_CONNECTIONS {
            let oldest = open
                .iter()
                .enumerate()
                .filter(|(_, c)| c.streams.load(Ordering::SeqCst) == 0)
                .min_by_key(|(_, c)| c.opened)?
                .0;
            open.swap_remove(oldest).evict.notify_one();
        }
        let conn = Arc::new(Conn {
            opened: Instant::now(),
            streams: AtomicUsize::new(0),
            evict: tokio::sync::Notify::new(),
        });
        open.push(conn.clone());
        Some(conn)
    }

    fn leave(&self, conn: &Arc<Conn>) {
        lock(&self.open).retain(|c| !Arc::ptr_eq(c, conn));
    }
}

/// Tracks whether the page takes what its stream offers: a stream handed an
/// event and not asked for the next one is stalled (the connection's buffers
/// are full because the page does not read).
pub(super) fn watched<S: Stream + Unpin>(
    mut inner: S,
    client: Arc<Client>,
) -> impl Stream<Item = S::Item> {
    stream::poll_fn(move |cx| {
        client.asked();
        let next = inner.poll_next_unpin(cx);
        if let Poll::Ready(Some(_)) = next {
            client.handed();
        }
        next
    })
}

/// The pages connected to `/events`, at most [`MAX_CLIENTS`].
#[derive(Default)]
pub(super) struct Clients {
    open: Mutex<Vec<Arc<Client>>>,
}

/// One page's stream.
#[derive(Default)]
pub struct Client {
    /// Since when an event handed to the stream waits to be taken.
    stalled_since: Mutex<Option<Instant>>,
    pub(super) evict: tokio::sync::Notify,
    /// Its connection, closed with it: a stalled stream is not polled, so
    /// ending the stream alone would free nothing.
    conn: Option<Arc<Conn>>,
}

/// A page whose stream has been stalled this long may give its place to a
/// new one.
const STALLED: Duration = Duration::from_secs(1);

impl Client {
    fn asked(&self) {
        *lock(&self.stalled_since) = None;
    }

    fn handed(&self) {
        lock(&self.stalled_since).get_or_insert_with(Instant::now);
    }
}

impl Clients {
    /// A place for a new page: a free one, or the one of the page stalled
    /// longest (it does not read; it is told to go). None when every page
    /// reads.
    pub(super) fn admit(&self, conn: Option<Arc<Conn>>) -> Option<Arc<Client>> {
        let mut open = lock(&self.open);
        if open.len() >= MAX_CLIENTS {
            let now = Instant::now();
            let slowest = open
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((i, (*lock(&c.stalled_since))?)))
                .filter(|(_, since)| now.duration_since(*since) >= STALLED)
                .min_by_key(|(_, since)| *since)?
                .0;
            let slowest = open.swap_remove(slowest);
            slowest.evict.notify_one();
            if let Some(c) = &slowest.conn {
                c.evict.notify_one();
            }
        }
        let client = Arc::new(Client {
            conn,
            ..Client::default()
        });
        open.push(client.clone());
        Some(client)
    }

    pub(super) fn leave(&self, client: &Arc<Client>) {
        lock(&self.open).retain(|c| !Arc::ptr_eq(c, client));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
