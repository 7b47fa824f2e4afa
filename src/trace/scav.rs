//! Grammar of the scavenger records: `scav` (scavtrace=1, Go 1.14+), the
//! `scvg` summaries and `released` lines of Go 1.0-1.13, and `GC forced`.
//! Input is one clean record without its newline.

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::combinator::{map, opt, value};
use nom::{IResult, Parser};

use super::num::{In, hex, int, lit, opt_lit, uint};
use crate::trace::event::{GcForced, Scav, ScavFormat, Scvg, ScvgReleased};

/// `scav 0 KiB work (bg), 6256 KiB work (eager), 26056 KiB now, 99% util (forced)` (1.21+),
/// `scav 3 5096 KiB work, 21920 KiB total, 99% util [controller reset]` (1.15-1.18),
/// `scav 5096 KiB work, 21920 KiB total, 99% util` (1.14, 1.19, 1.20).
pub fn scav(i: In) -> IResult<In, Scav> {
    let (i, _) = lit(i, b"scav ")?;
    let (i, (format, generation, work_kib, bg_eager, released_kib)) =
        alt((work_bg_eager, work_total)).parse(i)?;
    // `, 99% util`
    let (i, _) = lit(i, b", ")?;
    let (i, util_pct) = uint(i)?;
    let (i, _) = lit(i, b"% util")?;
    // ` (forced)` | ` [controller reset]`
    let (i, suffix) = opt(alt((
        value(true, tag(" (forced)")),
        value(false, tag(" [controller reset]")),
    )))
    .parse(i)?;
    let s = Scav {
        format,
        generation,
        work_kib,
        work_bg_kib: bg_eager.map(|b| b.0),
        work_eager_kib: bg_eager.map(|b| b.1),
        released_kib,
        util_pct,
        forced: suffix == Some(true),
        controller_reset: suffix == Some(false),
    };
    Ok((i, s))
}

type WorkFields = (ScavFormat, Option<u64>, u64, Option<(u64, u64)>, u64);

/// `0 KiB work (bg), 6256 KiB work (eager), 26056 KiB now`
fn work_bg_eager(i: In) -> IResult<In, WorkFields> {
    let (i, bg) = uint(i)?;
    let (i, _) = lit(i, b" KiB work (bg), ")?;
    let (i, eager) = uint(i)?;
    let (i, _) = lit(i, b" KiB work (eager), ")?;
    let (i, now) = uint(i)?;
    let (i, _) = lit(i, b" KiB now")?;
    let work = bg.saturating_add(eager);
    Ok((i, (ScavFormat::Go1_21, None, work, Some((bg, eager)), now)))
}

/// `3 5096 KiB work, 21920 KiB total` (with generation) or `5096 KiB work, 21920 KiB total`
fn work_total(i: In) -> IResult<In, WorkFields> {
    let with_gen = map((uint, tag(" "), work_kib_total), |(g, _, wt)| (Some(g), wt));
    let without = map(work_kib_total, |wt| (None, wt));
    let (i, (generation, (work, total))) = alt((with_gen, without)).parse(i)?;
    let format = if generation.is_some() {
        ScavFormat::Go1_15
    } else {
        ScavFormat::Go1_14
    };
    Ok((i, (format, generation, work, None, total)))
}

/// `5096 KiB work, 21920 KiB total`
fn work_kib_total(i: In) -> IResult<In, (u64, u64)> {
    let (i, work) = uint(i)?;
    let (i, _) = lit(i, b" KiB work, ")?;
    let (i, total) = uint(i)?;
    let (i, _) = lit(i, b" KiB total")?;
    Ok((i, (work, total)))
}

/// `scvg12: `, `scvg-1: `, `scvg: `, `forced scvg: ` with the round and whether forced.
fn scvg_head(i: In) -> IResult<In, (Option<i64>, bool)> {
    let (i, forced) = opt_lit(i, b"forced ")?;
    let (i, _) = lit(i, b"scvg")?;
    let (i, round) = opt(int).parse(i)?;
    let (i, _) = lit(i, b": ")?;
    Ok((i, (round, forced || round == Some(-1))))
}

