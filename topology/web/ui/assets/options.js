// The graph options, graph type and window: their selectors and the URL
// fragment that keeps them (#graphType=…&window=…, so that a link or a
// reload shows the same graph).

import { state } from './state.js';
import { els, h } from './dom.js';
import { scheduleRender } from './render.js';
import { connect } from './stream.js';

const GRAPH_TYPES = ['workload', 'app', 'versionedApp', 'service'];

// syncWindowSelect offers the windows the server keeps and selects
// state.window (the first window when the server keeps no such window).
export function syncWindowSelect() {
  const sel = els.window;
  const names = state.windows.map((w) => w.name);
  const have = [...sel.options].map((o) => o.value);
  if (names.length && names.join() !== have.join()) {
    sel.replaceChildren(...names.map((n) => h('option', { value: n }, 'last ' + n)));
  }
  if (names.length && !names.includes(state.window)) state.window = names[0];
  sel.value = state.window;
}

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const gt = p.get('graphType');
  if (gt && GRAPH_TYPES.includes(gt)) state.graphType = gt;
  const w = p.get('window');
  if (w) state.window = w;
}

function writeHash() {
  const p = new URLSearchParams({ graphType: state.graphType, window: state.window });
  history.replaceState(null, '', '#' + p.toString());
}

// setupOptions reads the options from the URL and follows the selectors and
// the URL: a new graph type reconnects the stream (every window comes with
// the stream, so a new window only redraws).
export function setupOptions() {
  readHash();
  els.graphType.value = state.graphType;
  els.graphType.addEventListener('change', () => {
    state.graphType = els.graphType.value;
    state.selected = null;
    state.userMoved = false;
    state.nodes = new Map();
    state.edges = new Map();
    state.layoutKey = '';
    writeHash();
    scheduleRender();
    connect();
  });
  els.window.addEventListener('change', () => {
    state.window = els.window.value;
    writeHash();
    scheduleRender();
  });
  window.addEventListener('hashchange', () => {
    const before = state.graphType;
    readHash();
    els.graphType.value = state.graphType;
    syncWindowSelect();
    if (state.graphType !== before) {
      state.selected = null;
      connect();
    }
    scheduleRender();
  });
}
