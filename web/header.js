/* The page's words: the connection badge, the program's state, command and
   environment, the record counts, gcviz's hints and notices, the process
   picker, and the headline (the story of the visible window). */
import { $, data, el, gcviz, noteError, withToken } from './state.js';

const SIGNALS = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

export function setConn(text, cls) {
  gcviz.conn.push(text);
  if (gcviz.conn.length > 50) gcviz.conn.shift();
  const c = $('conn');
  c.textContent = text;
  c.className = 'badge ' + cls;
}

function stateText(st) {
  if (st.state === 'running') return ['running', 'ok'];
  if (st.state === 'eof') return ['end of input', ''];
  if (st.state === 'exited') {
    if (st.signal != null) return [`killed by signal ${st.signal}${SIGNALS[st.signal] ? ' (' + SIGNALS[st.signal] + ')' : ''}`, 'bad'];
    return [`exited with code ${st.exit_code ?? '?'}`, st.exit_code === 0 ? '' : 'bad'];
  }
  return [String(st.state ?? 'unknown'), ''];
}

// Counts that mean something went wrong are highlighted when non-zero.
const COUNTS = [
  ['gc', 'GC cycles', false, 'GC cycles parsed'],
  ['repaired', 'repaired', true, 'trace lines that had to be repaired (for example split by the program\'s own output)'],
  ['unresolved', 'unresolved', true, 'trace-like lines that could not be parsed'],
  ['gaps', 'gaps', true, 'missing GC cycle numbers: trace lines were lost'],
  ['long_lines', 'long lines', true, 'lines longer than the limit, cut'],
  ['dropped', 'dropped', true, 'records or events dropped because gcviz fell behind'],
];

export function showNotice(text) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = !text;
}

export function renderStatus() {
  const st = gcviz.status;
  if (!st) return;
  // gcviz's own advice (no trace seen: is it a Go program? 2>&1?).
  if (typeof st.hint === 'string' && st.hint) showNotice(st.hint);
  else if ($('notice').dataset.kind !== 'token') showNotice('');
  const [text, cls] = stateText(st);
  const s = $('status');
  s.textContent = text;
  s.className = 'badge state ' + cls;
  const mode = $('mode');
  mode.hidden = !st.mode;
  mode.textContent = st.mode === 'pipe' ? 'reading a pipe' : st.mode === 'demo' ? 'demo data' : 'wrapping a program';
  const cmd = st.command ?? (st.mode === 'pipe' ? '(standard input)' : '–');
  $('command').textContent = cmd;
  document.title = 'gcviz: ' + cmd;
  $('pid').textContent = st.pid ?? '–';
  const env = st.env || {};
  const envText = ['GOGC', 'GOMEMLIMIT'].filter(k => env[k] != null && env[k] !== '').map(k => k + '=' + env[k]).join('  ');
  $('env').textContent = envText;
  $('env-wrap').hidden = !envText;

  const c = st.counts || {};
  const counts = $('counts');
  counts.replaceChildren();
  COUNTS.forEach(([key, label, bad, title], i) => {
    const n = c[key] ?? 0;
    if (key === 'long_lines' && !n) return; // rare: only mention when it happened
    if (i) counts.append(' · ');
    const span = el('span', bad && n ? 'warn' : '');
    span.title = title;
    span.append(el('span', 'n', n), ' ' + label);
    counts.append(span);
  });
}

export function updateProcSelect() {
  const procs = [...data.all.procs].sort((a, b) => a - b);
  $('proc-wrap').hidden = procs.length < 2;
  const sel = $('proc-select');
  if (sel.options.length === procs.length + 1) return;
  sel.replaceChildren(el('option', '', 'all'));
  for (const p of procs) {
    const o = el('option', '', 'process ' + p);
    o.value = String(p);
    sel.append(o);
  }
  sel.value = String(data.procFilter);
}

// ------------------------------------------------------------------ verdict
/* The headline comes from gcviz (/api/verdict, src/store/verdict.rs): the story
   the visible window tells, with its evidence. Asked for on every view change
   and at most every VERDICT_MS while data streams in. */
const VERDICT_MS = 2000;
let verdictAt = -Infinity, verdictBusy = false, verdictAgain = null;
// While data streams in: is it time to ask again?
export const verdictDue = now => now - verdictAt >= VERDICT_MS;
export function requestVerdict(min, max) {
  verdictAt = performance.now();
  if (verdictBusy) { verdictAgain = [min, max]; return; }
  verdictBusy = true;
  fetch(withToken(`api/verdict?from_s=${min}&to_s=${max}`))
    .then(r => (r.ok ? r.json() : null))
    .then(v => { if (v) renderVerdict(v); })
    .catch(noteError)
    .finally(() => {
      verdictBusy = false;
      if (verdictAgain) { const [a, b] = verdictAgain; verdictAgain = null; requestVerdict(a, b); }
    });
}

const STORY_CLASS = { spiral: 'bad', 'goroutine-leak': 'bad', 'heap-leak': 'bad', 'rss-above-heap': 'warn', flat: 'ok' };
function renderVerdict(v) {
  gcviz.verdict = v;
  $('verdict-head').textContent = v.headline;
  $('verdict-evidence').replaceChildren(...(v.evidence || []).map(e => el('li', '', e)));
  $('verdict').className = 'verdict ' + (STORY_CLASS[v.story] || '');
}
