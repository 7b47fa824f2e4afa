/* gcviz page: reads the server's event stream (/events) and draws four
   uPlot charts that share one time cursor. Data is kept in columns (one plain
   array per value) that uPlot reads directly, appended in place; redraws are
   batched to at most one per animation frame. Text that comes from the
   observed program is only ever inserted with textContent. */
'use strict';
(function () {

// ---------------------------------------------------------------- test hooks
// Automated browser tests and benchmarks read this object; keep its shape
// stable. `timing`: ms since navigation of the steps to the first picture.
// `connects`: streams opened; `conn`: every text the connection badge showed.
// A page opened with `window.gcvizProbe = []` set before its scripts gets
// `[seq, received, drawn]` (Date.now() ms) pushed there for every live record
// once it is drawn.
const gcviz = window.gcviz = { records: 0, status: null, ready: false, errors: [],
  timing: { script: performance.now() }, connects: 0, conn: [], trend: null,
  draws: { n: 0, ms: 0, maxMs: 0 } };
const probe = Array.isArray(window.gcvizProbe) ? window.gcvizProbe : null;
let probeWaiting = [];
function noteError(err) {
  gcviz.errors.push(String(err && err.message ? err.message : err));
  if (gcviz.errors.length > 50) gcviz.errors.shift();
}
window.addEventListener('error', e => noteError(e.error || e.message));
window.addEventListener('unhandledrejection', e => noteError(e.reason));

// ------------------------------------------------- extensions (web/heap.js)
// heap.js (goroutine chart, heap-profile panel) hooks in here and only here:
// `gcviz.ext.on(name, fn)` for 'goroutines' and 'profile' (live events),
// 'snapshot', 'status', 'view' (min, max after each draw), 'draw' (a chart,
// its key), 'charts' (rebuilt: theme) and 'resize'; the rest are helpers.
const extListeners = {};
const ext = gcviz.ext = { on: (name, fn) => { (extListeners[name] ||= []).push(fn); } };
function emit(name, ...args) {
  for (const fn of extListeners[name] || []) { try { fn(...args); } catch (err) { noteError(err); } }
}

// --------------------------------------------------------------------- token
// The server may require ?token=...: every request this page makes carries it.
const TOKEN = new URLSearchParams(location.search).get('token');
function withToken(url) {
  if (!TOKEN) return url;
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(TOKEN);
}

// ----------------------------------------------------------------- data model
const KIND = { gc: 1, scav: 2, scvg: 3, scvg_released: 4, gc_forced: 5, rss: 6 };
// The first two are the snapshot's own `flags` bits: forced, and a summary
// row (one of the real cycles kept of a folded run, see src/history.rs).
const F_FORCED = 1, F_AGG = 2, F_REPAIRED = 8;
const COLS = ['x', 'kind', 'proc', 'seq', 'gc', 'flags', 'cycles', 'live', 'goal', 'hstart', 'hend',
  'stacks', 'globals', 'sg', 'released', 'rss', 'stw', 'mark', 'cpuWin', 'assist', 'cpuCum',
  'perMin', 'forcedMark', 'raw', 'spanFrom', 'spanTo', 'forcedLive', 'wall'];
// Past this many live-appended rows, ask the server for a fresh (downsampled)
// snapshot instead of growing without bound.
const MAX_APPENDED = 200000;

const num = v => (typeof v === 'number' && isFinite(v) ? v : null);
const clampPct = v => (v == null ? null : Math.min(100, Math.max(0, v)));
const scaled = (v, d) => (num(v) == null ? null : v / d);

function newTable(n) {
  const t = { procs: new Set(), lastPerMin: null };
  for (const c of COLS) t[c] = n ? new Array(n).fill(null) : [];
  return t;
}

/* One record (or snapshot row) -> the values of one table row, or null when it
   has no place on the time axis (very old formats have no t_s). `t` supplies
   the last GC frequency, so that a forced-GC marker sits on the frequency line. */
function toRow(rec, t) {
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
function upperBound(xs, v) {
  let lo = 0, hi = xs.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] <= v) lo = m + 1; else hi = m; }
  return lo;
}
// First index whose x is >= v.
function lowerBound(xs, v) {
  let lo = 0, hi = xs.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] < v) lo = m + 1; else hi = m; }
  return lo;
}

/* Append a row, keeping x sorted: records of different kinds can arrive
   slightly out of time order, and uPlot needs an ascending x. */
function pushRow(t, r) {
  const n = t.x.length;
  const i = n && r.x < t.x[n - 1] ? upperBound(t.x, r.x) : n;
  for (const c of COLS) {
    const v = r[c] ?? null;
    if (i === n) t[c].push(v); else t[c].splice(i, 0, v);
  }
  t.procs.add(r.proc);
}

function rowAt(t, i) {
  const r = {};
  for (const c of COLS) r[c] = t[c][i];
  return r;
}

function tableOf(rows) {
  const t = newTable();
  rows.sort((a, b) => a.x - b.x); // stable: equal times keep arrival order
  for (const r of rows) pushRow(t, r);
  return t;
}

/* The compact history of the snapshot and /api/history: per kind, one array
   per field (see src/snapshot.rs). The kinds' rows are merged by time
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

function tableOfColumns(kinds) {
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

// All data as received, and the rows the charts draw (filtered by process).
const data = { all: newTable(), view: null, appended: 0 };
data.view = data.all;
let procFilter = 'all';

// RSS belongs to the wrapped process as a whole, so it survives the filter.
const accepts = r => procFilter === 'all' || r.proc === procFilter || r.kind === KIND.rss;

function rebuildView() {
  if (procFilter === 'all') { data.view = data.all; return; }
  const t = newTable(), a = data.all;
  for (let i = 0; i < a.x.length; i++) {
    if (accepts({ proc: a.proc[i], kind: a.kind[i] })) pushRow(t, rowAt(a, i));
  }
  data.view = t;
}

// ------------------------------------------------------------- stream input
function onSnapshot(msg) {
  gcviz.timing.parsed = performance.now();
  data.all = tableOfColumns(msg.kinds);
  data.appended = 0;
  rebuildView();
  updateProcSelect();
  gcviz.records = data.all.x.length;
  noteClock(data.all.wall.some(v => v != null));
  gcviz.timing.built = performance.now();
  if (msg.status) onStatus(msg.status);
  loadMarks().catch(noteError);
  pending.snapshot = true;
  markDirty(true);
  emit('snapshot');
}

function onRecord(rec) {
  if (rec.kind === 'goroutines') { emit('goroutines', rec); return; } // heap.js
  gcviz.records++;
  if (probe) probeWaiting.push([rec.seq, Date.now()]);
  const r = toRow(rec, data.all);
  if (!r) return;
  if (r.wall != null) noteClock(true);
  const before = data.all.procs.size;
  pushRow(data.all, r);
  if (data.view !== data.all && accepts(r)) pushRow(data.view, r);
  if (data.all.procs.size !== before) updateProcSelect();
  pending.minNewX = Math.min(pending.minNewX, r.x);
  if (++data.appended > MAX_APPENDED) connect();
  markDirty(false);
}

function onStatus(st) {
  gcviz.status = st;
  emit('status', st);
  pending.status = true;
  schedule();
}

// The program has exited or the input ended: nothing more will come.
const finished = () => gcviz.status != null && (gcviz.status.state === 'exited' || gcviz.status.state === 'eof');

let es = null, retryTimer = null;
function connect() {
  if (es) es.close();
  clearTimeout(retryTimer);
  setConn('connecting…', '');
  if (gcviz.timing.connect == null) gcviz.timing.connect = performance.now();
  gcviz.connects++;
  const src = es = new EventSource(withToken('events'));
  const on = (name, fn) => src.addEventListener(name, e => {
    if (src !== es) return;
    if (name === 'snapshot' && gcviz.timing.received == null) {
      gcviz.timing.received = performance.now();
      gcviz.timing.bytes = e.data.length;
    }
    try { fn(JSON.parse(e.data)); } catch (err) { noteError(err); }
  });
  on('snapshot', onSnapshot);
  on('record', onRecord);
  on('status', onStatus);
  on('mark', onMark);
  on('profile', m => emit('profile', m)); // heap.js
  on('marks', () => { loadMarks().catch(noteError); });
  // The server dropped us for being slow: start over with a fresh snapshot.
  on('resync', () => connect());
  src.onopen = () => {
    if (gcviz.timing.open == null) gcviz.timing.open = performance.now();
    setConn('connected', 'ok');
  };
  src.onerror = () => {
    if (src !== es) return;
    if (finished()) {
      // gcviz has stopped (it exits with the program unless told to keep
      // serving): the page holds the final picture, there is nothing to wait for.
      src.close();
      setConn('gcviz stopped: final picture', '');
    } else if (src.readyState === EventSource.CLOSED) {
      // EventSource gives up on HTTP errors; keep trying, the server may come
      // back. A refused token is said as such: retrying cannot help.
      setConn('disconnected, retrying', 'bad');
      retryTimer = setTimeout(connect, 3000);
      fetch(withToken('api/status')).then(r => {
        if (r.status !== 401 || src !== es) return;
        clearTimeout(retryTimer);
        setConn('access token needed', 'bad');
        $('notice').dataset.kind = 'token';
        showNotice(TOKEN
          ? 'This gcviz refused the page\'s access token. Open the URL gcviz printed, with its ?token=…'
          : 'This gcviz needs an access token: open the URL gcviz printed, which ends in ?token=… (or set the token with --token / GCVIZ_TOKEN).');
      }).catch(() => {});
    } else {
      setConn('reconnecting…', 'warn');
    }
  };
}

// -------------------------------------------------------------- formatting
const pad2 = n => (n < 10 ? '0' : '') + n;

// Axis ticks: short durations since the start of the run.
function fmtTick(s) {
  if (Math.abs(s) < 60) return +s.toFixed(3) + 's';
  const neg = s < 0 ? '-' : '';
  s = Math.round(Math.abs(s));
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  if (h === 0) return neg + m + 'm' + (sec ? pad2(sec) + 's' : '');
  return neg + h + 'h' + (m || sec ? pad2(m) + 'm' : '') + (sec ? pad2(sec) + 's' : '');
}

/* Wall-clock time (src/clock.rs): rows carry it when gcviz knows it; a
   moment between rows takes the nearest earlier row's clock plus the run
   since. Shown in UTC. */
