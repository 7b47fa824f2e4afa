//! Figures over a recent window of gc cycles: GC CPU as a share of wall time x
//! GOMAXPROCS (the trace's own `N%` is cumulative since start and hides
//! bursts), mark assist apart, and GC frequency. Pure: time is the trace's.

use std::collections::VecDeque;

use crate::trace::event::{Gc, Window};

/// Cycles kept at most, whatever their timestamps say (a trace whose clock
/// stands still must not grow this without bound).
const MAX_CYCLES: usize = 100_000;

struct Cycle {
    at_s: f64,
    gc_cpu_ms: f64,
    assist_cpu_ms: f64,
}

/// Running sums over the cycles of the last `window_s` seconds of one process.
pub struct Analysis {
    window_s: f64,
    proc: u32,
    cycles: VecDeque<Cycle>,
    gc_cpu_ms: f64,
    assist_cpu_ms: f64,
}

impl Analysis {
    pub fn new(window_s: f64) -> Self {
        Analysis {
            window_s,
            proc: 0,
            cycles: VecDeque::new(),
            gc_cpu_ms: 0.0,
            assist_cpu_ms: 0.0,
        }
    }

    /// Adds a cycle of process `proc` and returns the window figures at its end.
    pub fn on_gc(&mut self, proc: u32, g: &Gc) -> Window {
        let clock_s = g.clock_ms.sum() / 1000.0;
        let restarted = proc != self.proc || self.cycles.back().is_some_and(|c| g.at_s < c.at_s);
        if restarted {
            self.proc = proc;
            self.cycles.clear();
            self.gc_cpu_ms = 0.0;
            self.assist_cpu_ms = 0.0;
        }
        self.cycles.push_back(Cycle {
            at_s: g.at_s,
            gc_cpu_ms: g.gc_cpu_ms,
            assist_cpu_ms: g.assist_cpu_ms,
        });
        self.gc_cpu_ms += g.gc_cpu_ms;
        self.assist_cpu_ms += g.assist_cpu_ms;
        let end_s = g.at_s + clock_s;
        while let Some(first) = self.cycles.front() {
            if first.at_s > end_s - self.window_s && self.cycles.len() <= MAX_CYCLES {
                break;
            }
            self.gc_cpu_ms -= first.gc_cpu_ms;
            self.assist_cpu_ms -= first.assist_cpu_ms;
            self.cycles.pop_front();
        }
        // The window cannot reach back before the process started.
        let span_s = end_s.min(self.window_s).max(1e-3);
        // A per-minute rate from a few milliseconds is noise: until the
        // process has run a second, count the cycles of that first second.
        let rate_span_s = span_s.max(1.0);
        // Percent of the CPU time the window had: one division for both.
        let pct_per_ms = 100.0 / (span_s * 1000.0 * g.procs.max(1) as f64);
        Window {
            gc_cpu_window_pct: (self.gc_cpu_ms.max(0.0) * pct_per_ms).min(100.0 * 64.0),
            assist_window_pct: self.assist_cpu_ms.max(0.0) * pct_per_ms,
            gc_per_min: self.cycles.len() as f64 * 60.0 / rate_span_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::event::Record;
    use crate::trace::parse_record;

    fn gc_at(n: u64, at: &str, cpu: &str) -> Gc {
        let line = format!(
            "gc {n} @{at}s 1%: 0.1+1.0+0.1 ms clock, {cpu} ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P"
        );
        match parse_record(line.as_bytes()) {
            Some(Record::Gc(g)) => g,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cpu_share_over_the_window_excludes_idle_and_old_cycles() {
        let mut a = Analysis::new(10.0);
        // 20 ms of GC CPU (idle 100 excluded) per second on 2 Ps: 1%.
        let mut w = a.on_gc(0, &gc_at(1, "0.000", "2+5/10/100+3"));
        for n in 2..=30u64 {
            w = a.on_gc(0, &gc_at(n, &format!("{}.000", n - 1), "2+5/10/100+3"));
        }
        assert!((w.gc_cpu_window_pct - 1.0).abs() < 0.05, "{w:?}");
        assert!((w.assist_window_pct - 0.25).abs() < 0.02, "{w:?}");
        assert!((w.gc_per_min - 60.0).abs() < 7.0, "{w:?}");
    }

    #[test]
    fn the_first_cycles_do_not_make_a_frequency_spike() {
        let mut a = Analysis::new(10.0);
        let w = a.on_gc(0, &gc_at(1, "0.004", "0+0/0/0+0"));
        // One cycle in the first 5 ms is one cycle, not 12,000 a minute.
        assert_eq!(w.gc_per_min, 60.0);
    }

    #[test]
    fn a_new_process_starts_a_new_window() {
        let mut a = Analysis::new(10.0);
        for n in 1..=5 {
            a.on_gc(0, &gc_at(n, &format!("{n}.000"), "100+0/0/0+100"));
        }
        let w = a.on_gc(1, &gc_at(1, "5.000", "2+0/0/0+2"));
        assert!(w.gc_cpu_window_pct < 0.1, "{w:?}");
    }
}
