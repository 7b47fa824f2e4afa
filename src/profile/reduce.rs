//! A decoded heap profile reduced to what the page shows: per function (the
//! function that allocated, the leaf of each stack) and per call path, the
//! in-use and allocated bytes and objects.
//!
//! In: a [`Profile`]. Out: a [`Reduced`] whose size is bounded whatever
//! the profile held ([`MAX_FUNCTIONS`], [`MAX_STACKS`], [`MAX_FRAMES`]);
//! totals stay exact, what was left out is counted. Pure: no I/O, no clock,
//! no panic on any profile.

use std::collections::HashMap;

use serde::Serialize;

use super::proto::{DecodeError, Profile};

/// Functions kept per profile.
pub const MAX_FUNCTIONS: usize = 2000;
/// Call paths kept per profile.
pub const MAX_STACKS: usize = 2000;
/// Frames kept per call path, from the leaf (the root end is cut).
pub const MAX_FRAMES: usize = 64;

/// The four figures of a heap profile, as Go's `net/http/pprof` reports
/// them (already scaled up from the sampled allocations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Values {
    pub inuse_bytes: i64,
    pub inuse_objects: i64,
    pub alloc_bytes: i64,
    pub alloc_objects: i64,
}

impl Values {
    fn add(&mut self, o: &Values) {
        self.inuse_bytes = self.inuse_bytes.saturating_add(o.inuse_bytes);
        self.inuse_objects = self.inuse_objects.saturating_add(o.inuse_objects);
        self.alloc_bytes = self.alloc_bytes.saturating_add(o.alloc_bytes);
        self.alloc_objects = self.alloc_objects.saturating_add(o.alloc_objects);
    }

    /// `self - o`, figure by figure.
    pub fn minus(&self, o: &Values) -> Values {
        Values {
            inuse_bytes: self.inuse_bytes.saturating_sub(o.inuse_bytes),
            inuse_objects: self.inuse_objects.saturating_sub(o.inuse_objects),
            alloc_bytes: self.alloc_bytes.saturating_sub(o.alloc_bytes),
            alloc_objects: self.alloc_objects.saturating_sub(o.alloc_objects),
        }
    }
}

/// One call path, leaf first, as indices into [`Reduced::names`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub frames: Box<[u32]>,
    pub values: Values,
}

/// A heap profile as the page needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reduced {
    /// Function names; [`Stack::frames`] and `functions` index into it.
    pub names: Vec<Box<str>>,
    /// Per allocating function (the leaf frame), largest in-use first.
    pub functions: Vec<(u32, Values)>,
    /// Per call path, largest in-use first.
    pub stacks: Vec<Stack>,
    /// Over every sample, kept or not.
    pub total: Values,
    /// Functions and call paths left out by the bounds.
    pub dropped_functions: usize,
    pub dropped_stacks: usize,
}

impl Reduced {
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |s| s)
    }
}

