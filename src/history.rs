//! Bounded history: the most recent records at full resolution, older ones
//! folded into buckets that keep each field's minimum and maximum, so no spike
//! disappears however long the run. Memory is fixed by the two limits, not by
//! the length of the run. Pure: no I/O, no clock.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use crate::event::{Event, Record};
use crate::rss_sample::RssSample;

/// What one plotted point holds: the fields the page draws, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Row {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub t_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agg: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycles: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proc: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<bool>,
    #[serde(flatten)]
    pub values: Values,
}

macro_rules! fields {
    ($($name:ident),* $(,)?) => {
        /// A plotted field; its name is the JSON key.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Field {
            $($name,)*
        }

        impl Values {
            /// Every field's name, in [`Field`] order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];
        }
    };
}

fields!(
    gc,
    heap_start_mb,
    heap_end_mb,
    heap_live_mb,
    heap_goal_mb,
    stacks_mb,
    globals_mb,
    procs,
    cpu_pct,
    stw_ms,
    mark_ms,
    gc_cpu_window_pct,
    assist_window_pct,
    gc_per_min,
    released_kib,
    work_kib,
    util_pct,
    released_mb,
    inuse_mb,
    sys_mb,
    rss_kib,
    anon_kib,
    file_kib,
    lazyfree_kib,
);

const FIELDS: usize = Values::NAMES.len();

/// The numeric fields of a row, absent ones as NaN: a flat array, so folding
/// a row into a bucket is a few vector instructions. Serialised as a map of
/// the present fields.
#[derive(Debug, Clone, Copy)]
pub struct Values([f64; FIELDS]);

impl Default for Values {
    fn default() -> Self {
        Values([f64::NAN; FIELDS])
    }
}

impl PartialEq for Values {
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(&other.0)
            .all(|(a, b)| a.to_bits() == b.to_bits() || a == b)
    }
}

impl Values {
    pub fn field(&self, f: Field) -> Option<f64> {
        let v = self.0[f as usize];
        (!v.is_nan()).then_some(v)
    }

    /// A field by its name; `None` when absent or not a field.
    pub fn get(&self, name: &str) -> Option<f64> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        let v = self.0[i];
        (!v.is_nan()).then_some(v)
    }

    /// Sets `f`; `None` (or a NaN) makes it absent.
    pub fn set(&mut self, f: Field, v: Option<f64>) {
        self.0[f as usize] = v.unwrap_or(f64::NAN);
    }

    /// The present fields, in [`Field`] order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        Self::NAMES
            .iter()
            .zip(&self.0)
            .filter(|(_, v)| !v.is_nan())
            .map(|(n, v)| (*n, *v))
    }
}

impl Serialize for Values {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (name, v) in self.iter() {
            map.serialize_entry(name, &v)?;
        }
        map.end()
    }
}

impl Row {
    /// The plotted fields of a record; `None` for records without a time.
    #[inline]
    pub fn from_event(e: &Event) -> Option<Row> {
        let t_s = e.t_s?;
        let mut v = Values::default();
        let mut forced = None;
        let kind = match &e.record {
            Record::Gc(g) => {
                v.set(Field::gc, Some(g.gc as f64));
                v.set(Field::heap_start_mb, Some(g.heap_start_mb as f64));
                v.set(Field::heap_end_mb, Some(g.heap_end_mb as f64));
                v.set(Field::heap_live_mb, Some(g.heap_live_mb as f64));
                v.set(Field::heap_goal_mb, Some(g.heap_goal_mb as f64));
                v.set(Field::stacks_mb, g.stacks_mb.map(|x| x as f64));
                v.set(Field::globals_mb, g.globals_mb.map(|x| x as f64));
                v.set(Field::procs, Some(g.procs as f64));
                v.set(Field::cpu_pct, Some(g.cpu_pct as f64));
                v.set(Field::stw_ms, Some(g.stw_ms));
                v.set(Field::mark_ms, Some(g.mark_ms));
                if let Some(w) = &e.window {
                    v.set(Field::gc_cpu_window_pct, Some(w.gc_cpu_window_pct));
                    v.set(Field::assist_window_pct, Some(w.assist_window_pct));
                    v.set(Field::gc_per_min, Some(w.gc_per_min));
                }
                forced = Some(g.forced);
                "gc"
            }
            Record::LegacyGc(g) => {
                v.set(Field::gc, Some(g.gc as f64));
                v.set(Field::heap_start_mb, Some(g.heap_start_mb as f64));
                v.set(Field::heap_live_mb, Some(g.heap_live_mb as f64));
                v.set(Field::stw_ms, Some(g.stw_ms));
                "gc"
            }
            Record::Scav(s) => {
                v.set(Field::released_kib, Some(s.released_kib as f64));
                v.set(Field::work_kib, Some(s.work_kib as f64));
                v.set(Field::util_pct, Some(s.util_pct as f64));
                forced = Some(s.forced);
                "scav"
            }
            Record::Scvg(s) => {
                v.set(Field::released_mb, Some(s.released_mb as f64));
                v.set(Field::inuse_mb, Some(s.inuse_mb as f64));
                v.set(Field::sys_mb, Some(s.sys_mb as f64));
                "scvg"
            }
            Record::ScvgReleased(_) => return None,
            Record::GcForced(_) => "gc_forced",
        };
        Some(Row {
            kind,
            seq: Some(e.seq),
            t_s,
            proc: Some(e.proc),
            forced,
            values: v,
            ..Row::default()
        })
    }

