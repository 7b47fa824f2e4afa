//! Bounded history: the most recent records at full resolution, older ones
//! folded into buckets that draw only real cycles. Pure: no I/O, no clock.
//!
//! A bucket keeps, of the run of cycles it folds, the first and the last
//! cycle whole and, for each field, the cycle with the least and the one with
//! the greatest value, each with its own time and seq (M4, Jugel et al.,
//! VLDB 2014): drawn, those few cycles give the same picture as all of them
//! at one bucket per pixel column, and every point is a cycle that happened.
//!
//! For zoom at any window the buckets are kept at several levels (as OM3,
//! SIGMOD 2023): level k holds buckets of 16 x 4^k cycles, built from the
//! finer level's finished buckets, each level bounded, so finer levels cover
//! the more recent past; one top tier covers the whole run, its buckets
//! doubling in size as it fills. A window is answered from the finest level
//! that holds each part of it. Memory is fixed by the limits, not by the
//! length of the run, and a record costs one fold into the finest level
//! (coarser levels fold a finished bucket every 4 of theirs).

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use crate::store::rss_sample::RssSample;
use crate::trace::event::{Event, Record};

/// What one plotted point holds: the fields the page draws, by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Row {
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub t_s: f64,
    /// Wall-clock time, Unix seconds (see `crate::trace::clock`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    /// Set when the row is one of the cycles that stand for a folded run of
    /// cycles: the run it stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proc: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<bool>,
    #[serde(flatten)]
    pub values: Values,
}

/// The run of cycles a summary row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span {
    pub from_s: f64,
    pub to_s: f64,
    pub cycles: u64,
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

/// Each field's least and greatest value so far, and the cycle each came
/// from (its time and its key: the record's seq, or an RSS sample's number).
/// A field not seen yet holds +inf / -inf, and an absent (NaN) value never
/// wins a comparison.
#[derive(Debug, Clone)]
struct Extremes {
    min: [f64; FIELDS],
    max: [f64; FIELDS],
    min_t: [f64; FIELDS],
    max_t: [f64; FIELDS],
    min_key: [u64; FIELDS],
    max_key: [u64; FIELDS],
}

impl Extremes {
    fn new() -> Self {
        Extremes {
            min: [f64::INFINITY; FIELDS],
            max: [f64::NEG_INFINITY; FIELDS],
            min_t: [0.0; FIELDS],
            max_t: [0.0; FIELDS],
            min_key: [0; FIELDS],
            max_key: [0; FIELDS],
        }
    }

    /// Written as selects, not branches: the compiler makes it a few
    /// vector instructions per field group, as the fold once was.
    #[inline]
    fn add(&mut self, v: &Values, t: f64, key: u64, fields: Fields) {
        for i in fields.0..fields.1 {
            let x = v.0[i];
            let lt = x < self.min[i];
            self.min[i] = if lt { x } else { self.min[i] };
            self.min_t[i] = if lt { t } else { self.min_t[i] };
            self.min_key[i] = if lt { key } else { self.min_key[i] };
            let gt = x > self.max[i];
            self.max[i] = if gt { x } else { self.max[i] };
            self.max_t[i] = if gt { t } else { self.max_t[i] };
            self.max_key[i] = if gt { key } else { self.max_key[i] };
        }
    }

    /// Folds in a later run: on a tie the earlier cycle stays.
    fn merge(&mut self, o: &Extremes, fields: Fields) {
        for i in fields.0..fields.1 {
            if o.min[i] < self.min[i] {
                self.min[i] = o.min[i];
                self.min_t[i] = o.min_t[i];
                self.min_key[i] = o.min_key[i];
            }
            if o.max[i] > self.max[i] {
                self.max[i] = o.max[i];
                self.max_t[i] = o.max_t[i];
                self.max_key[i] = o.max_key[i];
            }
        }
    }
}

/// The fields a kind's rows can hold, as a range in [`Field`] order: folding
/// a row skips the other kinds' fields (a gc row has 14 of the 24).
type Fields = (usize, usize);

