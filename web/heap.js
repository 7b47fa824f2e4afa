/* gcviz heap panel: the goroutine count chart and "where is it growing?",
   from the program's pprof endpoint (read by gcviz, see src/input/pprof/ and src/profile/).
   In: the profiles and counts gcviz keeps (/api/heap/profiles,
   /api/goroutines, then live `profile` and `goroutines` events through
   app.js's gcviz.ext hooks) and the charts' visible window. Out: a chart, a
   table of functions by growth of in-use memory between the first and
   last profiles in the visible window, download links, profile marks on the time
   axis. It only reads: drag on any chart to pick two moments. Text from the
   program (function names) is only ever inserted with textContent. */
'use strict';
(function () {
const gcviz = window.gcviz;
if (!gcviz || !gcviz.ext) return;
const ext = gcviz.ext;
const $ = id => document.getElementById(id);

const state = {
  profiles: [],          // metadata of the kept profiles, oldest first
  gx: [], gy: [],        // goroutine counts: time, count
  pair: null,            // [older, newer] profile compared
  order: 'inuse_bytes',
  diff: null,            // the last diff answer
  range: null,           // the charts' visible [min, max]
  pprof: null,           // the status's pprof part
};
// For tests: what the panel shows.
gcviz.heap = { diffs: 0, state, rows: () => (state.diff ? state.diff.rows.map(r => r.function) : []) };

async function getJson(url) {
  const r = await fetch(ext.withToken(url));
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return r.json();
}

function note(err) { gcviz.errors.push(String(err && err.message ? err.message : err)); }

// ------------------------------------------------------------- data in
async function load() {
  const [list, counts] = await Promise.all([getJson('api/heap/profiles'), getJson('api/goroutines')]);
  state.profiles = list.profiles;
  state.gx = counts.samples.map(s => s.t_s);
  state.gy = counts.samples.map(s => s.count);
  if (list.pprof) onStatus({ pprof: list.pprof });
  show();
  drawGoroutines();
  pickPair(true);
}

function onGoroutines(g) {
  if (typeof g.t_s !== 'number' || typeof g.count !== 'number') return;
  state.gx.push(g.t_s);
  state.gy.push(g.count);
  show();
  drawGoroutines();
}

function onProfile(m) {
  if (state.profiles.some(p => p.id === m.id)) return;
  state.profiles.push(m);
  // gcviz thins older profiles as it goes: keep the page's list as short.
  if (state.profiles.length > 64) load().catch(note);
  show();
  pickPair(false);
  ext.redraw();
}

function onStatus(st) {
  const p = st.pprof;
  state.pprof = p || null;
  const wrap = $('pprof-wrap');
  if (!p) { wrap.hidden = true; return; }
  wrap.hidden = false;
  const dd = $('pprof');
  if (p.state === 'searching') dd.textContent = 'looking at the program\u2019s listening ports';
  else if (p.state === 'none') dd.textContent = 'none found on the program\u2019s listening ports while it ran';
  else if (p.state === 'failing') dd.textContent = (p.endpoint || '') + ' \u2014 ' + (p.error || 'failing');
  else dd.textContent = p.endpoint + ' (' + (p.how === 'found' ? 'found' : '--pprof') + ', every ' + p.every_s + ' s)';
  dd.className = 'mono' + (p.state === 'failing' ? ' bad' : '');
  show();
}

function show() {
  const any = state.profiles.length > 0 || state.gx.length > 0 || (state.pprof && state.pprof.state !== 'searching' && state.pprof.state !== 'none');
  if (any && $('heap-area').hidden) {
    $('heap-area').hidden = false;
    makeChart();
  }
}

// ------------------------------------------------------ goroutine chart
let chart = null;
function palette() { return ext.palette(); }
function colour() {
  return getComputedStyle(document.documentElement).getPropertyValue('--c-goroutines').trim() || '#8250df';
}

function makeChart() {
  if (chart) chart.destroy();
  chart = null;
  const host = $('chart-goroutines');
  if ($('heap-area').hidden || !host) return;
  host.replaceChildren();
  const pal = palette();
  const opts = {
    width: host.clientWidth || 400, height: 170,
    scales: { x: { time: false, auto: false }, y: { range: (u, min, max) => [0, max > 0 ? uPlot.rangeNum(0, max, 0.1, true)[1] : 1] } },
    axes: [ext.xAxisOpts(), ext.axis('y', 'goroutines', pal.muted)],
    series: [
      { label: 'time', value: (u, v) => ext.fmtTime(v) },
      { label: 'goroutines', stroke: colour(), width: 2, paths: uPlot.paths.stepped({ align: 1 }),
        points: { show: true, size: 4 }, value: (u, v) => (v == null ? '\u2013' : String(v)) },
    ],
    legend: { live: true },
    cursor: { sync: { key: 'gcviz' }, drag: { x: true, y: false, setScale: false }, bind: { dblclick: () => null } },
    hooks: {
      setSelect: [u => {
        const { left, width } = u.select;
        if (width > 4) ext.zoom(u.posToVal(left, 'x'), u.posToVal(left + width, 'x'));
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      }],
      draw: [u => drawProfileMarks(u)],
      ready: [u => u.over.addEventListener('dblclick', () => ext.reset())],
    },
  };
  chart = new uPlot(opts, [state.gx, state.gy], host);
  drawGoroutines();
}

function drawGoroutines() {
  if (!chart) return;
  const [min, max] = state.range || ext.range();
  chart.batch(() => {
    chart.setData([state.gx, state.gy]);
    chart.setScale('x', { min, max });
  });
  const n = state.gy.length;
  $('goroutines-now').textContent = n ? state.gy[n - 1] + ' now' : '';
}

// ------------------------------------------------ profile marks on the axis
function drawProfileMarks(u) {
  if (!state.profiles.length) return;
  const ctx = u.ctx, dpr = devicePixelRatio, { left, top, height } = u.bbox;
  const min = u.scales.x.min, max = u.scales.x.max;
  const picked = new Set(state.pair ? state.pair.map(p => p.id) : []);
  const pal = palette();
  ctx.save();
  for (const p of state.profiles) {
    if (!(p.t_s >= min && p.t_s <= max)) continue;
    const x = Math.round(left + u.valToPos(p.t_s, 'x') * dpr);
    const y = top + height, s = (picked.has(p.id) ? 6 : 4) * dpr;
    ctx.fillStyle = picked.has(p.id) ? (pal.bad || '#cf222e') : (pal.muted || '#888');
    ctx.beginPath();
    ctx.moveTo(x, y - s * 1.6);
    ctx.lineTo(x - s, y);
    ctx.lineTo(x + s, y);
    ctx.closePath();
    ctx.fill();
  }
  ctx.restore();
}

// ----------------------------------------------------- which two profiles
function nearest(t) {
  let best = null;
  for (const p of state.profiles) if (!best || Math.abs(p.t_s - t) < Math.abs(best.t_s - t)) best = p;
  return best;
}

let diffTimer = null, diffGen = 0;
/* The first and last profiles inside the visible window (else those nearest
   its edges): drag on a chart (or pick a window) to choose two moments.
   Fetched again only when the pair changes. */
function pickPair(force) {
  if (!state.profiles.length) { renderEmpty(); return; }
  const [min, max] = state.range || ext.range();
  // Both inside the window when it holds two, so both marks are in view.
  const inside = state.profiles.filter(p => p.t_s >= min && p.t_s <= max);
  let a = inside.length >= 2 ? inside[0] : nearest(min), b = inside.length >= 2 ? inside[inside.length - 1] : nearest(max);
  if (a.id > b.id) [a, b] = [b, a];
  const same = state.pair && state.pair[0].id === a.id && state.pair[1].id === b.id;
  if (same && !force) return;
  state.pair = [a, b];
  clearTimeout(diffTimer);
  diffTimer = setTimeout(() => fetchDiff().catch(note), 150);
}

async function fetchDiff() {
  const [a, b] = state.pair;
  const gen = ++diffGen;
  const d = await getJson(`api/heap/diff?from_s=${a.t_s}&to_s=${b.t_s}&order=${state.order}&limit=40`);
  if (gen !== diffGen) return;
  state.diff = d;
  gcviz.heap.diffs++;
  renderDiff(d);
  ext.redraw();
}

// ------------------------------------------------------------------ table
function fmtBytes(v) {
  const a = Math.abs(v);
  if (a >= 1 << 30) return (v / (1 << 30)).toFixed(2) + ' GiB';
  if (a >= 1 << 20) return (v / (1 << 20)).toFixed(1) + ' MiB';
  if (a >= 1 << 10) return (v / (1 << 10)).toFixed(1) + ' KiB';
  return v + ' B';
}
const signed = (v, f) => (v > 0 ? '+' : v < 0 ? '\u2212' : '\u00b10 ') + (v === 0 ? '' : f(Math.abs(v)));
const fmtCount = v => (Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(1) + ' M' : Math.abs(v) >= 1e4 ? (v / 1e3).toFixed(1) + ' k' : String(v));

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function renderEmpty() {
  const p = state.pprof;
  $('heap-pair').textContent = !p ? 'no pprof endpoint'
    : p.state === 'failing' ? 'no heap profile: ' + (p.error || 'the endpoint fails')
      : 'waiting for the first heap profile';
  $('heap-rows').replaceChildren();
  for (const id of ['heap-dl-from', 'heap-dl-to']) $(id).hidden = true;
}

function setDownload(id, meta, label) {
  const a = $(id);
  a.hidden = !meta.downloadable;
  a.href = ext.withToken(`api/heap/profile/${meta.id}.pb.gz`);
  a.download = `gcviz-heap-${meta.id}.pb.gz`;
  a.textContent = label + ' ' + ext.fmtTime(meta.t_s) + ' .pb.gz';
}

function renderDiff(d) {
  const one = d.from.id === d.to.id;
  $('heap-pair').textContent = one
    ? `one heap profile in view (${ext.fmtTime(d.from.t_s)}): widen the window, or wait for the next`
    : `in-use growth from ${ext.fmtTime(d.from_s)} to ${ext.fmtTime(d.to_s)}: ${signed(d.inuse_bytes_delta, fmtBytes)}, ` +
      `${signed(d.inuse_objects_delta, fmtCount)} objects (the first and last heap profiles in view; drag on a chart to pick two moments)`;
  setDownload('heap-dl-from', d.from, 'older');
  setDownload('heap-dl-to', d.to, 'newer');
  $('heap-dl-to').hidden = one || !d.to.downloadable;
  const rows = $('heap-rows');
  const head = el('div', 'heap-head');
  for (const t of ['function', 'in-use growth', 'objects', 'in use now', 'allocated between']) head.append(el('span', null, t));
  const key = state.order === 'inuse_objects' ? 'inuse_objects_delta' : 'inuse_bytes_delta';
  const top = Math.max(1, ...d.rows.map(r => Math.max(0, r[key])));
  const out = [head];
  for (const r of d.rows) {
    const det = el('details', 'heap-row');
    const sum = el('summary');
    const fn = el('span', 'fn mono', r.function);
    fn.title = r.function;
    const bar = el('span', 'bar');
    bar.style.width = (100 * Math.max(0, r[key]) / top).toFixed(1) + '%';
    const grow = el('span', 'num' + (r.inuse_bytes_delta > 0 ? ' up' : ''), signed(r.inuse_bytes_delta, fmtBytes));
    grow.prepend(bar);
    sum.append(fn, grow, el('span', 'num', signed(r.inuse_objects_delta, fmtCount)),
      el('span', 'num', fmtBytes(r.inuse_bytes)), el('span', 'num muted', fmtBytes(r.alloc_bytes_delta)));
    det.append(sum);
    const paths = el('ol', 'paths');
    for (const s of r.stacks) {
      const li = el('li');
      li.append(el('span', 'num', signed(s.inuse_bytes_delta, fmtBytes)));
      const frames = el('span', 'frames mono');
      s.frames.forEach((f, i) => {
        if (i) frames.append(el('span', 'arrow', ' \u2190 '));
        frames.append(el('span', i ? null : 'leaf', f));
      });
      li.append(frames);
      paths.append(li);
    }
    det.append(paths);
    out.push(det);
  }
  if (!d.rows.length) out.push(el('p', 'hint', 'no allocations recorded in these profiles'));
  rows.replaceChildren(...out);
}

// ---------------------------------------------------------------- wiring
ext.on('goroutines', onGoroutines);
ext.on('profile', onProfile);
ext.on('status', onStatus);
ext.on('snapshot', () => load().catch(note));
ext.on('view', (min, max) => {
  const changed = !state.range || state.range[0] !== min || state.range[1] !== max;
  state.range = [min, max];
  if (!changed) return;
  drawGoroutines();
  pickPair(false);
});
ext.on('draw', (u, key) => { if (key === 'memory') drawProfileMarks(u); });
ext.on('charts', () => makeChart());
ext.on('resize', () => {
  if (!chart) return;
  const w = chart.root.parentElement.clientWidth;
  if (w && Math.abs(w - chart.width) > 1) chart.setSize({ width: w, height: 170 });
});
for (const b of document.querySelectorAll('button.heap-order')) {
  b.addEventListener('click', () => {
    state.order = b.dataset.order;
    for (const o of document.querySelectorAll('button.heap-order')) o.setAttribute('aria-pressed', String(o === b));
    pickPair(true);
  });
}
$('goroutines-png').addEventListener('click', () => {
  if (!chart) return;
  chart.ctx.canvas.toBlob(blob => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'gcviz-goroutines.png';
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
});
})();