let clockAxis = true;
function wallAt(s) {
  const t = data.view, n = t.x.length, at = upperBound(t.x, s);
  for (let i = at - 1, k = 0; i >= 0 && k < 5000; i--, k++) if (t.wall[i] != null) return t.wall[i] + (s - t.x[i]);
  for (let j = at, k = 0; j < n && k < 5000; j++, k++) if (t.wall[j] != null) return t.wall[j] - (t.x[j] - s);
  return null;
}
function noteClock(known) {
  if (!known || clockKnown) return;
  clockKnown = true;
  $('btn-clock').hidden = false;
}
const clockOn = () => clockAxis && clockKnown;
let clockKnown = false;
// To the millisecond: 1.7e9 s in a double is a few 1e-7 s off, which must
// not print 09.99 for 10.00.
const isoOf = w => new Date(Math.round(w * 1000)).toISOString();
function fmtClock(w, withMs) {
  const iso = isoOf(w);
  return iso.slice(11, withMs ? 23 : 19);
}
function fmtClockTick(s, spanS) {
  const w = wallAt(s);
  if (w == null) return fmtTick(s);
  const iso = isoOf(w);
  if (spanS > 2 * 86400) return iso.slice(5, 10) + ' ' + iso.slice(11, 16);
  return spanS < 10 ? iso.slice(11, 22) : iso.slice(11, 19);
}

// Legend and tooltip: precise time.
function fmtTime(s) {
  if (s == null) return '–';
  if (clockOn()) { const w = wallAt(s); if (w != null) return fmtClock(w, true) + ' UTC'; }
  return fmtElapsed(s);
}
function fmtElapsed(s) {
  if (s == null) return '–';
  if (s < 60) return s.toFixed(3) + ' s';
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = (s % 60).toFixed(1);
  return (h ? h + 'h' + pad2(m) : m) + 'm' + (sec < 10 ? '0' : '') + sec + 's';
}

function fmtNum(v) {
  if (v == null) return '–';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return a === 0 ? '0' : v.toPrecision(2);
}

const fmtMiB = v => (Math.abs(v) >= 1024 ? fmtNum(v / 1024) + ' GiB' : fmtNum(v) + ' MiB');
const fmtSpan = s => (s >= 3600 ? (s / 3600).toFixed(1) + ' h' : s >= 60 ? Math.round(s / 60) + ' min' : s >= 10 ? Math.round(s) + ' s' : s.toFixed(1) + ' s');
const SIGNALS = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

// ------------------------------------------------------------------ header
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
const $ = id => document.getElementById(id);

function setConn(text, cls) {
  gcviz.conn.push(text);
  if (gcviz.conn.length > 50) gcviz.conn.shift();
  const c = $('conn');
  c.textContent = text;
  c.className = 'badge ' + cls;
}

function stateText(st) {
  if (st.state === 'running') return ['running', 'ok'];
  if (st.state === 'eof') return ['end of input', ''];
  if (st.state === 'exited') {
    if (st.signal != null) return [`killed by signal ${st.signal}${SIGNALS[st.signal] ? ' (' + SIGNALS[st.signal] + ')' : ''}`, 'bad'];
    return [`exited with code ${st.exit_code ?? '?'}`, st.exit_code === 0 ? '' : 'bad'];
  }
  return [String(st.state ?? 'unknown'), ''];
}

// Counts that mean something went wrong are highlighted when non-zero.
const COUNTS = [
  ['gc', 'GC cycles', false, 'GC cycles parsed'],
  ['repaired', 'repaired', true, 'trace lines that had to be repaired (for example split by the program\'s own output)'],
  ['unresolved', 'unresolved', true, 'trace-like lines that could not be parsed'],
  ['gaps', 'gaps', true, 'missing GC cycle numbers: trace lines were lost'],
  ['long_lines', 'long lines', true, 'lines longer than the limit, cut'],
  ['dropped', 'dropped', true, 'records or events dropped because gcviz fell behind'],
];

function showNotice(text) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = !text;
}

function renderStatus() {
  const st = gcviz.status;
  if (!st) return;
  // gcviz's own advice (no trace seen: is it a Go program? 2>&1?).
  if (typeof st.hint === 'string' && st.hint) showNotice(st.hint);
  else if ($('notice').dataset.kind !== 'token') showNotice('');
  const [text, cls] = stateText(st);
  const s = $('status');
  s.textContent = text;
  s.className = 'badge state ' + cls;
  const mode = $('mode');
  mode.hidden = !st.mode;
  mode.textContent = st.mode === 'pipe' ? 'reading a pipe' : st.mode === 'demo' ? 'demo data' : 'wrapping a program';
  const cmd = st.command ?? (st.mode === 'pipe' ? '(standard input)' : '–');
  $('command').textContent = cmd;
  document.title = 'gcviz: ' + cmd;
  $('pid').textContent = st.pid ?? '–';
  const env = st.env || {};
  const envText = ['GOGC', 'GOMEMLIMIT'].filter(k => env[k] != null && env[k] !== '').map(k => k + '=' + env[k]).join('  ');
  $('env').textContent = envText;
  $('env-wrap').hidden = !envText;

  const c = st.counts || {};
  const counts = $('counts');
  counts.replaceChildren();
  COUNTS.forEach(([key, label, bad, title], i) => {
    const n = c[key] ?? 0;
    if (key === 'long_lines' && !n) return; // rare: only mention when it happened
    if (i) counts.append(' · ');
    const span = el('span', bad && n ? 'warn' : '');
    span.title = title;
    span.append(el('span', 'n', n), ' ' + label);
    counts.append(span);
  });
}

