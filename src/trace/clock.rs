//! Wall-clock time for every record: the trace only says how long the
//! process had run (`t_s`), a person asks "what happened at 03:00". Pure:
//! it watches the pass-through text and the records, and is told the time.
//!
//! Where the clock comes from, the first that applies:
//! - wrapper mode: the program's start plus `t_s`;
//! - a timestamp at the start of the line that carries the record, or of
//!   an earlier line of the program's text, plus the `t_s` run since it:
//!   RFC 3339 as `docker logs -t` and `kubectl logs --timestamps` print it,
//!   journalctl `short-iso`, and Go's log package (`2006/01/02 15:04:05`,
//!   which carries no zone and is read as UTC);
//! - a live pipe: the time of arrival, as `t_s` plus the least delay seen
//!   (the record cannot arrive before it was written);
//! - a replayed file without timestamps: no wall clock.

/// Seconds since the Unix epoch (UTC).
pub type UnixS = f64;

/// How far into a line a timestamp is looked for: it must start the line
/// (after a `\r` or spaces at most).
const STAMP_MAX: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Anchor {
    /// Wrapper mode: when the program started.
    Start(UnixS),
    /// A live pipe: arrival times are told with each record.
    Arrival,
    /// A replayed file: timestamps in the text only.
    None,
}

#[derive(Debug)]
pub struct Clock {
    anchor: Anchor,
    /// The start of the current line of text, up to [`STAMP_MAX`] bytes.
    line: Vec<u8>,
    line_done: bool,
    /// The latest line timestamp, and the `t_s` of the latest record then.
    stamp: Option<(UnixS, Option<f64>)>,
    /// The stamp read from the line a record is on (text since the last newline).
    stamp_on_line: Option<UnixS>,
    last_t_s: Option<f64>,
    /// Least (arrival - t_s) seen: the live pipe's offset.
    offset: Option<f64>,
}

impl Clock {
    pub fn new(anchor: Anchor) -> Self {
        Clock {
            anchor,
            line: Vec::with_capacity(STAMP_MAX),
            line_done: false,
            stamp: None,
            stamp_on_line: None,
            last_t_s: None,
            offset: None,
        }
    }

    /// The program's own text, as it passes through.
    pub fn text(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.take(&bytes[..i]);
                    self.end_line();
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.take(bytes);
                    break;
                }
            }
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.line_done {
            return;
        }
        let room = STAMP_MAX - self.line.len();
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if let Some(t) = parse_stamp(&self.line) {
            self.stamp = Some((t, self.last_t_s));
            self.stamp_on_line = Some(t);
            self.line_done = true;
        } else if self.line.len() >= STAMP_MAX {
            self.line_done = true;
        }
    }

    fn end_line(&mut self) {
        self.line.clear();
        self.line_done = false;
        self.stamp_on_line = None;
    }

    /// The wall-clock time of a record at `t_s` that arrived at `now`.
    pub fn stamp(&mut self, t_s: Option<f64>, now: UnixS) -> Option<UnixS> {
        let wall = self.wall(t_s, now);
        if t_s.is_some() {
            self.last_t_s = t_s;
        }
        // A record ends its line: the next text starts a new one.
        self.end_line();
        wall
    }

    fn wall(&mut self, t_s: Option<f64>, now: UnixS) -> Option<UnixS> {
        if let Anchor::Start(start) = self.anchor {
            return t_s.map(|t| start + t);
        }
        if let Some(t) = self.stamp_on_line {
            return Some(t);
        }
        if let Some((t, then)) = self.stamp {
            let run = match (t_s, then) {
                (Some(now_t), Some(then_t)) if now_t >= then_t => now_t - then_t,
                _ => 0.0,
            };
            return Some(t + run);
        }
        if self.anchor == Anchor::Arrival {
            let Some(t) = t_s else {
                return Some(now);
            };
            let off = self.offset.map_or(now - t, |o| o.min(now - t));
            self.offset = Some(off);
            return Some(t + off);
        }
        None
    }
}

