/* The page's data model: records and snapshot rows as columns (one plain
   array per value) that uPlot reads directly, kept sorted by time. Pure: no
   DOM, no network. */

export const KIND = { gc: 1, scav: 2, scvg: 3, scvg_released: 4, gc_forced: 5, rss: 6 };
// The first two are the snapshot's own `flags` bits: forced, and a summary
// row (one of the real cycles kept of a folded run, see src/store/history.rs).
export const F_FORCED = 1, F_AGG = 2, F_REPAIRED = 8;
export const COLS = ['x', 'kind', 'proc', 'seq', 'gc', 'flags', 'cycles', 'live', 'goal', 'hstart', 'hend',
  'stacks', 'globals', 'sg', 'released', 'rss', 'stw', 'mark', 'cpuWin', 'assist', 'cpuCum',
  'perMin', 'forcedMark', 'raw', 'spanFrom', 'spanTo', 'forcedLive', 'wall'];
const num = v => (typeof v === 'number' && isFinite(v) ? v : null);
const clampPct = v => (v == null ? null : Math.min(100, Math.max(0, v)));
const scaled = (v, d) => (num(v) == null ? null : v / d);

export function newTable(n) {
  const t = { procs: new Set(), lastPerMin: null };
  for (const c of COLS) t[c] = n ? new Array(n).fill(null) : [];
  return t;
}

/* One record (or snapshot row) -> the values of one table row, or null when it
   has no place on the time axis (very old formats have no t_s). `t` supplies
   the last GC frequency, so that a forced-GC marker sits on the frequency line. */
export function toRow(rec, t) {
  const x = num(rec.t_s), kind = KIND[rec.kind];
  if (x == null || !kind) return null;
  let flags = (rec.forced === true ? F_FORCED : 0) | (rec.repaired === true ? F_REPAIRED : 0);
  const r = { x, kind, proc: num(rec.proc) ?? 0, seq: num(rec.seq), flags, cycles: num(rec.cycles),
    raw: typeof rec.raw === 'string' ? rec.raw : null, wall: num(rec.wall_s) };
  if (kind === KIND.gc) {
    r.gc = num(rec.gc);
    r.live = num(rec.heap_live_mb);
    r.goal = num(rec.heap_goal_mb);
    r.hstart = num(rec.heap_start_mb);
    r.hend = num(rec.heap_end_mb);
    r.stacks = num(rec.stacks_mb);
    r.globals = num(rec.globals_mb);
    // Since Go 1.18 stacks and globals count toward the heap goal; one line for both.
    r.sg = r.stacks == null ? null : r.stacks + (r.globals ?? 0);
    r.stw = num(rec.stw_ms);
    r.mark = num(rec.mark_ms);
    // Over the first fraction of a second the window's wall time is tiny and
    // a share can pass 100 %: clamped, it cannot set the chart's scale.
    r.cpuWin = clampPct(num(rec.gc_cpu_window_pct));
    r.assist = clampPct(num(rec.assist_window_pct));
    r.cpuCum = num(rec.cpu_pct);
    r.perMin = num(rec.gc_per_min);
    if (r.perMin != null) t.lastPerMin = r.perMin;
    if (flags & F_FORCED) { r.forcedMark = r.perMin ?? t.lastPerMin ?? 0; r.forcedLive = r.live ?? 0; }
  } else if (kind === KIND.scav) {
    r.released = scaled(rec.released_kib, 1024);
  } else if (kind === KIND.scvg) {
    r.released = num(rec.released_mb);
  } else if (kind === KIND.rss) {
    r.rss = scaled(rec.rss_kib, 1024);
  } else if (kind === KIND.gc_forced) {
    r.forcedMark = t.lastPerMin ?? 0;
  }
  return r;
}

// First index whose x is > v (x is sorted ascending).
export function upperBound(xs, v) {
  let lo = 0, hi = xs.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] <= v) lo = m + 1; else hi = m; }
  return lo;
}
// First index whose x is >= v.
export function lowerBound(xs, v) {
  let lo = 0, hi = xs.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] < v) lo = m + 1; else hi = m; }
  return lo;
}

/* Append a row, keeping x sorted: records of different kinds can arrive
   slightly out of time order, and uPlot needs an ascending x. */
export function pushRow(t, r) {
  const n = t.x.length;
  const i = n && r.x < t.x[n - 1] ? upperBound(t.x, r.x) : n;
  for (const c of COLS) {
    const v = r[c] ?? null;
    if (i === n) t[c].push(v); else t[c].splice(i, 0, v);
  }
  t.procs.add(r.proc);
}

export function rowAt(t, i) {
  const r = {};
  for (const c of COLS) r[c] = t[c][i];
  return r;
}

export function tableOf(rows) {
  const t = newTable();
  rows.sort((a, b) => a.x - b.x); // stable: equal times keep arrival order
  for (const r of rows) pushRow(t, r);
  return t;
}