    pub fn from_rss(s: &RssSample) -> Row {
        Row {
            kind: "rss",
            seq: None,
            t_s: s.t_s,
            values: {
                let mut v = Values::default();
                v.set(Field::rss_kib, Some(s.rss_kib as f64));
                v.set(Field::anon_kib, s.anon_kib.map(|x| x as f64));
                v.set(Field::file_kib, s.file_kib.map(|x| x as f64));
                v.set(Field::lazyfree_kib, s.lazyfree_kib.map(|x| x as f64));
                v
            },
            ..Row::default()
        }
    }
}

/// Each field's least and greatest value so far. A field not seen yet holds
/// +inf / -inf, so folding is a plain compare-and-select that vectorises, and
/// an absent (NaN) input never wins a comparison.
#[derive(Debug, Clone, Copy)]
struct Extremes {
    min: [f64; FIELDS],
    max: [f64; FIELDS],
}

impl Extremes {
    const NONE: Extremes = Extremes {
        min: [f64::INFINITY; FIELDS],
        max: [f64::NEG_INFINITY; FIELDS],
    };

    fn add(&mut self, v: &Values) {
        self.fold(&v.0, &v.0);
    }

    fn merge(&mut self, other: &Extremes) {
        self.fold(&other.min, &other.max);
    }

    fn fold(&mut self, min: &[f64; FIELDS], max: &[f64; FIELDS]) {
        for (a, &b) in self.min.iter_mut().zip(min) {
            *a = if b < *a { b } else { *a };
        }
        for (a, &b) in self.max.iter_mut().zip(max) {
            *a = if b > *a { b } else { *a };
        }
    }

    /// Fields never seen become absent again.
    fn values(side: &[f64; FIELDS]) -> Values {
        Values(side.map(|x| if x.is_finite() { x } else { f64::NAN }))
    }
}

/// Rows folded together: each field's extremes over a run of rows of one kind.
#[derive(Debug, Clone)]
struct Bucket {
    kind: &'static str,
    t_first: f64,
    t_last: f64,
    cycles: u64,
    forced: bool,
    ext: Extremes,
}

impl Bucket {
    fn new(r: &Row) -> Self {
        let mut ext = Extremes::NONE;
        ext.add(&r.values);
        Bucket {
            kind: r.kind,
            t_first: r.t_s,
            t_last: r.t_s,
            cycles: r.cycles.unwrap_or(1),
            forced: r.forced.unwrap_or(false),
            ext,
        }
    }

    fn absorb(&mut self, other: &Bucket) {
        self.t_first = self.t_first.min(other.t_first);
        self.t_last = self.t_last.max(other.t_last);
        self.cycles += other.cycles;
        self.forced |= other.forced;
        self.ext.merge(&other.ext);
    }

    fn absorb_row(&mut self, r: &Row) {
        self.t_first = self.t_first.min(r.t_s);
        self.t_last = self.t_last.max(r.t_s);
        self.cycles += r.cycles.unwrap_or(1);
        self.forced |= r.forced.unwrap_or(false);
        self.ext.add(&r.values);
    }

    /// Two rows: the minima at the first time, the maxima at the last.
    fn rows(&self, out: &mut Vec<Row>) {
        for (agg, t_s, side) in [
            ("min", self.t_first, &self.ext.min),
            ("max", self.t_last, &self.ext.max),
        ] {
            out.push(Row {
                kind: self.kind,
                seq: None,
                t_s,
                agg: Some(agg),
                cycles: Some(self.cycles),
                proc: None,
                forced: Some(self.forced),
                values: Extremes::values(side),
            });
        }
    }
}

/// Older rows of one kind, in at most `max_buckets` buckets: when full,
/// neighbours merge pairwise and each bucket covers twice as many rows.
#[derive(Debug)]
struct Tier {
    buckets: VecDeque<Bucket>,
    per_bucket: u64,
    max_buckets: usize,
}

impl Tier {
    fn new(max_buckets: usize) -> Self {
        Tier {
            buckets: VecDeque::new(),
            per_bucket: 1,
            max_buckets: max_buckets.max(2),
        }
    }

