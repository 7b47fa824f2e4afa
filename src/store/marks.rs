//! The program's own events on the chart: lines of its output that match a
//! pattern (`--mark deploy`, or one added from the page) become marks at the
//! time of the last GC cycle before them. Pure: lines in, marks out.
//!
//! Bounded: while any pattern is set, the last [`KEPT_LINES`] lines are kept
//! (each cut to [`LINE_MAX`] bytes), so a pattern added from the page also
//! marks the recent past; at most [`MAX_MARKS`] marks are kept, the oldest
//! dropped first and counted. With no pattern, text costs nothing.

use std::collections::VecDeque;

use regex::Regex;
use serde::Serialize;

pub const KEPT_LINES: usize = 4096;
pub const LINE_MAX: usize = 256;
pub const MAX_MARKS: usize = 2000;
/// Longest pattern accepted (regex compile time and memory grow with it).
pub const PATTERN_MAX: usize = 200;

/// One matching line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    /// Time of the last GC cycle before the line, on the trace's timeline.
    pub t_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    /// The line, cut to [`LINE_MAX`] bytes, lossily decoded.
    pub text: String,
    /// The pattern it matched.
    pub pattern: String,
}

#[derive(Debug, Clone)]
struct Line {
    t_s: Option<f64>,
    wall_s: Option<f64>,
    text: Box<str>,
}

#[derive(Debug, Default)]
pub struct Marks {
    patterns: Vec<(String, Regex)>,
    /// The line being assembled (its first LINE_MAX bytes).
    partial: Vec<u8>,
    lines: VecDeque<Line>,
    marks: VecDeque<Mark>,
    pub dropped: u64,
    /// Time of the last record, for the next line.
    t_s: Option<f64>,
    wall_s: Option<f64>,
}

impl Marks {
    /// Adds `pattern`, marking the kept lines that match it; an error for a
    /// pattern that is not a regular expression.
    pub fn add(&mut self, pattern: &str) -> Result<Vec<Mark>, String> {
        if pattern.is_empty() || pattern.len() > PATTERN_MAX {
            return Err(format!("a pattern of 1 to {PATTERN_MAX} bytes"));
        }
        if self.patterns.iter().any(|(p, _)| p == pattern) {
            return Ok(Vec::new());
        }
        let re = Regex::new(pattern).map_err(|e| e.to_string())?;
        let new: Vec<Mark> = self
            .lines
            .iter()
            .filter(|l| re.is_match(&l.text))
            .filter_map(|l| mark(l, pattern))
            .collect();
        self.patterns.push((pattern.to_string(), re));
        for m in &new {
            self.keep(m.clone());
        }
        // Marks from an earlier pattern and this one, in time order.
        self.marks
            .make_contiguous()
            .sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        Ok(new)
    }

    /// Removes `pattern` and its marks; false if it was not set.
    pub fn remove(&mut self, pattern: &str) -> bool {
        let before = self.patterns.len();
        self.patterns.retain(|(p, _)| p != pattern);
        self.marks.retain(|m| m.pattern != pattern);
        if self.patterns.is_empty() {
            self.lines.clear();
        }
        self.patterns.len() != before
    }

    pub fn patterns(&self) -> Vec<String> {
        self.patterns.iter().map(|(p, _)| p.clone()).collect()
    }

    pub fn marks(&self) -> impl Iterator<Item = &Mark> {
        self.marks.iter()
    }

    /// A record went by: lines after it take its time.
    pub fn record(&mut self, t_s: Option<f64>, wall_s: Option<f64>) {
        if t_s.is_some() {
            self.t_s = t_s;
            self.wall_s = wall_s;
        }
    }

    /// The program's text; returns the marks of the lines it completed.
    pub fn text(&mut self, mut bytes: &[u8]) -> Vec<Mark> {
        let mut out = Vec::new();
        if self.patterns.is_empty() {
            return out;
        }
        while !bytes.is_empty() {
            let (piece, done) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..i], Some(i + 1)),
                None => (bytes, None),
            };
            let room = LINE_MAX.saturating_sub(self.partial.len());
            self.partial
                .extend_from_slice(&piece[..piece.len().min(room)]);
            let Some(next) = done else { break };
            bytes = &bytes[next..];
            let text = String::from_utf8_lossy(&self.partial)
                .trim_end_matches('\r')
                .into();
            self.partial.clear();
            let line = Line {
                t_s: self.t_s,
                wall_s: self.wall_s,
                text,
            };
            for (p, re) in &self.patterns {
                if re.is_match(&line.text)
                    && let Some(m) = mark(&line, p)
                {
                    out.push(m);
                    break;
                }
            }
            if self.lines.len() == KEPT_LINES {
                self.lines.pop_front();
            }
            self.lines.push_back(line);
        }
        for m in &out {
            self.keep(m.clone());
        }
        out
    }

    fn keep(&mut self, m: Mark) {
        if self.marks.len() == MAX_MARKS {
            self.marks.pop_front();
            self.dropped += 1;
        }
        self.marks.push_back(m);
    }
}

/// A line before any timed record has no place on the charts.
fn mark(l: &Line, pattern: &str) -> Option<Mark> {
    Some(Mark {
        t_s: l.t_s?,
        wall_s: l.wall_s,
        text: l.text.to_string(),
        pattern: pattern.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_lines_are_marked_at_the_last_cycle_before_them() {
        let mut m = Marks::default();
        assert!(m.text(b"deploy v1\n").is_empty(), "no pattern, no mark");
        m.add("deploy|phase:").unwrap();
        m.record(Some(1.5), Some(100.0));
        assert!(
            m.text(b"phase: warm").is_empty(),
            "the line is not complete yet"
        );
        let got = m.text(b"-up\r\nother\ndeploy v2\n");
        let texts: Vec<&str> = got.iter().map(|k| k.text.as_str()).collect();
        assert_eq!(texts, ["phase: warm-up", "deploy v2"]);
        assert_eq!(got[0].t_s, 1.5);
        assert_eq!(got[0].wall_s, Some(100.0));
    }

    #[test]
    fn a_pattern_added_later_marks_the_kept_lines_and_removing_it_unmarks() {
        let mut m = Marks::default();
        m.add("x").unwrap();
        m.record(Some(2.0), None);
        m.text(b"cache flushed\nrequest 1\n");
        let new = m.add("flushed").unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(m.marks().count(), 1);
        assert!(m.remove("flushed"));
        assert_eq!(m.marks().count(), 0);
        assert!(m.add("(").is_err(), "not a regular expression");
    }

    #[test]
    fn long_lines_are_cut_and_marks_are_bounded() {
        let mut m = Marks::default();
        m.add("a").unwrap();
        m.record(Some(0.0), None);
        let long = vec![b'a'; 10_000];
        let got = m.text(&[&long[..], b"\n"].concat());
        assert_eq!(got[0].text.len(), LINE_MAX);
        for _ in 0..MAX_MARKS + 5 {
            m.text(b"a\n");
        }
        assert_eq!(m.marks().count(), MAX_MARKS);
        assert_eq!(m.dropped, 6);
    }
}
