/* The bar above the charts and the page's theme: follow or pause, the time
   window, the process picker, clock or elapsed time, log scale, marks,
   downloads, light or dark. */
import { $, clock, data, markDirty, noteError, pending, readPalette, rebuildView, schedule, setView,
  viewport, withToken } from './state.js';
import { charts, createCharts, toggleLogScale } from './charts.js';
import { changeMark } from './marks.js';
import { downloadCsv, downloadPng } from './export.js';

const THEME_KEY = 'gcviz-theme';
export function storedTheme() {
  try { return localStorage.getItem(THEME_KEY); } catch (e) { return null; }
}
export const systemTheme = () => (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');

export function applyTheme(name, remember) {
  document.documentElement.dataset.theme = name;
  if (remember) { try { localStorage.setItem(THEME_KEY, name); } catch (e) { /* private mode */ } }
  $('btn-theme').textContent = name === 'dark' ? 'light theme' : 'dark theme';
  readPalette();
  // uPlot bakes colours into series, axes and legend markers: rebuild the charts.
  createCharts();
}

export function bindControls() {
  $('btn-follow').addEventListener('click', () => setView({ follow: !viewport.follow }));
  for (const b of document.querySelectorAll('button.win')) {
    b.addEventListener('click', () => setView({ follow: true, windowS: b.dataset.window === 'all' ? null : Number(b.dataset.window) }));
  }
  $('proc-select').addEventListener('change', e => {
    data.procFilter = e.target.value === 'all' ? 'all' : Number(e.target.value);
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
    clock.axis = !clock.axis;
    $('btn-clock').setAttribute('aria-pressed', String(clock.axis));
    for (const { u } of charts) u.redraw(false, true);
    markDirty(true);
  });
  $('btn-log').addEventListener('click', () => {
    $('btn-log').setAttribute('aria-pressed', String(toggleLogScale()));
  });
}