fn fields_of(kind: &str) -> Fields {
    match kind {
        "gc" => (Field::gc as usize, Field::released_kib as usize),
        "scav" => (Field::released_kib as usize, Field::released_mb as usize),
        "scvg" => (Field::released_mb as usize, Field::rss_kib as usize),
        "rss" => (Field::rss_kib as usize, FIELDS),
        _ => (0, 0),
    }
}

/// One cycle as a bucket keeps it whole: its row and its key.
#[derive(Debug, Clone)]
struct Kept {
    row: Row,
    key: u64,
}

/// A run of consecutive rows of one kind, folded (M4): its first and last
/// rows whole, and each field's extremes with the cycle they came from.
#[derive(Debug, Clone)]
struct Bucket {
    first: Kept,
    last: Kept,
    cycles: u64,
    fields: Fields,
    ext: Extremes,
}

impl Bucket {
    fn new(r: &Row, key: u64) -> Self {
        let mut ext = Extremes::new();
        let fields = fields_of(r.kind);
        ext.add(&r.values, r.t_s, key, fields);
        let kept = Kept { row: *r, key };
        Bucket {
            first: kept.clone(),
            last: kept,
            cycles: r.summary.map_or(1, |s| s.cycles),
            fields,
            ext,
        }
    }

    #[inline]
    fn absorb_row(&mut self, r: &Row, key: u64) {
        self.last.row = *r;
        self.last.key = key;
        self.cycles += 1;
        self.ext.add(&r.values, r.t_s, key, self.fields);
    }

    /// Folds in the run that follows this one.
    fn absorb(&mut self, later: &Bucket) {
        self.last.clone_from(&later.last);
        self.cycles += later.cycles;
        self.ext.merge(&later.ext, self.fields);
    }

    fn span(&self) -> Span {
        Span {
            from_s: self.first.row.t_s,
            to_s: self.last.row.t_s,
            cycles: self.cycles,
        }
    }

    /// The bucket's real cycles, in time order: the first and last whole,
    /// every other one with the fields of which it holds an extreme.
    fn rows(&self, out: &mut Vec<Row>) {
        if self.cycles == 1 {
            out.push(self.first.row);
            return;
        }
        let span = self.span();
        let mut reps: Vec<(f64, u64)> = vec![
            (self.first.row.t_s, self.first.key),
            (self.last.row.t_s, self.last.key),
        ];
        let e = &self.ext;
        for i in 0..FIELDS {
            if e.min[i].is_finite() {
                reps.push((e.min_t[i], e.min_key[i]));
                reps.push((e.max_t[i], e.max_key[i]));
            }
        }
        reps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        reps.dedup_by_key(|r| r.1);
        for (t_s, key) in reps {
            let mut row = if key == self.first.key {
                self.first.row
            } else if key == self.last.key {
                self.last.row
            } else {
                Row {
                    kind: self.first.row.kind,
                    seq: self.first.row.seq.map(|_| key),
                    t_s,
                    proc: self.first.row.proc,
                    ..Row::default()
                }
            };
            for i in 0..FIELDS {
                if e.min[i].is_finite() && e.min_key[i] == key {
                    row.values.0[i] = e.min[i];
                }
                if e.max[i].is_finite() && e.max_key[i] == key {
                    row.values.0[i] = e.max[i];
                }
            }
            row.summary = Some(span);
            out.push(row);
        }
    }
}

/// Buckets of a fixed number of cycles, at most `max` of them: the newest.
#[derive(Debug)]
struct Level {
    buckets: VecDeque<Bucket>,
    size: u64,
    max: usize,
}

impl Level {
    /// Adds a finished finer bucket; true if that finished this level's.
    fn push(&mut self, b: &Bucket) -> bool {
        match self.buckets.back_mut() {
            Some(last) if last.cycles < self.size => last.absorb(b),
            _ => self.buckets.push_back(b.clone()),
        }
        if self.buckets.len() > self.max {
            self.buckets.pop_front();
        }
        self.buckets.back().is_some_and(|b| b.cycles >= self.size)
    }
}

