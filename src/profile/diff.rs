//! The difference between two reduced heap profiles: which functions' in-use
//! memory grew from one moment to the other, with the call paths that grew.
//!
//! In: two [`Reduced`] profiles, the older first. Out: rows per function,
//! largest growth first, at most `limit`, each with its few largest-growing
//! call paths. Pure: no I/O, no clock.

use std::collections::HashMap;

use serde::Serialize;

use super::reduce::{Reduced, Values};

/// Call paths shown per function.
pub const STACKS_PER_ROW: usize = 8;

/// What to order the rows by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    InuseBytes,
    InuseObjects,
}

/// One function's growth between the two profiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub function: String,
    /// In the newer profile.
    pub inuse_bytes: i64,
    pub inuse_objects: i64,
    pub alloc_bytes: i64,
    pub alloc_objects: i64,
    /// Newer minus older.
    pub inuse_bytes_delta: i64,
    pub inuse_objects_delta: i64,
    pub alloc_bytes_delta: i64,
    pub alloc_objects_delta: i64,
    /// Call paths ending in this function, largest growth first.
    pub stacks: Vec<StackRow>,
}

/// One call path's growth; `frames` leaf first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackRow {
    pub frames: Vec<String>,
    pub inuse_bytes: i64,
    pub inuse_bytes_delta: i64,
    pub inuse_objects_delta: i64,
    pub alloc_bytes_delta: i64,
}

/// Per function of either profile, newer minus older, in `order`, highest
/// first; ties by name so the answer is the same every time.
pub fn diff(from: &Reduced, to: &Reduced, order: Order, limit: usize) -> Vec<Row> {
    let mut by_fn: HashMap<&str, (Values, Values)> = HashMap::new();
    for (f, v) in &from.functions {
        by_fn.entry(from.name(*f)).or_default().0 = *v;
    }
    for (f, v) in &to.functions {
        by_fn.entry(to.name(*f)).or_default().1 = *v;
    }
    let key = |d: &Values| match order {
        Order::InuseBytes => (d.inuse_bytes, d.inuse_objects),
        Order::InuseObjects => (d.inuse_objects, d.inuse_bytes),
    };
    let mut rows: Vec<(&str, Values, Values)> = by_fn
        .into_iter()
        .map(|(name, (old, new))| (name, new, new.minus(&old)))
        .collect();
    rows.sort_by(|a, b| key(&b.2).cmp(&key(&a.2)).then(a.0.cmp(b.0)));
    rows.truncate(limit);

    let paths = stack_deltas(from, to);
    rows.into_iter()
        .map(|(name, new, d)| Row {
            function: name.to_string(),
            inuse_bytes: new.inuse_bytes,
            inuse_objects: new.inuse_objects,
            alloc_bytes: new.alloc_bytes,
            alloc_objects: new.alloc_objects,
            inuse_bytes_delta: d.inuse_bytes,
            inuse_objects_delta: d.inuse_objects,
            alloc_bytes_delta: d.alloc_bytes,
            alloc_objects_delta: d.alloc_objects,
            stacks: paths
                .get(name)
                .map(|p| top_paths(p, order))
                .unwrap_or_default(),
        })
        .collect()
}

type Path<'a> = Vec<&'a str>;