    fn push(&mut self, row: &Row) {
        match self.buckets.back_mut() {
            Some(last) if last.cycles < self.per_bucket => last.absorb_row(row),
            _ => self.buckets.push_back(Bucket::new(row)),
        }
        if self.buckets.len() > self.max_buckets {
            // Merge neighbours pairwise in place: bucket i takes 2i and 2i+1.
            let n = self.buckets.len();
            for i in 0..n.div_ceil(2) {
                let mut a = self.buckets[2 * i].clone();
                if let Some(b) = self.buckets.get(2 * i + 1) {
                    a.absorb(b);
                }
                self.buckets[i] = a;
            }
            self.buckets.truncate(n.div_ceil(2));
            self.per_bucket *= 2;
        }
    }
}

/// Limits of what the history keeps.
#[derive(Debug, Clone)]
pub struct HistoryLimits {
    /// Records kept whole (for resuming clients and the records download).
    pub recent: usize,
    /// Buckets per kind for everything older.
    pub buckets: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            recent: 4096,
            buckets: 1024,
        }
    }
}

/// The whole history: recent events whole, older ones as buckets per kind.
pub struct History {
    limits: HistoryLimits,
    recent: VecDeque<Arc<Event>>,
    recent_rss: VecDeque<RssSample>,
    tiers: Vec<(&'static str, Tier)>,
    total: u64,
}

impl History {
    pub fn new(limits: HistoryLimits) -> Self {
        History {
            limits,
            recent: VecDeque::new(),
            recent_rss: VecDeque::new(),
            tiers: Vec::new(),
            total: 0,
        }
    }

    /// Records ever added.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn push(&mut self, e: Arc<Event>) {
        self.total += 1;
        self.recent.push_back(e);
        if self.recent.len() > self.limits.recent
            && let Some(old) = self.recent.pop_front()
            && let Some(row) = Row::from_event(&old)
        {
            self.tier(row.kind).push(&row);
        }
    }

    pub fn push_rss(&mut self, s: RssSample) {
        self.recent_rss.push_back(s);
        if self.recent_rss.len() > self.limits.recent
            && let Some(old) = self.recent_rss.pop_front()
        {
            self.tier("rss").push(&Row::from_rss(&old));
        }
    }

    fn tier(&mut self, kind: &'static str) -> &mut Tier {
        // Kinds are literals: the same pointer, short of comparing text.
        let same = |k: &&str| std::ptr::eq(*k, kind) || *k == kind;
        let i = match self.tiers.iter().position(|(k, _)| same(k)) {
            Some(i) => i,
            None => {
                self.tiers.push((kind, Tier::new(self.limits.buckets)));
                self.tiers.len() - 1
            }
        };
        &mut self.tiers[i].1
    }

    /// Recent events with `seq >= from`, if the history still has `from`.
    pub fn since(&self, from: u64) -> Option<Vec<Arc<Event>>> {
        let first = self.recent.front().map_or(self.total, |e| e.seq);
        if from < first {
            return None;
        }
        Some(
            self.recent
                .iter()
                .filter(|e| e.seq >= from)
                .cloned()
                .collect(),
        )
    }

    /// The record `seq`, if still kept whole.
    pub fn get(&self, seq: u64) -> Option<&Arc<Event>> {
        let first = self.recent.front()?.seq;
        let e = self
            .recent
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)?;
        (e.seq == seq).then_some(e)
    }

    /// Every event still kept whole, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &Arc<Event>> {
        self.recent.iter()
    }

    /// All rows between `from_s` and `to_s`, time-ordered per kind, folded
    /// down to about `points` rows per kind when there are more.
    pub fn rows(&self, from_s: f64, to_s: f64, points: usize) -> Vec<Row> {
        let in_range = |t: f64| t >= from_s && t <= to_s;
        let mut out = Vec::new();
        let mut kinds: Vec<&'static str> = self.tiers.iter().map(|(k, _)| *k).collect();
        for e in &self.recent {
            if let Some(r) = Row::from_event(e)
                && !kinds.contains(&r.kind)
            {
                kinds.push(r.kind);
            }
        }
        if !self.recent_rss.is_empty() && !kinds.contains(&"rss") {
            kinds.push("rss");
        }
        for kind in kinds {
            let mut rows = Vec::new();
            if let Some((_, tier)) = self.tiers.iter().find(|(k, _)| *k == kind) {
                for b in tier
                    .buckets
                    .iter()
                    .filter(|b| b.t_last >= from_s && b.t_first <= to_s)
                {
                    b.rows(&mut rows);
                }
            }
            if kind == "rss" {
                rows.extend(
                    self.recent_rss
                        .iter()
                        .filter(|s| in_range(s.t_s))
                        .map(Row::from_rss),
                );
            } else {
                rows.extend(
                    self.recent
                        .iter()
                        .filter_map(|e| Row::from_event(e))
                        .filter(|r| r.kind == kind && in_range(r.t_s)),
                );
            }
            out.extend(thin_keeping_newest(rows, points));
        }
        out
    }
}

