//! HTTP: the page, live records over server-sent events, the JSON and NDJSON
//! APIs and Prometheus metrics. All network I/O lives here; the data comes
//! from the hub.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{assets, heap, limits};
use crate::store::hub::{Hub, Live};
use crate::store::{metrics, snapshot};

use limits::{Client, Clients, Conn, Streaming, watched};
pub use limits::{HEADER_TIMEOUT, MAX_CONNECTIONS};

/// Rows per kind in a page's first snapshot: enough to draw every extreme
/// of a long run, small enough to load in well under a second.
pub const SNAPSHOT_POINTS: usize = 2000;
/// Pages connected at once (HTTP/1.1 browsers open at most six per origin;
/// this bounds what a misbehaving client can hold).
pub const MAX_CLIENTS: usize = 256;
/// A comment line every so often keeps proxies and browsers from closing a
/// quiet stream.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Who may read the page.
#[derive(Debug, Clone)]
pub struct Access {
    /// Required on data requests when set (`?token=` or `Authorization: Bearer`).
    pub token: Option<String>,
    /// Listening on loopback only: then the Host header must name loopback,
    /// so a web page elsewhere cannot reach gcviz through DNS rebinding.
    pub loopback: bool,
}

#[derive(Clone)]
pub struct App {
    pub hub: Hub,
    pub access: Arc<Access>,
    clients: Arc<Clients>,
    heartbeat: Duration,
    header_timeout: Duration,
    /// Serve the page (its files and `/events`); off for a metrics-only sidecar.
    page: bool,
}

impl App {
    pub fn new(hub: Hub, access: Access) -> Self {
        App {
            hub,
            access: Arc::new(access),
            clients: Arc::new(Clients::default()),
            heartbeat: HEARTBEAT,
            header_timeout: HEADER_TIMEOUT,
            page: true,
        }
    }

    /// Serves the page or not (`--no-page`: metrics and JSON APIs only).
    pub fn with_page(mut self, page: bool) -> Self {
        self.page = page;
        self
    }

    /// Sets the request header timeout (tests use a short one).
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Sets the heartbeat interval (tests use a short one).
    pub fn with_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }
}