function updateProcSelect() {
  const procs = [...data.all.procs].sort((a, b) => a - b);
  $('proc-wrap').hidden = procs.length < 2;
  const sel = $('proc-select');
  if (sel.options.length === procs.length + 1) return;
  sel.replaceChildren(el('option', '', 'all'));
  for (const p of procs) {
    const o = el('option', '', 'process ' + p);
    o.value = String(p);
    sel.append(o);
  }
  sel.value = String(procFilter);
}

// ------------------------------------------------------------------ charts
// Series colours come from CSS custom properties of the current theme.
let pal = {};
const PAGE_COLOURS = ['bg', 'fg', 'muted', 'grid', 'bad'];
const SERIES_COLOURS = ['live', 'goal', 'start', 'end', 'sg', 'released', 'rss', 'trend', 'stw', 'mark',
  'cpu', 'assist', 'cpucum', 'freq', 'forced'];
function readPalette() {
  const cs = getComputedStyle(document.documentElement);
  const read = name => cs.getPropertyValue(name).trim() || '#888';
  for (const k of PAGE_COLOURS) pal[k] = read('--' + k);
  for (const k of SERIES_COLOURS) pal[k] = read('--c-' + k);
}

// Every line is solid: a dashed stroke over thousands of points is costly to
// rasterise, and at 1000 records/s dashes alone moved the p99 from written to
// drawn from about 75 ms to 100-130 ms in headless Chromium on 2 cores
// (`cargo bench --bench page -- latency 1000 10`). Colour, width and the
// legend tell the lines apart.
const CHARTS = [
  { key: 'memory', title: 'Memory (MiB)', height: 250, yLabel: 'MiB', series: [
    { col: 'live', label: 'live heap (after mark)', color: 'live', width: 2.5 },
    { col: 'goal', label: 'heap goal', color: 'goal', width: 1.5 },
    { col: 'hstart', label: 'heap at GC start', color: 'start', width: 1 },
    { col: 'hend', label: 'heap at GC end', color: 'end', width: 1 },
    { col: 'sg', label: 'stacks + globals', color: 'sg', width: 1.5, hint: 'printed from Go 1.18' },
    { col: 'released', label: 'released to OS', color: 'released', width: 1.5,
      hint: 'needs scavtrace=1 (Go 1.14+; gcviz adds it in wrapper mode)' },
    { col: 'rss', label: 'process RSS', color: 'rss', width: 2,
      hint: 'needs wrapper mode (gcviz ./prog) or --pid PID' },
    // What the goal would be from GOGC alone: live + (live + stacks + globals) x GOGC/100.
    { col: 'gogcGoal', label: 'GOGC goal (reference)', color: 'muted', width: 1, derived: true },
    { col: 'forcedLive', label: 'forced GC', color: 'forced', points: true },
  ] },
  { key: 'pauses', title: 'GC pauses (ms)', height: 170, yLabel: 'stop-the-world ms', y2Label: 'mark ms', series: [
    { col: 'stw', label: 'stop-the-world', color: 'stw', width: 1.5 },
    // Concurrent mark runs alongside the program: its own axis, never added to STW.
    { col: 'mark', label: 'concurrent mark', color: 'mark', width: 1, scale: 'y2' },
  ] },
  { key: 'cpu', title: 'GC CPU (%)', height: 170, yLabel: '% of CPU', series: [
    { col: 'cpuWin', label: 'GC CPU (recent window)', color: 'cpu', width: 2 },
    { col: 'assist', label: 'mark assist', color: 'assist', width: 1.5 },
    // The runtime's own figure is cumulative since start: shown thin, as context only.
    { col: 'cpuCum', label: 'runtime cumulative', color: 'cpucum', width: 1 },
  ] },
  { key: 'frequency', title: 'GC frequency (per minute)', height: 170, yLabel: 'GCs / min', series: [
    { col: 'perMin', label: 'GCs per minute', color: 'freq', width: 2 },
    { col: 'forcedMark', label: 'forced GC', color: 'forced', points: true, hint: 'none so far' },
  ] },
];

const X_INCRS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300,
  600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

// y from zero: memory, time and percentages all have a meaningful zero.
const fromZero = (u, min, max) => [0, max > 0 ? uPlot.rangeNum(0, max, 0.1, true)[1] : 1];

let charts = [];   // { spec, u }
let hovered = null; // the uPlot instance under the mouse, for the tooltip

function axis(scale, label, stroke, side) {
  const a = { scale, stroke, size: 60, grid: { stroke: pal.grid, width: 1, show: side !== 1 },
    ticks: { stroke: pal.grid, width: 1 } };
  // uPlot takes an explicit undefined as a value, so only set what is given.
  if (label) Object.assign(a, { label, labelSize: 18, labelGap: 0 });
  if (side != null) a.side = side;
  return a;
}

// The newest value of series `si` at or before the view's right edge.
function latestIn(u, si) {
  const xs = u.data[0], ys = u.data[si];
  const max = u.scales.x.max ?? Infinity;
  for (let i = upperBound(xs, max) - 1, k = 0; i >= 0 && k < 20000; i--, k++) if (ys[i] != null) return ys[i];
  return null;
}
function countIn(u, si) {
  const xs = u.data[0], ys = u.data[si];
  let n = 0;
  for (let i = lowerBound(xs, u.scales.x.min ?? -Infinity), end = upperBound(xs, u.scales.x.max ?? Infinity); i < end; i++) if (ys[i] != null) n++;
  return n;
}

let stepped = null;
function seriesOpts(s) {
  if (!stepped) stepped = uPlot.paths.stepped({ align: 1 });
  // Not hovering, the legend shows the newest value at the view's right edge.
  const o = { label: s.label, scale: s.scale || 'y', stroke: pal[s.color], width: s.width || 1,
    spanGaps: true, value: (u, v, si, idx) => fmtNum(idx == null ? latestIn(u, si) : v) };
  // A cycle's value holds until the next cycle: steps, never a slope the
  // data does not have.
  if (!s.points) o.paths = stepped;
  if (s.points) {
    o.paths = () => null; // markers only, no line
    // A marker's value is just its height on another line: say when the nearest one was.
    o.value = (u, v, si, idx) => {
      if (idx == null) { const n = countIn(u, si); return n ? n + ' in view' : '–'; }
      return v == null ? '–' : 'at ' + fmtTime(u.data[0][idx]);
    };
    o.points = { show: true, size: 8, stroke: pal[s.color], fill: pal[s.color] };
  }
  return o;
}

function xAxisOpts() {
  const xAxis = axis('x', null, pal.muted);
  // On the clock, ticks fall on round clock times (the view's offset from
  // elapsed time taken at its left edge).
  xAxis.splits = (u, ai, min, max, incr) => {
    const w = clockOn() ? wallAt(min) : null;
    const off = w == null ? 0 : w - min;
    const out = [];
    for (let v = Math.ceil((min + off) / incr) * incr - off; v <= max && out.length < 1000; v += incr) out.push(v);
    return out;
  };
  xAxis.values = (u, splits) => {
    if (!clockOn()) return splits.map(fmtTick);
    const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
    return splits.map(s => fmtClockTick(s, span));
  };
  xAxis.incrs = X_INCRS;
  xAxis.space = 60;
  xAxis.size = 36;
  return xAxis;
}

