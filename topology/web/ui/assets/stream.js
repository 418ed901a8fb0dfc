// The push stream: the graph's server-sent events (a "snapshot" event, then
// "change" events with added/updated/removed nodes and edges) applied to
// the state, reconnection with backoff and a one-off snapshot when the
// server refuses the stream, and the connection status in the top bar.

import { state } from './state.js';
import { els } from './dom.js';
import { scheduleRender } from './render.js';
import { syncWindowSelect } from './options.js';

// Relative URLs: the page may be served behind a path prefix.
const STREAM = 'api/v1/graph/stream';
const GRAPH = 'api/v1/graph';

// RECONNECT_GRACE is how long a stream the browser is reconnecting may be
// down before the status says so: a stream cut on schedule (by a proxy or
// a load balancer) comes back within the browser's retry delay (about 3
// s), with a fresh snapshot, and the page stays "live" throughout.
const RECONNECT_GRACE = 8000;

function setConn(conn, text) {
  clearTimeout(state.graceTimer);
  state.graceTimer = 0;
  state.conn = conn;
  state.connText = text;
  els.status.setAttribute('data-conn', conn);
  updateStatusText();
}

// updateStatusText shows the connection (a live region: it changes
// rarely) and the age of the last update (not announced).
export function updateStatusText() {
  if (els.statusText.textContent !== state.connText) els.statusText.textContent = state.connText;
  let age = '';
  if (state.conn === 'live' && state.received) {
    const ago = Math.max(0, Math.round((Date.now() - state.received) / 1000));
    age = ago < 2 ? '· updated just now' : `· updated ${ago} s ago`;
  }
  if (els.statusAge.textContent !== age) els.statusAge.textContent = age;
}

function applySnapshot(snap) {
  state.nodes = new Map((snap.nodes || []).map((n) => [n.id, n]));
  state.edges = new Map((snap.edges || []).map((e) => [e.id, e]));
  applyMeta(snap);
}

function applyChange(ch) {
  const apply = (map, c) => {
    if (!c) return;
    for (const x of c.added || []) map.set(x.id, x);
    for (const x of c.updated || []) map.set(x.id, x);
    for (const id of c.removed || []) map.delete(id);
  };
  apply(state.nodes, ch.nodes);
  apply(state.edges, ch.edges);
  applyMeta(ch);
}

function applyMeta(ev) {
  if (ev.windows) {
    state.windows = ev.windows;
    syncWindowSelect();
  }
  if (ev.stats) state.stats = ev.stats;
  state.time = ev.time;
  state.received = Date.now();
  scheduleRender();
}

export function connect() {
  if (state.es) state.es.close();
  clearTimeout(state.retryTimer);
  const q = new URLSearchParams({ graphType: state.graphType });
  const es = new EventSource(STREAM + '?' + q.toString());
  state.es = es;
  setConn('connecting', 'connecting…');
  es.addEventListener('snapshot', (ev) => {
    if (es !== state.es) return;
    state.retries = 0;
    state.streams++;
    els.status.dataset.streams = String(state.streams);
    try {
      applySnapshot(JSON.parse(ev.data));
      setConn('live', 'live');
    } catch (err) {
      console.error('meshlens: bad snapshot event', err);
    }
  });
  es.addEventListener('change', (ev) => {
    if (es !== state.es) return;
    try {
      applyChange(JSON.parse(ev.data));
      setConn('live', 'live');
    } catch (err) {
      console.error('meshlens: bad change event', err);
    }
  });
  es.addEventListener('error', () => {
    if (es !== state.es) return;
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. too many clients, or a bad
      // query): show a one-off snapshot and retry with backoff.
      es.close();
      state.es = null;
      fallbackSnapshot();
      const delay = Math.min(30000, 1000 * 2 ** state.retries) * (0.75 + Math.random() * 0.5);
      state.retries = Math.min(state.retries + 1, 10);
      setConn('reconnecting', `stream unavailable · retrying in ${Math.round(delay / 1000)} s`);
      state.retryTimer = setTimeout(connect, delay);
    } else if (state.conn !== 'live') {
      setConn('reconnecting', 'reconnecting…');
    } else if (!state.graceTimer) {
      // The browser reconnects by itself and the server then sends a fresh
      // snapshot: say so only if that takes longer than a scheduled cut.
      state.graceTimer = setTimeout(() => setConn('reconnecting', 'reconnecting…'), RECONNECT_GRACE);
    }
  });
}

async function fallbackSnapshot() {
  const gt = state.graphType;
  try {
    const resp = await fetch(GRAPH + '?' + new URLSearchParams({ graphType: gt }).toString(), { headers: { Accept: 'application/json' } });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      setConn('error', `error ${resp.status}${body.error ? ': ' + body.error : ''}`);
      return;
    }
    const snap = await resp.json();
    if (gt === state.graphType && !state.es) applySnapshot(snap);
  } catch (err) {
    // Unreachable: the status already says so.
  }
}
