/* Lines of the program's output that match a pattern (--mark, or added
   here), as vertical markers at the last GC cycle before them; hovering one
   shows the line. gcviz keeps the patterns and the marks (/api/marks). */
import { $, el, gcviz, markDirty, noteError, pal, withToken } from './state.js';
import { showNotice } from './header.js';

const marks = gcviz.marks = { list: [], patterns: [] };

function setMarks(body) {
  marks.list = Array.isArray(body.marks) ? body.marks : [];
  marks.patterns = Array.isArray(body.patterns) ? body.patterns : [];
  renderMarkList();
  markDirty(true);
}

export async function loadMarks() {
  const r = await fetch(withToken('api/marks'));
  if (r.ok) setMarks(await r.json());
}

export function onMark(m) {
  marks.list.push(m);
  if (marks.list.length > 2000) marks.list.shift();
  markDirty(true);
}

export async function changeMark(method, pattern) {
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

export function markNear(u, left) {
  let best = null, bd = 5;
  for (const [x, m] of marksInView(u)) { const d = Math.abs(x - left); if (d < bd) { bd = d; best = m; } }
  return best;
}

export function drawMarks(u) {
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
