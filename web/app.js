/* gcviz page: reads the server's event stream (/events) and draws four
   uPlot charts that share one time cursor. This module starts the page and
   runs its frame loop; the others, by job:

     state.js     what the modules share: test hooks, data, view, redraws
     table.js     records as columns sorted by time               [pure]
     format.js    numbers, sizes, durations                       [pure]
     stream.js    /events: snapshot, live records, reconnecting; zoom detail
     header.js    status, counts, notices, process picker, the headline
     charts.js    the uPlot charts: specs, options, overlays, sizes
     trend.js     the live heap's trend over the window
     tooltip.js   hovering a chart
     marks.js     --mark lines
     export.js    CSV and PNG downloads
     controls.js  the bar above the charts, the theme

   heap.js, a classic script run after these modules (index.html), draws the
   goroutine chart and the heap-profile panel; it hooks in only through
   `gcviz.ext` (state.js), whose helpers are handed to it at the end here.

   Data flows one way: stream -> state.data -> frame -> charts. */
import { clockOn, currentRange, data, emit, ext, fmtTime, gcviz, noteError, onFrame, pal, pending, probe,
  probeWaiting, setView, viewport, wallAt, withToken } from './state.js';
import { F_AGG, lowerBound } from './table.js';
import { connect } from './stream.js';
import { renderStatus, requestVerdict, verdictDue } from './header.js';
import { axis, charts, drawCharts, markEmptySeries, resizeCharts, xAxisOpts, zoom } from './charts.js';
import { fmtNum } from './format.js';
import { updateTrend } from './trend.js';
import { applyTheme, bindControls, storedTheme, systemTheme } from './controls.js';

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
      draw(min, max, pending.full);
      lastDrawAt = now;
      lastDrawCost = performance.now() - t0;
      const d = gcviz.draws;
      d.n++; d.ms += lastDrawCost; d.maxMs = Math.max(d.maxMs, lastDrawCost);
      if (probe && probeWaiting.length) {
        const at = Date.now();
        for (const [seq, got] of probeWaiting.splice(0)) probe.push([seq, got, at]);
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
onFrame(frame);

// The trend is refitted for every view change, and while data streams in at
// most every TREND_MS: it moves slowly and costs more than a chart. So is the
// headline, at most every 2 s (header.js).
const TREND_MS = 500;
let trendAt = -Infinity;
function draw(min, max, full) {
  const now = performance.now();
  if (full || now - trendAt >= TREND_MS) {
    updateTrend(data.view, min, max);
    trendAt = now;
  }
  drawCharts(min, max);
  if (full) { markEmptySeries(); requestVerdict(min, max); } else if (verdictDue(now)) requestVerdict(min, max);
  emit('view', min, max);
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
gcviz.zoom = (min, max) => zoom(min, max).then(() => gcviz.details);

// Helpers for heap.js (see the extensions block in state.js).
Object.assign(ext, { withToken, xAxisOpts, axis, fmtTime, fmtNum, range: () => currentRange(), palette: () => pal,
  zoom: (min, max) => { zoom(min, max).catch(noteError); },
  reset: () => setView({ follow: true }), redraw: () => { for (const { u } of charts) u.redraw(false, false); } });

function start() {
  // The stream first: the server builds the snapshot while the charts are made.
  connect();
  bindControls();
  applyTheme(storedTheme() || systemTheme(), false);
  setView({ follow: true, windowS: 600 });
}

start();
