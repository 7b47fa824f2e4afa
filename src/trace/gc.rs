//! Grammar of the gc records: Go 1.5+ (`gc N @T s P%: ...`) and Go 1.0-1.4
//! (`gcN(H): ...`). Input is one clean record without its newline.

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{map, opt, value};
use nom::error::{Error, ErrorKind};
use nom::{IResult, Parser};

use super::num::{In, decimal, joined, lit, opt_lit, uint};
use crate::trace::event::{Gc, GcFormat, LegacyFormat, LegacyGc};

fn fail<T>(i: In) -> IResult<In, T> {
    Err(nom::Err::Error(Error::new(i, ErrorKind::Verify)))
}

/// `gc 12 @0.315s 3%: 0.021+1.4+0.041 ms clock, 0.042+0.11/0.50/0.10+0.082 ms cpu,
/// 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)`
#[inline(always)]
pub fn gc(i: In) -> IResult<In, Gc> {
    // `gc 12` (`gc #12` in the 1.5 betas)
    let (i, _) = lit(i, b"gc ")?;
    let (i, _) = opt_lit(i, b"#")?;
    let (i, gc) = uint(i)?;
    // ` @0.315s 3%`
    let (i, _) = lit(i, b" @")?;
    let (i, at_s) = decimal(i)?;
    let (i, _) = lit(i, b"s ")?;
    let (i, cpu_pct) = uint(i)?;
    let (i, _) = lit(i, b"%")?;
    // ` (checking for goroutine leaks)`: Go 1.26+
    let (i, leak) = opt_lit(i, b" (checking for goroutine leaks)")?;
    // `: 0.021+1.4+0.041 ms clock, `
    let (i, _) = lit(i, b": ")?;
    let (i, clock) = joined(i, b"+")?;
    let (i, _) = lit(i, b" ms clock, ")?;
    // `0.042+0.11/0.50/0.10+0.082 ms cpu, `
    let (i, cpu) = joined(i, b"+/")?;
    let (i, _) = lit(i, b" ms cpu, ")?;
    // `4->5->2 MB, `
    let (i, heap_start_mb) = uint(i)?;
    let (i, _) = lit(i, b"->")?;
    let (i, heap_end_mb) = uint(i)?;
    let (i, _) = lit(i, b"->")?;
    let (i, heap_live_mb) = uint(i)?;
    let (i, _) = lit(i, b" MB, ")?;
    // `5 MB goal, `
    let (i, heap_goal_mb) = uint(i)?;
    let (i, _) = lit(i, b" MB goal, ")?;
    // `0 MB stacks, 0 MB globals, `: Go 1.18+
    let (i, scan) = opt(stacks_globals).parse(i)?;
    // `2 P (forced)`
    let (i, procs) = uint(i)?;
    let (i, _) = lit(i, b" P")?;
    let (i, forced) = opt_lit(i, b" (forced)")?;

    let format = match (clock.terms.len(), cpu.seps(), scan) {
        (3, b"+//+", Some(_)) => GcFormat::Go1_18,
        (3, b"+//+", None) => GcFormat::Go1_6,
        (5, b"+++//+", None) => GcFormat::Go1_5,
        _ => return fail(i),
    };
    let c = clock.terms.as_slice();
    let u = cpu.terms.as_slice();
    // Go 1.5: sweep termination, scan, install write barrier (STW), mark,
    // mark termination; the three STW phases count as the pause.
    let (stw_ms, mark_ms, mark_cpu) = match format {
        GcFormat::Go1_5 => (c[0] + c[2] + c[4], c[1] + c[3], &u[3..6]),
        _ => (c[0] + c[2], c[1], &u[1..4]),
    };
    let idle_cpu_ms = mark_cpu[2];
    let g = Gc {
        format,
        gc,
        at_s,
        cpu_pct,
        leak_check: leak,
        clock_ms: clock.terms,
        cpu_ms: cpu.terms,
        heap_start_mb,
        heap_end_mb,
        heap_live_mb,
        heap_goal_mb,
        stacks_mb: scan.map(|s| s.0),
        globals_mb: scan.map(|s| s.1),
        procs,
        forced,
        stw_ms,
        mark_ms,
        assist_cpu_ms: mark_cpu[0],
        bg_cpu_ms: mark_cpu[1],
        idle_cpu_ms,
        gc_cpu_ms: cpu.terms.sum() - idle_cpu_ms,
    };
    Ok((i, g))
}

/// `0 MB stacks, 0 MB globals, `
fn stacks_globals(i: In) -> IResult<In, (u64, u64)> {
    let (i, stacks) = uint(i)?;
    let (i, _) = lit(i, b" MB stacks, ")?;
    let (i, globals) = uint(i)?;
    let (i, _) = lit(i, b" MB globals, ")?;
    Ok((i, (stacks, globals)))
}

