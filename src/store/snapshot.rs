//! The compact form of history rows that the page loads first (the
//! `snapshot` event) and asks for when zooming (`/api/history`): one object
//! per kind, holding one array per field instead of one object per row, with
//! numbers rounded to 0.001. A million-cycle run's snapshot is a few hundred
//! kilobytes, which the page turns into its table without building an object
//! per row.
//!
//! ```text
//! {"gc":   {"t_s":[0.101,0.205,...], "seq":[0,2,...], "proc":[0,0,...],
//!           "flags":[0,1,...], "cycles":[null,12,...],
//!           "from_s":[null,0.3,...], "to_s":[null,1.5,...],
//!           "heap_live_mb":[4,5,...], ...},
//!  "scav": {"t_s":[...], ...}}
//! ```
//!
//! Every array of a kind has one entry per row, rows in time order. A field
//! no row of the kind has is left out; `null` marks a row without it.
//! Every row is a real record (or RSS sample), at its own time. `seq` is the
//! record's number, `proc` which Go process of the stream it came from,
//! `flags` bit 1: forced, bit 2: the row is one of the cycles kept of a
//! folded run (a summary), holding only the fields of which it is the run's
//! first, last, least or greatest; `cycles`, `from_s` and `to_s`: the run it
//! stands for (null for a record shown whole).
//! The other arrays are the fields of [`crate::store::history::Values`], under the
//! names and units of `gcviz parse`.

use std::fmt::Write as _;

use crate::store::history::{Row, Values};

/// `flags` bits.
pub const FORCED: u8 = 1;
pub const SUMMARY: u8 = 2;

/// The rows of one kind, as columns.
struct KindColumns {
    kind: &'static str,
    t_s: Vec<f64>,
    seq: Vec<Option<u64>>,
    proc: Vec<Option<u32>>,
    flags: Vec<u8>,
    cycles: Vec<Option<u64>>,
    wall_s: Vec<Option<f64>>,
    from_s: Vec<Option<f64>>,
    to_s: Vec<Option<f64>>,
    /// By index into [`Values::NAMES`]; `None` until some row has the field.
    values: Vec<Option<Vec<f64>>>,
}

impl KindColumns {
    fn new(kind: &'static str) -> Self {
        KindColumns {
            kind,
            t_s: Vec::new(),
            seq: Vec::new(),
            proc: Vec::new(),
            flags: Vec::new(),
            cycles: Vec::new(),
            wall_s: Vec::new(),
            from_s: Vec::new(),
            to_s: Vec::new(),
            values: vec![None; Values::NAMES.len()],
        }
    }

    fn push(&mut self, row: &Row) {
        let n = self.t_s.len();
        self.t_s.push(row.t_s);
        self.seq.push(row.seq);
        self.proc.push(row.proc);
        let mut flags = 0;
        if row.forced == Some(true) {
            flags |= FORCED;
        }
        if row.summary.is_some() {
            flags |= SUMMARY;
        }
        self.flags.push(flags);
        self.cycles.push(row.summary.map(|s| s.cycles));
        self.wall_s.push(row.wall_s);
        self.from_s.push(row.summary.map(|s| s.from_s));
        self.to_s.push(row.summary.map(|s| s.to_s));
        for (name, v) in row.values.iter() {
            let Some(i) = Values::NAMES.iter().position(|n| *n == name) else {
                continue;
            };
            let col = self.values[i].get_or_insert_with(|| vec![f64::NAN; n]);
            col.resize(n, f64::NAN);
            col.push(v);
        }
    }

    fn write(&mut self, out: &mut String) {
        let n = self.t_s.len();
        out.push('"');
        out.push_str(self.kind);
        out.push_str("\":{\"t_s\":");
        write_array(out, self.t_s.iter().map(|&t| Some(t)));
        if self.seq.iter().any(Option::is_some) {
            out.push_str(",\"seq\":");
            write_array(out, self.seq.iter().map(|s| s.map(|s| s as f64)));
        }
        if self.proc.iter().any(Option::is_some) {
            out.push_str(",\"proc\":");
            write_array(out, self.proc.iter().map(|p| p.map(f64::from)));
        }
        if self.flags.iter().any(|&f| f != 0) {
            out.push_str(",\"flags\":");
            write_array(out, self.flags.iter().map(|&f| Some(f64::from(f))));
        }
        if self.wall_s.iter().any(Option::is_some) {
            out.push_str(",\"wall_s\":");
            write_array(out, self.wall_s.iter().copied());
        }
        if self.cycles.iter().any(Option::is_some) {
            out.push_str(",\"cycles\":");
            write_array(out, self.cycles.iter().map(|c| c.map(|c| c as f64)));
            out.push_str(",\"from_s\":");
            write_array(out, self.from_s.iter().copied());
            out.push_str(",\"to_s\":");
            write_array(out, self.to_s.iter().copied());
        }
        for (name, col) in Values::NAMES.iter().zip(&mut self.values) {
            let Some(col) = col else { continue };
            col.resize(n, f64::NAN);
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":");
            write_array(out, col.iter().map(|&v| (!v.is_nan()).then_some(v)));
        }
        out.push('}');
    }
}

