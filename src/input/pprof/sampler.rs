//! The task that reads the program's `net/http/pprof`: it finds the
//! endpoint (given, or among the program's own listening ports), then
//! fetches the heap profile and the goroutine count every period, and
//! sooner when the live heap has grown by a set fraction since the last
//! profile.
//!
//! In: where to look, the period, the hub (for the trace's live heap and
//! to keep what it reads). Out: profiles and goroutine counts in the hub,
//! one stderr line when something is found, fails or recovers. It runs on
//! its own task and must never make the program or ingestion wait: every
//! fetch has a deadline and a size limit, nothing is retried in a loop,
//! failures and slow answers space the next fetch out.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::http::{self, Endpoint};
use crate::profile::pace::Pace;
use crate::profile::store::{Goroutines, Reason};
use crate::profile::{PprofStatus, proto, reduce};
use crate::store::hub::{Hub, Live};
use crate::trace::event::Record;

/// Deadline of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of one discovery probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a gzipped heap profile may weigh.
pub const MAX_PROFILE_BYTES: usize = 64 << 20;
/// Default fraction of live-heap growth that triggers a profile early.
pub const GROWTH: f64 = 0.25;

/// How the program's own listening ports are found (wrapper mode: from
/// /proc, for as long as the program runs).
pub type Listening = Arc<dyn Fn() -> Vec<SocketAddr> + Send + Sync>;

pub enum Source {
    /// `--pprof URL`.
    Url(String),
    /// Probe the program's own ports.
    Discover(Listening),
}

pub struct Config {
    pub source: Source,
    pub every: Duration,
    /// A profile is also taken when the live heap reaches (1 + growth)
    /// times its value at the last profile.
    pub growth: f64,
    /// The zero of the trace's timeline (the program's start); without it,
    /// the newest record's time stands for now.
    pub start: Option<Instant>,
}

pub fn spawn(cfg: Config, hub: Hub) -> JoinHandle<()> {
    tokio::spawn(run(cfg, hub))
}

fn set_status(hub: &Hub, f: impl FnOnce(&mut PprofStatus)) {
    hub.update_status(true, |s| {
        f(s.pprof.get_or_insert_with(PprofStatus::default))
    });
}

/// The program has exited: a search still going on found nothing, and the
/// header says so instead of "looking".
pub fn search_ended(hub: &Hub) {
    if hub.status().pprof.is_some_and(|p| p.state == "searching") {
        set_status(hub, |p| p.state = "none");
    }
}

async fn run(cfg: Config, hub: Hub) {
    let every = cfg.every;
    let ep = match &cfg.source {
        Source::Url(url) => match resolve(url).await {
            Ok(ep) => ep,
            Err(e) => {
                crate::error::say(&format!("pprof: {e}; no heap profiles"));
                set_status(&hub, |p| {
                    p.state = "failing";
                    p.error = Some(e);
                });
                return;
            }
        },
        Source::Discover(listening) => {
            set_status(&hub, |p| p.state = "searching");
            discover(listening.as_ref()).await
        }
    };
    let how = match cfg.source {
        Source::Url(_) => "given",
        Source::Discover(_) => "found",
    };
    let url = ep.url();
    crate::error::say(&format!(
        "pprof: {how} {url}: heap profile and goroutine count every {} s{}",
        every.as_secs_f64(),
        if how == "found" {
            " (--no-pprof turns this off)"
        } else {
            ""
        }
    ));
    set_status(&hub, |p| {
        p.state = "found";
        p.how = Some(how);
        p.endpoint = Some(url.clone());
        p.every_s = every.as_secs_f64();
    });

    let mut live = hub.subscribe();
    let mut pace = Pace::new(every);
    let mut reason = Reason::Periodic;
    let mut baseline: Option<u64> = None;
    loop {
        let began = Instant::now();
        let wait = match sample(&ep, &hub, &cfg, reason).await {
            Ok(heap_live_mb) => {
                if pace.failures() > 0 {
                    crate::error::say(&format!("pprof: {url} answers again"));
                }
                set_status(&hub, |p| {
                    p.state = "found";
                    p.error = None;
                    p.profiles += 1;
                });
                baseline = heap_live_mb;
                pace.success(began.elapsed())
            }
            Err(e) => {
                let wait = pace.failure();
                // Said once per run of failures, not once per failure.
                if pace.failures() == 1 {
                    crate::error::say(&format!(
                        "pprof: {e}; trying again in {} s, then less often",
                        (wait.as_secs_f64() * 10.0).round() / 10.0
                    ));
                }
                set_status(&hub, |p| {
                    p.state = "failing";
                    p.error = Some(e);
                });
                wait
            }
        };
        let growth_allowed = pace.failures() == 0;
        reason = next(
            &mut live,
            began + wait,
            began + every / 6,
            growth_allowed.then_some(&mut baseline),
            cfg.growth,
        )
        .await;
    }
}

/// Waits until `deadline`, or until the live heap has grown past the
/// baseline by the set fraction (no sooner than a sixth of the period
/// after the last profile, and never while failing).
async fn next(
    live: &mut tokio::sync::broadcast::Receiver<Live>,
    deadline: Instant,
    earliest: Instant,
    mut baseline: Option<&mut Option<u64>>,
    growth: f64,
) -> Reason {
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Reason::Periodic,
            msg = live.recv(), if baseline.is_some() => match msg {
                Ok(Live::Record(e)) => {
                    let mb = match &e.record {
                        Record::Gc(g) => g.heap_live_mb,
                        Record::LegacyGc(g) => g.heap_live_mb,
                        _ => continue,
                    };
                    let Some(base) = baseline.as_deref_mut() else { continue };
                    match *base {
                        None => *base = Some(mb),
                        Some(b) if grew(b, mb, growth) && Instant::now() >= earliest =>
                        {
                            return Reason::Growth;
                        }
                        Some(_) => {}
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => baseline = None,
            },
        }
    }
}

