// Layout: where every node, band, edge and edge label goes, in SVG user
// units. Deterministic: the same graph is always laid out the same way.

import { state } from './state.js';
import { isOutside, nodeName } from './model.js';

// Geometry of the layout, in SVG user units.
export const G = {
  colPitch: 270, // distance between call-depth columns
  rowPitch: 84, // distance between nodes in a column
  bandHeader: 28, // namespace title
  bandPad: 10, // space inside a band, below the nodes
  bandGap: 18, // space between bands
  bandSide: 92, // band extent left and right of its outer node centres
  r: 18, // node radius
  margin: 24,
};

// computeLayout places nodes deterministically: a column per call depth
// (longest path from the callers, cycles broken by a depth-first search in
// id order), a horizontal band per namespace (and one for what is outside
// the mesh), and within each band's columns an order that follows the
// neighbours' positions (a few barycentre sweeps).
export function computeLayout(nodes, edges) {
  const ids = [...nodes.keys()].sort();
  const succ = new Map(ids.map((id) => [id, new Set()]));
  const pred = new Map(ids.map((id) => [id, new Set()]));
  for (const e of edges.values()) {
    if (!nodes.has(e.source) || !nodes.has(e.target) || e.source === e.target) continue;
    succ.get(e.source).add(e.target);
    pred.get(e.target).add(e.source);
  }
  const sortedSucc = new Map(ids.map((id) => [id, [...succ.get(id)].sort()]));

  // Back edges: an iterative DFS from the roots, then from anything left.
  const mark = new Map();
  const back = new Set();
  const starts = ids.filter((id) => pred.get(id).size === 0).concat(ids);
  for (const root of starts) {
    if (mark.has(root)) continue;
    const stack = [[root, 0]];
    mark.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = sortedSucc.get(top[0]);
      if (top[1] < next.length) {
        const t = next[top[1]++];
        if (!mark.has(t)) {
          mark.set(t, 1);
          stack.push([t, 0]);
        } else if (mark.get(t) === 1) {
          back.add(top[0] + '\u0000' + t);
        }
      } else {
        mark.set(top[0], 2);
        stack.pop();
      }
    }
  }
  const fwd = (a, b) => !back.has(a + '\u0000' + b);

  // Longest path over the forward edges (Kahn's order).
  const depth = new Map(ids.map((id) => [id, 0]));
  const indeg = new Map(ids.map((id) => [id, [...pred.get(id)].filter((p) => fwd(p, id)).length]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  const topo = [];
  while (queue.length) {
    const id = queue.shift();
    topo.push(id);
    for (const t of sortedSucc.get(id)) {
      if (!fwd(id, t)) continue;
      depth.set(t, Math.max(depth.get(t), depth.get(id) + 1));
      indeg.set(t, indeg.get(t) - 1);
      if (indeg.get(t) === 0) queue.push(t);
    }
  }
  // Callers sit right before their first callee rather than in column 0.
  for (let i = topo.length - 1; i >= 0; i--) {
    const id = topo[i];
    const hasPred = [...pred.get(id)].some((p) => fwd(p, id));
    const next = sortedSucc.get(id).filter((t) => fwd(id, t));
    if (!hasPred && next.length) depth.set(id, Math.max(0, Math.min(...next.map((t) => depth.get(t))) - 1));
  }

  // Bands: one per namespace (per cluster when there are several).
  const clusters = new Set(ids.map((id) => nodes.get(id).cluster).filter((c) => c && c !== 'unknown'));
  const bandKey = (n) => {
    if (isOutside(n)) return '~outside';
    if (n.type === 'unknown') return '~unknown';
    return clusters.size > 1 ? n.cluster + '/' + n.namespace : n.namespace;
  };
  const bandsByKey = new Map();
  for (const id of ids) {
    const n = nodes.get(id);
    const key = bandKey(n);
    if (!bandsByKey.has(key)) {
      let title = 'namespace ' + n.namespace;
      if (key === '~outside') title = 'outside the mesh';
      else if (key === '~unknown') title = 'callers without identity';
      else if (clusters.size > 1) title = 'namespace ' + n.namespace + ' · cluster ' + n.cluster;
      bandsByKey.set(key, { key, title, ids: [], minDepth: Infinity, maxDepth: -Infinity, cols: new Map(), rows: 1 });
    }
    const b = bandsByKey.get(key);
    const d = depth.get(id);
    b.ids.push(id);
    b.minDepth = Math.min(b.minDepth, d);
    b.maxDepth = Math.max(b.maxDepth, d);
    if (!b.cols.has(d)) b.cols.set(d, []);
    b.cols.get(d).push(id);
  }
  const bands = [...bandsByKey.values()].sort((a, b) => {
    const ao = a.key === '~outside' ? 1 : 0;
    const bo = b.key === '~outside' ? 1 : 0;
    return ao - bo || a.minDepth - b.minDepth || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  });
  for (const b of bands) {
    for (const col of b.cols.values()) {
      col.sort((x, y) => {
        const nx = nodeName(nodes.get(x));
        const ny = nodeName(nodes.get(y));
        return nx < ny ? -1 : nx > ny ? 1 : x < y ? -1 : 1;
      });
      b.rows = Math.max(b.rows, col.length);
    }
  }

  // Rows: fractional row positions inside each band.
  const row = new Map();
  const bandOf = new Map();
  let top = G.margin;
  for (const b of bands) {
    b.top = top;
    top += G.bandHeader + b.rows * G.rowPitch + G.bandPad + G.bandGap;
    for (const id of b.ids) bandOf.set(id, b);
  }
  const y = (id) => {
    const b = bandOf.get(id);
    return b.top + G.bandHeader + (row.get(id) + 0.5) * G.rowPitch;
  };
  const place = (b, col, desired) => {
    // Keep the order, stay near the desired rows, one row apart, inside the band.
    const n = col.length;
    const pos = col.map((id) => desired.get(id));
    for (let i = 0; i < n; i++) pos[i] = Math.max(pos[i], i === 0 ? 0 : pos[i - 1] + 1);
    for (let i = n - 1; i >= 0; i--) pos[i] = Math.min(pos[i], i === n - 1 ? b.rows - 1 : pos[i + 1] - 1);
    for (let i = 0; i < n; i++) pos[i] = Math.max(pos[i], i === 0 ? 0 : pos[i - 1] + 1);
    col.forEach((id, i) => row.set(id, pos[i]));
  };
  for (const b of bands) {
    for (const col of b.cols.values()) {
      const off = (b.rows - col.length) / 2;
      col.forEach((id, i) => row.set(id, off + i));
    }
  }
  const maxDepth = Math.max(0, ...ids.map((id) => depth.get(id)));
  const bary = (id, neigh) => {
    const ys = [...neigh.get(id)].filter((o) => o !== id).map(y);
    return ys.length ? ys.reduce((a, v) => a + v, 0) / ys.length : null;
  };
  const sweep = (d, neigh) => {
    for (const b of bands) {
      const col = b.cols.get(d);
      if (!col) continue;
      const key = new Map(col.map((id) => [id, bary(id, neigh) ?? y(id)]));
      col.sort((p, q) => key.get(p) - key.get(q) || y(p) - y(q) || (p < q ? -1 : 1));
      const desired = new Map();
      const centred = (b.rows - col.length) / 2;
      col.forEach((id, i) => {
        const k = bary(id, neigh);
        const want = k === null ? centred + i : (k - b.top - G.bandHeader) / G.rowPitch - 0.5;
        desired.set(id, Math.max(0, Math.min(b.rows - 1, want)));
      });
      place(b, col, desired);
    }
  };
  const both = new Map(ids.map((id) => [id, new Set([...pred.get(id), ...succ.get(id)])]));
  for (let it = 0; it < 3; it++) {
    for (let d = 1; d <= maxDepth; d++) sweep(d, pred);
    for (let d = maxDepth - 1; d >= 0; d--) sweep(d, succ);
  }
  // Last, each node between its callers and its callees.
  for (let d = 0; d <= maxDepth; d++) sweep(d, both);

  const pos = new Map();
  for (const id of ids) pos.set(id, { x: G.margin + G.bandSide + depth.get(id) * G.colPitch, y: y(id), depth: depth.get(id) });
  for (const b of bands) {
    b.x = G.margin + G.bandSide + b.minDepth * G.colPitch - G.bandSide;
    b.w = (b.maxDepth - b.minDepth) * G.colPitch + 2 * G.bandSide;
    b.h = G.bandHeader + b.rows * G.rowPitch + G.bandPad;
  }
  const width = 2 * G.margin + 2 * G.bandSide + maxDepth * G.colPitch;
  const height = top - G.bandGap + G.margin;
  return { pos, bands, width, height, back };
}

// layoutKey identifies the graph's shape (its nodes and who calls whom):
// the layout is computed again only when it changes.
export function layoutKey() {
  const n = [...state.nodes.keys()].sort().join('|');
  const e = [...state.edges.values()].map((x) => x.source + '>' + x.target).sort().join('|');
  return n + '#' + e;
}

// edgeGeometry returns the path of an edge and at(t), its points
// (t in [0, 1]), where its label may go. lane of lanes separates the edges
// between the same two nodes; fanOut and fanIn (user units, from
// fanOffsets) separate the edges leaving one node, and those reaching one,
// so that their curves do not start (or end) on top of each other.
export function edgeGeometry(e, L, lane, lanes, fanOut = 0, fanIn = 0) {
  const a = L.pos.get(e.source);
  const b = L.pos.get(e.target);
  const r = G.r;
  const spread = (lane - (lanes - 1) / 2) * 16;
  if (e.source === e.target) {
    const x = a.x;
    const yy = a.y - r + 2;
    const d = `M${x + 8},${yy} C${x + 46},${yy - 60 - spread} ${x - 46},${yy - 60 - spread} ${x - 8},${yy - 3}`;
    return { d, at: () => [x, yy - 48 - spread] };
  }
  if (b.depth > a.depth) {
    // Each edge leaves (and reaches) the circle at its own height, its
    // first control point as far from the start as the others' are apart.
    const x0 = a.x + Math.sqrt(Math.max(0, r * r - fanOut * fanOut)) + 3;
    const y0 = a.y + spread * 0.3 + fanOut;
    const x1 = b.x - Math.sqrt(Math.max(0, r * r - fanIn * fanIn)) - 4;
    const y1 = b.y + spread * 0.3 + fanIn;
    const dx = (x1 - x0) / 2;
    const c1 = [x0 + dx, y0 + spread + fanOut];
    const c2 = [x1 - dx, y1 + spread + fanIn];
    const d = `M${x0},${y0} C${c1[0]},${c1[1]} ${c2[0]},${c2[1]} ${x1},${y1}`;
    return { d, at: (t) => bezier([x0, y0], c1, c2, [x1, y1], t) };
  }
  // Back edge or same column: go around below.
  const x0 = a.x;
  const y0 = a.y + r + 3;
  const x1 = b.x;
  const y1 = b.y + r + 4;
  const low = Math.max(a.y, b.y) + G.rowPitch * 0.75 + Math.abs(spread);
  const bend = Math.max(50, Math.abs(x1 - x0) / 3);
  const c1 = [x0 - bend * (x1 <= x0 ? 1 : -1) * 0.3, low];
  const c2 = [x1 + bend * (x1 <= x0 ? 1 : -1) * 0.3, low];
  const d = `M${x0},${y0} C${c1[0]},${c1[1]} ${c2[0]},${c2[1]} ${x1},${y1}`;
  return { d, at: (t) => bezier([x0, y0], c1, c2, [x1, y1], t) };
}

// FAN_STEP is the distance between the ends of the edges leaving (or
// reaching) one node, at most: they share the node's height.
const FAN_STEP = 9;

// fanOffsets returns, by edge id, the offsets of the forward edges' ends
// (edgeGeometry's fanOut and fanIn): the edges leaving a node are spread
// over its height in the order of their targets' heights (so they do not
// cross near the node), and the edges reaching a node in the order of
// their sources' heights.
export function fanOffsets(L, edges) {
  const outs = new Map();
  const ins = new Map();
  const add = (m, k, e) => {
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(e);
  };
  for (const e of edges) {
    const a = L.pos.get(e.source);
    const b = L.pos.get(e.target);
    if (!a || !b || e.source === e.target || b.depth <= a.depth) continue;
    add(outs, e.source, e);
    add(ins, e.target, e);
  }
  const out = new Map();
  const spreadOver = (list, other, key) => {
    list.sort((x, y) => L.pos.get(x[other]).y - L.pos.get(y[other]).y || (x.id < y.id ? -1 : 1));
    // Parallel edges (one per protocol) share their end: lanes part them.
    const ends = [...new Set(list.map((e) => e[other]))];
    const step = ends.length > 1 ? Math.min(FAN_STEP, (2 * G.r - 8) / (ends.length - 1)) : 0;
    for (const e of list) {
      const o = out.get(e.id) || { out: 0, in: 0 };
      o[key] = (ends.indexOf(e[other]) - (ends.length - 1) / 2) * step;
      out.set(e.id, o);
    }
  };
  for (const list of outs.values()) spreadOver(list, 'target', 'out');
  for (const list of ins.values()) spreadOver(list, 'source', 'in');
  return out;
}

// placeLabels puts each edge label on its edge where it covers the least
// of the nodes, their names, the band titles and the labels already
// placed: in id order (so that labels do not jump as rates change), trying
// points from the middle outwards. nodeEls are the drawn nodes (their
// names measured), by id.
const LABEL_T = [0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8];
export function placeLabels(L, items, nodeEls) {
  const boxes = [];
  for (const [id, el] of nodeEls) {
    const p = L.pos.get(id);
    if (!p) continue;
    boxes.push([p.x - G.r - 3, p.y - G.r - 3, p.x + G.r + 3, p.y + G.r + 3]);
    const w = el.nameWidth || 0;
    const k = el.textScale || 1;
    if (w) boxes.push([p.x - (k * w) / 2 - 3, p.y + k * (G.r + 4), p.x + (k * w) / 2 + 3, p.y + k * (G.r + (el.sub.textContent ? 36 : 22))]);
  }
  for (const b of L.bands) boxes.push([b.x, b.top, b.x + 16 + b.title.length * 7, b.top + 24]);
  const overlap = (a, b) => Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  items.sort((a, b) => (a.id < b.id ? -1 : 1));
  const tries = items.length > 400 ? LABEL_T.slice(0, 1) : LABEL_T;
  for (const it of items) {
    let best = null;
    for (const t of tries) {
      const [x, y] = it.geo.at(t);
      const h = it.h || 20;
      const box = [x - it.w / 2, y - h / 2, x + it.w / 2, y + h / 2];
      let cost = 0;
      for (const b of boxes) cost += overlap(box, b);
      if (!best || cost < best.cost) best = { x, y, box, cost };
      if (cost === 0) break;
    }
    boxes.push(best.box);
    it.x = best.x;
    it.y = best.y;
  }
}

function bezier(p0, p1, p2, p3, t) {
  const u = 1 - t;
  const w0 = u * u * u;
  const w1 = 3 * u * u * t;
  const w2 = 3 * u * t * t;
  const w3 = t * t * t;
  return [w0 * p0[0] + w1 * p1[0] + w2 * p2[0] + w3 * p3[0], w0 * p0[1] + w1 * p1[1] + w2 * p2[1] + w3 * p3[1]];
}
