//! The stream's process timeline: which process a record belongs to (gc
//! numbers going back to 1 start another), its time on the axis all the
//! stream's processes share, and what the process printed so far, which a
//! repair must keep to (its next gc number, `@` moving forward, one shape,
//! one GOMAXPROCS). Pure.

use super::event::{Gc, GcFormat, ScavFormat};
use super::pieces::Family;

/// Two minutes (the runtime's forced GC period) and some slack.
const MAX_GC_INTERVAL_S: f64 = 130.0;

/// What a gc number says of the stream.
pub(super) enum Step {
    /// Another process began.
    Restart,
    /// The same process; this many cycles were never seen (0: the next).
    Skipped(u64),
}

/// Process boundaries, the stream's timeline, and what the process's
/// records look like (a repair must keep to it).
#[derive(Debug, Default)]
pub(super) struct Timeline {
    proc: u32,
    last_gc: Option<u64>,
    /// `@` of the process's last gc record.
    last_at_s: Option<f64>,
    /// Time between its last two gc records.
    last_interval_s: Option<f64>,
    /// GC CPU percent of its last gc record.
    last_pct: Option<u64>,
    /// Records left unresolved since the last gc record.
    unresolved_since_gc: u64,
    offset_s: f64,
    last_t_s: Option<f64>,
    procs: Option<u64>,
    gc_format: Option<GcFormat>,
    scav_format: Option<ScavFormat>,
}

impl Timeline {
    /// A rebuilt record's gc number is the next one of the process. A torn
    /// record is never believed to start a new process (gc numbers going back
    /// to 1): the program's own `gc 1 @` text is the likelier reading, and a
    /// new process shows itself by its next whole record. At the very start
    /// of the stream only the first cycle is believed. Each record left
    /// unresolved since the last cycle may have been a cycle: one more
    /// number is possible, at one odd boundary's worth of doubt per number
    /// skipped.
    pub(super) fn gc_cost(&self, n: u64) -> Option<u32> {
        let next = self.last_gc.map_or(1, |last| last + 1);
        let skipped = n.checked_sub(next)?;
        (skipped <= self.unresolved_since_gc).then_some(skipped as u32)
    }

    /// Within a process, time does not run backwards, and the runtime
    /// forces a cycle at least every two minutes (`forcegcperiod`), so a
    /// rebuilt record is not believed further than that from the last one.
    /// Further than ten of the last intervals (and a second) is one odd
    /// boundary's worth of doubt: `piece w0-353` then the runtime's `0.960`
    /// reads `0.960` rather than `30.960`.
    pub(super) fn at_cost(&self, at_s: f64) -> Option<u32> {
        let last = self.last_at_s.unwrap_or(0.0);
        if at_s < last || at_s > last + MAX_GC_INTERVAL_S {
            return None;
        }
        let usual = 1.0 + 10.0 * self.last_interval_s.unwrap_or(0.0);
        Some(u32::from(at_s - last > usual))
    }

    /// The runtime's GC CPU percent is cumulative since the process
    /// started: it moves a few points at most from one cycle to the next
    /// (`end 53` then the runtime's `%: ` is not a jump from 8% to 53%).
    pub(super) fn pct_cost(&self, pct: u64) -> u32 {
        match self.last_pct {
            Some(last) if pct.abs_diff(last) > 5 => 1,
            _ => 0,
        }
    }

    /// The GC CPU percents the next cycle can print if it started at `at_s`
    /// and its phases took at most `wall_s` in all; `None` at the start of a
    /// process. The percent is cumulative since the process began: over the
    /// time since the last cycle the GC used between none and all of the
    /// CPU, so `S·u` (S the time the percent was taken, near `@` plus the
    /// cycle's clock times) moves by no more than the time that passed.
    /// With a point of slack each way for the truncation, this holds on all
    /// 11,089 pairs of consecutive gc records in the committed traces.
    pub(super) fn pct_bounds(&self, at_s: f64, wall_s: f64) -> Option<(u64, u64)> {
        let (last_at, last) = (self.last_at_s?, self.last_pct? as f64);
        let before = last_at.max(0.001);
        let now = at_s + wall_s + 0.002;
        if now <= before {
            return None;
        }
        let kept = before / now;
        let high = (100.0 * (1.0 - (1.0 - (last + 1.0) / 100.0) * kept)).floor() + 1.0;
        let low = (last * kept).floor() - 1.0;
        Some((low.max(0.0) as u64, high.max(0.0) as u64))
    }

    pub(super) fn accepts_procs(&self, p: u64) -> bool {
        self.procs.is_none_or(|q| q == p)
    }

    pub(super) fn accepts_shape(&self, f: Family) -> bool {
        match f {
            Family::Gc(g) => self.gc_format.is_none_or(|q| q == g),
            Family::Scav(s) => self.scav_format.is_none_or(|q| q == s),
            Family::Other => true,
        }
    }

    /// The gc number the next cycle of this process would carry.
    pub(super) fn next_gc(&self) -> u64 {
        self.last_gc.map_or(1, |n| n + 1)
    }

    /// The process (0 for the first in the stream) records now belong to.
    pub(super) fn proc(&self) -> u32 {
        self.proc
    }