/// Per leaf function: each call path's (newer values, delta).
fn stack_deltas<'a>(
    from: &'a Reduced,
    to: &'a Reduced,
) -> HashMap<&'a str, Vec<(Path<'a>, Values, Values)>> {
    let mut paths: HashMap<Path<'a>, (Values, Values)> = HashMap::new();
    let path = |r: &'a Reduced, frames: &[u32]| -> Path<'a> {
        frames.iter().map(|&f| r.name(f)).collect()
    };
    for s in &from.stacks {
        paths.entry(path(from, &s.frames)).or_default().0 = s.values;
    }
    for s in &to.stacks {
        paths.entry(path(to, &s.frames)).or_default().1 = s.values;
    }
    let mut by_leaf: HashMap<&str, Vec<(Path<'a>, Values, Values)>> = HashMap::new();
    for (p, (old, new)) in paths {
        let leaf = p.first().copied().unwrap_or("?");
        by_leaf
            .entry(leaf)
            .or_default()
            .push((p, new, new.minus(&old)));
    }
    by_leaf
}

fn top_paths(paths: &[(Path<'_>, Values, Values)], order: Order) -> Vec<StackRow> {
    let key = |d: &Values| match order {
        Order::InuseBytes => (d.inuse_bytes, d.inuse_objects),
        Order::InuseObjects => (d.inuse_objects, d.inuse_bytes),
    };
    let mut sorted: Vec<&(Path<'_>, Values, Values)> = paths.iter().collect();
    sorted.sort_by(|a, b| key(&b.2).cmp(&key(&a.2)).then(a.0.cmp(&b.0)));
    sorted
        .into_iter()
        .take(STACKS_PER_ROW)
        .map(|(p, new, d)| StackRow {
            frames: p.iter().map(|s| s.to_string()).collect(),
            inuse_bytes: new.inuse_bytes,
            inuse_bytes_delta: d.inuse_bytes,
            inuse_objects_delta: d.inuse_objects,
            alloc_bytes_delta: d.alloc_bytes,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::proto::tests::heap_profile;
    use super::super::reduce::reduce;
    use super::*;

    fn v(inuse_bytes: i64, alloc_bytes: i64) -> [i64; 4] {
        [alloc_bytes / 64, alloc_bytes, inuse_bytes / 64, inuse_bytes]
    }

    #[test]
    fn the_function_whose_inuse_grew_most_comes_first_even_when_another_allocates_more() {
        let before = reduce(&heap_profile(&[
            (&["main.leak", "main.main"], v(1 << 20, 1 << 20)),
            (&["main.churn", "main.main"], v(4 << 20, 100 << 20)),
            (&["main.cache", "main.main"], v(8 << 20, 8 << 20)),
        ]))
        .unwrap();
        let after = reduce(&heap_profile(&[
            (&["main.churn", "main.main"], v(5 << 20, 900 << 20)),
            (
                &["main.leak", "main.serve", "main.main"],
                v(30 << 20, 30 << 20),
            ),
            (&["main.leak", "main.main"], v(1 << 20, 1 << 20)),
            (&["main.cache", "main.main"], v(2 << 20, 8 << 20)),
        ]))
        .unwrap();
        let rows = diff(&before, &after, Order::InuseBytes, 10);
        let names: Vec<&str> = rows.iter().map(|r| r.function.as_str()).collect();
        assert_eq!(names, ["main.leak", "main.churn", "main.cache"]);
        assert_eq!(rows[0].inuse_bytes_delta, 30 << 20);
        assert_eq!(rows[0].inuse_bytes, 31 << 20);
        assert_eq!(rows[2].inuse_bytes_delta, -(6 << 20));
        assert_eq!(rows[1].alloc_bytes_delta, 800 << 20);
        // The path that grew comes first; the one that did not is still there.
        assert_eq!(
            rows[0].stacks[0].frames,
            ["main.leak", "main.serve", "main.main"]
        );
        assert_eq!(rows[0].stacks[0].inuse_bytes_delta, 30 << 20);
        assert_eq!(rows[0].stacks[1].inuse_bytes_delta, 0);
        assert_eq!(diff(&before, &after, Order::InuseBytes, 1).len(), 1);
    }

    #[test]
    fn a_profile_against_itself_grows_nothing() {
        let p = reduce(&heap_profile(&[(&["main.f"], v(100, 200))])).unwrap();
        let rows = diff(&p, &p, Order::InuseObjects, 10);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].inuse_bytes_delta, 0);
        assert_eq!(rows[0].inuse_bytes, 100);
    }
}
