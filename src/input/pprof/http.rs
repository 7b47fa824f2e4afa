//! One HTTP/1.1 GET to the program's pprof endpoint, bounded in time and
//! size.
//!
//! In: an address, a path, a byte limit, a deadline. Out: the status and
//! the body (or its first line), or a [`FetchError`] said for a person.
//! Never retries, never waits past the deadline, never holds more than the
//! limit: the connection is dropped as soon as enough has been read.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Timeout(Duration),
    Connect(String),
    Http(String),
    Status(u16),
    TooLarge(usize),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Timeout(d) => write!(f, "no complete answer within {} s", d.as_secs_f64()),
            FetchError::Connect(e) => write!(f, "cannot connect ({e})"),
            FetchError::Http(e) => write!(f, "not an HTTP answer ({e})"),
            FetchError::Status(s) => write!(f, "HTTP status {s}"),
            FetchError::TooLarge(n) => write!(f, "the answer is larger than {} MiB", n >> 20),
        }
    }
}

/// Where the program's pprof handlers are: `http://host:port/debug/pprof/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The Host header to send (as the user wrote it, or the address).
    pub host: String,
    /// Ends with `/`.
    pub base_path: String,
}

impl Endpoint {
    pub fn at(addr: SocketAddr) -> Self {
        Endpoint {
            addr,
            host: addr.to_string(),
            base_path: "/debug/pprof/".into(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.host, self.base_path)
    }
}

/// `--pprof http://HOST[:PORT][/PATH]`: the host part and the path (with a
/// trailing `/`); the host is resolved later. Only plain http.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--pprof {url:?}: give an http:// URL (https is not supported)"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/debug/pprof/"),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!("--pprof {url:?}: no host"));
    }
    let host = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    let mut path = path.split(['?', '#']).next().unwrap_or("/").to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    Ok((host, path))
}

/// GETs `path` within `timeout`. With `first_line`, stops reading at the
/// first newline (or `limit` bytes) and returns what came; otherwise an
/// answer past `limit` bytes is an error.
pub async fn get(
    ep: &Endpoint,
    path: &str,
    limit: usize,
    first_line: bool,
    timeout: Duration,
) -> Result<Bytes, FetchError> {
    tokio::time::timeout(timeout, get_inner(ep, path, limit, first_line))
        .await
        .unwrap_or(Err(FetchError::Timeout(timeout)))
}

async fn get_inner(
    ep: &Endpoint,
    path: &str,
    limit: usize,
    first_line: bool,
) -> Result<Bytes, FetchError> {
    let stream = tokio::net::TcpStream::connect(ep.addr)
        .await
        .map_err(|e| FetchError::Connect(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    // The connection lives as long as this call: dropping the task closes it.
    let conn = AbortOnDrop(tokio::spawn(conn));
    let req = Request::get(path)
        .header(hyper::header::HOST, &ep.host)
        .header(hyper::header::USER_AGENT, "gcviz")
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    if !res.status().is_success() {
        return Err(FetchError::Status(res.status().as_u16()));
    }
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| FetchError::Http(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        out.extend_from_slice(&data);
        if first_line && let Some(i) = out.iter().position(|&b| b == b'\n') {
            out.truncate(i);
            break;
        }
        if out.len() > limit {
            if first_line {
                out.truncate(limit);
                break;
            }
            return Err(FetchError::TooLarge(limit));
        }
    }
    drop(conn);
    Ok(out.into())
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_host_and_a_base_path() {
        let p = |s| parse_url(s).unwrap();
        assert_eq!(
            p("http://127.0.0.1:6060/debug/pprof/"),
            ("127.0.0.1:6060".into(), "/debug/pprof/".into())
        );
        assert_eq!(
            p("http://localhost:6060"),
            ("localhost:6060".into(), "/debug/pprof/".into())
        );
        assert_eq!(
            p("http://[::1]:8080/x/pprof"),
            ("[::1]:8080".into(), "/x/pprof/".into())
        );
        assert_eq!(
            p("http://svc/debug/pprof/"),
            ("svc:80".into(), "/debug/pprof/".into())
        );
        assert!(parse_url("https://127.0.0.1:6060/").is_err());
        assert!(parse_url("127.0.0.1:6060").is_err());
        assert!(parse_url("http:///debug").is_err());
    }
}
