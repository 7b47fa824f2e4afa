//! How the runtime writes each record: one `write(2)` per print argument, so
//! other writers' text can land between any two pieces but never inside one.
//! These tables list the pieces of every record shape for the repair aligner;
//! the typed grammar (gc.rs, scav.rs) stays the single source of field meaning.

use std::sync::OnceLock;

use crate::trace::event::{GcFormat, ScavFormat};

/// One print argument of a runtime record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Fixed text. A piece ending in `\n` ends the record.
    Lit(&'static str),
    /// The gc cycle number (checked against the cycles seen so far).
    GcNumber,
    /// GOMAXPROCS of a gc record (checked against the last cycle's).
    Procs,
    /// The cumulative GC CPU percent of a gc record (it moves slowly).
    CpuPct,
    /// Unsigned decimal integer.
    Uint,
    /// The `@` seconds of a gc record (three decimals; checked against the
    /// last cycle's: time does not run backwards within a process).
    At,
    /// A duration in the runtime's millisecond format (`0.016`, `1.0`, `12`).
    Millis,
    /// `0x1f` (Go 1.0/1.1 scavenger amounts).
    Hex,
}

/// Which record family a shape prints; one process prints one shape of
/// each family, so a repair must keep to the shape seen whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Gc(GcFormat),
    Scav(ScavFormat),
    /// Go 1.0 - 1.4 gc records, scvg, GC forced.
    Other,
}

/// A record shape: its pieces in order.
#[derive(Debug)]
pub struct Shape {
    pub pieces: Vec<Piece>,
    pub family: Family,
}

/// Shapes written as `|`-separated pieces; `#G` (gc number), `#P`
/// (GOMAXPROCS), `#C` (cumulative GC CPU percent), `#N` (integer), `#T` (`@` seconds), `#F` (milliseconds) and
/// `#H` (hexadecimal) are numbers,
/// `[` ... `]` an optional run (every combination becomes its own shape).
const SPECS: &[&str] = &[
    // Go 1.6 - 1.27, with the 1.18 stacks/globals, 1.26 leak check and forced flag.
    "gc |#G| @|#T|s |#C|%|[| (checking for goroutine leaks)|]|: |#F|+|#F|+|#F| ms clock, |#F|+|#F|/|#F|/|#F|+|#F| ms cpu, |#N|->|#N|->|#N| MB, |#N| MB goal, |[|#N| MB stacks, |#N| MB globals, |]|#P| P|[| (forced)|]|\n",
    // Go 1.5
    "gc |#G| @|#T|s |#C|%|: |#F|+|#F|+|#F|+|#F|+|#F| ms clock, |#F|+|#F|+|#F|+|#F|/|#F|/|#F|+|#F| ms cpu, |#N|->|#N|->|#N| MB, |#N| MB goal, |#P| P|[| (forced)|]|\n",
    // scavtrace, Go 1.21+
    "scav |#N| KiB work (bg), |#N| KiB work (eager), |#N| KiB now, |#N|% util|[| (forced)|]|[| [controller reset]|]|\n",
    // scavtrace, Go 1.14 - 1.20 (with the 1.15-1.18 generation)
    "scav |[|#N| |]|#N| KiB work, |#N| KiB total, |#N|% util|[| (forced)|]|[| [controller reset]|]|\n",
    // scvg summaries and releases, Go 1.0 - 1.13 (a negative round prints `-` apart)
    "scvg|[|-|]|#N|: inuse: |#N|, idle: |#N|, sys: |#N|, released: |#N|, consumed: |#N| (MB)\n",
    "scvg: inuse: |#N|, idle: |#N|, sys: |#N|, released: |#N|, consumed: |#N| (MB)\n",
    "forced scvg: inuse: |#N|, idle: |#N|, sys: |#N|, released: |#N|, consumed: |#N| (MB)\n",
    "scvg|[|-|]|#N|: |#N| MB released\n",
    "scvg|#N|: |#H| MB released\n",
    "scvg: |#N| MB released\n",
    "forced scvg: |#N| MB released\n",
    "scvg|#N|: GC forced\n",
    "GC forced\n",
    // Go 1.0 - 1.4 (C printf: each literal run and each argument is a write)
    "gc|#G|(|#N|): |#N|+|#N|+|#N| ms |#N| -> |#N| MB |#N| -> |#N| (|#N|-|#N|) objects |#N| handoff\n",
    "gc|#G|(|#N|): |#N|+|#N|+|#N| ms, |#N| -> |#N| MB |#N| -> |#N| (|#N|-|#N|) objects, |#N|(|#N|) handoff, |#N|(|#N|) steal, |#N|/|#N|/|#N| yields\n",
    "gc|#G|(|#N|): |#N|+|#N|+|#N|+|#N| us, |#N| -> |#N| MB, |#N| (|#N|-|#N|) objects, |[|#N| goroutines, |]|#N|/|#N|/|#N| sweeps, |#N|(|#N|) handoff, |#N|(|#N|) steal, |#N|/|#N|/|#N| yields\n",
];

