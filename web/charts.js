/* The four uPlot charts: what each draws (CHARTS), their options, axes and
   overlays (GOMEMLIMIT, the trend, --mark lines), their sizes, and handing
   them the visible rows. They share one time cursor; a drag zooms all of
   them. Another chart of the page's own plugs in by adding its spec here;
   heap.js plugs in from outside through `gcviz.ext` (state.js): the shared
   time axis (`xAxisOpts`, `axis`) and a 'draw' hook on every chart. */
import { $, clockOn, data, el, emit, fmtClockTick, fmtTime, gcviz, markDirty, noteError, pal,
  setView, wallAt } from './state.js';
import { upperBound, lowerBound } from './table.js';
import { fmtMiB, fmtNum, fmtTick } from './format.js';
import { drawTrend } from './trend.js';
import { drawMarks } from './marks.js';
import { hideTooltip, showTooltip } from './tooltip.js';
import { fetchDetail } from './stream.js';

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

export const charts = [];   // { spec, u }
let hovered = null; // the uPlot instance under the mouse, for the tooltip

export function axis(scale, label, stroke, side) {
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

// The time axis every chart shares (heap.js's goroutine chart too).
export function xAxisOpts() {
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

export function createCharts() {
  for (const c of charts) c.u.destroy();
  charts.length = 0;
  for (const spec of CHARTS) {
    const host = $('chart-' + spec.key);
    host.replaceChildren();
    charts.push({ spec, u: new uPlot(chartOpts(spec, host.clientWidth || 600), chartData(spec), host) });
  }
  markDirty(true);
  emit('charts');
}

// The memory axis: linear, or logarithmic so a large RSS does not flatten
// the heap. Returns whether it is now logarithmic.
export function toggleLogScale() {
  logScale = !logScale;
  createCharts();
  return logScale;
}

// Hand every chart the visible rows and range.
export function drawCharts(min, max) {
  renderNow(data.view, max);
  for (const { spec, u } of charts) {
    u.batch(() => {
      u.setData(chartData(spec));
      u.setScale('x', { min, max });
    });
    if (u !== hovered) u.setLegend({ idx: null });
  }
}

// How many points to ask the server for when zooming: two per pixel.
const detailPoints = () => Math.max(200, Math.round(2 * (charts[0] ? charts[0].u.width : 1000)));

// Zoom as a drag does: the view, then the finer level from the server.
export function zoom(min, max) {
  setView({ follow: false, min, max });
  return fetchDetail(min, max, detailPoints());
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
    zoom(u.posToVal(left, 'x'), u.posToVal(left + width, 'x')).catch(noteError);
  }
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
}

export function resizeCharts() {
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

/* Series that have no data at all are greyed in their legend, with the hint
   that brings them (RSS: wrapper mode or --pid). */
export function markEmptySeries() {
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
