//! HTTP for heap profiles and goroutine counts: the list kept, the
//! difference between two moments, each raw profile for `go tool pprof`,
//! the counts. Reads the hub's profile store; computes nothing but the diff.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::server::App;
use crate::profile::diff::{self, Order};
use crate::profile::store::{Goroutines, Meta};

/// Rows of a diff unless the page asks for more (at most [`MAX_ROWS`]).
const DEFAULT_ROWS: usize = 50;
const MAX_ROWS: usize = 2000;

fn no_profile(app: &App) -> Response {
    let why = match app.hub.status().pprof {
        None => {
            "gcviz reads no pprof endpoint (wrapper mode finds one by itself; else --pprof URL)"
        }
        Some(p) if p.state == "searching" => {
            "no pprof endpoint found yet among the program's listening ports"
        }
        Some(p) if p.state == "none" => {
            "no pprof endpoint was found among the program's listening ports while it ran"
        }
        Some(_) => "no heap profile yet",
    };
    (StatusCode::NOT_FOUND, format!("gcviz: {why}\n")).into_response()
}

#[derive(Serialize)]
struct ProfileList {
    profiles: Vec<Meta>,
    /// Profiles dropped to keep the bound (the first and newest always stay).
    thinned: u64,
    pprof: Option<crate::profile::PprofStatus>,
}

/// `/api/heap/profiles`: the profiles kept, oldest first, with their times
/// and totals; `downloadable` ones at `/api/heap/profile/ID.pb.gz`.
pub async fn profiles(State(app): State<App>) -> Response {
    let (profiles, thinned) = app
        .hub
        .with_pprof(|s| (s.profiles().map(|k| k.meta()).collect(), s.thinned));
    axum::Json(ProfileList {
        profiles,
        thinned,
        pprof: app.hub.status().pprof,
    })
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from_s: Option<f64>,
    to_s: Option<f64>,
    limit: Option<usize>,
    /// `inuse_bytes` (default) or `inuse_objects`.
    order: Option<String>,
}

#[derive(Serialize)]
struct DiffBody {
    /// The times of the two profiles compared (the nearest to those asked).
    from_s: f64,
    to_s: f64,
    from: Meta,
    to: Meta,
    /// Over every function (not only the rows), newer minus older.
    inuse_bytes_delta: i64,
    inuse_objects_delta: i64,
    rows: Vec<diff::Row>,
}

/// `/api/heap/diff?from_s=&to_s=&limit=&order=`: the profiles nearest the
/// two times (by default the first and the newest), per function, largest
/// growth of in-use bytes first.
pub async fn heap_diff(State(app): State<App>, Query(q): Query<DiffQuery>) -> Response {
    let order = match q.order.as_deref() {
        None | Some("inuse_bytes") => Order::InuseBytes,
        Some("inuse_objects") => Order::InuseObjects,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("gcviz: order={other}: use inuse_bytes or inuse_objects\n"),
            )
                .into_response();
        }
    };
    let pick = app.hub.with_pprof(|s| {
        let from = match q.from_s {
            Some(t) if t.is_finite() => s.nearest(t),
            _ => s.first(),
        }?;
        let to = match q.to_s {
            Some(t) if t.is_finite() => s.nearest(t),
            _ => s.newest(),
        }?;
        // Older first, whatever order the times came in.
        let (from, to) = if from.id <= to.id {
            (from, to)
        } else {
            (to, from)
        };
        Some((
            from.meta(),
            from.reduced.clone(),
            to.meta(),
            to.reduced.clone(),
        ))
    });
    let Some((from, old, to, new)) = pick else {
        return no_profile(&app);
    };
    let limit = q.limit.unwrap_or(DEFAULT_ROWS).clamp(1, MAX_ROWS);
    let rows = diff::diff(&old, &new, order, limit);
    let total = new.total.minus(&old.total);
    axum::Json(DiffBody {
        from_s: from.t_s,
        to_s: to.t_s,
        from,
        to,
        inuse_bytes_delta: total.inuse_bytes,
        inuse_objects_delta: total.inuse_objects,
        rows,
    })
    .into_response()
}

/// `/api/heap/profile/ID.pb.gz`: a profile as the program sent it, for
/// `go tool pprof -diff_base first.pb.gz newest.pb.gz`.
pub async fn raw_profile(State(app): State<App>, Path(file): Path<String>) -> Response {
    let Some(id) = file
        .strip_suffix(".pb.gz")
        .and_then(|id| id.parse::<u64>().ok())
    else {
        return (StatusCode::NOT_FOUND, "gcviz: not a profile name\n").into_response();
    };
    let found = app
        .hub
        .with_pprof(|s| s.get(id).map(|k| (k.raw.clone(), k.t_s)));
    match found {
        Some((Some(raw), t_s)) => {
            let name = format!("attachment; filename=\"gcviz-heap-{id}-at-{t_s:.0}s.pb.gz\"");
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (header::CONTENT_DISPOSITION, name),
                ],
                Body::from(raw.to_vec()),
            )
                .into_response()
        }
        Some((None, _)) => (
            StatusCode::GONE,
            "gcviz: this profile's bytes were dropped to stay within memory; its summary is kept\n",
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "gcviz: no such profile (thinned, or never taken)\n",
        )
            .into_response(),
    }
}

#[derive(Serialize)]
struct GoroutineList {
    samples: Vec<Goroutines>,
    /// Older counts folded away to keep the bound.
    folded: u64,
}

/// `/api/goroutines`: every goroutine count kept, oldest first.
pub async fn goroutines(State(app): State<App>) -> Response {
    let (samples, folded) = app
        .hub
        .with_pprof(|s| (s.goroutines().copied().collect(), s.goroutines_folded));
    axum::Json(GoroutineList { samples, folded }).into_response()
}

/// The goroutine counts as NDJSON lines, for `/api/records.ndjson`.
pub fn goroutine_lines(app: &App) -> Vec<(f64, String)> {
    app.hub.with_pprof(|s| {
        s.goroutines()
            .map(|g| (g.t_s, serde_json::to_string(g).unwrap_or_default()))
            .collect()
    })
}
