/* The live heap's trend over the visible window: printed above the memory
   chart and drawn on it as a dashed line. */
import { $, gcviz, pal } from './state.js';
import { lowerBound, upperBound } from './table.js';
import { fmtMiB, fmtSpan } from './format.js';

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

// The fit of the last view drawn, or null.
let current = null;
export function updateTrend(t, min, max) {
  current = liveTrend(t, min, max);
  renderTrend(current);
}

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


export function drawTrend(u) {
  const tr = current;
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
