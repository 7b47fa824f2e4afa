//! The heap profiles and goroutine counts gcviz keeps, in bounded memory.
//!
//! In: profiles (reduced, with their gzipped bytes) and goroutine counts,
//! each with its time on the trace's timeline. Out: the profile nearest a
//! time, the list kept, the counts. Keeps the first profile, the newest,
//! and at most [`MAX_BETWEEN`] between them, thinned so they stay spread
//! over the run; the raw bytes within [`RAW_BUDGET`]. Pure: no I/O, no
//! clock (times come in as arguments).

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use super::reduce::{Reduced, Values};

/// Profiles kept between the first and the newest.
pub const MAX_BETWEEN: usize = 30;
/// Gzipped bytes kept for download, over all profiles. Beyond it the
/// oldest profiles between the first and the newest lose theirs first
/// (their reduced form stays).
pub const RAW_BUDGET: usize = 64 << 20;
/// Goroutine counts kept; when full, the older half is halved.
pub const MAX_GOROUTINE_SAMPLES: usize = 4096;

/// Why a profile was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    First,
    Periodic,
    /// The live heap grew by the set fraction since the last profile.
    Growth,
}

/// One heap profile kept.
#[derive(Debug, Clone)]
pub struct Kept {
    /// 0-based in the order taken; names the download.
    pub id: u64,
    /// On the trace's timeline, seconds since the program started.
    pub t_s: f64,
    /// Unix time it was taken.
    pub wall_s: f64,
    pub reason: Reason,
    /// The live heap after the last GC before it, from the trace.
    pub heap_live_mb: Option<u64>,
    /// As the endpoint sent it, while the budget allows.
    pub raw: Option<Arc<[u8]>>,
    pub raw_bytes: usize,
    pub reduced: Arc<Reduced>,
}

/// What the page and the API say of a kept profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    pub id: u64,
    pub t_s: f64,
    pub wall_s: f64,
    pub reason: Reason,
    pub heap_live_mb: Option<u64>,
    #[serde(flatten)]
    pub total: Values,
    pub functions: usize,
    /// Size of the gzipped profile; whether it can still be downloaded.
    pub raw_bytes: usize,
    pub downloadable: bool,
}

impl Kept {
    pub fn meta(&self) -> Meta {
        Meta {
            id: self.id,
            t_s: self.t_s,
            wall_s: self.wall_s,
            reason: self.reason,
            heap_live_mb: self.heap_live_mb,
            total: self.reduced.total,
            functions: self.reduced.functions.len() + self.reduced.dropped_functions,
            raw_bytes: self.raw_bytes,
            downloadable: self.raw.is_some(),
        }
    }
}

/// A goroutine count: `{"kind":"goroutines","t_s":…,"count":…}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goroutines {
    pub kind: &'static str,
    pub t_s: f64,
    pub wall_s: f64,
    pub count: u64,
}

impl Goroutines {
    pub fn new(t_s: f64, wall_s: f64, count: u64) -> Self {
        Goroutines {
            kind: "goroutines",
            t_s,
            wall_s,
            count,
        }
    }
}

#[derive(Debug, Default)]
pub struct Store {
    /// In the order taken (and so of time).
    profiles: Vec<Kept>,
    next_id: u64,
    /// Profiles dropped to keep the bound.
    pub thinned: u64,
    goroutines: VecDeque<Goroutines>,
    /// Goroutine counts folded away to keep the bound.
    pub goroutines_folded: u64,
}

impl Store {
    /// Keeps a new profile; returns what is said of it.
    pub fn add(
        &mut self,
        t_s: f64,
        wall_s: f64,
        reason: Reason,
        heap_live_mb: Option<u64>,
        raw: Arc<[u8]>,
        reduced: Reduced,
    ) -> Meta {
        let kept = Kept {
            id: self.next_id,
            t_s,
            wall_s,
            reason: if self.next_id == 0 {
                Reason::First
            } else {
                reason
            },
            heap_live_mb,
            raw_bytes: raw.len(),
            raw: Some(raw),
            reduced: Arc::new(reduced),
        };
        self.next_id += 1;
        let meta = kept.meta();
        self.profiles.push(kept);
        self.thin();
        self.keep_raw_within_budget();
        meta
    }

    /// Past the bound, drops the profile between first and newest whose
    /// neighbours lie closest together: what is left stays spread evenly
    /// over the run, however long it is.
    fn thin(&mut self) {
        while self.profiles.len() > MAX_BETWEEN + 2 {
            let t = |i: usize| self.profiles[i].t_s;
            let victim = (1..self.profiles.len() - 1)
                .min_by(|&a, &b| (t(a + 1) - t(a - 1)).total_cmp(&(t(b + 1) - t(b - 1))))
                .unwrap_or(1);
            self.profiles.remove(victim);
            self.thinned += 1;
        }
    }

