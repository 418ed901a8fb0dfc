// Drawing the graph in SVG: the namespace bands, the nodes, the edges and
// their labels, kept in place between renders (an element per node and
// edge, updated, added and removed as the graph changes), and the classes
// that show the selection.

import { state } from './state.js';
import { els, s } from './dom.js';
import { fmtPct, fmtRate } from './format.js';
import { G, computeLayout, edgeGeometry, fanOffsets, layoutKey, placeLabels } from './layout.js';
import { edgeHealth, edgeLabelParts, edgeLabelText, edgeName, isOutside, nodeHealth, nodeName, nodeSub, nodeTypeLabel, statsOf, trafficByNode } from './model.js';
import { keySelect, select } from './selection.js';
import { renderDetails } from './details.js';
import { fit } from './view.js';

// The drawn elements, by edge and node id.
const edgeEls = new Map();
const labelEls = new Map();
const nodeEls = new Map();

// TEXT_MIN_ZOOM is the zoom below which the edge labels and the node names
// keep their size on screen (11 and 12.5 px) instead of shrinking with the
// graph: a fitted graph of a dozen services is zoomed out to about 0.6,
// where they would be 7 px.
const TEXT_MIN_ZOOM = 1;
let textScale = 1;

// zoomed is told the view's zoom; the texts are scaled by its inverse below
// TEXT_MIN_ZOOM, and the labels placed again (they take more room).
export function zoomed(k) {
  const ts = Math.min(3, Math.max(1, TEXT_MIN_ZOOM / k));
  if (Math.abs(ts - textScale) < 0.005) return;
  textScale = ts;
  scheduleRender();
}

// drawMarkers defines the edges' arrowheads, one per health.
export function drawMarkers() {
  for (const hl of ['healthy', 'degraded', 'failing', 'idle']) {
    els.defs.append(s('marker', {
      id: 'arrow-' + hl, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9,
      markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse',
    }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow ' + hl })));
  }
}

export function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    render();
  });
}

export function render() {
  const key = layoutKey();
  if (key !== state.layoutKey) {
    state.layoutKey = key;
    state.layout = computeLayout(state.nodes, state.edges);
    if (!state.userMoved) fit();
  }
  const L = state.layout;
  const empty = state.nodes.size === 0;
  els.empty.hidden = !empty;
  els.graph.setAttribute('data-graph-type', state.graphType);
  els.graph.setAttribute('data-window', state.window);
  els.graph.setAttribute('data-nodes', String(state.nodes.size));
  els.graph.setAttribute('data-edges', String(state.edges.size));
  renderBands(L);
  renderNodes(L);
  renderEdges(L);
  applySelectionClasses();
  renderDetails();
}

function renderBands(L) {
  const g = els.bands;
  g.replaceChildren();
  for (const b of L.bands) {
    g.append(
      s('g', { class: 'band', 'data-band': b.key },
        s('rect', { x: b.x, y: b.top, width: b.w, height: b.h, rx: 10 }),
        s('text', { x: b.x + 12, y: b.top + 18 }, b.title)),
    );
  }
}