pub fn router(app: App) -> Router {
    let routes = Router::new()
        .route("/api/history", get(history))
        .route("/api/verdict", get(verdict))
        .route(
            "/api/marks",
            get(marks_get).post(marks_add).delete(marks_remove),
        )
        .route("/api/records.ndjson", get(records))
        .route("/api/heap/profiles", get(heap::profiles))
        .route("/api/heap/diff", get(heap::heap_diff))
        .route("/api/heap/profile/{file}", get(heap::raw_profile))
        .route("/api/goroutines", get(heap::goroutines))
        .route("/api/record", get(record))
        .route("/api/status", get(status))
        .route("/metrics", get(metrics))
        .route(
            "/api/grafana-dashboard.json",
            get(|| async { metrics::grafana_dashboard() }),
        );
    let routes = if app.page {
        routes
            .route("/events", get(events))
            .fallback(get(static_file))
    } else {
        routes.fallback(|| async { (StatusCode::NOT_FOUND, "gcviz: not found (--no-page)\n") })
    };
    routes
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Host check, token check, and the headers every response carries.
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    if app.access.loopback && !host_is_loopback(req.headers()) {
        return (StatusCode::FORBIDDEN, "gcviz: this Host is not allowed\n").into_response();
    }
    let path = req.uri().path();
    let public = assets::asset(path).is_some();
    let api = !public;
    if !public
        && let Some(token) = &app.access.token
        && !presented_token(&req).is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    {
        return (StatusCode::UNAUTHORIZED, "gcviz: missing or wrong token\n").into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if api {
        // Live data: a cache (or the back button) must never show an old run.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn presented_token(req: &Request) -> Option<String> {
    if let Some(q) = req.uri().query() {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("token=") {
                return Some(v.to_string());
            }
        }
    }
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    auth.strip_prefix("Bearer ").map(str::to_string)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn static_file(req: Request) -> Response {
    let path = req.uri().path();
    match assets::asset(path) {
        Some((ct, body)) => (
            [
                (header::CONTENT_TYPE, ct),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "gcviz: not found\n").into_response(),
    }
}

fn json_event(name: &str, data: &impl serde::Serialize) -> SseEvent {
    SseEvent::default().event(name).data(json(data))
}

fn json<T: serde::Serialize + ?Sized>(data: &T) -> String {
    serde_json::to_string(data).unwrap_or_else(|_| "{}".into())
}

/// The first event of a fresh stream: `{"status":…,"next_seq":N,"kinds":…}`
/// with the rows in the compact form of [`snapshot`].
fn snapshot_event(
    status: &crate::store::hub::Status,
    rows: &[crate::store::history::Row],
    next: u64,
) -> SseEvent {
    let status = serde_json::to_string(status).unwrap_or_else(|_| "null".into());
    let kinds = snapshot::columns_json(rows);
    let mut data = String::with_capacity(status.len() + kinds.len() + 48);
    let _ = write!(
        data,
        "{{\"status\":{status},\"next_seq\":{next},\"kinds\":{kinds}}}"
    );
    SseEvent::default().event("snapshot").data(data)
}

fn record_event(e: &crate::store::history::Stamped) -> SseEvent {
    record_sse(e, &e.json())
}

fn record_sse(e: &crate::trace::event::Event, json: &str) -> SseEvent {
    SseEvent::default()
        .event("record")
        .data(json)
        .id(e.seq.to_string())
}

#[derive(serde::Serialize)]
struct RssRecord<'a> {
    kind: &'static str,
    #[serde(flatten)]
    sample: &'a crate::store::rss_sample::RssSample,
}

/// `/events`: a snapshot (or, with `Last-Event-ID`, the records missed), then
/// every record as it is parsed. A client that falls behind is told to
/// resynchronise and its stream ends; the others never notice.
async fn events(
    State(app): State<App>,
    conn: Option<axum::Extension<Arc<Conn>>>,
    headers: HeaderMap,
) -> Response {
    let conn = conn.map(|axum::Extension(c)| c);
    let Some(client) = app.clients.admit(conn.clone()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "gcviz: too many pages open\n",
        )
            .into_response();
    };
    let hub = app.hub.clone();
    hub.update_status(false, |s| s.counts.clients += 1);
    let rx = hub.subscribe();
    // An id this stream never gave (a page left open across a restart, or
    // past u64) gets a snapshot, as a new page does.
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .and_then(|id| id.checked_add(1));
    let resumed = from.and_then(|from| hub.resume(from).map(|evs| (from, evs)));
    let (first, mut next_seq): (Vec<SseEvent>, u64) = match resumed {
        Some((from, evs)) => {
            let next = from + evs.len() as u64;
            (evs.iter().map(record_event).collect(), next)
        }
        None => {
            let (status, rows, next) = hub.snapshot(SNAPSHOT_POINTS);
            (vec![snapshot_event(&status, &rows, next)], next)
        }
    };
    let guard = ClientGuard {
        hub: hub.clone(),
        clients: app.clients.clone(),
        client: client.clone(),
        // While the stream lives, its connection is not idle.
        _conn: conn.map(Conn::streaming),
    };
    let live = BroadcastStream::new(rx)
        .scan(false, move |ended, msg| {
            let _keep = &guard;
            if *ended {
                return std::future::ready(None);
            }
            let out = match msg {
                Ok(Live::Record(e)) if e.seq >= next_seq => {
                    next_seq = e.seq + 1;
                    // Made once for all pages.
                    Some(record_sse(&e, e.wire(crate::store::history::Stamped::json)))
                }
                Ok(Live::Record(_)) => None,
                Ok(Live::Rss(s)) => Some(json_event(
                    "record",
                    &RssRecord {
                        kind: "rss",
                        sample: &s,
                    },
                )),
                Ok(Live::Status(s)) => Some(json_event("status", &*s)),
                Ok(Live::Mark(m)) => Some(json_event("mark", &*m)),
                Ok(Live::Marks) => Some(SseEvent::default().event("marks").data("{}")),
                Ok(Live::Goroutines(g)) => Some(json_event("record", &g)),
                Ok(Live::Profile(m)) => Some(json_event("profile", &*m)),
                Err(BroadcastStreamRecvError::Lagged(n)) => {
                    guard.hub.update_status(false, |s| s.counts.dropped += n);
                    *ended = true;
                    Some(SseEvent::default().event("resync").data("{}"))
                }
            };
            std::future::ready(Some(out))
        })
        .filter_map(std::future::ready);
    let stream = stream::iter(first).chain(live).map(Ok::<_, Infallible>);
    let evicted = client.clone();
    let stream = watched(stream, client).take_until(async move { evicted.evict.notified().await });
    sse(stream, app.heartbeat)
}

fn sse(
    stream: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
    heartbeat: Duration,
) -> Response {
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
        .into_response();
    // Proxies must not buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// Counts a connected page until its stream is dropped.
struct ClientGuard {
    hub: Hub,
    clients: Arc<Clients>,
    client: Arc<Client>,
    _conn: Option<Streaming>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.clients.leave(&self.client);
        self.hub.update_status(false, |s| {
            s.counts.clients = s.counts.clients.saturating_sub(1)
        });
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    from_s: Option<f64>,
    to_s: Option<f64>,
    points: Option<usize>,
}

/// `/api/history?from_s=&to_s=&points=`: `{"kinds":…}`, the rows in a time
/// range in the compact form of the snapshot, every extreme kept.
async fn history(State(app): State<App>, Query(q): Query<HistoryQuery>) -> Response {
    let points = q.points.unwrap_or(SNAPSHOT_POINTS).clamp(2, 20_000);
    let rows = app.hub.rows(
        q.from_s.unwrap_or(f64::MIN),
        q.to_s.unwrap_or(f64::MAX),
        points,
    );
    let body = format!("{{\"kinds\":{}}}", snapshot::columns_json(&rows));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `/api/verdict?from_s=&to_s=`: the headline for a time range (the whole
/// run by default) with its evidence; see `crate::store::verdict`.
async fn verdict(State(app): State<App>, Query(q): Query<HistoryQuery>) -> Response {
    let rows = app.hub.rows(
        q.from_s.unwrap_or(f64::MIN),
        q.to_s.unwrap_or(f64::MAX),
        q.points.unwrap_or(SNAPSHOT_POINTS).clamp(2, 20_000),
    );
    let limit = app.hub.status().env.GOMEMLIMIT;
    let input = crate::store::verdict::Input::from_rows(&rows, limit.as_deref());
    axum::Json(crate::store::verdict::verdict(&input)).into_response()
}

/// Changes need the page's own `X-Gcviz: 1` header: another site's form or
/// script cannot send it to gcviz without a CORS preflight, which gcviz
/// never grants.
fn not_from_the_page(headers: &HeaderMap) -> Option<Response> {
    (headers.get("x-gcviz").and_then(|v| v.to_str().ok()) != Some("1")).then(|| {
        (
            StatusCode::FORBIDDEN,
            "gcviz: changes need the X-Gcviz: 1 header\n",
        )
            .into_response()
    })
}

#[derive(Debug, Deserialize)]
struct MarkQuery {
    pattern: String,
}

/// `/api/marks`: `{"patterns":[…],"marks":[{"t_s","wall_s","text","pattern"}…],"dropped":N}`.
async fn marks_get(State(app): State<App>) -> Response {
    let (patterns, marks, dropped) = app.hub.marks();
    axum::Json(serde_json::json!({ "patterns": patterns, "marks": marks, "dropped": dropped }))
        .into_response()
}

/// `POST /api/marks?pattern=RE`: marks lines matching RE from now on, and
/// the recent lines gcviz still keeps; 400 when RE is not a regular expression.
async fn marks_add(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<MarkQuery>,
) -> Response {
    if let Some(refused) = not_from_the_page(&headers) {
        return refused;
    }
    match app.hub.add_mark(&q.pattern) {
        Ok(()) => marks_get(State(app)).await,
        Err(e) => (StatusCode::BAD_REQUEST, format!("gcviz: {e}\n")).into_response(),
    }
}

/// `DELETE /api/marks?pattern=RE`: removes the pattern and its marks.
async fn marks_remove(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<MarkQuery>,
) -> Response {
    if let Some(refused) = not_from_the_page(&headers) {
        return refused;
    }
    if app.hub.remove_mark(&q.pattern) {
        marks_get(State(app)).await
    } else {
        (StatusCode::NOT_FOUND, "gcviz: no such mark pattern\n").into_response()
    }
}

#[derive(Debug, Deserialize)]
struct RecordQuery {
    seq: u64,
}

/// `/api/record?seq=N`: one record, as `gcviz parse` prints it, while it is
/// still kept whole (404 after); the page's tooltip shows its raw line.
async fn record(State(app): State<App>, Query(q): Query<RecordQuery>) -> Response {
    match app.hub.record(q.seq) {
        Some(e) if e.seq == q.seq => {
            ([(header::CONTENT_TYPE, "application/json")], e.json()).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "gcviz: record no longer kept\n").into_response(),
    }
}

/// `/api/records.ndjson`: every record kept whole, as `gcviz parse` prints
/// them, with the goroutine counts (`"kind":"goroutines"`) in time order.
async fn records(State(app): State<App>) -> Response {
    let mut body = Vec::new();
    let mut counts = heap::goroutine_lines(&app).into_iter().peekable();
    for e in app.hub.recent() {
        while let Some((_, line)) = counts.next_if(|(t, _)| e.t_s.is_some_and(|r| *t < r)) {
            body.extend_from_slice(line.as_bytes());
            body.push(b'\n');
        }
        body.extend_from_slice(e.json().as_bytes());
        body.push(b'\n');
    }
    for (_, line) in counts {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gcviz-records.ndjson\"",
            ),
        ],
        Body::from(body),
    )
        .into_response()
}

async fn status(State(app): State<App>) -> Response {
    axum::Json(app.hub.status()).into_response()
}

/// `/metrics`: Prometheus text (or OpenMetrics when asked for), names
/// prefixed `gcviz_` so they never collide with the program's own `go_*`
/// metrics. See [`metrics`].
async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    metrics::response(&app.hub, &headers)
}

/// Binds `addr`; errors name the address.
pub async fn bind(addr: SocketAddr) -> crate::error::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| crate::error::Error::Listen {
            addr: addr.to_string(),
            source,
        })
}

/// Serves until the process ends, announcing the status once a second when it changed.
pub async fn serve(listener: tokio::net::TcpListener, app: App) -> std::io::Result<()> {
    let hub = app.hub.clone();
    tokio::spawn(async move {
        let mut last = None;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = hub.status();
            if last.as_ref() != Some(&now) {
                hub.update_status(true, |_| {});
                last = Some(now);
            }
        }
    });
    let header_timeout = app.header_timeout;
    limits::accept(listener, router(app), header_timeout).await
}