function chartOpts(spec, width) {
  const xAxis = xAxisOpts();
  const axes = [xAxis, axis('y', spec.yLabel, pal.muted)];
  const scales = { x: { time: false, auto: false }, y: { range: fromZero } };
  if (spec.key === 'memory' && logScale) {
    scales.y = { distr: 3, log: 2, range: (u, min, max) => [Math.max(0.5, min > 0 ? min / 1.5 : 0.5), Math.max(1, max * 1.5)] };
  }
  // A percentage of CPU: 0 to at most 100.
  if (spec.key === 'cpu') scales.y = { range: (u, min, max) => [0, Math.min(100, max > 0 ? uPlot.rangeNum(0, max, 0.1, true)[1] : 1)] };
  if (spec.y2Label) {
    axes.push(axis('y2', spec.y2Label, pal.mark, 1));
    scales.y2 = { range: fromZero };
  }
  return {
    width, height: chartHeight(spec), scales, axes,
    series: [{ label: 'time', value: (u, v, si, idx) => fmtTime(idx == null ? u.scales.x.max : v) }, ...spec.series.map(seriesOpts)],
    legend: { live: true },
    cursor: {
      sync: { key: 'gcviz' },
      drag: { x: true, y: false, setScale: false },
      // Rows of other kinds leave nulls between a series' points: hover the nearest real one.
      hover: { skip: [null] },
      bind: { dblclick: () => null }, // our own double-click resets the view
    },
    hooks: {
      ready: [u => bindChart(u)],
      setSelect: [onSelect],
      setCursor: [u => { if (u === hovered) showTooltip(u); }],
      draw: [...(spec.key === 'memory' ? [drawTrend, drawLimit, drawMarks] : [drawMarks]), u => emit('draw', u, spec.key)],
    },
  };
}

// GOGC as the environment gave it (100 when unset); null when off.
function gogc() {
  const v = gcviz.status && gcviz.status.env ? gcviz.status.env.GOGC : null;
  if (v == null || v === '') return 100;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : null;
}
function memLimitMiB() {
  const v = gcviz.status && gcviz.status.env ? gcviz.status.env.GOMEMLIMIT : null;
  const m = /^(\d+)(B|KiB|MiB|GiB|TiB)?$/.exec(String(v ?? '').trim());
  if (!m) return null;
  const mult = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 }[m[2] || 'B'];
  const mib = Number(m[1]) * mult / 1024 ** 2;
  return mib > 0 && mib < 1e12 ? mib : null;
}

// Derived columns, remade only when the table or GOGC changed.
const derivedCache = { t: null, n: -1, g: null, col: null };
function gogcGoalCol(t) {
  const g = gogc();
  const c = derivedCache;
  if (c.t === t && c.n === t.x.length && c.g === g) return c.col;
  const col = new Array(t.x.length).fill(null);
  if (g != null) {
    for (let i = 0; i < t.x.length; i++) {
      if (t.live[i] != null) col[i] = t.live[i] + (t.live[i] + (t.sg[i] ?? 0)) * g / 100;
    }
  }
  Object.assign(c, { t, n: t.x.length, g, col });
  return col;
}

let logScale = false;
function chartData(spec) {
  const t = data.view;
  const cols = spec.series.map(s => (s.derived ? gogcGoalCol(t) : t[s.col]));
  // A log axis cannot place zero: such values are left out while it is on.
  if (spec.key === 'memory' && logScale) return [t.x, ...cols.map(c => c.map(v => (v != null && v > 0 ? v : null)))];
  return [t.x, ...cols];
}

// GOMEMLIMIT as a line across the memory chart, labelled.
function drawLimit(u) {
  const lim = memLimitMiB();
  if (lim == null) return;
  const y = u.valToPos(lim, 'y', true);
  const { left, top, width, height } = u.bbox;
  if (!(y >= top && y <= top + height)) return;
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = pal.bad || '#cf222e';
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.beginPath();
  ctx.moveTo(left, y);
  ctx.lineTo(left + width, y);
  ctx.stroke();
  ctx.fillStyle = pal.bad || '#cf222e';
  ctx.font = `${11 * devicePixelRatio}px sans-serif`;
  ctx.textBaseline = 'bottom';
  ctx.textAlign = 'left';
  ctx.fillText('GOMEMLIMIT ' + fmtMiB(lim), left + 4 * devicePixelRatio, y - 2 * devicePixelRatio);
  ctx.restore();
}

function createCharts() {
  for (const c of charts) c.u.destroy();
  charts = CHARTS.map(spec => {
    const host = $('chart-' + spec.key);
    host.replaceChildren();
    return { spec, u: new uPlot(chartOpts(spec, host.clientWidth || 600), chartData(spec), host) };
  });
  markDirty(true);
  emit('charts');
}

function bindChart(u) {
  u.over.addEventListener('dblclick', () => setView({ follow: true }));
  u.over.addEventListener('mouseenter', () => { hovered = u; });
  u.over.addEventListener('mouseleave', () => { hovered = null; hideTooltip(); });
}

// Drag-select zooms every chart and stops following.
function onSelect(u) {
  const { left, width } = u.select;
  if (width > 4) {
    const min = u.posToVal(left, 'x'), max = u.posToVal(left + width, 'x');
    setView({ follow: false, min, max });
    fetchDetail(min, max).catch(noteError);
  }
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
}

// ------------------------------------------------------ visible time range
const viewport = { follow: true, windowS: 600, min: 0, max: 60 };

function currentRange() {
  if (!viewport.follow) return [viewport.min, viewport.max];
  const x = data.view.x;
  if (!x.length) return [0, 60];
  const first = x[0], last = x[x.length - 1];
  const min = viewport.windowS == null ? first : Math.max(first, last - viewport.windowS);
  return [min, Math.max(last, min + 1)];
}

function setView(change) {
  if (change.follow === false && change.min == null) [change.min, change.max] = currentRange();
  Object.assign(viewport, change);
  const f = $('btn-follow');
  f.setAttribute('aria-pressed', String(viewport.follow));
  f.textContent = viewport.follow ? 'Following live' : 'Paused: resume';
  for (const b of document.querySelectorAll('button.win')) {
    const w = b.dataset.window === 'all' ? null : Number(b.dataset.window);
    b.setAttribute('aria-pressed', String(viewport.follow && w === viewport.windowS));
  }
  markDirty(true);
}

// ------------------------------------------------------------ frame loop
const pending = { frame: false, status: false, full: false, snapshot: false, minNewX: Infinity, resize: false };

function schedule() {
  if (pending.frame) return;
  pending.frame = true;
  requestAnimationFrame(frame);
}

function markDirty(full) {
  if (full) pending.full = true;
  schedule();
}

// Streamed data redraws at most every REDRAW_MS, or 3x the last draw's cost
// when drawing is slow, so a fast stream cannot starve input handling; user
// actions (zoom, window, theme, snapshot) redraw on the next frame. A record
// waits at most this long (plus a frame and the draw) to be on screen.
const REDRAW_MS = 33;
let lastDrawAt = -Infinity, lastDrawCost = 0;