function renderEdges(L) {
  // Lanes separate edges between the same two nodes (one per protocol).
  const lanesOf = new Map();
  const sorted = [...state.edges.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const e of sorted) {
    const k = [e.source, e.target].sort().join('\u0000');
    if (!lanesOf.has(k)) lanesOf.set(k, []);
    lanesOf.get(k).push(e.id);
  }
  const seen = new Set();
  const items = [];
  const fans = fanOffsets(L, sorted);
  for (const e of sorted) {
    if (!L.pos.has(e.source) || !L.pos.has(e.target)) continue;
    seen.add(e.id);
    const lanes = lanesOf.get([e.source, e.target].sort().join('\u0000'));
    const fan = fans.get(e.id) || { out: 0, in: 0 };
    const geo = edgeGeometry(e, L, lanes.indexOf(e.id), lanes.length, fan.out, fan.in);
    const st = statsOf(e);
    const hl = edgeHealth(e);
    const text = edgeLabelText(e);
    const aria = `${edgeName(e)}, ${e.protocol}: ${text}`;

    let el = edgeEls.get(e.id);
    if (!el) {
      el = { g: s('g', { 'data-edge-id': e.id, role: 'button', tabindex: 0 }) };
      el.title = s('title');
      el.hit = s('path', { class: 'hit' });
      el.line = s('path', { class: 'line' });
      el.g.append(el.title, el.hit, el.line);
      el.g.addEventListener('click', (ev) => select('edge', e.id, ev));
      el.g.addEventListener('keydown', (ev) => keySelect(ev, 'edge', e.id));
      els.edges.append(el.g);
      edgeEls.set(e.id, el);
    }
    el.g.setAttribute('class', `edge ${hl} ${e.protocol}`);
    el.g.setAttribute('data-health', hl);
    el.g.setAttribute('data-source', e.source);
    el.g.setAttribute('data-target', e.target);
    el.g.setAttribute('aria-label', aria);
    el.title.textContent = `${edgeName(e)} (${e.protocol})\n${text}`;
    el.line.setAttribute('d', geo.d);
    el.hit.setAttribute('d', geo.d);
    el.line.setAttribute('marker-end', `url(#arrow-${hl})`);
    const rate = st ? (e.protocol === 'tcp' ? ((st.bytesInRate || 0) + (st.bytesOutRate || 0)) / 1000 : st.requestRate) : 0;
    el.line.setAttribute('stroke-width', (1.5 + Math.min(3, Math.log10(1 + rate) * 1.4)).toFixed(2));

    let lb = labelEls.get(e.id);
    if (!lb) {
      lb = { g: s('g', { class: 'edge-label', 'data-edge-id': e.id, 'aria-hidden': 'true' }) };
      lb.rect = s('rect', { rx: 8, ry: 8, height: 18 });
      lb.text = s('text', { 'text-anchor': 'middle', y: 4 });
      lb.g.append(lb.rect, lb.text);
      lb.g.addEventListener('click', (ev) => select('edge', e.id, ev));
      els.labels.append(lb.g);
      labelEls.set(e.id, lb);
    }
    lb.g.setAttribute('class', `edge-label ${hl}`);
    if (lb.last !== text) {
      lb.last = text;
      lb.text.replaceChildren(...edgeLabelParts(e).map((p) => s('tspan', { class: p.c }, p.t)));
      lb.w = Math.ceil(lb.text.getComputedTextLength() || text.length * 6) + 14;
      lb.rect.setAttribute('width', lb.w);
      lb.rect.setAttribute('x', -lb.w / 2);
      lb.rect.setAttribute('y', -9);
    }
    items.push({ id: e.id, geo, w: lb.w * textScale, h: 20 * textScale, g: lb.g });
  }
  placeLabels(L, items, nodeEls);
  const scale = textScale === 1 ? '' : ` scale(${textScale.toFixed(3)})`;
  for (const it of items) it.g.setAttribute('transform', `translate(${it.x.toFixed(1)},${it.y.toFixed(1)})${scale}`);
  for (const [id, el] of edgeEls) {
    if (!seen.has(id)) {
      el.g.remove();
      edgeEls.delete(id);
    }
  }
  for (const [id, lb] of labelEls) {
    if (!seen.has(id)) {
      lb.g.remove();
      labelEls.delete(id);
    }
  }
}

// twinKey is what a node shows: two nodes with the same key look the same
// unless their cluster is shown.
function twinKey(n) {
  return n.type + '\u0000' + nodeName(n) + '\u0000' + n.namespace;
}

// clusterTwins returns the twin keys of the nodes that differ only by
// cluster (the same workload in two clusters of a multi-cluster mesh).
function clusterTwins() {
  const clusters = new Map();
  for (const n of state.nodes.values()) {
    const k = twinKey(n);
    if (!clusters.has(k)) clusters.set(k, new Set());
    clusters.get(k).add(n.cluster || '');
  }
  return new Set([...clusters].filter(([, cs]) => cs.size > 1).map(([k]) => k));
}

function nodeShape(n) {
  const r = G.r;
  if (n.type === 'app') return s('rect', { class: 'shape', x: -r + 1, y: -r + 1, width: 2 * r - 2, height: 2 * r - 2, rx: 6 });
  if (n.type === 'service') return s('path', { class: 'shape', d: `M0,${-r - 2} L${r + 2},${r - 3} L${-r - 2},${r - 3} Z` });
  return s('circle', { class: 'shape', r });
}

