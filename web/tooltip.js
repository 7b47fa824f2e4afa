/* Hovering a chart: the nearest GC cycle's values and its raw trace line,
   a folded run's summary, or a --mark's line. */
import { $, clockOn, data, el, fmtTime, noteError, withToken } from './state.js';
import { F_AGG, F_FORCED, F_REPAIRED, KIND, lowerBound, upperBound } from './table.js';
import { fmtElapsed, fmtNum } from './format.js';
import { markNear } from './marks.js';

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
export function showTooltip(u) {
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

export function hideTooltip() {
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