/// `scvg3: inuse: 4, idle: 1, sys: 5, released: 0, consumed: 5 (MB)`
pub fn scvg(i: In) -> IResult<In, Scvg> {
    let (i, (round, forced)) = scvg_head(i)?;
    let (i, _) = lit(i, b"inuse: ")?;
    let (i, inuse_mb) = uint(i)?;
    let (i, _) = lit(i, b", idle: ")?;
    let (i, idle_mb) = uint(i)?;
    let (i, _) = lit(i, b", sys: ")?;
    let (i, sys_mb) = uint(i)?;
    let (i, _) = lit(i, b", released: ")?;
    let (i, released_mb) = uint(i)?;
    let (i, _) = lit(i, b", consumed: ")?;
    let (i, consumed_mb) = uint(i)?;
    let (i, _) = lit(i, b" (MB)")?;
    let s = Scvg {
        round,
        inuse_mb,
        idle_mb,
        sys_mb,
        released_mb,
        consumed_mb,
        forced,
    };
    Ok((i, s))
}

/// `scvg3: 12 MB released`, `scvg0: 0x1f MB released` (1.0, 1.1 print hex)
pub fn scvg_released(i: In) -> IResult<In, ScvgReleased> {
    let (i, (round, forced)) = scvg_head(i)?;
    let (i, freed_mb) = alt((hex, uint)).parse(i)?;
    let (i, _) = lit(i, b" MB released")?;
    Ok((
        i,
        ScvgReleased {
            round,
            freed_mb,
            forced,
        },
    ))
}

/// `GC forced` (1.4+), `scvg3: GC forced` (1.0-1.3)
pub fn gc_forced(i: In) -> IResult<In, GcForced> {
    let scvg_round = map((tag("scvg"), int, tag(": GC forced")), |(_, r, _)| Some(r));
    alt((value(None, tag("GC forced")), scvg_round))
        .map(|round| GcForced { round })
        .parse(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scav_shapes() {
        let (r, s) =
            scav(b"scav 0 KiB work (bg), 6256 KiB work (eager), 26056 KiB now, 99% util (forced)")
                .unwrap();
        assert!(r.is_empty());
        assert_eq!(
            (s.format, s.work_kib, s.released_kib, s.util_pct, s.forced),
            (ScavFormat::Go1_21, 6256, 26056, 99, true)
        );
        let (_, s) =
            scav(b"scav 3 5096 KiB work, 21920 KiB total, 99% util [controller reset]").unwrap();
        assert_eq!(
            (s.format, s.generation, s.controller_reset, s.forced),
            (ScavFormat::Go1_15, Some(3), true, false)
        );
        let (_, s) = scav(b"scav 5096 KiB work, 21920 KiB total, 27% util").unwrap();
        assert_eq!(
            (s.format, s.generation, s.work_kib),
            (ScavFormat::Go1_14, None, 5096)
        );
    }

    #[test]
    fn scvg_shapes() {
        let (_, s) =
            scvg(b"scvg-1: inuse: 4, idle: 1, sys: 5, released: 0, consumed: 5 (MB)").unwrap();
        assert_eq!((s.round, s.forced, s.consumed_mb), (Some(-1), true, 5));
        let (_, s) =
            scvg(b"forced scvg: inuse: 4, idle: 1, sys: 5, released: 1, consumed: 4 (MB)").unwrap();
        assert_eq!((s.round, s.forced), (None, true));
        let (_, r) = scvg_released(b"scvg0: 0x1f MB released").unwrap();
        assert_eq!(r.freed_mb, 31);
        let (_, f) = gc_forced(b"scvg2: GC forced").unwrap();
        assert_eq!(f.round, Some(2));
    }
}