    /// The stream time of the last gc record, on the axis all processes
    /// share.
    pub(super) fn last_t_s(&self) -> Option<f64> {
        self.last_t_s
    }

    /// A record left unresolved: its cycle may be the one the next rebuilt
    /// record's number skips.
    pub(super) fn unresolved(&mut self) {
        self.unresolved_since_gc = self.unresolved_since_gc.saturating_add(1);
    }

    /// A gc number seen: a number not above the last starts another process
    /// (its times start from where the last one's ended).
    pub(super) fn note_gc(&mut self, n: u64) -> Step {
        let step = match self.last_gc {
            Some(last) if n <= last => {
                self.proc += 1;
                self.offset_s = self.last_t_s.unwrap_or(0.0);
                self.last_at_s = None;
                self.last_interval_s = None;
                self.last_pct = None;
                Step::Restart
            }
            Some(last) => Step::Skipped(n - last - 1),
            None => Step::Skipped(0),
        };
        self.last_gc = Some(n);
        step
    }

    /// A gc record of the current process (after [`Self::note_gc`]): what
    /// the next repair keeps to, and its time on the stream's axis.
    pub(super) fn on_gc(&mut self, g: &Gc) -> f64 {
        let t = self.offset_s + g.at_s;
        self.last_t_s = Some(t);
        self.last_interval_s = self.last_at_s.map(|l| g.at_s - l);
        self.last_at_s = Some(g.at_s);
        self.last_pct = Some(g.cpu_pct);
        self.unresolved_since_gc = 0;
        self.procs = Some(g.procs);
        self.gc_format = Some(g.format);
        t
    }

    pub(super) fn on_scav(&mut self, format: ScavFormat) {
        self.scav_format = Some(format);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::Record;

    fn gc(n: u64, at: &str) -> Gc {
        let line = format!(
            "gc {n} @{at}s 0%: 0.016+0.24+0.045 ms clock, 0.033+0.099/0.053/0+0.091 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P"
        );
        match crate::trace::parse_record(line.as_bytes()) {
            Some(Record::Gc(g)) => g,
            other => panic!("{other:?}"),
        }
    }

    fn gc_pct(n: u64, at: &str, pct: u64) -> Gc {
        Gc {
            cpu_pct: pct,
            ..gc(n, at)
        }
    }

    fn see(tl: &mut Timeline, n: u64, at: &str) -> (bool, f64) {
        let restart = matches!(tl.note_gc(n), Step::Restart);
        (restart, tl.on_gc(&gc(n, at)))
    }

    #[test]
    fn a_rebuilt_record_is_the_next_cycle_or_one_an_unresolved_record_may_have_been() {
        let mut tl = Timeline::default();
        assert_eq!((tl.gc_cost(1), tl.gc_cost(2)), (Some(0), None));
        see(&mut tl, 1, "0.010");
        assert_eq!(tl.next_gc(), 2);
        assert_eq!(
            (tl.gc_cost(2), tl.gc_cost(3), tl.gc_cost(1)),
            (Some(0), None, None)
        );
        tl.unresolved();
        assert_eq!(tl.gc_cost(3), Some(1));
        see(&mut tl, 3, "0.020");
        assert_eq!(tl.gc_cost(5), None);
    }

    #[test]
    fn time_runs_forward_within_a_process() {
        let mut tl = Timeline::default();
        see(&mut tl, 1, "1.000");
        see(&mut tl, 2, "1.010");
        assert_eq!(tl.at_cost(1.005), None, "backwards");
        assert_eq!(tl.at_cost(1.020), Some(0));
        assert_eq!(tl.at_cost(5.0), Some(1), "far later than the cycles came");
        assert_eq!(tl.at_cost(200.0), None, "past the two-minute forced GC");
    }

    #[test]
    fn a_gc_number_going_back_starts_another_process_later_on_the_axis() {
        let mut tl = Timeline::default();
        assert_eq!(see(&mut tl, 1, "1.000"), (false, 1.0));
        assert_eq!(see(&mut tl, 2, "2.000"), (false, 2.0));
        assert_eq!(tl.proc(), 0);
        let (restart, t) = see(&mut tl, 1, "0.500");
        assert!(restart);
        assert_eq!(tl.proc(), 1);
        assert!((t - 2.5).abs() < 1e-9, "{t}");
        assert!(matches!(tl.note_gc(5), Step::Skipped(3)));
    }

    #[test]
    fn the_gc_cpu_percent_moves_only_as_far_as_the_time_since_allows() {
        let mut tl = Timeline::default();
        assert_eq!(tl.pct_bounds(1.0, 0.0), None, "nothing to bound by yet");
        tl.note_gc(150);
        tl.on_gc(&gc_pct(150, "0.956", 8));
        // 4 ms later, a cycle of at most 85 ms: 6 to 17.
        assert_eq!(tl.pct_bounds(0.960, 0.085), Some((6, 17)));
        // Much later, all of the CPU may have been the GC's, or none of it.
        let (low, high) = tl.pct_bounds(9.56, 0.0).unwrap();
        assert!(low == 0 && high >= 90, "{low} {high}");
    }
}