function frame(now) {
  pending.frame = false;
  try {
    if (pending.status) { pending.status = false; renderStatus(); }
    if (pending.resize) { pending.resize = false; resizeCharts(); pending.full = true; }
    const wait = lastDrawAt + Math.max(REDRAW_MS, 3 * lastDrawCost) - now;
    if (!pending.full && pending.minNewX !== Infinity && wait > 0) {
      pending.frame = true;
      setTimeout(() => requestAnimationFrame(frame), wait);
      return;
    }
    const [min, max] = currentRange();
    // While paused, records beyond the visible range change nothing on screen.
    const changed = pending.full || pending.minNewX !== Infinity;
    if (changed && (pending.full || viewport.follow || pending.minNewX <= max)) {
      const t0 = performance.now();
      drawCharts(min, max, pending.full);
      lastDrawAt = now;
      lastDrawCost = performance.now() - t0;
      const d = gcviz.draws;
      d.n++; d.ms += lastDrawCost; d.maxMs = Math.max(d.maxMs, lastDrawCost);
      if (probe && probeWaiting.length) {
        const at = Date.now();
        for (const [seq, got] of probeWaiting) probe.push([seq, got, at]);
        probeWaiting = [];
      }
    }
    pending.full = false;
    pending.minNewX = Infinity;
    if (pending.snapshot) {
      pending.snapshot = false;
      gcviz.ready = true;
      if (gcviz.timing.drawn == null) {
        gcviz.timing.drawn = performance.now();
        gcviz.timing.drawMs = lastDrawCost;
      }
    }
  } catch (err) {
    noteError(err);
  }
}

let trend = null;
// The trend is refitted for every view change, and while data streams in at
// most every TREND_MS: it moves slowly and costs more than a chart.
const TREND_MS = 500;
let trendAt = -Infinity;
function drawCharts(min, max, full) {
  const now = performance.now();
  if (full || now - trendAt >= TREND_MS) {
    trend = liveTrend(data.view, min, max);
    renderTrend(trend);
    trendAt = now;
  }
  renderNow(data.view, max);
  for (const { spec, u } of charts) {
    u.batch(() => {
      u.setData(chartData(spec));
      u.setScale('x', { min, max });
    });
    if (u !== hovered) u.setLegend({ idx: null });
  }
  if (full) { markEmptySeries(); requestVerdict(min, max); } else if (now - verdictAt >= VERDICT_MS) requestVerdict(min, max);
  emit('view', min, max);
}

/* Series that have no data at all are greyed in their legend, with the hint
   that brings them (RSS: wrapper mode or --pid). */
function markEmptySeries() {
  const t = data.view;
  for (const { spec, u } of charts) {
    const rows = u.root.querySelectorAll('.u-legend .u-series');
    spec.series.forEach((s, k) => {
      const tr = rows[k + 1];
      if (!tr) return;
      const col = s.derived ? null : t[s.col];
      const has = col == null || col.some(v => v != null);
      tr.classList.toggle('nodata', !has);
      let hint = tr.querySelector('.nodata-hint');
      if (!has && s.hint && !hint) {
        hint = el('span', 'nodata-hint', '(' + s.hint + ')');
        const label = tr.querySelector('.u-label');
        if (label) label.append(hint);
      }
      if (has && hint) hint.remove();
      tr.title = has ? '' : 'no data' + (s.hint ? ': ' + s.hint : '');
    });
  }
}

// ------------------------------------------------------------------ verdict
/* The headline comes from gcviz (/api/verdict, src/verdict.rs): the story
   the visible window tells, with its evidence. Asked for on every view change
   and at most every VERDICT_MS while data streams in. */
const VERDICT_MS = 2000;
let verdictAt = -Infinity, verdictBusy = false, verdictAgain = null;
function requestVerdict(min, max) {
  verdictAt = performance.now();
  if (verdictBusy) { verdictAgain = [min, max]; return; }
  verdictBusy = true;
  fetch(withToken(`api/verdict?from_s=${min}&to_s=${max}`))
    .then(r => (r.ok ? r.json() : null))
    .then(v => { if (v) renderVerdict(v); })
    .catch(noteError)
    .finally(() => {
      verdictBusy = false;
      if (verdictAgain) { const [a, b] = verdictAgain; verdictAgain = null; requestVerdict(a, b); }
    });
}

const STORY_CLASS = { spiral: 'bad', 'goroutine-leak': 'bad', 'heap-leak': 'bad', 'rss-above-heap': 'warn', flat: 'ok' };
function renderVerdict(v) {
  gcviz.verdict = v;
  $('verdict-head').textContent = v.headline;
  $('verdict-evidence').replaceChildren(...(v.evidence || []).map(e => el('li', '', e)));
  $('verdict').className = 'verdict ' + (STORY_CLASS[v.story] || '');
}

function resizeCharts() {
  for (const { spec, u } of charts) {
    const w = u.root.parentElement.clientWidth, h = chartHeight(spec);
    if (w && (Math.abs(w - u.width) > 1 || Math.abs(h - u.height) > 1)) u.setSize({ width: w, height: h });
  }
  emit('resize');
}

/* The charts share the window's height below the header: the memory chart
   about half of it, the row of three the rest (their legends and titles
   taken off); never below the specs' own heights. With one chart per row
   (narrow windows) the specs' heights stay. */
function chartHeight(spec) {
  const main = document.querySelector('main.charts');
  if (!main || getComputedStyle(main).gridTemplateColumns.split(' ').length < 2) return spec.height;
  const avail = window.innerHeight - main.getBoundingClientRect().top + window.scrollY - 24;
  const share = spec.key === 'memory' ? 0.5 : 0.5;
  const chrome = spec.key === 'memory' ? 115 : 125;
  return Math.max(spec.height, Math.round(avail * share - chrome));
}

// ------------------------------------------------------------- leak answer
/* How fast the live heap grows over the visible window, in MiB per hour: the
   answer to "is it a leak?". Robust, so that what a person sees as a flat
   line reads as flat:
   - when the window holds a process's start (its gc 1), the fit covers only
     that last process, from the first cycle where the live heap reached its
     median over the window: the start-up ramp from an empty heap to the
     working set is not growth (for steady growth the median is reached
     half-way, and the slope of the second half is the same);
   - the slope is the median of the slopes between pairs of cycles
     (Theil-Sen, over at most TREND_POINTS cycles spread evenly), so a few
     spikes or summary rows cannot tilt it. */
const TREND_POINTS = 150;

function liveTrend(t, min, max) {
  let i0 = lowerBound(t.x, min);
  const i1 = upperBound(t.x, max);
  const live = (from, to) => { const idx = []; for (let i = from; i < to; i++) if (t.live[i] != null) idx.push(i); return idx; };
  // The last process start in view.
  let startAt = -1;
  for (let i = i1 - 1; i >= i0; i--) if (t.gc[i] === 1) { startAt = i; break; }
  let skipped = null;
  if (startAt >= 0) {
    i0 = startAt;
    const ys = [];
    for (let i = i0; i < i1; i++) if (t.live[i] != null) ys.push(t.live[i]);
    if (ys.length >= 3) {
      ys.sort((a, b) => a - b);
      const median = ys[ys.length >> 1];
      let i = i0;
      while (i < i1 && (t.live[i] == null || t.live[i] < median)) i++;
      skipped = { from: t.x[startAt], to: t.x[i] ?? t.x[startAt] };
      // A live heap still growing in the later half is a leak from the
      // start, not a start-up ramp: then the whole run counts.
      const whole = fitTrend(t, live(startAt, i1), null);
      if (whole) {
        const half = (whole.xFirst + whole.xLast) / 2;
        const late = fitTrend(t, live(upperBound(t.x, half), i1), null);
        const span = whole.xLast - whole.xFirst;
        if (late && late.b * span >= Math.max(1, 0.1 * late.mean)) return whole;
      }
      i0 = i;
    }
  }
  return fitTrend(t, live(i0, i1), skipped);
}