/// Folds time-ordered rows into about `points` rows, keeping up to half of
/// the budget for the newest whole records, so the recent past stays exact
/// (a tooltip there shows one cycle, not a summary).
fn thin_keeping_newest(mut rows: Vec<Row>, points: usize) -> Vec<Row> {
    if rows.len() <= points.max(2) {
        return rows;
    }
    let whole_tail = rows.iter().rev().take_while(|r| r.agg.is_none()).count();
    let keep = whole_tail.min(points / 2);
    let newest = rows.split_off(rows.len() - keep);
    let mut out = thin(rows, points - keep);
    out.extend(newest);
    out
}

/// Folds rows into at most about `points` rows (two per bucket).
fn thin(rows: Vec<Row>, points: usize) -> Vec<Row> {
    let buckets = (points / 2).max(1);
    if rows.len() <= points.max(2) {
        return rows;
    }
    let per = rows.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(buckets * 2);
    for chunk in rows.chunks(per) {
        let mut b = Bucket::new(&chunk[0]);
        for r in &chunk[1..] {
            b.absorb_row(r);
        }
        b.rows(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Gc;
    use crate::trace::parse_record;

    fn gc_event(seq: u64, live: u64) -> Arc<Event> {
        let line = format!(
            "gc {n} @{t}.000s 1%: 0.1+1.0+0.1 ms clock, 0.2+0.1/1.0/0+0.2 ms cpu, 4->5->{live} MB, 8 MB goal, 0 MB stacks, 0 MB globals, 2 P",
            n = seq + 1,
            t = seq
        );
        let record = parse_record(line.as_bytes()).unwrap();
        let t_s = match &record {
            Record::Gc(Gc { at_s, .. }) => Some(*at_s),
            _ => None,
        };
        Arc::new(Event {
            seq,
            proc: 0,
            line: seq + 1,
            repaired: false,
            t_s,
            record,
            window: None,
            raw: line.into_bytes().into(),
        })
    }

    #[test]
    fn millions_of_cycles_stay_bounded_and_keep_the_spike() {
        let limits = HistoryLimits {
            recent: 1000,
            buckets: 256,
        };
        let mut h = History::new(limits);
        for seq in 0..2_000_000u64 {
            let live = if seq == 123_457 { 9999 } else { 2 + seq % 3 };
            h.push(gc_event(seq, live));
        }
        assert_eq!(h.recent.len(), 1000);
        let tier = &h.tiers[0].1;
        assert!(tier.buckets.len() <= 256, "{}", tier.buckets.len());
        let rows = h.rows(f64::MIN, f64::MAX, 600);
        assert!(rows.len() <= 700, "{}", rows.len());
        let max_live = rows
            .iter()
            .filter_map(|r| r.values.field(Field::heap_live_mb))
            .fold(0.0, f64::max);
        assert_eq!(max_live, 9999.0, "the one spike must survive downsampling");
        let min_live = rows
            .iter()
            .filter_map(|r| r.values.field(Field::heap_live_mb))
            .fold(f64::MAX, f64::min);
        assert_eq!(min_live, 2.0);
    }

    #[test]
    fn the_newest_records_stay_whole_in_a_thinned_answer() {
        let mut h = History::new(HistoryLimits {
            recent: 1000,
            buckets: 256,
        });
        for seq in 0..100_000u64 {
            h.push(gc_event(seq, 2));
        }
        let rows = h.rows(f64::MIN, f64::MAX, 600);
        assert!(rows.len() <= 700, "{}", rows.len());
        let whole: Vec<u64> = rows.iter().filter_map(|r| r.seq).collect();
        assert_eq!(whole, (99_700..100_000).collect::<Vec<_>>());
        assert!(rows[..rows.len() - 300].iter().all(|r| r.agg.is_some()));
        assert_eq!(h.get(99_999).map(|e| e.seq), Some(99_999));
        assert_eq!(h.get(99_000).map(|e| e.seq), Some(99_000));
        assert!(h.get(98_999).is_none());
        assert!(h.get(100_000).is_none());
    }

    #[test]
    fn resume_only_while_the_records_are_kept() {
        let mut h = History::new(HistoryLimits {
            recent: 10,
            buckets: 8,
        });
        for seq in 0..25 {
            h.push(gc_event(seq, 1));
        }
        assert!(h.since(14).is_none());
        let got: Vec<u64> = h.since(20).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(got, vec![20, 21, 22, 23, 24]);
        assert!(h.since(25).unwrap().is_empty());
    }
}
