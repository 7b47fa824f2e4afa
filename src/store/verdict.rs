//! The headline: which story the picture of a time window tells, with the
//! numbers that show it. Pure: rows in, a verdict out.
//!
//! Stories, the first that holds wins:
//! 1. memory-limit death spiral: the heap goal (or the live heap) pinned at
//!    GOMEMLIMIT while GC CPU climbs;
//! 2. goroutine leak: goroutine stacks keep growing;
//! 3. heap leak: the live heap keeps growing;
//! 4. RSS far above what the Go runtime accounts for (heap goal + stacks +
//!    globals + memory released to the OS), with the signs that tell
//!    MADV_FREE, mapped files, and memory outside the Go heap apart;
//! 5. flat.
//!
//! "Keeps growing" is judged on the later half of the window, so a start-up
//! ramp from an empty heap is not a leak, while a leak that grows from the
//! first cycle is still measured over the whole window: slopes are medians
//! of the slopes between pairs of cycles (Theil-Sen), which a few spikes
//! cannot tilt.

use serde::Serialize;

use crate::store::history::{Field, Row};

/// One field over time, in time order.
#[derive(Debug, Default, Clone)]
pub struct Series {
    pub t_s: Vec<f64>,
    pub v: Vec<f64>,
}

impl Series {
    fn push(&mut self, t: f64, v: Option<f64>) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.t_s.push(t);
            self.v.push(v);
        }
    }

    fn len(&self) -> usize {
        self.v.len()
    }

    fn last(&self) -> Option<f64> {
        self.v.last().copied()
    }

    fn span_s(&self) -> f64 {
        match (self.t_s.first(), self.t_s.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        }
    }

    /// The part from time `from` on.
    fn since(&self, from: f64) -> Series {
        let i = self.t_s.partition_point(|&t| t < from);
        Series {
            t_s: self.t_s[i..].to_vec(),
            v: self.v[i..].to_vec(),
        }
    }

    /// The median of the newest `n` values.
    fn recent_median(&self, n: usize) -> Option<f64> {
        median(self.v[self.len().saturating_sub(n)..].to_vec())
    }

    fn recent_max(&self, n: usize) -> Option<f64> {
        self.v[self.len().saturating_sub(n)..]
            .iter()
            .copied()
            .reduce(f64::max)
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let h = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[h]
    } else {
        (v[h - 1] + v[h]) / 2.0
    })
}

/// Points a slope is fitted on at most (evenly spread): Theil-Sen is
/// quadratic in them.
const FIT_POINTS: usize = 150;

/// Theil-Sen slope per second; `None` under 3 points or no time span.
pub fn slope(s: &Series) -> Option<f64> {
    let n = s.len();
    if n < 3 {
        return None;
    }
    let step = (n as f64 / FIT_POINTS as f64).max(1.0);
    let idx: Vec<usize> = (0..)
        .map(|k| (k as f64 * step) as usize)
        .take_while(|&i| i < n)
        .collect();
    let mut slopes = Vec::with_capacity(idx.len() * idx.len() / 2);
    for (a, &i) in idx.iter().enumerate() {
        for &j in &idx[a + 1..] {
            let dx = s.t_s[j] - s.t_s[i];
            if dx > 0.0 {
                slopes.push((s.v[j] - s.v[i]) / dx);
            }
        }
    }
    median(slopes)
}

/// The least value of the last quarter of the time span less that of the
/// second quarter; `None` when a quarter has no point.
fn floor_rise(s: &Series) -> Option<f64> {
    let (t0, span) = (*s.t_s.first()?, s.span_s());
    let mut floor = [f64::INFINITY; 4];
    for (&t, &v) in s.t_s.iter().zip(&s.v) {
        let q = (((t - t0) / span * 4.0) as usize).min(3);
        floor[q] = floor[q].min(v);
    }
    (floor[1].is_finite() && floor[3].is_finite()).then(|| floor[3] - floor[1])
}

/// How a series grows over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Growth {
    /// MiB per hour over the whole window.
    pub per_hour: f64,
    /// MiB per hour over its later half.
    pub late_per_hour: f64,
    /// The level at the start and at the end (medians of the first and last
    /// tenth of the points).
    pub from: f64,
    pub to: f64,
    pub span_s: f64,
    /// How much the floor rose: the least value of the last quarter of the
    /// window less that of the second (a sawtooth or a passing plateau
    /// keeps its floor; a leak raises it).
    pub floor_rise: f64,
}

impl Growth {
    fn of(s: &Series) -> Option<Growth> {
        let whole = slope(s)?;
        let half = s.t_s[0] + s.span_s() / 2.0;
        let late = slope(&s.since(half)).unwrap_or(whole);
        let tenth = (s.len() / 10).max(1);
        Some(Growth {
            per_hour: whole * 3600.0,
            late_per_hour: late * 3600.0,
            from: median(s.v[..tenth].to_vec())?,
            to: s.recent_median(tenth)?,
            span_s: s.span_s(),
            floor_rise: floor_rise(s).unwrap_or(0.0),
        })
    }

