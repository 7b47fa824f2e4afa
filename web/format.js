/* Numbers, sizes and durations as the page prints them. Pure: no state, no
   DOM; the wall clock is passed in as seconds since the epoch. */

export const pad2 = n => (n < 10 ? '0' : '') + n;

// Axis ticks: short durations since the start of the run.
export function fmtTick(s) {
  if (Math.abs(s) < 60) return +s.toFixed(3) + 's';
  const neg = s < 0 ? '-' : '';
  s = Math.round(Math.abs(s));
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  if (h === 0) return neg + m + 'm' + (sec ? pad2(sec) + 's' : '');
  return neg + h + 'h' + (m || sec ? pad2(m) + 'm' : '') + (sec ? pad2(sec) + 's' : '');
}

// To the millisecond: 1.7e9 s in a double is a few 1e-7 s off, which must
// not print 09.99 for 10.00.
export const isoOf = w => new Date(Math.round(w * 1000)).toISOString();
export function fmtClock(w, withMs) {
  const iso = isoOf(w);
  return iso.slice(11, withMs ? 23 : 19);
}

// Legend and tooltip: precise time since the start.
export function fmtElapsed(s) {
  if (s == null) return '–';
  if (s < 60) return s.toFixed(3) + ' s';
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = (s % 60).toFixed(1);
  return (h ? h + 'h' + pad2(m) : m) + 'm' + (sec < 10 ? '0' : '') + sec + 's';
}

export function fmtNum(v) {
  if (v == null) return '–';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return a === 0 ? '0' : v.toPrecision(2);
}

export const fmtMiB = v => (Math.abs(v) >= 1024 ? fmtNum(v / 1024) + ' GiB' : fmtNum(v) + ' MiB');
export const fmtSpan = s => (s >= 3600 ? (s / 3600).toFixed(1) + ' h' : s >= 60 ? Math.round(s / 60) + ' min' : s >= 10 ? Math.round(s) + ' s' : s.toFixed(1) + ' s');