/// Reduces a decoded heap profile. Samples that point at locations or
/// functions the profile does not hold count toward the totals under `?`.
pub fn reduce(p: &Profile) -> Result<Reduced, DecodeError> {
    let ix = |t, u| p.value_index(t, u);
    let (Some(ib), Some(io)) = (ix("inuse_space", "bytes"), ix("inuse_objects", "count")) else {
        return Err(DecodeError::NotHeap);
    };
    let (ab, ao) = (ix("alloc_space", "bytes"), ix("alloc_objects", "count"));
    let locations: HashMap<u64, &super::proto::Location> =
        p.location.iter().map(|l| (l.id, l)).collect();
    let function_names: HashMap<u64, i64> = p.function.iter().map(|f| (f.id, f.name)).collect();

    let mut names: Vec<Box<str>> = Vec::new();
    let mut name_ids: HashMap<i64, u32> = HashMap::new();
    let mut unknown: Option<u32> = None;
    let mut by_stack: HashMap<Box<[u32]>, Values> = HashMap::new();
    let mut by_function: HashMap<u32, Values> = HashMap::new();
    let mut total = Values::default();
    let mut frames: Vec<u32> = Vec::new();

    for s in &p.sample {
        let get = |i: Option<usize>| i.and_then(|i| s.value.get(i)).copied().unwrap_or(0);
        let v = Values {
            inuse_bytes: get(Some(ib)),
            inuse_objects: get(Some(io)),
            alloc_bytes: get(ab),
            alloc_objects: get(ao),
        };
        total.add(&v);
        frames.clear();
        'stack: for loc in &s.location_id {
            let lines = locations.get(loc).map(|l| &l.line[..]).unwrap_or(&[]);
            // An address without symbols still takes a place in the path.
            if lines.is_empty() {
                frames.push(*unknown.get_or_insert_with(|| intern_name(&mut names, "?")));
            }
            for line in lines {
                if frames.len() == MAX_FRAMES {
                    break 'stack;
                }
                let id = match function_names.get(&line.function_id) {
                    Some(&n) => *name_ids
                        .entry(n)
                        .or_insert_with(|| intern_name(&mut names, p.string(n))),
                    None => *unknown.get_or_insert_with(|| intern_name(&mut names, "?")),
                };
                frames.push(id);
            }
            if frames.len() >= MAX_FRAMES {
                frames.truncate(MAX_FRAMES);
                break;
            }
        }
        let leaf = match frames.first() {
            Some(&f) => f,
            None => *unknown.get_or_insert_with(|| intern_name(&mut names, "?")),
        };
        by_function.entry(leaf).or_default().add(&v);
        by_stack
            .entry(frames.as_slice().into())
            .or_default()
            .add(&v);
    }

    let functions: Vec<(u32, Values)> = by_function.into_iter().collect();
    let (functions, dropped_functions) = keep_largest(functions, MAX_FUNCTIONS, |(_, v)| v);
    let stacks: Vec<Stack> = by_stack
        .into_iter()
        .map(|(frames, values)| Stack { frames, values })
        .collect();
    let (stacks, dropped_stacks) = keep_largest(stacks, MAX_STACKS, |s| &s.values);
    let mut out = Reduced {
        names,
        functions,
        stacks,
        total,
        dropped_functions,
        dropped_stacks,
    };
    prune_names(&mut out);
    Ok(out)
}

fn intern_name(names: &mut Vec<Box<str>>, name: &str) -> u32 {
    names.push(if name.is_empty() { "?" } else { name }.into());
    names.len() as u32 - 1
}

/// The `max` rows that matter most: the largest in-use, and a quarter of
/// the places for the largest allocators (what churns need not be in use).
/// Sorted largest in-use first; returns how many were dropped.
fn keep_largest<T>(
    mut rows: Vec<T>,
    max: usize,
    values: impl Fn(&T) -> &Values,
) -> (Vec<T>, usize) {
    let by_inuse = |a: &T, b: &T| {
        let (a, b) = (values(a), values(b));
        b.inuse_bytes
            .cmp(&a.inuse_bytes)
            .then(b.alloc_bytes.cmp(&a.alloc_bytes))
    };
    if rows.len() <= max {
        rows.sort_by(by_inuse);
        return (rows, 0);
    }
    let dropped = rows.len() - max;
    rows.sort_by(by_inuse);
    let for_alloc = max / 4;
    let mut rest = rows.split_off(max - for_alloc);
    rest.sort_by_key(|r| std::cmp::Reverse(values(r).alloc_bytes));
    rest.truncate(for_alloc);
    rows.extend(rest);
    rows.sort_by(by_inuse);
    (rows, dropped)
}