function renderNodes(L) {
  const seen = new Set();
  const ids = [...state.nodes.keys()].sort();
  const traffic = trafficByNode();
  const twins = clusterTwins();
  for (const id of ids) {
    const n = state.nodes.get(id);
    const p = L.pos.get(id);
    if (!p) continue;
    seen.add(id);
    const t = traffic(id);
    const hl = nodeHealth(t);
    const name = nodeName(n);
    const sub = nodeSub(n, twins.has(twinKey(n)));
    const shapeKey = n.type;
    let el = nodeEls.get(id);
    if (!el || el.shapeKey !== shapeKey) {
      if (el) el.g.remove();
      el = { g: s('g', { 'data-node-id': id, role: 'button', tabindex: 0 }), shapeKey };
      el.title = s('title');
      el.halo = s('circle', { class: 'halo', r: G.r + 7 });
      el.shape = nodeShape(n);
      el.glyph = s('text', { class: 'glyph' });
      el.name = s('text', { class: 'name', y: G.r + 17 });
      el.sub = s('text', { class: 'sub', y: G.r + 31 });
      el.text = s('g', { class: 'text' }, el.name, el.sub);
      el.g.append(el.title, el.halo, el.shape, el.glyph, el.text);
      el.g.addEventListener('click', (ev) => select('node', id, ev));
      el.g.addEventListener('keydown', (ev) => keySelect(ev, 'node', id));
      els.nodes.append(el.g);
      nodeEls.set(id, el);
    }
    const cls = ['node', hl, n.type];
    if (isOutside(n)) cls.push('external');
    el.g.setAttribute('class', cls.join(' '));
    el.g.setAttribute('data-health', hl);
    el.g.setAttribute('data-name', name);
    el.g.setAttribute('transform', `translate(${p.x},${p.y})`);
    const summary = t.inReq > 0
      ? `${fmtRate(t.inRate)} requests per second in, ${fmtPct((100 * t.inErr) / t.inReq)} errors`
      : t.outReq > 0 ? `${fmtRate(t.outRate)} requests per second out` : 'no requests in window';
    el.g.setAttribute('aria-label', `${nodeTypeLabel(n)} ${name} in namespace ${n.namespace}: ${summary}`);
    el.title.textContent = `${name} (${nodeTypeLabel(n)}, ${n.namespace})\n${summary}`;
    el.glyph.textContent = n.type === 'unknown' ? '?' : '';
    const shown = name.length > 30 ? name.slice(0, 28) + '…' : name;
    if (el.name.textContent !== shown) {
      el.name.textContent = shown;
      el.nameWidth = el.name.getComputedTextLength() || shown.length * 7;
    }
    el.sub.textContent = sub;
    if (el.textScale !== textScale) {
      el.textScale = textScale;
      el.text.setAttribute('transform', textScale === 1 ? '' : `scale(${textScale.toFixed(3)})`);
    }
  }
  for (const [id, el] of nodeEls) {
    if (!seen.has(id)) {
      el.g.remove();
      nodeEls.delete(id);
    }
  }
}

export function applySelectionClasses() {
  const sel = state.selected;
  let keepNodes = null;
  let keepEdges = null;
  if (sel && sel.kind === 'edge' && state.edges.has(sel.id)) {
    const e = state.edges.get(sel.id);
    keepNodes = new Set([e.source, e.target]);
    keepEdges = new Set([e.id]);
  } else if (sel && sel.kind === 'node' && state.nodes.has(sel.id)) {
    keepNodes = new Set([sel.id]);
    keepEdges = new Set();
    for (const e of state.edges.values()) {
      if (e.source === sel.id || e.target === sel.id) {
        keepEdges.add(e.id);
        keepNodes.add(e.source);
        keepNodes.add(e.target);
      }
    }
  }
  for (const [id, el] of nodeEls) {
    el.g.classList.toggle('selected', !!sel && sel.kind === 'node' && sel.id === id);
    el.g.classList.toggle('dim', !!keepNodes && !keepNodes.has(id));
    el.g.setAttribute('aria-pressed', String(!!sel && sel.kind === 'node' && sel.id === id));
  }
  for (const [id, el] of edgeEls) {
    const on = !!sel && sel.kind === 'edge' && sel.id === id;
    el.g.classList.toggle('selected', on);
    el.g.classList.toggle('dim', !!keepEdges && !keepEdges.has(id));
    el.g.setAttribute('aria-pressed', String(on));
    const lb = labelEls.get(id);
    if (lb) {
      lb.g.classList.toggle('selected', on);
      lb.g.classList.toggle('dim', !!keepEdges && !keepEdges.has(id));
    }
  }
}