    /// Keeps growing: over the later half at a pace that, across the window,
    /// adds at least `min_mib` and a fifth of the level.
    fn keeps_growing(&self, min_mib: f64) -> bool {
        let added = self.late_per_hour / 3600.0 * self.span_s;
        let level = self.from.max(self.to);
        self.per_hour > 0.0
            && added >= min_mib.max(0.2 * level)
            && self.floor_rise >= (min_mib / 2.0).max(0.1 * level)
    }

    fn added(&self) -> f64 {
        self.per_hour / 3600.0 * self.span_s
    }
}

/// What the verdict reads.
#[derive(Debug, Default, Clone)]
pub struct Input {
    /// MiB.
    pub live: Series,
    pub goal: Series,
    /// Stacks + globals, MiB.
    pub stacks: Series,
    /// GC CPU over the analysis window, %.
    pub cpu: Series,
    /// GCs per minute over the analysis window.
    pub per_min: Series,
    /// MiB.
    pub rss: Series,
    pub anon: Series,
    pub file: Series,
    pub lazyfree: Series,
    pub released: Series,
    /// GOMEMLIMIT in MiB, when set.
    pub memlimit_mib: Option<f64>,
}

impl Input {
    /// From history rows (any kinds; summary rows give the fields they hold).
    pub fn from_rows(rows: &[Row], gomemlimit: Option<&str>) -> Input {
        let mut i = Input {
            memlimit_mib: gomemlimit.and_then(parse_memlimit_mib),
            ..Input::default()
        };
        let kib = |v: Option<f64>| v.map(|v| v / 1024.0);
        for r in rows {
            let f = |x| r.values.field(x);
            let t = r.t_s;
            match r.kind {
                "gc" => {
                    i.live.push(t, f(Field::heap_live_mb));
                    i.goal.push(t, f(Field::heap_goal_mb));
                    let sg = f(Field::stacks_mb).map(|s| s + f(Field::globals_mb).unwrap_or(0.0));
                    i.stacks.push(t, sg);
                    i.cpu.push(t, f(Field::gc_cpu_window_pct));
                    i.per_min.push(t, f(Field::gc_per_min));
                }
                "scav" => i.released.push(t, kib(f(Field::released_kib))),
                "scvg" => i.released.push(t, f(Field::released_mb)),
                "rss" => {
                    i.rss.push(t, kib(f(Field::rss_kib)));
                    i.anon.push(t, kib(f(Field::anon_kib)));
                    i.file.push(t, kib(f(Field::file_kib)));
                    i.lazyfree.push(t, kib(f(Field::lazyfree_kib)));
                }
                _ => {}
            }
        }
        i
    }
}

/// GOMEMLIMIT as the runtime reads it (`123`, `512MiB`, `2GiB`, `off`), in MiB.
pub fn parse_memlimit_mib(s: &str) -> Option<f64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: f64 = s[..digits].parse().ok()?;
    let unit = match &s[digits..] {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0_f64.powi(4),
        _ => return None,
    };
    let mib = n * unit / (1024.0 * 1024.0);
    // The runtime's "no limit" is math.MaxInt64.
    (mib < 1e12).then_some(mib)
}

/// The headline and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// `spiral`, `goroutine-leak`, `heap-leak`, `rss-above-heap`, `flat`,
    /// or `too-few` (under 3 cycles).
    pub story: &'static str,
    pub headline: String,
    pub evidence: Vec<String>,
    /// The live heap's growth, when there are cycles enough.
    pub live: Option<Growth>,
}

fn mib(v: f64) -> String {
    if v.abs() >= 1024.0 {
        format!("{:.1} GiB", v / 1024.0)
    } else if v.abs() >= 10.0 {
        format!("{v:.0} MiB")
    } else {
        format!("{v:.1} MiB")
    }
}

fn rate(g: &Growth) -> String {
    if g.span_s >= 60.0 {
        format!("+{}/h", mib(g.per_hour))
    } else {
        format!("+{} in {:.0} s", mib(g.added()), g.span_s)
    }
}

/// Cycles whose figures count as "now".
const RECENT: usize = 10;