/// Drops the names no kept row refers to, renumbering the rest.
fn prune_names(r: &mut Reduced) {
    let mut used = vec![false; r.names.len()];
    for (f, _) in &r.functions {
        used[*f as usize] = true;
    }
    for s in &r.stacks {
        for f in s.frames.iter() {
            used[*f as usize] = true;
        }
    }
    let mut new_id = vec![u32::MAX; r.names.len()];
    let mut names = Vec::with_capacity(used.iter().filter(|u| **u).count());
    for (i, name) in std::mem::take(&mut r.names).into_iter().enumerate() {
        if used[i] {
            new_id[i] = names.len() as u32;
            names.push(name);
        }
    }
    r.names = names;
    for (f, _) in &mut r.functions {
        *f = new_id[*f as usize];
    }
    for s in &mut r.stacks {
        for f in s.frames.iter_mut() {
            *f = new_id[*f as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::proto::tests::heap_profile;
    use super::*;

    fn v(inuse_bytes: i64, alloc_bytes: i64) -> [i64; 4] {
        // alloc_objects, alloc_space, inuse_objects, inuse_space
        [alloc_bytes / 64, alloc_bytes, inuse_bytes / 64, inuse_bytes]
    }

    #[test]
    fn the_leaf_owns_the_allocation_and_paths_keep_their_callers() {
        let p = heap_profile(&[
            (&["main.leak", "main.serve", "main.main"], v(4096, 8192)),
            (&["main.leak", "main.other", "main.main"], v(1024, 1024)),
            (&["main.churn", "main.main"], v(64, 1 << 20)),
        ]);
        let r = reduce(&p).unwrap();
        let (f, vals) = r.functions[0];
        assert_eq!(r.name(f), "main.leak");
        assert_eq!(vals.inuse_bytes, 5120);
        assert_eq!(vals.alloc_bytes, 9216);
        assert_eq!(r.name(r.functions[1].0), "main.churn");
        assert_eq!(r.total.inuse_bytes, 5184);
        let top: Vec<&str> = r.stacks[0].frames.iter().map(|&f| r.name(f)).collect();
        assert_eq!(top, ["main.leak", "main.serve", "main.main"]);
        assert_eq!(r.stacks.len(), 3);
    }

    #[test]
    fn a_profile_without_heap_values_is_refused() {
        let mut p = heap_profile(&[(&["main.f"], v(1, 1))]);
        p.sample_type.truncate(2);
        assert_eq!(reduce(&p), Err(DecodeError::NotHeap));
    }

    #[test]
    fn bounds_hold_and_totals_stay_exact() {
        let names: Vec<String> = (0..MAX_FUNCTIONS + 500)
            .map(|i| format!("pkg.f{i}"))
            .collect();
        let stacks: Vec<Vec<&str>> = names.iter().map(|n| vec![n.as_str()]).collect();
        let samples: Vec<(&[&str], [i64; 4])> = stacks
            .iter()
            .enumerate()
            .map(|(i, s)| (&s[..], v(i as i64, 10_000_000 - i as i64)))
            .collect();
        let r = reduce(&heap_profile(&samples)).unwrap();
        assert_eq!(r.functions.len(), MAX_FUNCTIONS);
        assert_eq!(r.dropped_functions, 500);
        assert_eq!(r.stacks.len(), MAX_STACKS);
        let n = (MAX_FUNCTIONS + 500) as i64;
        assert_eq!(r.total.inuse_bytes, n * (n - 1) / 2);
        // The largest in use is kept, and so is the largest allocator.
        assert_eq!(r.name(r.functions[0].0), format!("pkg.f{}", n - 1));
        assert!(r.functions.iter().any(|(f, _)| r.name(*f) == "pkg.f0"));
        // Names only for what is kept.
        assert_eq!(r.names.len(), MAX_FUNCTIONS);
    }

    #[test]
    fn deep_stacks_are_cut_at_the_root_end() {
        let names: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
        let stack: Vec<&str> = names.iter().map(String::as_str).collect();
        let r = reduce(&heap_profile(&[(&stack[..], v(1, 1))])).unwrap();
        assert_eq!(r.stacks[0].frames.len(), MAX_FRAMES);
        assert_eq!(r.name(r.stacks[0].frames[0]), "f0");
    }
}