/// `gc12(2): 0+1+2 ms, 3 -> 1 MB 30 -> 10 (50-40) objects, 0(0) handoff, 0(0) steal, 0/0/0 yields` (1.1),
/// `gc12(2): 1+2+3+4 us, 3 -> 1 MB, 10 (50-40) objects, 7 goroutines, 1/2/3 sweeps, ...` (1.3, 1.4),
/// `gc12(2): 0+1+2 ms 3 -> 1 MB 30 -> 10 (50-40) objects 0 handoff` (1.0).
pub fn legacy_gc(i: In) -> IResult<In, LegacyGc> {
    // `gc12(2): `
    let (i, _) = lit(i, b"gc")?;
    let (i, gc) = uint(i)?;
    let (i, _) = lit(i, b"(")?;
    let (i, helpers) = uint(i)?;
    let (i, _) = lit(i, b"): ")?;
    // `0+1+2 ms, ` / `1+2+3+4 us, ` / `0+1+2 ms `
    let (i, times) = joined(i, b"+")?;
    let (i, micro) = alt((value(false, tag(" ms")), value(true, tag(" us")))).parse(i)?;
    let (i, comma) = opt_lit(i, b",")?;
    // `3 -> 1 MB`
    let (i, _) = lit(i, b" ")?;
    let (i, heap_start_mb) = uint(i)?;
    let (i, _) = lit(i, b" -> ")?;
    let (i, heap_live_mb) = uint(i)?;
    let (i, _) = lit(i, b" MB")?;
    let (i, _) = opt_lit(i, b",")?;
    // ` 30 -> 10 (50-40) objects` / ` 10 (50-40) objects`
    let (i, _) = lit(i, b" ")?;
    let (i, objects_start) = opt(map((uint, tag(" -> ")), |(n, _)| n)).parse(i)?;
    let (i, objects_live) = uint(i)?;
    let (i, _) = lit(i, b" (")?;
    let (i, mallocs) = uint(i)?;
    let (i, _) = lit(i, b"-")?;
    let (i, frees) = uint(i)?;
    let (i, _) = lit(i, b") objects")?;
    let (i, _) = opt_lit(i, b",")?;
    // ` 7 goroutines,` (1.4)
    let (i, goroutines) =
        opt(map((tag(" "), uint, tag(" goroutines,")), |(_, n, _)| n)).parse(i)?;
    // ` 1/2/3 sweeps,` (1.3+)
    let (i, sweeps) = opt(map((tag(" "), triple, tag(" sweeps,")), |(_, t, _)| t)).parse(i)?;
    // ` 0(0) handoff` / ` 0 handoff`
    let (i, _) = lit(i, b" ")?;
    let (i, handoff) = uint(i)?;
    let (i, handoff_count) = opt(paren_uint).parse(i)?;
    let (i, _) = lit(i, b" handoff")?;
    // `, 0(0) steal`
    let (i, steal) = opt(map(
        (tag(", "), uint, paren_uint, tag(" steal")),
        |(_, s, c, _)| (s, c),
    ))
    .parse(i)?;
    // `, 0/0/0 yields`
    let (i, yields) = opt(map((tag(", "), triple, tag(" yields")), |(_, t, _)| t)).parse(i)?;

    let format = match (micro, comma, goroutines.is_some()) {
        (false, false, false) => LegacyFormat::Go1_0,
        (false, true, false) => LegacyFormat::Go1_1,
        (true, _, false) => LegacyFormat::Go1_3,
        (true, _, true) => LegacyFormat::Go1_4,
        (false, _, true) => return fail(i),
    };
    let total = times.terms.sum();
    let g = LegacyGc {
        format,
        gc,
        helpers,
        times_ms: (!micro).then_some(times.terms),
        times_us: micro.then_some(times.terms),
        heap_start_mb,
        heap_live_mb,
        objects_start,
        objects_live,
        mallocs,
        frees,
        goroutines,
        sweeps,
        handoff,
        handoff_count,
        steal: steal.map(|s| s.0),
        steal_count: steal.map(|s| s.1),
        yields,
        stw_ms: if micro { total / 1000.0 } else { total },
    };
    Ok((i, g))
}

/// `(0)`
fn paren_uint(i: In) -> IResult<In, u64> {
    map((tag("("), uint, tag(")")), |(_, n, _)| n).parse(i)
}

