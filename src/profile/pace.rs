//! When the sampler asks the program for its next profile: the set period,
//! longer after a slow answer, doubling after each failure.
//!
//! In: the outcome of each fetch and how long it took. Out: how long to
//! wait before the next one. Pure: durations come in as arguments, no clock.

use std::time::Duration;

/// The longest wait after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// A profile costs the program at most about 1/SLOW_FACTOR of its time:
/// after an answer that took `d`, the next fetch waits at least `d` times this.
pub const SLOW_FACTOR: u32 = 20;

#[derive(Debug, Clone)]
pub struct Pace {
    every: Duration,
    failures: u32,
}

impl Pace {
    pub fn new(every: Duration) -> Self {
        Pace { every, failures: 0 }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After an answer that took `took`.
    pub fn success(&mut self, took: Duration) -> Duration {
        self.failures = 0;
        self.every
            .max(took.saturating_mul(SLOW_FACTOR))
            .min(MAX_BACKOFF.max(self.every))
    }

    /// After a failure: twice the period, then four times, ... up to
    /// [`MAX_BACKOFF`] (or the period, when that is longer).
    pub fn failure(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let factor = 1u32.checked_shl(self.failures.min(16)).unwrap_or(u32::MAX);
        self.every
            .saturating_mul(factor)
            .min(MAX_BACKOFF.max(self.every))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_and_a_success_comes_back_to_the_period() {
        let mut p = Pace::new(Duration::from_secs(30));
        assert_eq!(p.failure(), Duration::from_secs(60));
        assert_eq!(p.failure(), Duration::from_secs(120));
        for _ in 0..40 {
            p.failure();
        }
        assert_eq!(p.failure(), MAX_BACKOFF);
        assert_eq!(
            p.success(Duration::from_millis(20)),
            Duration::from_secs(30)
        );
        assert_eq!(p.failures(), 0);
    }

    #[test]
    fn a_slow_answer_spaces_the_next_fetch() {
        let mut p = Pace::new(Duration::from_secs(1));
        assert_eq!(p.success(Duration::from_secs(2)), Duration::from_secs(40));
        assert_eq!(p.success(Duration::from_secs(3600)), MAX_BACKOFF);
    }
}