/* The compact history of the snapshot and /api/history: per kind, one array
   per field (see src/store/snapshot.rs). The kinds' rows are merged by time
   straight into the table's columns, with no object per row. Fields go to
   columns as [column, divisor]. */
const FIELDS = {
  gc: { gc: ['gc'], heap_live_mb: ['live'], heap_goal_mb: ['goal'], heap_start_mb: ['hstart'],
    heap_end_mb: ['hend'], stacks_mb: ['stacks'], globals_mb: ['globals'], stw_ms: ['stw'],
    mark_ms: ['mark'], gc_cpu_window_pct: ['cpuWin'], assist_window_pct: ['assist'],
    cpu_pct: ['cpuCum'], gc_per_min: ['perMin'] },
  scav: { released_kib: ['released', 1024] },
  scvg: { released_mb: ['released'] },
  rss: { rss_kib: ['rss', 1024] },
  gc_forced: {},
};

export function tableOfColumns(kinds) {
  const parts = [];
  let n = 0;
  for (const name of Object.keys(kinds || {})) {
    const c = kinds[name], kind = KIND[name];
    if (!kind || !FIELDS[name] || !c || !Array.isArray(c.t_s)) continue;
    parts.push({ kind, name, c, len: c.t_s.length, pos: null });
    n += c.t_s.length;
  }
  // Where each kind's rows go: merged by time (each kind is in time order;
  // a linear scan over a handful of kinds per row).
  for (const p of parts) p.pos = new Int32Array(p.len);
  const next = new Int32Array(parts.length);
  let sorted = true, lastX = -Infinity;
  for (let o = 0; o < n; o++) {
    let best = -1, bx = Infinity;
    for (let k = 0; k < parts.length; k++) {
      const i = next[k];
      if (i < parts[k].len) {
        const x = parts[k].c.t_s[i];
        if (best < 0 || x < bx) { best = k; bx = x; }
      }
    }
    if (!(bx >= lastX)) sorted = false; // also NaN, null
    lastX = bx;
    parts[best].pos[next[best]++] = o;
  }
  const t = newTable(n);
  // Column by column: tight loops.
  const put = (col, arr, pos, div) => {
    const dst = t[col];
    for (let i = 0; i < pos.length; i++) {
      const v = arr[i];
      if (typeof v === 'number') dst[pos[i]] = div === 1 ? v : v / div;
    }
  };
  const kindCol = t.kind, procCol = t.proc;
  for (const p of parts) {
    const { c, pos, len } = p;
    for (let i = 0; i < len; i++) { kindCol[pos[i]] = p.kind; procCol[pos[i]] = 0; }
    put('x', c.t_s, pos, 1);
    const same = f => Array.isArray(c[f]) && c[f].length === len;
    if (same('proc')) put('proc', c.proc, pos, 1);
    if (same('seq')) put('seq', c.seq, pos, 1);
    if (same('cycles')) put('cycles', c.cycles, pos, 1);
    if (same('from_s')) put('spanFrom', c.from_s, pos, 1);
    if (same('wall_s')) put('wall', c.wall_s, pos, 1);
    if (same('to_s')) put('spanTo', c.to_s, pos, 1);
    if (same('flags')) {
      const dst = t.flags, f = c.flags;
      for (let i = 0; i < len; i++) dst[pos[i]] = (f[i] | 0) & (F_FORCED | F_AGG);
    } else {
      for (let i = 0; i < len; i++) t.flags[pos[i]] = 0;
    }
    for (const field of Object.keys(FIELDS[p.name])) {
      const [col, div] = FIELDS[p.name][field];
      if (same(field)) put(col, c[field], pos, div || 1);
    }
  }
  for (const p of new Set(procCol)) t.procs.add(p);
  // Derived: stacks + globals; forced-GC markers sit on the frequency line.
  let lastPerMin = null;
  for (let o = 0; o < n; o++) {
    const kind = kindCol[o];
    if (kind === KIND.gc) {
      if (t.stacks[o] != null) t.sg[o] = t.stacks[o] + (t.globals[o] ?? 0);
      if (t.perMin[o] != null) lastPerMin = t.perMin[o];
      if (t.flags[o] & F_FORCED) { t.forcedMark[o] = t.perMin[o] ?? lastPerMin ?? 0; t.forcedLive[o] = t.live[o] ?? 0; }
      if (t.cpuWin[o] != null) t.cpuWin[o] = clampPct(t.cpuWin[o]);
      if (t.assist[o] != null) t.assist[o] = clampPct(t.assist[o]);
    } else if (kind === KIND.gc_forced) {
      t.forcedMark[o] = lastPerMin ?? 0;
    }
  }
  t.lastPerMin = lastPerMin;
  if (sorted) return t;
  // A kind out of time order, or rows without a time: rebuild in time order.
  const rows = [];
  for (let i = 0; i < n; i++) if (typeof t.x[i] === 'number') rows.push(rowAt(t, i));
  const u = tableOf(rows);
  u.lastPerMin = lastPerMin;
  return u;
}