// Theil-Sen over the cycles `idx` (at most TREND_POINTS of them, evenly spread).
function fitTrend(t, idx, skipped) {
  const n = idx.length;
  if (n < 3) return null;
  const step = Math.max(1, n / TREND_POINTS), xs = [], ys = [];
  for (let k = 0; k < n; k += step) { const i = idx[Math.floor(k)]; xs.push(t.x[i]); ys.push(t.live[i]); }
  const x0 = xs[0];
  const m = xs.length, slopes = new Float64Array(m * (m - 1) / 2);
  let ns = 0;
  for (let a = 0; a < m; a++) {
    for (let b = a + 1; b < m; b++) {
      const dx = xs[b] - xs[a];
      if (dx > 0) slopes[ns++] = (ys[b] - ys[a]) / dx;
    }
  }
  if (!ns) return null;
  const med = f => { f.sort(); const h = f.length >> 1; return f.length % 2 ? f[h] : (f[h - 1] + f[h]) / 2; };
  const b = med(slopes.subarray(0, ns));
  const a = med(Float64Array.from(xs, (x, k) => ys[k] - b * (x - x0)));
  const mean = ys.reduce((p, y) => p + y, 0) / ys.length;
  const xFirst = t.x[idx[0]], xLast = t.x[idx[n - 1]];
  return { n, x0, a, b, xFirst, xLast, mean, perHour: b * 3600, skipped };
}

function renderTrend(tr) {
  const s = $('slope');
  gcviz.trend = tr && { perHour: tr.perHour, spanS: tr.xLast - tr.xFirst, n: tr.n, skippedS: tr.skipped ? tr.skipped.to - tr.skipped.from : null };
  if (!tr) { s.textContent = 'live heap trend: – (needs 3 GC cycles in view)'; s.className = 'slope'; return; }
  const span = tr.xLast - tr.xFirst;
  const sign = v => (v > 0 ? '+' : '');
  const after = tr.skipped ? ' after start-up' : '';
  // Under a minute, an hourly rate is a guess: say what happened instead.
  const rate = span >= 60
    ? `${sign(tr.perHour)}${fmtMiB(tr.perHour)}/h (${sign(tr.perHour)}${fmtMiB(tr.perHour * 24)}/day)`
    : `${sign(tr.b)}${fmtMiB(tr.b * span)}`;
  s.textContent = `live heap trend: ${rate} over ${fmtSpan(span)}${after}, ${tr.n} cycles`;
  // Colour it when the growth over the window is large next to the heap itself.
  s.className = 'slope' + (tr.b * span > 0.05 * tr.mean ? ' up' : '');
}

// The newest values at the right edge of the view.
function renderNow(t, max) {
  const end = upperBound(t.x, max);
  const last = col => { for (let i = end - 1, k = 0; i >= 0 && k < 20000; i--, k++) if (t[col][i] != null) return t[col][i]; return null; };
  const live = last('live'), goal = last('goal'), rss = last('rss');
  const parts = [];
  if (live != null) parts.push('live ' + fmtNum(live));
  if (goal != null) parts.push('goal ' + fmtNum(goal));
  if (rss != null) parts.push('RSS ' + fmtNum(rss));
  $('mem-now').textContent = parts.length ? 'at right edge: ' + parts.join(' · ') + ' MiB' : '';
}

function drawTrend(u) {
  const tr = trend;
  if (!tr) return;
  const ctx = u.ctx, { left, top, width, height } = u.bbox;
  const px = x => u.valToPos(x, 'x', true), py = y => u.valToPos(y, 'y', true);
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  ctx.strokeStyle = pal.trend;
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.setLineDash([8 * devicePixelRatio, 5 * devicePixelRatio]);
  ctx.beginPath();
  ctx.moveTo(px(tr.xFirst), py(tr.a + tr.b * (tr.xFirst - tr.x0)));
  ctx.lineTo(px(tr.xLast), py(tr.a + tr.b * (tr.xLast - tr.x0)));
  ctx.stroke();
  ctx.restore();
}

// ------------------------------------------------------------------ tooltip
// The GC cycle nearest to the cursor: other rows (RSS, scavenger) sit between.
function nearestGc(t, idx) {
  const x = t.x[idx];
  let l = idx, r = idx + 1;
  for (let k = 0; l >= 0 && k < 5000 && t.kind[l] !== KIND.gc; l--, k++);
  for (let k = 0; r < t.x.length && k < 5000 && t.kind[r] !== KIND.gc; r++, k++);
  const okL = l >= 0 && t.kind[l] === KIND.gc, okR = r < t.x.length && t.kind[r] === KIND.gc;
  if (okL && okR) return x - t.x[l] <= t.x[r] - x ? l : r;
  return okL ? l : okR ? r : -1;
}

let tipIdx = -1;
function showTooltip(u) {
  const tip = $('tooltip');
  const idx = u.cursor.idx;
  if (u.cursor.left < 0) { hideTooltip(); return; }
  const m = markNear(u, u.cursor.left);
  if (m) {
    tip.replaceChildren(el('div', 'tt-title', `mark at ${fmtTime(m.t_s)}`), el('div', 'raw mono', m.text),
      el('div', 'flag', 'matched ' + m.pattern));
    tipIdx = -2;
    tip.hidden = false;
    placeTooltip(u, tip);
    return;
  }
  if (idx == null) { hideTooltip(); return; }
  const t = data.view, i = nearestGc(t, idx);
  if (i < 0) { hideTooltip(); return; }
  if (i !== tipIdx) { fillTooltip(tip, t, i); tipIdx = i; }
  tip.hidden = false;
  placeTooltip(u, tip);
}

function placeTooltip(u, tip) {
  // Place beside the cursor, flipped to stay inside the window.
  const box = u.over.getBoundingClientRect();
  const cx = box.left + u.cursor.left, cy = box.top + u.cursor.top;
  const w = tip.offsetWidth, h = tip.offsetHeight;
  const x = cx + 16 + w > window.innerWidth ? Math.max(4, cx - 16 - w) : cx + 16;
  const y = cy + 16 + h > window.innerHeight ? Math.max(4, cy - 16 - h) : cy + 16;
  tip.style.left = x + 'px';
  tip.style.top = y + 'px';
}

function hideTooltip() {
  $('tooltip').hidden = true;
  tipIdx = -1;
}

/* A summary row is one of the real cycles kept of a folded run; the hover
   speaks for the run: its cycles, its time span, each field's least and
   greatest value (all of them rows of the same run). */
const SUMMARY_FIELDS = [['live heap', 'live', 'MiB'], ['heap goal', 'goal', 'MiB'], ['stacks + globals', 'sg', 'MiB'],
  ['stop-the-world', 'stw', 'ms'], ['concurrent mark', 'mark', 'ms'], ['GC CPU (window)', 'cpuWin', '%'],
  ['frequency', 'perMin', 'GCs/min']];
function fillSummary(tip, t, i) {
  const from = t.spanFrom[i], to = t.spanTo[i];
  const i0 = lowerBound(t.x, from), i1 = upperBound(t.x, to);
  const same = [];
  for (let j = i0; j < i1; j++) if (t.kind[j] === KIND.gc && t.spanFrom[j] === from && t.spanTo[j] === to) same.push(j);
  let g0 = null, g1 = null;
  for (const j of same) if (t.gc[j] != null) { g0 = g0 == null ? t.gc[j] : Math.min(g0, t.gc[j]); g1 = Math.max(g1 ?? 0, t.gc[j]); }
  const title = el('div', 'tt-title', `Summary of ${t.cycles[i] ?? 'several'} cycles` + (g0 != null ? `: GC ${g0}–${g1}` : ''));
  const when = el('div', 'flag', `${fmtTime(from)} – ${fmtTime(to)}`);
  const table = el('table');
  const head = el('tr');
  head.append(el('td', '', ''), el('td', 'v', 'min'), el('td', 'v', 'max'));
  table.append(head);
  for (const [label, col, unit] of SUMMARY_FIELDS) {
    let lo = null, hi = null;
    for (const j of same) {
      const v = t[col][j];
      if (v == null) continue;
      if (lo == null || v < lo) lo = v;
      if (hi == null || v > hi) hi = v;
    }
    if (lo == null) continue;
    const tr = el('tr');
    tr.append(el('td', '', label), el('td', 'v', fmtNum(lo) + ' ' + unit), el('td', 'v', fmtNum(hi) + ' ' + unit));
    table.append(tr);
  }
  const note = el('div', 'flag', 'older cycles are folded: the chart draws each run\'s first, last, lowest and highest cycles at their own times. Zoom in for every cycle.');
  tip.replaceChildren(title, when, table, note);
}