    fn keep_raw_within_budget(&mut self) {
        let total = |p: &[Kept]| -> usize {
            p.iter()
                .filter(|k| k.raw.is_some())
                .map(|k| k.raw_bytes)
                .sum()
        };
        let n = self.profiles.len();
        // Between first and newest, oldest first; then the first; never the newest.
        let order = (1..n.saturating_sub(1)).chain(std::iter::once(0));
        for i in order {
            if total(&self.profiles) <= RAW_BUDGET || i + 1 >= n {
                break;
            }
            self.profiles[i].raw = None;
        }
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn profiles(&self) -> impl Iterator<Item = &Kept> {
        self.profiles.iter()
    }

    pub fn first(&self) -> Option<&Kept> {
        self.profiles.first()
    }

    pub fn newest(&self) -> Option<&Kept> {
        self.profiles.last()
    }

    pub fn get(&self, id: u64) -> Option<&Kept> {
        self.profiles.iter().find(|k| k.id == id)
    }

    /// The profile taken nearest `t_s` (the earlier one on a tie).
    pub fn nearest(&self, t_s: f64) -> Option<&Kept> {
        self.profiles
            .iter()
            .min_by(|a, b| (a.t_s - t_s).abs().total_cmp(&(b.t_s - t_s).abs()))
    }

    /// Keeps a goroutine count. When full, the older half is halved,
    /// keeping the larger count of each pair: every count kept is one that
    /// was read, and a climb is never hidden.
    pub fn add_goroutines(&mut self, g: Goroutines) {
        if self.goroutines.len() >= MAX_GOROUTINE_SAMPLES {
            let half = self.goroutines.len() / 2;
            let older: Vec<Goroutines> = self.goroutines.drain(..half).collect();
            let folded: Vec<Goroutines> = older
                .chunks(2)
                .map(|pair| *pair.iter().max_by_key(|g| g.count).unwrap_or(&pair[0]))
                .collect();
            self.goroutines_folded += (older.len() - folded.len()) as u64;
            for g in folded.into_iter().rev() {
                self.goroutines.push_front(g);
            }
        }
        self.goroutines.push_back(g);
    }

    pub fn goroutines(&self) -> impl Iterator<Item = &Goroutines> {
        self.goroutines.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut Store, t: f64, raw: usize) -> Meta {
        s.add(
            t,
            1e9 + t,
            Reason::Periodic,
            None,
            vec![0u8; raw].into(),
            Reduced::default(),
        )
    }

    #[test]
    fn first_and_newest_stay_and_the_rest_spread_over_the_run() {
        let mut s = Store::default();
        for i in 0..1000 {
            add(&mut s, i as f64 * 30.0, 10);
        }
        assert_eq!(s.len(), MAX_BETWEEN + 2);
        assert_eq!(s.first().unwrap().t_s, 0.0);
        assert_eq!(s.first().unwrap().reason, Reason::First);
        assert_eq!(s.newest().unwrap().t_s, 999.0 * 30.0);
        assert_eq!(s.thinned, 1000 - (MAX_BETWEEN as u64 + 2));
        // No gap between kept profiles is more than a few times the even spacing.
        let even = 999.0 * 30.0 / (MAX_BETWEEN + 1) as f64;
        let t: Vec<f64> = s.profiles().map(|k| k.t_s).collect();
        let widest = t.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        assert!(widest <= 3.0 * even, "{widest} vs {even}: {t:?}");
        assert_eq!(s.nearest(15_000.0).unwrap().t_s, {
            *t.iter()
                .min_by(|a, b| (*a - 15_000.0).abs().total_cmp(&(*b - 15_000.0).abs()))
                .unwrap()
        });
    }

    #[test]
    fn raw_bytes_stay_within_the_budget_and_the_newest_keeps_its_own() {
        let mut s = Store::default();
        for i in 0..10 {
            add(&mut s, i as f64, RAW_BUDGET / 4);
        }
        let raw: usize = s
            .profiles()
            .filter(|k| k.raw.is_some())
            .map(|k| k.raw_bytes)
            .sum();
        assert!(raw <= RAW_BUDGET);
        assert!(s.newest().unwrap().raw.is_some());
        assert!(s.first().unwrap().raw.is_some());
        assert!(s.get(1).unwrap().raw.is_none());
        assert!(!s.get(1).unwrap().meta().downloadable);
    }

    #[test]
    fn goroutine_counts_are_bounded_and_keep_the_climb() {
        let mut s = Store::default();
        for i in 0..(3 * MAX_GOROUTINE_SAMPLES as u64) {
            s.add_goroutines(Goroutines::new(i as f64, 0.0, 10 + i));
        }
        let kept: Vec<&Goroutines> = s.goroutines().collect();
        assert!(kept.len() <= MAX_GOROUTINE_SAMPLES);
        assert!(kept.windows(2).all(|w| w[0].t_s < w[1].t_s));
        assert_eq!(
            kept.last().unwrap().count,
            10 + 3 * MAX_GOROUTINE_SAMPLES as u64 - 1
        );
        assert_eq!(
            s.goroutines_folded + kept.len() as u64,
            3 * MAX_GOROUTINE_SAMPLES as u64
        );
    }
}
