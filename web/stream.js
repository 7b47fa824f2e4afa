/* The page's input: the server's event stream (/events), a snapshot then
   live records, reconnecting when it drops; and the finer history the
   server sends for a zoomed-in range. */
import { $, TOKEN, accepts, data, emit, gcviz, markDirty, noteClock, noteError, pending, probe, probeWaiting,
  rebuildView, schedule, withToken } from './state.js';
import { COLS, F_AGG, lowerBound, pushRow, rowAt, tableOf, tableOfColumns, toRow, upperBound } from './table.js';
import { setConn, showNotice, updateProcSelect } from './header.js';
import { loadMarks, onMark } from './marks.js';

// Past this many live-appended rows, ask the server for a fresh (downsampled)
// snapshot instead of growing without bound.
const MAX_APPENDED = 200000;

function onSnapshot(msg) {
  gcviz.timing.parsed = performance.now();
  data.all = tableOfColumns(msg.kinds);
  data.appended = 0;
  rebuildView();
  updateProcSelect();
  gcviz.records = data.all.x.length;
  noteClock(data.all.wall.some(v => v != null));
  gcviz.timing.built = performance.now();
  if (msg.status) onStatus(msg.status);
  loadMarks().catch(noteError);
  pending.snapshot = true;
  markDirty(true);
  emit('snapshot');
}

function onRecord(rec) {
  if (rec.kind === 'goroutines') { emit('goroutines', rec); return; } // heap.js
  gcviz.records++;
  if (probe) probeWaiting.push([rec.seq, Date.now()]);
  const r = toRow(rec, data.all);
  if (!r) return;
  if (r.wall != null) noteClock(true);
  const before = data.all.procs.size;
  pushRow(data.all, r);
  if (data.view !== data.all && accepts(r)) pushRow(data.view, r);
  if (data.all.procs.size !== before) updateProcSelect();
  pending.minNewX = Math.min(pending.minNewX, r.x);
  if (++data.appended > MAX_APPENDED) connect();
  markDirty(false);
}

function onStatus(st) {
  gcviz.status = st;
  emit('status', st);
  pending.status = true;
  schedule();
}

// The program has exited or the input ended: nothing more will come.
const finished = () => gcviz.status != null && (gcviz.status.state === 'exited' || gcviz.status.state === 'eof');

let es = null, retryTimer = null;
export function connect() {
  if (es) es.close();
  clearTimeout(retryTimer);
  setConn('connecting…', '');
  if (gcviz.timing.connect == null) gcviz.timing.connect = performance.now();
  gcviz.connects++;
  const src = es = new EventSource(withToken('events'));
  const on = (name, fn) => src.addEventListener(name, e => {
    if (src !== es) return;
    if (name === 'snapshot' && gcviz.timing.received == null) {
      gcviz.timing.received = performance.now();
      gcviz.timing.bytes = e.data.length;
    }
    try { fn(JSON.parse(e.data)); } catch (err) { noteError(err); }
  });
  on('snapshot', onSnapshot);
  on('record', onRecord);
  on('status', onStatus);
  on('mark', onMark);
  on('profile', m => emit('profile', m)); // heap.js
  on('marks', () => { loadMarks().catch(noteError); });
  // The server dropped us for being slow: start over with a fresh snapshot.
  on('resync', () => connect());
  src.onopen = () => {
    if (gcviz.timing.open == null) gcviz.timing.open = performance.now();
    setConn('connected', 'ok');
  };
  src.onerror = () => {
    if (src !== es) return;
    if (finished()) {
      // gcviz has stopped (it exits with the program unless told to keep
      // serving): the page holds the final picture, there is nothing to wait for.
      src.close();
      setConn('gcviz stopped: final picture', '');
    } else if (src.readyState === EventSource.CLOSED) {
      // EventSource gives up on HTTP errors; keep trying, the server may come
      // back. A refused token is said as such: retrying cannot help.
      setConn('disconnected, retrying', 'bad');
      retryTimer = setTimeout(connect, 3000);
      fetch(withToken('api/status')).then(r => {
        if (r.status !== 401 || src !== es) return;
        clearTimeout(retryTimer);
        setConn('access token needed', 'bad');
        $('notice').dataset.kind = 'token';
        showNotice(TOKEN
          ? 'This gcviz refused the page\'s access token. Open the URL gcviz printed, with its ?token=…'
          : 'This gcviz needs an access token: open the URL gcviz printed, which ends in ?token=… (or set the token with --token / GCVIZ_TOKEN).');
      }).catch(() => {});
    } else {
      setConn('reconnecting…', 'warn');
    }
  };
}

// ------------------------------------------------- zoomed-in history detail
/* Old history arrives downsampled. When the user zooms into such a range, ask
   the server for that range at screen resolution and splice it in. */
let detailGen = 0;
export async function fetchDetail(min, max, points) {
  const t = data.all;
  const i0 = lowerBound(t.x, min), i1 = upperBound(t.x, max);
  let coarse = false;
  for (let i = i0; i < i1 && !coarse; i++) coarse = (t.flags[i] & F_AGG) !== 0;
  if (!coarse) return;
  const gen = ++detailGen;
  const res = await fetch(withToken(`api/history?from_s=${min}&to_s=${max}&points=${points}`));
  if (!res.ok) throw new Error('history request failed: HTTP ' + res.status);
  const body = await res.json();
  if (gen !== detailGen || data.all !== t) return; // superseded by a newer zoom or snapshot
  const got = tableOfColumns(body.kinds);
  const fresh = [];
  for (let i = 0; i < got.x.length; i++) if (got.x[i] >= min && got.x[i] <= max) fresh.push(rowAt(got, i));
  // Keep rows of kinds the answer lacks (e.g. RSS, if the server sends GC rows only).
  const kinds = new Set(fresh.map(r => r.kind));
  const j0 = lowerBound(t.x, min), j1 = upperBound(t.x, max);
  for (let i = j0; i < j1; i++) if (!kinds.has(t.kind[i])) fresh.push(rowAt(t, i));
  const mid = tableOf(fresh);
  for (const c of COLS) t[c] = t[c].slice(0, j0).concat(mid[c], t[c].slice(j1));
  rebuildView();
  gcviz.details++;
  markDirty(true);
}