pub fn verdict(i: &Input) -> Verdict {
    let live = Growth::of(&i.live);
    let Some(g) = live else {
        return Verdict {
            story: "too-few",
            headline: "waiting for 3 GC cycles".into(),
            evidence: Vec::new(),
            live,
        };
    };
    let stacks = Growth::of(&i.stacks);
    let cpu_now = i.cpu.recent_median(RECENT);

    // 1. Pinned at the memory limit with GC CPU climbing.
    if let (Some(limit), Some(goal), Some(live_now), Some(cpu)) = (
        i.memlimit_mib,
        i.goal.recent_median(RECENT),
        i.live.recent_median(RECENT),
        cpu_now,
    ) {
        let first = |s: &Series| median(s.v[..(s.len() / 10).max(1).min(s.len())].to_vec());
        let cpu_before = first(&i.cpu).unwrap_or(0.0);
        let freq_before = first(&i.per_min).unwrap_or(0.0);
        let freq_now = i.per_min.recent_median(RECENT).unwrap_or(0.0);
        let pinned = goal >= 0.8 * limit || live_now >= 0.8 * limit;
        let climbing =
            cpu >= 5.0 && (cpu >= 1.5 * cpu_before || cpu >= 25.0 || freq_now >= 2.0 * freq_before);
        if pinned && climbing {
            return Verdict {
                story: "spiral",
                headline: format!(
                    "memory-limit death spiral: heap goal pinned at GOMEMLIMIT ({}) while GC climbs to {cpu:.0}% CPU, {freq_now:.0} GCs/min",
                    mib(limit)
                ),
                evidence: vec![
                    format!("heap goal {} and live heap {} against a limit of {}", mib(goal), mib(live_now), mib(limit)),
                    format!("GC CPU {cpu_before:.0}% at first, {cpu:.0}% now; {freq_before:.0} GCs per minute at first, {freq_now:.0} now"),
                    "the live data no longer fits under the limit: raise GOMEMLIMIT or find what holds the heap (go tool pprof heap)".into(),
                ],
                live,
            };
        }
    }

    // 2. and 3. Leaks.
    let heap_grows = g.keeps_growing(4.0);
    if let Some(s) = stacks
        && s.keeps_growing(4.0)
        && s.added() >= 0.5 * g.added().max(0.0)
    {
        return Verdict {
            story: "goroutine-leak",
            headline: format!(
                "goroutine leak: stacks grow {} ({} → {}) while the live heap goes {} → {}",
                rate(&s),
                mib(s.from),
                mib(s.to),
                mib(g.from),
                mib(g.to)
            ),
            evidence: vec![
                format!(
                    "stacks + globals {} → {} over {:.0} s",
                    mib(s.from),
                    mib(s.to),
                    s.span_s
                ),
                format!("live heap {} → {} ({})", mib(g.from), mib(g.to), rate(&g)),
                "goroutines that never end keep their stacks: look at go tool pprof goroutine"
                    .into(),
            ],
            live,
        };
    }
    if heap_grows {
        return Verdict {
            story: "heap-leak",
            headline: format!(
                "live heap grows {}: {} → {} over {:.0} s",
                rate(&g),
                mib(g.from),
                mib(g.to),
                g.span_s
            ),
            evidence: vec![
                format!(
                    "still growing in the later half: +{}/h",
                    mib(g.late_per_hour)
                ),
                "what the GC marks live keeps growing: go tool pprof -diff_base of two heap profiles names the owner".into(),
            ],
            live,
        };
    }

    // 4. RSS above what the runtime accounts for.
    if let Some(rss) = i.rss.recent_median(3) {
        let goal = i.goal.recent_max(RECENT).unwrap_or(0.0);
        let sg = i.stacks.last().unwrap_or(0.0);
        let released = i.released.last().unwrap_or(0.0);
        let explained = goal + sg + released;
        let above = rss - explained;
        if above >= 64.0_f64.max(0.5 * explained) {
            let lazy = i.lazyfree.last().unwrap_or(0.0);
            let file = i.file.last().unwrap_or(0.0);
            let anon = i.anon.last();
            let mut evidence = vec![format!(
                "RSS {} against heap goal {} + stacks and globals {} + released {} = {}",
                mib(rss),
                mib(goal),
                mib(sg),
                mib(released),
                mib(explained)
            )];
            let cause = if lazy >= 0.5 * above {
                evidence.push(format!("LazyFree {}: pages returned with MADV_FREE stay in RSS until the kernel needs them (GODEBUG=madvdontneed=1 returns them at once)", mib(lazy)));
                "memory returned with MADV_FREE"
            } else if file >= 0.5 * above {
                evidence.push(format!("RssFile {}: mapped files", mib(file)));
                "mapped files"
            } else {
                evidence.push(format!(
                    "LazyFree {} (not MADV_FREE), RssFile {} (not files), RssAnon {}: anonymous memory the Go heap does not know",
                    mib(lazy),
                    mib(file),
                    anon.map_or("?".into(), mib)
                ));
                evidence.push("Go heap fragmentation stays within heap goal + released; this is beyond it: cgo (C malloc) or mmap outside the Go allocator".into());
                "memory outside the Go heap (cgo or mmap)"
            };
            return Verdict {
                story: "rss-above-heap",
                headline: format!(
                    "RSS {} is {} above what the Go runtime accounts for: {cause}",
                    mib(rss),
                    mib(above)
                ),
                evidence,
                live,
            };
        }
    }

    // 5. Flat.
    let goal = i.goal.recent_median(RECENT).unwrap_or(0.0);
    let mut evidence = vec![format!(
        "live heap {} → {} over {:.0} s; not growing in the later half",
        mib(g.from),
        mib(g.to),
        g.span_s
    )];
    if let Some(cpu) = cpu_now {
        evidence.push(format!("GC CPU {cpu:.0}% now"));
    }
    Verdict {
        story: "flat",
        headline: format!(
            "no leak: live heap flat at {}, heap goal {}",
            mib(g.to),
            mib(goal)
        ),
        evidence,
        live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize, f: impl Fn(f64) -> f64) -> Series {
        let mut s = Series::default();
        for k in 0..n {
            let t = k as f64;
            s.push(t, Some(f(t)));
        }
        s
    }

    fn input(n: usize, live: impl Fn(f64) -> f64) -> Input {
        let live = series(n, live);
        Input {
            goal: Series {
                t_s: live.t_s.clone(),
                v: live.v.iter().map(|v| 2.0 * v + 4.0).collect(),
            },
            stacks: series(n, |_| 1.0),
            cpu: series(n, |_| 2.0),
            live,
            ..Input::default()
        }
    }

    #[test]
    fn a_leak_from_the_first_cycle_is_measured_over_the_whole_run() {
        let v = verdict(&input(200, |t| 1.0 + t));
        assert_eq!(v.story, "heap-leak", "{v:?}");
        let g = v.live.unwrap();
        assert!((g.per_hour - 3600.0).abs() < 1.0, "{g:?}");
        assert!(g.span_s >= 199.0, "the whole run counts: {g:?}");
    }

    #[test]
    fn a_start_up_ramp_then_a_flat_heap_is_not_a_leak() {
        let v = verdict(&input(200, |t| if t < 20.0 { t } else { 20.0 + (t % 3.0) }));
        assert_eq!(v.story, "flat", "{v:?}");
    }

    #[test]
    fn a_few_spikes_do_not_make_a_leak() {
        let v = verdict(&input(
            300,
            |t| if t as u64 % 50 == 49 { 400.0 } else { 10.0 },
        ));
        assert_eq!(v.story, "flat", "{v:?}");
    }

    #[test]
    fn a_sawtooth_is_not_a_leak() {
        let v = verdict(&input(500, |t| 2.0 + (t % 100.0)));
        assert_eq!(v.story, "flat", "{v:?}");
    }

    #[test]
    fn growing_stacks_are_a_goroutine_leak_even_with_some_heap_growth() {
        let mut i = input(200, |t| 10.0 + t * 0.05);
        i.stacks = series(200, |t| 1.0 + 4.0 * t);
        let v = verdict(&i);
        assert_eq!(v.story, "goroutine-leak", "{v:?}");
        assert!(v.headline.contains("stacks"), "{v:?}");
    }

    #[test]
    fn rss_far_above_the_heap_names_memory_outside_the_go_heap() {
        let mut i = input(100, |_| 10.0);
        i.rss = series(30, |_| 600.0);
        i.anon = series(30, |_| 590.0);
        i.file = series(30, |_| 10.0);
        i.lazyfree = series(30, |_| 0.0);
        let v = verdict(&i);
        assert_eq!(v.story, "rss-above-heap", "{v:?}");
        assert!(v.headline.contains("outside the Go heap"), "{v:?}");
        i.lazyfree = series(30, |_| 500.0);
        let v = verdict(&i);
        assert!(v.headline.contains("MADV_FREE"), "{v:?}");
    }

    #[test]
    fn a_goal_pinned_at_the_limit_with_climbing_cpu_is_a_spiral() {
        let mut i = input(200, |_| 120.0);
        i.goal = series(200, |_| 126.0);
        i.cpu = series(200, |t| if t < 100.0 { 5.0 } else { 45.0 });
        i.memlimit_mib = parse_memlimit_mib("128MiB");
        assert_eq!(verdict(&i).story, "spiral");
        i.memlimit_mib = None;
        assert_eq!(verdict(&i).story, "flat");
    }

    #[test]
    fn memlimit_is_read_as_the_runtime_reads_it() {
        assert_eq!(parse_memlimit_mib("128MiB"), Some(128.0));
        assert_eq!(parse_memlimit_mib("2GiB"), Some(2048.0));
        assert_eq!(parse_memlimit_mib("1048576"), Some(1.0));
        assert_eq!(parse_memlimit_mib("off"), None);
        assert_eq!(parse_memlimit_mib("9223372036854775807"), None);
        assert_eq!(parse_memlimit_mib("12MB"), None);
    }
}
