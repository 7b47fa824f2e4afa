/* What the page's modules share: the test hooks, the access token, the data
   as received and as drawn, the visible time range, the wall clock, the
   theme's colours, and the one redraw scheduler. It draws nothing itself:
   the frame loop (app.js) registers with `onFrame`. */
import { KIND, newTable, pushRow, rowAt, upperBound } from './table.js';
import { fmtClock, fmtElapsed, fmtTick, isoOf } from './format.js';

// ---------------------------------------------------------------- test hooks
// Automated browser tests and benchmarks read this object; keep its shape
// stable. `timing`: ms since navigation of the steps to the first picture.
// `connects`: streams opened; `conn`: every text the connection badge showed.
// A page opened with `window.gcvizProbe = []` set before its scripts gets
// `[seq, received, drawn]` (Date.now() ms) pushed there for every live record
// once it is drawn.
export const gcviz = window.gcviz = { records: 0, status: null, ready: false, errors: [],
  timing: { script: performance.now() }, connects: 0, conn: [], trend: null,
  draws: { n: 0, ms: 0, maxMs: 0 } };
export const probe = Array.isArray(window.gcvizProbe) ? window.gcvizProbe : null;
// [seq, received] of the records received since the last draw, for `probe`.
export const probeWaiting = [];
export function noteError(err) {
  gcviz.errors.push(String(err && err.message ? err.message : err));
  if (gcviz.errors.length > 50) gcviz.errors.shift();
}
window.addEventListener('error', e => noteError(e.error || e.message));
window.addEventListener('unhandledrejection', e => noteError(e.reason));

// ---------------------------------------------------------------- extensions
/* heap.js (goroutine chart, heap-profile panel) is a classic script that runs
   after the modules and hooks in here and only here: `gcviz.ext.on(name, fn)`
   for 'goroutines' and 'profile' (live events), 'snapshot', 'status', 'view'
   (min, max after each draw), 'draw' (a chart, its key), 'charts' (rebuilt:
   theme) and 'resize'; the rest of `ext` are helpers app.js hands it. */
const extListeners = {};
export const ext = gcviz.ext = { on: (name, fn) => { (extListeners[name] ||= []).push(fn); } };
export function emit(name, ...args) {
  for (const fn of extListeners[name] || []) { try { fn(...args); } catch (err) { noteError(err); } }
}

// --------------------------------------------------------------------- token
// The server may require ?token=...: every request this page makes carries it.
export const TOKEN = new URLSearchParams(location.search).get('token');
export function withToken(url) {
  if (!TOKEN) return url;
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(TOKEN);
}

// ----------------------------------------------------------------------- DOM
// Text that comes from the observed program is only ever inserted with
// textContent, as `el` does.
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
export const $ = id => document.getElementById(id);

// ---------------------------------------------------------------------- data
// All data as received, and the rows the charts draw (filtered by process:
// `procFilter` is 'all' or a process number).
export const data = { all: newTable(), view: null, appended: 0, procFilter: 'all' };
data.view = data.all;

// RSS belongs to the wrapped process as a whole, so it survives the filter.
export const accepts = r => data.procFilter === 'all' || r.proc === data.procFilter || r.kind === KIND.rss;

export function rebuildView() {
  if (data.procFilter === 'all') { data.view = data.all; return; }
  const t = newTable(), a = data.all;
  for (let i = 0; i < a.x.length; i++) {
    if (accepts({ proc: a.proc[i], kind: a.kind[i] })) pushRow(t, rowAt(a, i));
  }
  data.view = t;
}

// ------------------------------------------------------ visible time range
export const viewport = { follow: true, windowS: 600, min: 0, max: 60 };

export function currentRange() {
  if (!viewport.follow) return [viewport.min, viewport.max];
  const x = data.view.x;
  if (!x.length) return [0, 60];
  const first = x[0], last = x[x.length - 1];
  const min = viewport.windowS == null ? first : Math.max(first, last - viewport.windowS);
  return [min, Math.max(last, min + 1)];
}

export function setView(change) {
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

// ---------------------------------------------------------------- wall clock
/* Wall-clock time (src/trace/clock.rs): rows carry it when gcviz knows it; a
   moment between rows takes the nearest earlier row's clock plus the run
   since. Shown in UTC. `axis`: the user's choice; `known`: some row has it. */
export const clock = { axis: true, known: false };
export function wallAt(s) {
  const t = data.view, n = t.x.length, at = upperBound(t.x, s);
  for (let i = at - 1, k = 0; i >= 0 && k < 5000; i--, k++) if (t.wall[i] != null) return t.wall[i] + (s - t.x[i]);
  for (let j = at, k = 0; j < n && k < 5000; j++, k++) if (t.wall[j] != null) return t.wall[j] - (t.x[j] - s);
  return null;
}
export function noteClock(known) {
  if (!known || clock.known) return;
  clock.known = true;
  $('btn-clock').hidden = false;
}
export const clockOn = () => clock.axis && clock.known;

export function fmtClockTick(s, spanS) {
  const w = wallAt(s);
  if (w == null) return fmtTick(s);
  const iso = isoOf(w);
  if (spanS > 2 * 86400) return iso.slice(5, 10) + ' ' + iso.slice(11, 16);
  return spanS < 10 ? iso.slice(11, 22) : iso.slice(11, 19);
}

// Legend and tooltip: precise time, on the clock when it is shown.
export function fmtTime(s) {
  if (s == null) return '–';
  if (clockOn()) { const w = wallAt(s); if (w != null) return fmtClock(w, true) + ' UTC'; }
  return fmtElapsed(s);
}

// ------------------------------------------------------------------- colours
// Series colours come from CSS custom properties of the current theme.
export const pal = {};
const PAGE_COLOURS = ['bg', 'fg', 'muted', 'grid', 'bad'];
const SERIES_COLOURS = ['live', 'goal', 'start', 'end', 'sg', 'released', 'rss', 'trend', 'stw', 'mark',
  'cpu', 'assist', 'cpucum', 'freq', 'forced'];
export function readPalette() {
  const cs = getComputedStyle(document.documentElement);
  const read = name => cs.getPropertyValue(name).trim() || '#888';
  for (const k of PAGE_COLOURS) pal[k] = read('--' + k);
  for (const k of SERIES_COLOURS) pal[k] = read('--c-' + k);
}

// ------------------------------------------------------------------ redraws
/* What changed since the last frame: the status, a resize, the whole view
   (`full`: zoom, window, theme, snapshot), or only streamed records from
   `minNewX` on. Redraws are batched to at most one per animation frame. */
export const pending = { frame: false, status: false, full: false, snapshot: false, minNewX: Infinity, resize: false };
let frame = () => {};
export function onFrame(fn) { frame = fn; }

export function schedule() {
  if (pending.frame) return;
  pending.frame = true;
  requestAnimationFrame(frame);
}

export function markDirty(full) {
  if (full) pending.full = true;
  schedule();
}