/// Every bucket ever finished at the coarsest level, in at most `max`
/// buckets: when full, neighbours merge pairwise and each bucket covers
/// twice as many cycles.
#[derive(Debug)]
struct Top {
    buckets: VecDeque<Bucket>,
    per_bucket: u64,
    max: usize,
}

impl Top {
    fn push(&mut self, b: &Bucket) {
        match self.buckets.back_mut() {
            Some(last) if last.cycles < self.per_bucket => last.absorb(b),
            _ => {
                self.per_bucket = self.per_bucket.max(b.cycles);
                self.buckets.push_back(b.clone());
            }
        }
        if self.buckets.len() > self.max {
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

/// Levels of fixed-size buckets (16, 64, ... 4096 cycles); the finest first.
/// The finest holds 16 cycles, not fewer: starting a bucket costs about as
/// much as folding a dozen cycles into one.
const LEVELS: usize = 5;
const FINEST: u64 = 16;
/// Cycles of a level's bucket per cycle of the next finer level's.
const FANOUT: u64 = 4;

/// Older rows of one kind at every level.
#[derive(Debug)]
struct Tiers {
    levels: Vec<Level>,
    top: Top,
}

impl Tiers {
    fn new(max_buckets: usize) -> Self {
        let per_level = (max_buckets / 4).max(2);
        let mut size = FINEST / FANOUT;
        let levels = (0..LEVELS)
            .map(|_| {
                size *= FANOUT;
                Level {
                    buckets: VecDeque::new(),
                    size,
                    max: per_level,
                }
            })
            .collect();
        Tiers {
            levels,
            top: Top {
                buckets: VecDeque::new(),
                per_bucket: 1,
                max: max_buckets.max(2),
            },
        }
    }

    #[inline]
    fn push(&mut self, row: &Row, key: u64) {
        let l0 = &mut self.levels[0];
        match l0.buckets.back_mut() {
            Some(last) if last.cycles < l0.size => last.absorb_row(row, key),
            _ => l0.buckets.push_back(Bucket::new(row, key)),
        }
        if l0.buckets.len() > l0.max {
            l0.buckets.pop_front();
        }
        if l0.buckets.back().is_some_and(|b| b.cycles >= l0.size) {
            self.finished(0);
        }
    }

    /// Level `k`'s newest bucket is full: it goes into the next level.
    fn finished(&mut self, k: usize) {
        let (finer, coarser) = self.levels.split_at_mut(k + 1);
        let Some(done) = finer[k].buckets.back() else {
            return;
        };
        match coarser.first_mut() {
            Some(next) => {
                if next.push(done) {
                    self.finished(k + 1);
                }
            }
            None => self.top.push(done),
        }
    }

    /// The buckets that cover `[from_s, to_s]` before key `below`, each part
    /// from the finest level that holds it, in time order.
    fn covering(&self, from_s: f64, to_s: f64, mut below: u64) -> Vec<&Bucket> {
        let mut parts: Vec<Vec<&Bucket>> = Vec::new();
        let levels = self
            .levels
            .iter()
            .map(|l| &l.buckets)
            .chain(std::iter::once(&self.top.buckets));
        for buckets in levels {
            let Some(front) = buckets.front() else {
                continue;
            };
            // A coarser bucket that reaches into what the finer level holds
            // is taken too: the cycles it adds are real, and duplicates are
            // merged later.
            parts.push(
                buckets
                    .iter()
                    .filter(|b| b.first.key < below)
                    .filter(|b| b.last.row.t_s >= from_s && b.first.row.t_s <= to_s)
                    .collect(),
            );
            below = below.min(front.first.key);
        }
        parts.into_iter().rev().flatten().collect()
    }
}

/// Limits of what the history keeps.
#[derive(Debug, Clone)]
pub struct HistoryLimits {
    /// Records kept whole (for resuming clients and the records download).
    pub recent: usize,
    /// Buckets per kind of the top tier; each of the finer levels keeps a
    /// quarter as many.
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

/// A record and its wall-clock time (Unix seconds), when known.
#[derive(Debug, Clone)]
pub struct Stamped {
    pub event: Arc<Event>,
    pub wall_s: Option<f64>,
}

impl std::ops::Deref for Stamped {
    type Target = Event;
    fn deref(&self) -> &Event {
        &self.event
    }
}

impl Stamped {
    /// The record as `gcviz parse` prints it, with `wall_s` when known.
    pub fn json(&self) -> String {
        let mut s = serde_json::to_string(&*self.event).unwrap_or_else(|_| "{}".into());
        if let Some(w) = self.wall_s
            && s.ends_with('}')
        {
            s.pop();
            s.push_str(",\"wall_s\":");
            crate::store::snapshot::write_number(&mut s, w);
            s.push('}');
        }
        s
    }

    #[inline]
    fn row(&self) -> Option<Row> {
        let mut r = Row::from_event(&self.event)?;
        r.wall_s = self.wall_s;
        Some(r)
    }
}

/// The whole history: recent events whole, older ones as buckets per kind.
pub struct History {
    limits: HistoryLimits,
    recent: VecDeque<Stamped>,
    recent_rss: VecDeque<RssSample>,
    tiers: Vec<(&'static str, Tiers)>,
    total: u64,
    rss_total: u64,
}

impl History {
    pub fn new(limits: HistoryLimits) -> Self {
        History {
            limits,
            recent: VecDeque::new(),
            recent_rss: VecDeque::new(),
            tiers: Vec::new(),
            total: 0,
            rss_total: 0,
        }
    }

    /// Records ever added.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn push(&mut self, e: Arc<Event>) {
        self.push_stamped(Stamped {
            event: e,
            wall_s: None,
        });
    }

    pub fn push_stamped(&mut self, e: Stamped) {
        self.total += 1;
        self.recent.push_back(e);
        if self.recent.len() > self.limits.recent
            && let Some(old) = self.recent.pop_front()
            && let Some(row) = old.row()
        {
            self.tier(row.kind).push(&row, old.seq);
        }
    }

    pub fn push_rss(&mut self, s: RssSample) {
        self.rss_total += 1;
        self.recent_rss.push_back(s);
        if self.recent_rss.len() > self.limits.recent
            && let Some(old) = self.recent_rss.pop_front()
        {
            let key = self.rss_total - 1 - self.recent_rss.len() as u64;
            self.tier("rss").push(&Row::from_rss(&old), key);
        }
    }

    fn tier(&mut self, kind: &'static str) -> &mut Tiers {
        // Kinds are literals: the same pointer, short of comparing text.
        let same = |k: &&str| std::ptr::eq(*k, kind) || *k == kind;
        let i = match self.tiers.iter().position(|(k, _)| same(k)) {
            Some(i) => i,
            None => {
                self.tiers.push((kind, Tiers::new(self.limits.buckets)));
                self.tiers.len() - 1
            }
        };
        &mut self.tiers[i].1
    }

    /// Recent events with `seq >= from`, if the history still has `from`.
    pub fn since(&self, from: u64) -> Option<Vec<Stamped>> {
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
    pub fn get(&self, seq: u64) -> Option<&Stamped> {
        let first = self.recent.front()?.seq;
        let e = self
            .recent
            .get(usize::try_from(seq.checked_sub(first)?).ok()?)?;
        (e.seq == seq).then_some(e)
    }

    /// Every event still kept whole, oldest first.
    pub fn recent(&self) -> impl DoubleEndedIterator<Item = &Stamped> {
        self.recent.iter()
    }

    /// The rows between `from_s` and `to_s`, time-ordered per kind, at most
    /// about `points` rows per kind: whole records while they fit, else the
    /// real cycles that M4 keeps of each time slot.
    pub fn rows(&self, from_s: f64, to_s: f64, points: usize) -> Vec<Row> {
        let in_range = |t: f64| t >= from_s && t <= to_s;
        let mut out = Vec::new();
        let mut kinds: Vec<&'static str> = self.tiers.iter().map(|(k, _)| *k).collect();
        for e in &self.recent {
            if let Some(r) = e.row()
                && !kinds.contains(&r.kind)
            {
                kinds.push(r.kind);
            }
        }
        if !self.recent_rss.is_empty() && !kinds.contains(&"rss") {
            kinds.push("rss");
        }
        for kind in kinds {
            let (whole, below): (Vec<(Row, u64)>, u64) = if kind == "rss" {
                let first = self.rss_total - self.recent_rss.len() as u64;
                let rows = self
                    .recent_rss
                    .iter()
                    .zip(first..)
                    .filter(|(s, _)| in_range(s.t_s))
                    .map(|(s, k)| (Row::from_rss(s), k))
                    .collect();
                (rows, first)
            } else {
                let rows = self
                    .recent
                    .iter()
                    .filter_map(|e| e.row().map(|r| (r, e.seq)))
                    .filter(|(r, _)| r.kind == kind && in_range(r.t_s))
                    .collect();
                (rows, self.recent.front().map_or(self.total, |e| e.seq))
            };
            let folded = match self.tiers.iter().find(|(k, _)| *k == kind) {
                Some((_, tiers)) => tiers.covering(from_s, to_s, below),
                None => Vec::new(),
            };
            out.extend(fit(folded, whole, points.max(2)));
        }
        out
    }
}

/// The rows of one kind in at most about `points` rows: folded buckets and
/// whole rows as they are while they fit; else up to half the budget for the
/// newest whole rows (the recent past stays exact: a tooltip there shows one
/// cycle), and the rest folded into time slots, M4 per slot.
fn fit(folded: Vec<&Bucket>, mut whole: Vec<(Row, u64)>, points: usize) -> Vec<Row> {
    let mut all = Vec::new();
    for b in &folded {
        b.rows(&mut all);
    }
    if all.len() + whole.len() <= points {
        all.extend(whole.into_iter().map(|(r, _)| r));
        return merge_duplicates(all);
    }
    let keep = whole.len().min(points / 2);
    let newest = whole.split_off(whole.len() - keep);
    let budget = points - keep;
    // Everything older than the kept rows, as buckets in time order.
    let older: Vec<Bucket> = folded
        .into_iter()
        .cloned()
        .chain(whole.iter().map(|(r, k)| Bucket::new(r, *k)))
        .collect();
    let mut slots = (budget / 8).max(1);
    let rows = loop {
        let rows = slotted(&older, slots);
        if rows.len() <= budget || slots == 1 {
            break rows;
        }
        slots = slots * budget / rows.len() * 9 / 10;
        slots = slots.max(1);
    };
    let mut out = rows;
    out.extend(newest.into_iter().map(|(r, _)| r));
    merge_duplicates(out)
}

/// `buckets` (in time order) merged into `slots` equal time slots by their
/// start, each slot's cycles as M4 keeps them.
fn slotted(buckets: &[Bucket], slots: usize) -> Vec<Row> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (buckets.first(), buckets.last()) else {
        return out;
    };
    let t0 = first.first.row.t_s;
    let width = (last.first.row.t_s - t0) / slots as f64;
    let slot = |b: &Bucket| {
        if width > 0.0 {
            (((b.first.row.t_s - t0) / width) as usize).min(slots - 1)
        } else {
            0
        }
    };
    let mut cur: Option<(usize, Bucket)> = None;
    for b in buckets {
        let s = slot(b);
        match &mut cur {
            Some((cs, acc)) if *cs == s => acc.absorb(b),
            _ => {
                if let Some((_, acc)) = cur.take() {
                    acc.rows(&mut out);
                }
                cur = Some((s, b.clone()));
            }
        }
    }
    if let Some((_, acc)) = cur {
        acc.rows(&mut out);
    }
    out
}

/// Rows in time order with one row per cycle: where levels overlap, the same
/// cycle can come twice, with different fields; its fields are united.
fn merge_duplicates(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| a.t_s.total_cmp(&b.t_s).then(a.seq.cmp(&b.seq)));
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(prev) = out.last_mut()
            && r.seq.is_some()
            && prev.seq == r.seq
            && prev.t_s == r.t_s
        {
            for i in 0..FIELDS {
                if prev.values.0[i].is_nan() {
                    prev.values.0[i] = r.values.0[i];
                }
            }
            if prev.summary.is_none() {
                prev.summary = r.summary;
            }
            continue;
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::Gc;
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
        let tiers = &h.tiers[0].1;
        assert!(
            tiers.top.buckets.len() <= 256,
            "{}",
            tiers.top.buckets.len()
        );
        assert!(tiers.levels.iter().all(|l| l.buckets.len() <= 64));
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
        let whole: Vec<u64> = rows
            .iter()
            .filter(|r| r.summary.is_none())
            .filter_map(|r| r.seq)
            .collect();
        assert_eq!(whole, (99_700..100_000).collect::<Vec<_>>());
        assert!(rows[..rows.len() - 300].iter().all(|r| r.summary.is_some()));
        assert_eq!(h.get(99_999).map(|e| e.seq), Some(99_999));
        assert_eq!(h.get(99_000).map(|e| e.seq), Some(99_000));
        assert!(h.get(98_999).is_none());
        assert!(h.get(100_000).is_none());
    }

    /// A live heap of 2 MiB with a 500 MiB plateau from cycle 20,000 to
    /// 30,000, and a few higher values that belong to one cycle only.
    fn plateau(seq: u64) -> u64 {
        match seq {
            20_000..30_000 => 500,
            _ if seq.is_multiple_of(7919) => 600 + seq % 13,
            _ => 2,
        }
    }

    #[test]
    fn every_row_is_a_real_cycle_and_a_plateau_stays_a_plateau_at_every_zoom() {
        let mut h = History::new(HistoryLimits {
            recent: 1000,
            buckets: 256,
        });
        for seq in 0..200_000u64 {
            h.push(gc_event(seq, plateau(seq)));
        }
        let windows = [
            (f64::MIN, f64::MAX, 2000),
            (0.0, 199_999.0, 500),
            (15_000.0, 35_000.0, 400),
            (19_000.0, 21_000.0, 300),
            (29_990.0, 30_010.0, 100),
            (150_000.0, 199_999.0, 2000),
        ];
        for (from, to, points) in windows {
            let rows: Vec<Row> = h
                .rows(from, to, points)
                .into_iter()
                .filter(|r| r.kind == "gc")
                .collect();
            assert!(!rows.is_empty());
            assert!(rows.len() <= points + 2, "{} rows for {points}", rows.len());
            let mut last_t = f64::MIN;
            for r in &rows {
                let seq = r.seq.expect("every row is a record");
                // The record's own time (the test's gc N is at N-1 s) and value.
                assert_eq!(r.t_s, seq as f64, "{r:?}");
                assert!(r.t_s >= last_t, "rows in time order");
                last_t = r.t_s;
                if let Some(live) = r.values.field(Field::heap_live_mb) {
                    assert_eq!(live, plateau(seq) as f64, "cycle {seq} in {from}..{to}");
                }
                if let Some(gc) = r.values.field(Field::gc) {
                    assert_eq!(gc, (seq + 1) as f64);
                }
            }
            // Inside the plateau nothing but 500; its edges are where they were.
            let inside = rows
                .iter()
                .filter(|r| (20_000.0..30_000.0).contains(&r.t_s))
                .filter_map(|r| r.values.field(Field::heap_live_mb));
            assert!(inside.clone().all(|v| v == 500.0));
            if from <= 20_000.0 && to >= 30_000.0 {
                assert!(inside.count() >= 2, "the plateau is drawn in {from}..{to}");
            }
        }
        // The one-cycle values survive in the whole-run answer.
        let rows = h.rows(f64::MIN, f64::MAX, 2000);
        for seq in (0..200_000u64).filter(|s| plateau(*s) > 500) {
            assert!(
                rows.iter().any(|r| r.seq == Some(seq)),
                "cycle {seq}'s spike is kept"
            );
        }
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