function fillTooltip(tip, t, i) {
  if ((t.flags[i] & F_AGG) && t.spanFrom[i] != null) { fillSummary(tip, t, i); return; }
  const title = el('div', 'tt-title', `GC ${t.gc[i] ?? '?'} at ${fmtTime(t.x[i])}` + (clockOn() ? ` (${fmtElapsed(t.x[i])} in)` : '')
    + (data.all.procs.size > 1 ? ` (process ${t.proc[i]})` : ''));
  const rows = [
    ['live heap', t.live[i], 'MiB'], ['heap goal', t.goal[i], 'MiB'],
    ['heap start → end', t.hstart[i] == null ? null : `${fmtNum(t.hstart[i])} → ${fmtNum(t.hend[i])}`, 'MiB'],
    ['stacks / globals', t.stacks[i] == null ? null : `${fmtNum(t.stacks[i])} / ${fmtNum(t.globals[i])}`, 'MiB'],
    ['stop-the-world', t.stw[i], 'ms'], ['concurrent mark', t.mark[i], 'ms'],
    ['GC CPU (window)', t.cpuWin[i], '%'], ['mark assist', t.assist[i], '%'],
    ['runtime cumulative', t.cpuCum[i], '%'], ['frequency', t.perMin[i], 'GCs/min'],
  ];
  const table = el('table');
  for (const [label, v, unit] of rows) {
    if (v == null) continue;
    const tr = el('tr');
    tr.append(el('td', '', label), el('td', 'v', (typeof v === 'number' ? fmtNum(v) : v) + ' ' + unit));
    table.append(tr);
  }
  const f = t.flags[i], notes = [];
  if (f & F_FORCED) notes.push('forced');
  if (f & F_REPAIRED) notes.push('repaired line');
  const parts = [title, table];
  if (notes.length) parts.push(el('div', 'flag', notes.join(' · ')));
  const seq = t.seq[i];
  const raw = t.raw[i] ?? (seq != null ? rawLines.get(seq) : null);
  const rawEl = el('div', 'raw mono', raw ?? (f & F_AGG ? '(raw line not kept for summarised history)'
    : seq == null ? '(no raw line)' : rawLines.has(seq) ? '(raw line no longer kept)' : '(loading the raw line…)'));
  parts.push(rawEl);
  tip.replaceChildren(...parts);
  if (raw == null && seq != null && !(f & F_AGG) && !rawLines.has(seq)) fetchRaw(seq, rawEl).catch(noteError);
}

/* Rows from the snapshot carry their record's seq but not its text: fetched
   on hover while gcviz still keeps the record whole (its last 4096). */
const rawLines = new Map(); // seq -> raw line, or null when no longer kept
const rawAsked = new Set();
async function fetchRaw(seq, into) {
  if (rawAsked.has(seq)) return;
  rawAsked.add(seq);
  const res = await fetch(withToken('api/record?seq=' + seq));
  const rec = res.ok ? await res.json() : null;
  if (rawLines.size > 2000) rawLines.delete(rawLines.keys().next().value);
  rawLines.set(seq, rec && typeof rec.raw === 'string' ? rec.raw : null);
  rawAsked.delete(seq);
  if (into.isConnected) into.textContent = rawLines.get(seq) ?? '(raw line no longer kept)';
}

// -------------------------------------------------------------------- marks
/* Lines of the program's output that match a pattern (--mark, or added
   here), as vertical markers at the last GC cycle before them; hovering one
   shows the line. gcviz keeps the patterns and the marks (/api/marks). */
const marks = gcviz.marks = { list: [], patterns: [] };

function setMarks(body) {
  marks.list = Array.isArray(body.marks) ? body.marks : [];
  marks.patterns = Array.isArray(body.patterns) ? body.patterns : [];
  renderMarkList();
  markDirty(true);
}

async function loadMarks() {
  const r = await fetch(withToken('api/marks'));
  if (r.ok) setMarks(await r.json());
}

function onMark(m) {
  marks.list.push(m);
  if (marks.list.length > 2000) marks.list.shift();
  markDirty(true);
}

async function changeMark(method, pattern) {
  const r = await fetch(withToken('api/marks?pattern=' + encodeURIComponent(pattern)),
    { method, headers: { 'X-Gcviz': '1' } });
  if (!r.ok) { showNotice('mark ' + pattern + ': ' + (await r.text()).replace(/^gcviz: /, '').trim()); return; }
  showNotice('');
  setMarks(await r.json());
}

function renderMarkList() {
  $('mark-list').replaceChildren(...marks.patterns.map(p => {
    const b = el('button', 'mark-chip', p + ' ×');
    b.type = 'button';
    b.title = 'stop marking lines that match ' + p;
    b.addEventListener('click', () => changeMark('DELETE', p).catch(noteError));
    return b;
  }));
}

// Marks in view, as [x pixel (CSS), mark].
function marksInView(u) {
  const min = u.scales.x.min, max = u.scales.x.max, out = [];
  for (const m of marks.list) if (m.t_s >= min && m.t_s <= max) out.push([u.valToPos(m.t_s, 'x'), m]);
  return out;
}

function markNear(u, left) {
  let best = null, bd = 5;
  for (const [x, m] of marksInView(u)) { const d = Math.abs(x - left); if (d < bd) { bd = d; best = m; } }
  return best;
}

function drawMarks(u) {
  if (!marks.list.length) return;
  const ctx = u.ctx, { top, height } = u.bbox, dpr = devicePixelRatio;
  ctx.save();
  ctx.strokeStyle = pal.forced;
  ctx.lineWidth = 1.5 * dpr;
  ctx.beginPath();
  for (const [x] of marksInView(u)) {
    const px = Math.round(u.bbox.left + x * dpr);
    ctx.moveTo(px, top);
    ctx.lineTo(px, top + height);
  }
  ctx.stroke();
  ctx.restore();
}

// ------------------------------------------------- zoomed-in history detail
/* Old history arrives downsampled. When the user zooms into such a range, ask
   the server for that range at screen resolution and splice it in. */
let detailGen = 0;
async function fetchDetail(min, max) {
  const t = data.all;
  const i0 = lowerBound(t.x, min), i1 = upperBound(t.x, max);
  let coarse = false;
  for (let i = i0; i < i1 && !coarse; i++) coarse = (t.flags[i] & F_AGG) !== 0;
  if (!coarse) return;
  const gen = ++detailGen;
  const points = Math.max(200, Math.round(2 * (charts[0] ? charts[0].u.width : 1000)));
  const res = await fetch(withToken(`api/history?from_s=${min}&to_s=${max}&points=${points}`));
  if (!res.ok) throw new Error('history request failed: HTTP ' + res.status);
  const body = await res.json();
  if (gen !== detailGen || data.all !== t) return; // superseded by a newer zoom or snapshot
  const got = tableOfColumns(body.kinds);
  const fresh = [];
  for (let i = 0; i < got.x.length; i++) if (got.x[i] >= min && got.x[i] <= max) fresh.push(rowAt(got, i));
  // Keep rows of kinds the answer lacks (e.g. RSS, if the server sends GC rows only).
  const kinds = new Set(fresh.map(r => r.kind));
  const j0 = lowerBound(t.x, min), j1 = upperBound(t.x, max);
  for (let i = j0; i < j1; i++) if (!kinds.has(t.kind[i])) fresh.push(rowAt(t, i));
  const mid = tableOf(fresh);
  for (const c of COLS) t[c] = t[c].slice(0, j0).concat(mid[c], t[c].slice(j1));
  rebuildView();
  gcviz.details++;
  markDirty(true);
}

