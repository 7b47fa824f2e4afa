/* Downloads: every record gcviz kept as CSV, and any chart as PNG. */
import { $, currentRange, el, fmtTime, pal, withToken } from './state.js';
import { charts } from './charts.js';

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
export async function downloadCsv() {
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
export function downloadPng(key) {
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