/// `[1,2.5,null]`.
fn write_array(out: &mut String, values: impl Iterator<Item = Option<f64>>) {
    out.push('[');
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Some(v) => write_number(out, v),
            None => out.push_str("null"),
        }
    }
    out.push(']');
}

/// A number rounded to 0.001, as short as JSON allows (`5`, `0.25`, never
/// `5.0`); `null` for what JSON cannot hold.
pub fn write_number(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    // Beyond 2^53 / 1000 thousandths are not exact: written as they are.
    if v.abs() >= 9.0e12 {
        let _ = write!(out, "{v}");
        return;
    }
    let milli = (v * 1000.0).round() as i64;
    if milli < 0 {
        out.push('-');
    }
    let milli = milli.unsigned_abs();
    write_digits(out, milli / 1000);
    let mut frac = milli % 1000;
    if frac != 0 {
        out.push('.');
        let mut digits = 3;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        let text = [
            b'0' + (frac / 100 % 10) as u8,
            b'0' + (frac / 10 % 10) as u8,
            b'0' + (frac % 10) as u8,
        ];
        for &b in &text[3 - digits..] {
            out.push(b as char);
        }
    }
}

/// The decimal digits of `n`.
fn write_digits(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// The rows (as `History::rows` returns them: time-ordered within each kind)
/// as one JSON object of columns per kind, kinds in order of appearance.
pub fn columns_json(rows: &[Row]) -> String {
    let mut kinds: Vec<KindColumns> = Vec::new();
    for row in rows {
        let i = match kinds.iter().position(|k| k.kind == row.kind) {
            Some(i) => i,
            None => {
                kinds.push(KindColumns::new(row.kind));
                kinds.len() - 1
            }
        };
        kinds[i].push(row);
    }
    // About 8 bytes a number, a dozen numbers a row.
    let mut out = String::with_capacity(64 + rows.len() * 100);
    out.push('{');
    for (i, k) in kinds.iter_mut().enumerate() {
        if i > 0 {
            out.push(',');
        }
        k.write(&mut out);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::Field;

    fn row(kind: &'static str, t_s: f64, fields: &[(Field, f64)]) -> Row {
        let mut values = Values::default();
        for &(f, v) in fields {
            values.set(f, Some(v));
        }
        Row {
            kind,
            seq: Some((t_s * 10.0) as u64),
            t_s,
            proc: Some(0),
            forced: Some(false),
            values,
            ..Row::default()
        }
    }

    #[test]
    fn numbers_are_short_and_rounded() {
        let mut s = String::new();
        for v in [
            5.0,
            0.1 + 0.2,
            1.23456,
            -0.0,
            -0.0004,
            -2.05,
            0.021,
            0.5,
            1e20,
            12345.6789,
            f64::NAN,
        ] {
            write_number(&mut s, v);
            s.push(' ');
        }
        assert_eq!(
            s,
            "5 0.3 1.235 0 0 -2.05 0.021 0.5 100000000000000000000 12345.679 null "
        );
    }

    #[test]
    fn one_array_per_field_with_null_where_a_row_lacks_it() {
        let mut rows = vec![
            row(
                "gc",
                0.1,
                &[(Field::heap_live_mb, 4.0), (Field::stw_ms, 0.25)],
            ),
            row("scav", 0.15, &[(Field::released_kib, 2048.0)]),
            row("gc", 0.2, &[(Field::heap_live_mb, 5.0)]),
        ];
        rows[2].forced = Some(true);
        rows.push(Row {
            kind: "gc",
            t_s: 0.3,
            seq: Some(9),
            summary: Some(crate::store::history::Span {
                from_s: 0.25,
                to_s: 0.5,
                cycles: 7,
            }),
            values: rows[0].values,
            ..Row::default()
        });
        let v: serde_json::Value = serde_json::from_str(&columns_json(&rows)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "gc": {
                    "t_s": [0.1, 0.2, 0.3],
                    "seq": [1, 2, 9],
                    "proc": [0, 0, null],
                    "flags": [0, FORCED, SUMMARY],
                    "cycles": [null, null, 7],
                    "from_s": [null, null, 0.25],
                    "to_s": [null, null, 0.5],
                    "heap_live_mb": [4, 5, 4],
                    "stw_ms": [0.25, null, 0.25],
                },
                "scav": { "t_s": [0.15], "seq": [1], "proc": [0], "released_kib": [2048] },
            })
        );
    }

    #[test]
    fn no_rows_no_kinds() {
        assert_eq!(columns_json(&[]), "{}");
    }
}