/// Now, as Unix seconds (the one place that reads the system clock).
pub fn now_unix() -> UnixS {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A timestamp that starts `line` (after `\r` or spaces), as Unix seconds.
pub fn parse_stamp(line: &[u8]) -> Option<UnixS> {
    let start = line.iter().position(|&b| b != b' ' && b != b'\r')?;
    let s = &line[start..];
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = s.get(r)?;
        d.iter().all(u8::is_ascii_digit).then(|| {
            d.iter()
                .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0'))
        })
    };
    // 2006-01-02T15:04:05 (RFC 3339, journalctl short-iso) or 2006/01/02 15:04:05 (log).
    let (date_sep, time_sep) = (*s.get(4)?, *s.get(10)?);
    let iso = date_sep == b'-' && s.get(7) == Some(&b'-') && (time_sep == b'T' || time_sep == b' ');
    let log = date_sep == b'/' && s.get(7) == Some(&b'/') && time_sep == b' ';
    if !(iso || log) || s.get(13) != Some(&b':') || s.get(16) != Some(&b':') {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0.0;
    if s.get(i) == Some(&b'.') {
        let digits = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(&s[i..i + 1 + digits]).ok()?;
        frac = text.parse::<f64>().ok()?;
        i += 1 + digits;
    }
    // Zone: Z, +hh:mm, +hhmm; none for log's local time (read as UTC).
    let mut offset_s = 0i64;
    match s.get(i) {
        Some(b'Z') if iso => i += 1,
        Some(&sign @ (b'+' | b'-')) if iso => {
            let oh = n(i + 1..i + 3)?;
            let om = if s.get(i + 3) == Some(&b':') {
                n(i + 4..i + 6)?
            } else {
                n(i + 3..i + 5)?
            };
            offset_s = (oh * 3600 + om * 60) * if sign == b'+' { 1 } else { -1 };
            i += if s.get(i + 3) == Some(&b':') { 6 } else { 5 };
        }
        _ => {}
    }
    // What follows a timestamp is a space (or the end of what we kept).
    if !matches!(s.get(i), None | Some(b' ' | b'\t')) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Some(secs as f64 + frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: f64 = 1_764_644_645.0; // 2025-12-02T03:04:05Z

    #[test]
    fn the_timestamps_of_docker_kubectl_journalctl_and_log() {
        let cases: &[(&str, Option<f64>)] = &[
            ("2025-12-02T03:04:05Z gc 1", Some(T)),
            (
                "2025-12-02T03:04:05.123456789Z stderr F gc 1",
                Some(T + 0.123456789),
            ),
            ("2025-12-02T04:04:05+01:00 x", Some(T)),
            ("2025-12-02T04:04:05+0100 host app[12]: x", Some(T)),
            ("2025-12-02T02:04:05.5-01:00 x", Some(T + 0.5)),
            ("2025/12/02 03:04:05 listening", Some(T)),
            ("2025/12/02 03:04:05.250000 x", Some(T + 0.25)),
            ("\r  2025-12-02T03:04:05Z", Some(T)),
            ("gc 1 @0.1s 2025-12-02T03:04:05Z", None),
            ("2025-13-02T03:04:05Z x", None),
            ("2025-12-02T03:04:05Zx", None),
            ("12345", None),
            ("", None),
        ];
        for (line, want) in cases {
            let got = parse_stamp(line.as_bytes());
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-6, "{line}: {g} vs {w}"),
                _ => assert_eq!(got, *want, "{line}"),
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn a_record_takes_the_stamp_of_its_line_or_runs_on_from_the_last() {
        let mut c = Clock::new(Anchor::None);
        assert_eq!(c.stamp(Some(0.5), 99.0), None, "no stamp yet, no clock");
        c.text(b"2025-12-02T03:04:05Z ");
        assert_eq!(c.stamp(Some(1.0), 99.0), Some(T));
        c.text(b"2025/12/02 03:04:10 a line of the program\n");
        // Unstamped records: the last stamp plus the run since it.
        assert_eq!(c.stamp(Some(3.5), 99.0), Some(T + 5.0 + 2.5));
        // Split across writes, the stamp is still found.
        c.text(b"2025-12-02T03:0");
        c.text(b"4:20Z ");
        assert_eq!(c.stamp(Some(4.0), 99.0), Some(T + 15.0));
    }

    #[test]
    fn wrapper_mode_counts_from_the_start_and_a_pipe_from_arrival() {
        let mut c = Clock::new(Anchor::Start(T));
        c.text(b"2020-01-01T00:00:00Z the program's own clock\n");
        assert_eq!(c.stamp(Some(2.5), 0.0), Some(T + 2.5));
        let mut c = Clock::new(Anchor::Arrival);
        assert_eq!(c.stamp(Some(1.0), T + 1.2), Some(T + 0.2 + 1.0));
        // A record that arrives late keeps its own time from the least delay.
        assert_eq!(c.stamp(Some(2.0), T + 5.0), Some(T + 0.2 + 2.0));
        assert_eq!(c.stamp(Some(3.0), T + 3.1), Some(T + 0.1 + 3.0));
    }
}