/// Every shape, optional runs expanded.
pub fn shapes() -> &'static [Shape] {
    static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| SPECS.iter().flat_map(|spec| expand(spec)).collect())
}

/// For each spec, the text pieces every one of its shapes has, in order
/// (optional runs left out; identical lists once): all of them in order is
/// necessary for any record of the spec.
pub fn required_texts() -> &'static [Vec<&'static str>] {
    static TEXTS: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let mut out: Vec<Vec<&'static str>> = Vec::new();
        for spec in SPECS {
            let mut depth = 0;
            let mut lits = Vec::new();
            for token in spec.split('|') {
                match token {
                    "[" => depth += 1,
                    "]" => depth -= 1,
                    t if depth == 0 && !t.starts_with('#') => lits.push(t),
                    _ => {}
                }
            }
            if !out.contains(&lits) {
                out.push(lits);
            }
        }
        out
    })
}

fn piece(token: &'static str) -> Piece {
    match token {
        "#G" => Piece::GcNumber,
        "#P" => Piece::Procs,
        "#C" => Piece::CpuPct,
        "#N" => Piece::Uint,
        "#T" => Piece::At,
        "#F" => Piece::Millis,
        "#H" => Piece::Hex,
        lit => Piece::Lit(lit),
    }
}

/// All combinations of the optional runs of one spec.
fn expand(spec: &'static str) -> Vec<Shape> {
    // Split into segments: Ok(piece) always present, Err(run) optional.
    let mut segments: Vec<Result<Piece, Vec<Piece>>> = Vec::new();
    let mut optional: Option<Vec<Piece>> = None;
    for token in spec.split('|') {
        match (token, optional.as_mut()) {
            ("[", _) => optional = Some(Vec::new()),
            ("]", _) => segments.push(Err(optional.take().unwrap_or_default())),
            (t, Some(run)) => run.push(piece(t)),
            (t, None) => segments.push(Ok(piece(t))),
        }
    }
    let runs = segments.iter().filter(|s| s.is_err()).count();
    (0..1u32 << runs)
        .map(|mask| {
            let mut pieces = Vec::new();
            let mut bit = 0;
            for seg in &segments {
                match seg {
                    Ok(p) => pieces.push(*p),
                    Err(run) => {
                        if mask & (1 << bit) != 0 {
                            pieces.extend(run.iter().copied());
                        }
                        bit += 1;
                    }
                }
            }
            let family = family(&pieces);
            Shape { pieces, family }
        })
        .collect()
}

fn family(pieces: &[Piece]) -> Family {
    let has = |lit: &'static str| pieces.contains(&Piece::Lit(lit));
    match pieces.first() {
        Some(Piece::Lit("gc ")) if has(" MB stacks, ") => Family::Gc(GcFormat::Go1_18),
        Some(Piece::Lit("gc ")) if pieces.iter().filter(|p| **p == Piece::Lit("+")).count() > 5 => {
            Family::Gc(GcFormat::Go1_5)
        }
        Some(Piece::Lit("gc ")) => Family::Gc(GcFormat::Go1_6),
        Some(Piece::Lit("scav ")) if has(" KiB now, ") => Family::Scav(ScavFormat::Go1_21),
        Some(Piece::Lit("scav ")) if pieces.get(2) == Some(&Piece::Lit(" ")) => {
            Family::Scav(ScavFormat::Go1_15)
        }
        Some(Piece::Lit("scav ")) => Family::Scav(ScavFormat::Go1_14),
        _ => Family::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_runs_expand() {
        // gc 1.6+: leak check x stacks/globals x forced
        let gc: Vec<_> = shapes()
            .iter()
            .filter(|s| s.pieces[0] == Piece::Lit("gc "))
            .collect();
        assert_eq!(gc.len(), 8 + 2);
        for s in shapes() {
            let Some(Piece::Lit(last)) = s.pieces.last() else {
                panic!("{s:?} must end in text")
            };
            assert!(last.ends_with('\n'), "{s:?}");
            assert!(matches!(s.pieces[0], Piece::Lit(_)), "{s:?}");
        }
        let count = |f: Family| shapes().iter().filter(|s| s.family == f).count();
        assert_eq!(count(Family::Gc(GcFormat::Go1_18)), 4);
        assert_eq!(count(Family::Gc(GcFormat::Go1_6)), 4);
        assert_eq!(count(Family::Gc(GcFormat::Go1_5)), 2);
        assert_eq!(count(Family::Scav(ScavFormat::Go1_21)), 4);
        assert_eq!(count(Family::Scav(ScavFormat::Go1_15)), 4);
    }
}