// ---------------------------------------------------------------- downloads
function saveBlob(blob, name) {
  const a = el('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');

// Cells that a spreadsheet would run as a formula get a leading quote.
function csvCell(v) {
  if (v == null) return '';
  let s = Array.isArray(v) ? v.join(' ') : String(v);
  if (/^[=+@\t\r]/.test(s)) s = "'" + s;
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/* CSV of every record the server kept (not just what is drawn): converted
   from the NDJSON endpoint; columns are the union of keys in order seen. */
async function downloadCsv() {
  const btn = $('dl-csv');
  btn.disabled = true;
  try {
    const res = await fetch(withToken('api/records.ndjson'));
    if (!res.ok) throw new Error('download failed: HTTP ' + res.status);
    const recs = (await res.text()).split('\n').filter(Boolean).map(l => JSON.parse(l));
    // Identity and time first, the raw line last, everything else as first seen.
    const keys = ['seq', 'kind', 'proc', 't_s'];
    const seen = new Set([...keys, 'raw']);
    for (const r of recs) for (const k in r) if (!seen.has(k)) { seen.add(k); keys.push(k); }
    keys.push('raw');
    const lines = [keys.join(',')];
    for (const r of recs) lines.push(keys.map(k => csvCell(r[k])).join(','));
    saveBlob(new Blob([lines.join('\n') + '\n'], { type: 'text/csv' }), `gcviz-${stamp()}.csv`);
  } finally {
    btn.disabled = false;
  }
}

// PNG of one chart: the uPlot canvas on the theme background, with title and legend.
function downloadPng(key) {
  const c = charts.find(ch => ch.spec.key === key);
  if (!c) return;
  const src = c.u.ctx.canvas, dpr = src.width / c.u.width || 1;
  const head = Math.round(44 * dpr);
  const out = document.createElement('canvas');
  out.width = src.width;
  out.height = src.height + head;
  const ctx = out.getContext('2d');
  ctx.fillStyle = pal.bg;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = pal.fg;
  ctx.font = `600 ${14 * dpr}px sans-serif`;
  ctx.textBaseline = 'middle';
  const [min, max] = currentRange();
  const extra = key === 'memory' ? '   ' + $('slope').textContent : '';
  ctx.fillText(`${c.spec.title}   ${fmtTime(min)} – ${fmtTime(max)}${extra}`, 8 * dpr, 11 * dpr);
  ctx.font = `${12 * dpr}px sans-serif`;
  let x = 8 * dpr;
  c.spec.series.forEach((s, i) => {
    if (!c.u.series[i + 1].show) return;
    ctx.fillStyle = pal[s.color];
    ctx.fillRect(x, 30 * dpr, 12 * dpr, 4 * dpr);
    ctx.fillStyle = pal.fg;
    ctx.fillText(s.label, x + 16 * dpr, 32 * dpr);
    x += 28 * dpr + ctx.measureText(s.label).width;
  });
  ctx.drawImage(src, 0, head);
  out.toBlob(b => saveBlob(b, `gcviz-${key}-${stamp()}.png`), 'image/png');
}

// -------------------------------------------------------------------- theme
const THEME_KEY = 'gcviz-theme';
function storedTheme() {
  try { return localStorage.getItem(THEME_KEY); } catch (e) { return null; }
}
const systemTheme = () => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');

function applyTheme(name, remember) {
  document.documentElement.dataset.theme = name;
  if (remember) { try { localStorage.setItem(THEME_KEY, name); } catch (e) { /* private mode */ } }
  $('btn-theme').textContent = name === 'dark' ? 'light theme' : 'dark theme';
  readPalette();
  // uPlot bakes colours into series, axes and legend markers: rebuild the charts.
  createCharts();
}

// --------------------------------------------------------------- controls
function bindControls() {
  $('btn-follow').addEventListener('click', () => setView({ follow: !viewport.follow }));
  for (const b of document.querySelectorAll('button.win')) {
    b.addEventListener('click', () => setView({ follow: true, windowS: b.dataset.window === 'all' ? null : Number(b.dataset.window) }));
  }
  $('proc-select').addEventListener('change', e => {
    procFilter = e.target.value === 'all' ? 'all' : Number(e.target.value);
    rebuildView();
    markDirty(true);
  });
  $('btn-theme').addEventListener('click', () => applyTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark', true));
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { if (!storedTheme()) applyTheme(systemTheme(), false); });
  $('dl-csv').addEventListener('click', () => downloadCsv().catch(noteError));
  $('dl-ndjson').href = withToken('api/records.ndjson');
  for (const b of document.querySelectorAll('button.png')) b.addEventListener('click', () => downloadPng(b.dataset.chart));
  new ResizeObserver(() => { pending.resize = true; schedule(); }).observe(document.querySelector('main.charts'));
  window.addEventListener('resize', () => { pending.resize = true; schedule(); });
  $('mark-form').addEventListener('submit', e => {
    e.preventDefault();
    const p = $('mark-input').value.trim();
    if (p) changeMark('POST', p).then(() => { $('mark-input').value = ''; }).catch(noteError);
  });
  $('btn-clock').addEventListener('click', () => {
    clockAxis = !clockAxis;
    $('btn-clock').setAttribute('aria-pressed', String(clockAxis));
    for (const { u } of charts) u.redraw(false, true);
    markDirty(true);
  });
  $('btn-log').addEventListener('click', () => {
    logScale = !logScale;
    $('btn-log').setAttribute('aria-pressed', String(logScale));
    createCharts();
  });
}

// What the charts show, for tests: the time range, following or not, the
// window, and how many rows and forced-GC markers are drawn from.
gcviz.view = () => {
  const [min, max] = currentRange(), t = data.view;
  const clock = clockOn() ? [wallAt(min), wallAt(max)].map(w => (w == null ? null : new Date(w * 1000).toISOString())) : null;
  return { min, max, clock, follow: viewport.follow, windowS: viewport.windowS, rows: t.x.length,
    forcedMarks: t.forcedMark.filter(v => v != null).length, charts: charts.length };
};

// Every point a series draws in the visible range, for tests:
// [time, value, seq, summary] per point.
gcviz.points = col => {
  const [min, max] = currentRange(), t = data.view, out = [];
  for (let i = lowerBound(t.x, min); i < t.x.length && t.x[i] <= max; i++) {
    if (t[col][i] != null) out.push([t.x[i], t[col][i], t.seq[i], (t.flags[i] & F_AGG) !== 0]);
  }
  return out;
};

// Zoom as a drag would (tests): the view, then the finer level from the server.
gcviz.details = 0;
gcviz.zoom = (min, max) => {
  setView({ follow: false, min, max });
  return fetchDetail(min, max).then(() => gcviz.details);
};

// Helpers for heap.js (see the extensions block at the top).
Object.assign(ext, { withToken, xAxisOpts, axis, fmtTime, fmtNum, range: () => currentRange(), palette: () => pal,
  zoom: (min, max) => { setView({ follow: false, min, max }); fetchDetail(min, max).catch(noteError); },
  reset: () => setView({ follow: true }), redraw: () => { for (const { u } of charts) u.redraw(false, false); } });

function start() {
  // The stream first: the server builds the snapshot while the charts are made.
  connect();
  bindControls();
  applyTheme(storedTheme() || systemTheme(), false);
  setView({ follow: true, windowS: 600 });
}

start();
})();