/// `1/2/3`
fn triple(i: In) -> IResult<In, [u64; 3]> {
    map((uint, tag("/"), uint, tag("/"), uint), |(a, _, b, _, c)| {
        [a, b, c]
    })
    .parse(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Gc {
        let (rest, g) = gc(s.as_bytes()).unwrap();
        assert!(rest.is_empty(), "left {:?}", String::from_utf8_lossy(rest));
        g
    }

    #[test]
    fn go1_27_line() {
        let g = parse(
            "gc 12 @0.315s 3%: 0.021+1.4+0.041 ms clock, 0.042+0.11/0.50/0.10+0.082 ms cpu, 4->5->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)",
        );
        assert_eq!(g.format, GcFormat::Go1_18);
        assert_eq!((g.gc, g.at_s, g.cpu_pct), (12, 0.315, 3));
        assert_eq!(g.clock_ms.as_slice(), &[0.021, 1.4, 0.041]);
        assert_eq!(g.cpu_ms.as_slice(), &[0.042, 0.11, 0.50, 0.10, 0.082]);
        assert_eq!(
            (
                g.heap_start_mb,
                g.heap_end_mb,
                g.heap_live_mb,
                g.heap_goal_mb
            ),
            (4, 5, 2, 5)
        );
        assert_eq!(
            (g.stacks_mb, g.globals_mb, g.procs, g.forced),
            (Some(0), Some(0), 2, true)
        );
        assert_eq!(g.stw_ms, 0.021 + 0.041);
        assert_eq!(g.mark_ms, 1.4);
        assert_eq!(g.assist_cpu_ms, 0.11);
        assert_eq!(g.idle_cpu_ms, 0.10);
    }

    #[test]
    fn go1_6_and_leak_check() {
        let g = parse(
            "gc 3 @1.000s 0%: 0+1.0+0 ms clock, 0+0/1.0/0+0 ms cpu, 4->4->0 MB, 5 MB goal, 8 P",
        );
        assert_eq!(
            (g.format, g.stacks_mb, g.forced),
            (GcFormat::Go1_6, None, false)
        );
        let g = parse(
            "gc 7 @2.500s 1% (checking for goroutine leaks): 0.01+0.2+0.003 ms clock, 0.02+0/0.3/0.1+0.006 ms cpu, 8->8->4 MB, 9 MB goal, 0 MB stacks, 1 MB globals, 4 P",
        );
        assert!(g.leak_check);
    }

    #[test]
    fn go1_5_five_phases() {
        let g = parse(
            "gc 2 @0.012s 4%: 0.10+0.20+0.030+1.0+0.050 ms clock, 0.20+0.40+0.06+0.10/0.80/0.20+0.10 ms cpu, 4->4->2 MB, 5 MB goal, 4 P",
        );
        assert_eq!(g.format, GcFormat::Go1_5);
        assert_eq!(g.stw_ms, 0.10 + 0.030 + 0.050);
        assert_eq!(g.assist_cpu_ms, 0.10);
    }

    #[test]
    fn mismatched_shapes_are_rejected() {
        // five clock phases with the 1.18 stacks/globals fields never existed
        assert!(gc(b"gc 2 @0.012s 4%: 0.1+0.2+0.3+1.0+0.5 ms clock, 0.2+0.4+0.06+0.1/0.8/0.2+0.1 ms cpu, 4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 4 P").is_err());
        assert!(gc(b"gc 2 @0.012s 4%: 0.1+0.2 ms clock, 0.2+0.1/0.8/0.2+0.1 ms cpu, 4->4->2 MB, 5 MB goal, 4 P").is_err());
    }

    #[test]
    fn legacy_formats() {
        let (_, g) =
            legacy_gc(b"gc12(2): 0+1+2 ms 3 -> 1 MB 30 -> 10 (50-40) objects 0 handoff").unwrap();
        assert_eq!(
            (g.format, g.objects_start, g.stw_ms),
            (LegacyFormat::Go1_0, Some(30), 3.0)
        );
        let (_, g) = legacy_gc(b"gc12(2): 0+1+2 ms, 3 -> 1 MB 30 -> 10 (50-40) objects, 5(6) handoff, 7(8) steal, 1/2/3 yields").unwrap();
        assert_eq!(
            (g.format, g.steal, g.yields),
            (LegacyFormat::Go1_1, Some(7), Some([1, 2, 3]))
        );
        let (_, g) = legacy_gc(b"gc12(2): 1000+2000+3000+4000 us, 3 -> 1 MB, 10 (50-40) objects, 7 goroutines, 1/2/3 sweeps, 0(0) handoff, 0(0) steal, 0/0/0 yields").unwrap();
        assert_eq!(
            (g.format, g.goroutines, g.stw_ms),
            (LegacyFormat::Go1_4, Some(7), 10.0)
        );
    }
}
