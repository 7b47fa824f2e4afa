//! Number fragments shared by every record grammar: unsigned decimals that
//! refuse to overflow, the runtime's millisecond and second decimals, and hex.
//!
//! The hot ones are `#[inline(always)]`: a gc record runs them some thirty
//! times, and inlined their `IResult`s live in registers instead of memory
//! (a tenth fewer instructions per record, measured with callgrind).

use nom::bytes::complete::{tag, take_while1};
use nom::combinator::{map_opt, opt};
use nom::error::{Error, ErrorKind};
use nom::{IResult, Parser};

use crate::trace::event::Terms;

pub type In<'a> = &'a [u8];

/// Digits to u64; `None` past `u64::MAX`, so an absurd number makes the record
/// unparseable instead of wrapping.
pub fn digits_to_u64(d: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in d {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fn error<T>(i: In, kind: ErrorKind) -> IResult<In, T> {
    Err(nom::Err::Error(Error::new(i, kind)))
}

/// Exactly `text`: nom's `tag` for a byte literal, minus its generic
/// machinery (it runs a dozen times per record).
#[inline(always)]
pub fn lit<'a>(i: In<'a>, text: &[u8]) -> IResult<In<'a>, ()> {
    match i.strip_prefix(text) {
        Some(rest) => Ok((rest, ())),
        None => error(i, ErrorKind::Tag),
    }
}

/// `text` if it is there: `opt(tag(text))` as a flag. Usually absent, so
/// the first byte decides before a long literal is compared.
#[inline(always)]
pub fn opt_lit<'a>(i: In<'a>, text: &[u8]) -> IResult<In<'a>, bool> {
    if i.first() == text.first()
        && let Some(rest) = i.strip_prefix(text)
    {
        return Ok((rest, true));
    }
    Ok((i, false))
}

/// Leading digits of `i` folded into `acc` (wrapping past 19 digits):
/// the new value and how many digits there were.
#[inline(always)]
fn fold_digits(i: In, mut acc: u64) -> (u64, usize) {
    let mut n = 0;
    for &b in i {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        acc = acc.wrapping_mul(10).wrapping_add(u64::from(d));
        n += 1;
    }
    (acc, n)
}

/// `123`: one pass over the digits, refusing overflow.
#[inline(always)]
pub fn uint(i: In) -> IResult<In, u64> {
    let (v, n) = fold_digits(i, 0);
    match n {
        0 => error(i, ErrorKind::Digit),
        // 19 digits cannot overflow a u64.
        1..=19 => Ok((&i[n..], v)),
        _ => match digits_to_u64(&i[..n]) {
            Some(v) => Ok((&i[n..], v)),
            None => error(i, ErrorKind::MapOpt),
        },
    }
}

/// `-1` or `7`: the runtime prints a negative integer as `-` then digits.
pub fn int(i: In) -> IResult<In, i64> {
    let (i, neg) = opt(tag("-")).parse(i)?;
    let (i, v) = map_opt(uint, |v| i64::try_from(v).ok()).parse(i)?;
    Ok((i, if neg.is_some() { -v } else { v }))
}

/// `0.016`, `12`, `1.0`: fmtNSAsMS output, and the `@0.315` seconds. One
/// pass; an exact integer over a power of ten is correctly rounded by IEEE
/// division, which covers every value the runtime prints but the absurd.
#[inline(always)]
pub fn decimal(i: In) -> IResult<In, f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    // Digits accumulate as they are scanned; 15 digits stay below 2^53, so
    // the mantissa is exact.
    let (mant, int) = fold_digits(i, 0);
    if int == 0 {
        return error(i, ErrorKind::Digit);
    }
    let (mant, frac) = match i.get(int) {
        Some(b'.') => fold_digits(&i[int + 1..], mant),
        _ => (mant, 0),
    };
    let n = if frac > 0 { int + 1 + frac } else { int };
    let value = if int + frac <= 15 {
        // Below 2^53, so the signed conversion (one instruction) is exact.
        mant as i64 as f64 / POW10[frac]
    } else {
        match std::str::from_utf8(&i[..n])
            .ok()
            .and_then(|t| t.parse().ok())
        {
            Some(v) => v,
            None => return error(i, ErrorKind::Float),
        }
    };
    Ok((&i[n..], value))
}

/// `0x1f`: Go 1.0/1.1 printed scavenger amounts with `%p`.
pub fn hex(i: In) -> IResult<In, u64> {
    let (i, _) = tag("0x").parse(i)?;
    map_opt(take_while1(|b: u8| b.is_ascii_hexdigit()), |h: &[u8]| {
        u64::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    })
    .parse(i)
}

/// Decimals joined by separators, e.g. `0.042+0.11/0.50/0.10+0.082`.
#[derive(Debug, Clone, Copy)]
pub struct Joined {
    pub terms: Terms,
    seps: [u8; Terms::CAPACITY],
}

impl Joined {
    /// The separators between the terms, in order.
    pub fn seps(&self) -> &[u8] {
        &self.seps[..self.terms.len().saturating_sub(1)]
    }
}

/// Up to [`Terms::CAPACITY`] decimals joined by any byte of `seps`.
#[inline(always)]
pub fn joined<'a>(i: In<'a>, seps: &[u8]) -> IResult<In<'a>, Joined> {
    let mut values = [0.0; Terms::CAPACITY];
    let mut used = [0u8; Terms::CAPACITY];
    let (mut i, first) = decimal(i)?;
    values[0] = first;
    let mut n = 1;
    while let Some((&sep, rest)) = i.split_first() {
        if !seps.contains(&sep) || n == Terms::CAPACITY {
            break;
        }
        let Ok((rest, v)) = decimal(rest) else { break };
        values[n] = v;
        used[n - 1] = sep;
        n += 1;
        i = rest;
    }
    let terms = Terms::from_parts(values, n);
    Ok((i, Joined { terms, seps: used }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_std_parse() {
        for s in [
            "0",
            "0.016",
            "0.050",
            "0.60",
            "1.0",
            "9.9",
            "12",
            "4500",
            "18446744073709",
            "0.315",
            "18445023415.341",
        ] {
            let (_, v) = decimal(s.as_bytes()).unwrap();
            assert_eq!(v, s.parse::<f64>().unwrap(), "{s}");
        }
    }

    #[test]
    fn uint_refuses_overflow() {
        assert_eq!(uint(b"18446744073709551615").unwrap().1, u64::MAX);
        assert!(uint(b"18446744073709551616").is_err());
    }

    #[test]
    fn negative_round() {
        assert_eq!(int(b"-1:").unwrap(), (&b":"[..], -1));
    }

    #[test]
    fn hex_amount() {
        assert_eq!(hex(b"0x1f MB").unwrap(), (&b" MB"[..], 31));
    }
}