/// Whether `now_mb` is past `base_mb` by `fraction` (and at least 1 MiB:
/// the trace's MiB are truncated).
pub fn grew(base_mb: u64, now_mb: u64, fraction: f64) -> bool {
    now_mb > base_mb && (now_mb as f64) >= (base_mb.max(1) as f64) * (1.0 + fraction)
}

/// One heap profile and one goroutine count; the live heap when taken.
async fn sample(
    ep: &Endpoint,
    hub: &Hub,
    cfg: &Config,
    reason: Reason,
) -> Result<Option<u64>, String> {
    let heap = format!("{}heap", ep.base_path);
    let raw = http::get(ep, &heap, MAX_PROFILE_BYTES, false, FETCH_TIMEOUT)
        .await
        .map_err(|e| format!("{}heap: {e}", ep.url()))?;
    let t_s = now_t_s(cfg, hub);
    let wall_s = crate::trace::clock::now_unix();
    let raw: Arc<[u8]> = Arc::from(&raw[..]);
    let bytes = raw.clone();
    // Inflating and decoding a large profile takes a while: off the runtime's workers.
    let reduced =
        tokio::task::spawn_blocking(move || proto::decode(&bytes).and_then(|p| reduce::reduce(&p)))
            .await
            .map_err(|e| format!("internal error: {e}"))?
            .map_err(|e| format!("{}heap: {e}", ep.url()))?;
    let heap_live_mb = hub.latest_heap_live_mb();
    hub.add_profile(t_s, wall_s, reason, heap_live_mb, raw, reduced);

    let goroutine = format!("{}goroutine?debug=1", ep.base_path);
    let line = http::get(ep, &goroutine, 4096, true, FETCH_TIMEOUT)
        .await
        .map_err(|e| format!("{}goroutine: {e}", ep.url()))?;
    let count = goroutine_total(&line).ok_or_else(|| {
        format!(
            "{}goroutine?debug=1: not a goroutine profile (it began {:?})",
            ep.url(),
            String::from_utf8_lossy(&line[..line.len().min(40)])
        )
    })?;
    hub.add_goroutines(Goroutines::new(
        now_t_s(cfg, hub),
        crate::trace::clock::now_unix(),
        count,
    ));
    Ok(heap_live_mb)
}

fn now_t_s(cfg: &Config, hub: &Hub) -> f64 {
    match cfg.start {
        Some(start) => start.elapsed().as_secs_f64(),
        None => hub.latest_t_s().unwrap_or(0.0),
    }
}

/// `goroutine profile: total 12`, the first line of `?debug=1`.
pub fn goroutine_total(line: &[u8]) -> Option<u64> {
    std::str::from_utf8(line)
        .ok()?
        .trim()
        .strip_prefix("goroutine profile: total ")?
        .parse()
        .ok()
}

/// `--pprof URL` to an address (the first the name resolves to).
async fn resolve(url: &str) -> Result<Endpoint, String> {
    let (host, base_path) = http::parse_url(url)?;
    let addr = tokio::net::lookup_host(&host)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("--pprof {url}: cannot resolve {host}"))?;
    Ok(Endpoint {
        addr,
        host,
        base_path,
    })
}

/// Looks at the program's listening ports until one serves
/// `/debug/pprof/`: each port is probed once, with one GET. Checks often
/// at first (a service opens its port as it starts), then every few seconds.
async fn discover(listening: &(dyn Fn() -> Vec<SocketAddr> + Send + Sync)) -> Endpoint {
    let mut probed = HashSet::new();
    let mut wait = Duration::from_millis(200);
    loop {
        for addr in listening() {
            if probed.insert(addr.port()) && is_pprof(&Endpoint::at(addr)).await {
                return Endpoint::at(addr);
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// Whether the endpoint answers `/debug/pprof/` as `net/http/pprof` does:
/// an index that lists the heap and goroutine profiles.
async fn is_pprof(ep: &Endpoint) -> bool {
    match http::get(ep, &ep.base_path, 1 << 20, false, PROBE_TIMEOUT).await {
        Ok(body) => {
            let has = |w: &[u8]| body.windows(w.len()).any(|x| x == w);
            has(b"heap") && has(b"goroutine")
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_goroutine_total_is_read_from_the_first_line() {
        assert_eq!(
            goroutine_total(b"goroutine profile: total 4003"),
            Some(4003)
        );
        assert_eq!(goroutine_total(b"goroutine profile: total 7\r"), Some(7));
        assert_eq!(goroutine_total(b"<html>"), None);
        assert_eq!(goroutine_total(b"goroutine profile: total x"), None);
    }

    #[test]
    fn growth_is_a_fraction_of_the_baseline_and_at_least_a_mib() {
        assert!(grew(100, 125, 0.25));
        assert!(!grew(100, 124, 0.25));
        assert!(!grew(0, 0, 0.25));
        assert!(grew(0, 2, 0.25));
        assert!(!grew(4, 4, 0.0));
    }
}
