// meshlens live service graph.
//
// Plain JavaScript, no dependencies. The page subscribes to the graph's
// server-sent events (api/v1/graph/stream: a "snapshot" event, then
// "change" events with added/updated/removed nodes and edges), keeps the
// graph in two maps, lays it out deterministically (namespaces as bands,
// columns by call depth) and draws it in SVG. Every window of the stream is
// kept, so the window selector switches without a new request; the graph
// type reconnects with ?graphType=.
//
// DOM hooks for tests and tools: [data-node-id], [data-edge-id] (edge line
// and its label), [data-health], #details[data-kind][data-id], and in the
// details table [data-side=client|server][data-metric=…].
'use strict';

(() => {
  const STREAM = 'api/v1/graph/stream';
  const GRAPH = 'api/v1/graph';
  const GRAPH_TYPES = ['workload', 'app', 'versionedApp', 'service'];
  // Health by error percentage (5xx, no response, gRPC non-OK).
  const DEGRADED_PCT = 1;
  const FAILING_PCT = 5;

  // Geometry of the layout, in SVG user units.
  const G = {
    colPitch: 270, // distance between call-depth columns
    rowPitch: 84, // distance between nodes in a column
    bandHeader: 28, // namespace title
    bandPad: 10, // space inside a band, below the nodes
    bandGap: 18, // space between bands
    bandSide: 92, // band extent left and right of its outer node centres
    r: 18, // node radius
    margin: 24,
  };

  const SVGNS = 'http://www.w3.org/2000/svg';

  const state = {
    graphType: 'workload',
    window: '1m',
    windows: [],
    nodes: new Map(),
    edges: new Map(),
    stats: null,
    time: null,
    received: 0, // Date.now() of the last event
    selected: null, // {kind: 'node'|'edge', id}
    es: null,
    retries: 0,
    retryTimer: 0,
    conn: 'connecting',
    connText: 'connecting…',
    layoutKey: '',
    layout: null,
    view: { x: 0, y: 0, k: 1 },
    userMoved: false,
    renderQueued: false,
    detailsKey: '',
  };

  const $ = (id) => document.getElementById(id);
  const els = {};

  // ---------------------------------------------------------------- helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVGNS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.setAttribute('class', v);
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function fmtRate(v) {
    if (v === undefined || v === null || !isFinite(v)) return '–';
    if (v === 0) return '0';
    if (v < 0.01) return '<0.01';
    if (v < 0.1) return v.toFixed(2);
    if (v < 100) return v.toFixed(1);
    if (v < 10000) return v.toFixed(0);
    return (v / 1000).toFixed(1) + 'k';
  }

  function fmtPct(v) {
    if (v === undefined || v === null || !isFinite(v)) return '–';
    if (v === 0) return '0%';
    if (v < 0.1) return '<0.1%';
    if (v < 10) return v.toFixed(1) + '%';
    return v.toFixed(0) + '%';
  }

  function fmtMs(v) {
    if (v === undefined || v === null || !isFinite(v)) return '–';
    const a = Math.abs(v);
    let t;
    if (a >= 999.5) t = (v / 1000).toFixed(a >= 9950 ? 0 : 1) + ' s';
    else if (a >= 9.95) t = v.toFixed(0) + ' ms';
    else if (a >= 0.995) t = v.toFixed(1) + ' ms';
    else if (a === 0) t = '0 ms';
    else t = v.toPrecision(2) + ' ms';
    return t;
  }

  // fmtCount shows a count; fractions (traffic of an unknown callee is
  // folded into edges in proportion, see the topology docs) are estimates.
  function fmtCount(v) {
    if (v === undefined || v === null || !isFinite(v)) return '–';
    if (Math.abs(v - Math.round(v)) < 1e-9) return Math.round(v).toLocaleString('en-US');
    return '≈' + (Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
  }

  function fmtBytes(v) {
    if (!v) return '0 B';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    return (v < 10 && i > 0 ? v.toFixed(1) : v.toFixed(0)) + ' ' + units[i];
  }

  function healthOf(errPct, active) {
    if (!active) return 'idle';
    if (errPct >= FAILING_PCT) return 'failing';
    if (errPct >= DEGRADED_PCT) return 'degraded';
    return 'healthy';
  }

  // ------------------------------------------------------------ graph data

  function windowIndex() {
    const i = state.windows.findIndex((w) => w.name === state.window);
    return i < 0 ? 0 : i;
  }

  function windowInfo() {
    return state.windows[windowIndex()] || null;
  }

  function statsOf(e) {
    if (!e || !e.stats) return null;
    return e.stats.find((x) => x.window === state.window) || e.stats[windowIndex()] || null;
  }

  function isActive(st) {
    return !!st && (st.requests > 0 || st.connectionsOpened > 0 || st.bytesInRate > 0 || st.bytesOutRate > 0 || st.errors > 0);
  }

  // errorPct is the share of failed requests; for TCP, of failed
  // connections (the API counts proxy failures as TCP errors).
  function errorPct(e, st) {
    if (!st) return 0;
    if (e.protocol === 'tcp') return st.connectionsOpened > 0 ? Math.min(100, (100 * st.errors) / st.connectionsOpened) : 0;
    return st.errorPercent;
  }

  function edgeHealth(e) {
    const st = statsOf(e);
    return healthOf(errorPct(e, st), isActive(st));
  }

  function nodeName(n) {
    if (!n) return '?';
    switch (n.type) {
      case 'workload':
        return n.workload || n.app || n.id;
      case 'app':
        return n.app || n.workload || n.id;
      case 'service':
        if (n.egressCluster && n.hosts && n.hosts.length === 1) return n.hosts[0];
        return n.service || n.id;
      case 'unknown':
        return 'unknown';
      default:
        return n.workload || n.app || n.service || n.id;
    }
  }

  function nodeSub(n) {
    if (!n) return '';
    const parts = [];
    if (n.type === 'app' && n.id.startsWith('vapp_') && n.version) parts.push(n.version);
    if (n.egressCluster) parts.push(n.service);
    else if (n.external) parts.push('external service');
    if (n.type === 'unknown') parts.push('no identity');
    return parts.join(' · ');
  }

  function nodeTypeLabel(n) {
    if (n.type === 'app' && n.id.startsWith('vapp_')) return 'versioned app';
    if (n.type === 'unknown') return 'unknown caller';
    return n.type;
  }

  function isOutside(n) {
    return !!(n.external || n.egressCluster || (n.type === 'service' && n.namespace === 'unknown'));
  }

  function edgeName(e) {
    return nodeName(state.nodes.get(e.source)) + ' → ' + nodeName(state.nodes.get(e.target));
  }

  // edgeLabelParts is the text of an edge label: "12.3 rps · 0.5% · p99 45 ms"
  // (TCP: byte rate and connections).
  function edgeLabelParts(e) {
    const st = statsOf(e);
    if (!isActive(st)) return [{ t: 'idle', c: 'sep' }];
    if (e.protocol === 'tcp') {
      const out = [{ t: fmtBytes((st.bytesInRate || 0) + (st.bytesOutRate || 0)) + '/s' }];
      const w = windowInfo();
      if (st.connectionsOpened && w) out.push({ t: ' · ', c: 'sep' }, { t: fmtRate(st.connectionsOpened / w.coveredSeconds) + ' conn/s' });
      if (st.errors > 0) out.push({ t: ' · ', c: 'sep' }, { t: fmtCount(st.errors) + ' failed', c: 'err failing' });
      return out;
    }
    const hl = healthOf(st.errorPercent, true);
    const out = [
      { t: fmtRate(st.requestRate) + ' rps' },
      { t: ' · ', c: 'sep' },
      { t: fmtPct(st.errorPercent), c: 'err ' + hl },
    ];
    if (st.latency) out.push({ t: ' · ', c: 'sep' }, { t: 'p99 ' + fmtMs(st.latency.p99) });
    return out;
  }

  function edgeLabelText(e) {
    return edgeLabelParts(e).map((p) => p.t).join('');
  }

  // trafficByNode sums every node's inbound and outbound traffic in the
  // selected window, in one pass over the edges.
  function trafficByNode() {
    const m = new Map();
    const get = (id) => {
      let t = m.get(id);
      if (!t) {
        t = { inReq: 0, inErr: 0, inRate: 0, outReq: 0, outErr: 0, outRate: 0, active: false, inEdges: [], outEdges: [] };
        m.set(id, t);
      }
      return t;
    };
    for (const e of state.edges.values()) {
      const st = statsOf(e);
      const act = isActive(st);
      const tin = get(e.target);
      const tout = get(e.source);
      tin.inEdges.push(e);
      tout.outEdges.push(e);
      tin.active = tin.active || act;
      tout.active = tout.active || act;
      if (st) {
        tin.inReq += st.requests;
        tin.inErr += st.errors;
        tin.inRate += st.requestRate;
        tout.outReq += st.requests;
        tout.outErr += st.errors;
        tout.outRate += st.requestRate;
      }
    }
    return (id) => get(id);
  }

  function nodeHealth(t) {
    if (t.inReq > 0) return healthOf((100 * t.inErr) / t.inReq, true);
    if (t.outReq > 0) return healthOf((100 * t.outErr) / t.outReq, true);
    return t.active ? 'healthy' : 'idle';
  }

  // ----------------------------------------------------------------- layout

  // computeLayout places nodes deterministically: a column per call depth
  // (longest path from the callers, cycles broken by a depth-first search in
  // id order), a horizontal band per namespace (and one for what is outside
  // the mesh), and within each band's columns an order that follows the
  // neighbours' positions (a few barycentre sweeps).
  function computeLayout(nodes, edges) {
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

  function layoutKey() {
    const n = [...state.nodes.keys()].sort().join('|');
    const e = [...state.edges.values()].map((x) => x.source + '>' + x.target).sort().join('|');
    return n + '#' + e;
  }

  // edgeGeometry returns the path of an edge and at(t), its points
  // (t in [0, 1]), where its label may go.
  function edgeGeometry(e, L, lane, lanes) {
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
      const x0 = a.x + r + 3;
      const y0 = a.y + spread * 0.3;
      const x1 = b.x - r - 4;
      const y1 = b.y + spread * 0.3;
      const dx = (x1 - x0) / 2;
      const c1 = [x0 + dx, y0 + spread];
      const c2 = [x1 - dx, y1 + spread];
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

  // placeLabels puts each edge label on its edge where it covers the least
  // of the nodes, their names, the band titles and the labels already
  // placed: in id order (so that labels do not jump as rates change), trying
  // points from the middle outwards.
  const LABEL_T = [0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8];
  function placeLabels(L, items) {
    const boxes = [];
    for (const [id, el] of nodeEls) {
      const p = L.pos.get(id);
      if (!p) continue;
      boxes.push([p.x - G.r - 3, p.y - G.r - 3, p.x + G.r + 3, p.y + G.r + 3]);
      const w = el.nameWidth || 0;
      if (w) boxes.push([p.x - w / 2 - 3, p.y + G.r + 4, p.x + w / 2 + 3, p.y + G.r + (el.sub.textContent ? 36 : 22)]);
    }
    for (const b of L.bands) boxes.push([b.x, b.top, b.x + 16 + b.title.length * 7, b.top + 24]);
    const overlap = (a, b) => Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
    items.sort((a, b) => (a.id < b.id ? -1 : 1));
    const tries = items.length > 400 ? LABEL_T.slice(0, 1) : LABEL_T;
    for (const it of items) {
      let best = null;
      for (const t of tries) {
        const [x, y] = it.geo.at(t);
        const box = [x - it.w / 2, y - 10, x + it.w / 2, y + 10];
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

  // ----------------------------------------------------------------- render

  function scheduleRender() {
    if (state.renderQueued) return;
    state.renderQueued = true;
    requestAnimationFrame(() => {
      state.renderQueued = false;
      render();
    });
  }

  function render() {
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

  const edgeEls = new Map();
  const labelEls = new Map();
  const nodeEls = new Map();

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
    for (const e of sorted) {
      if (!L.pos.has(e.source) || !L.pos.has(e.target)) continue;
      seen.add(e.id);
      const lanes = lanesOf.get([e.source, e.target].sort().join('\u0000'));
      const geo = edgeGeometry(e, L, lanes.indexOf(e.id), lanes.length);
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
      items.push({ id: e.id, geo, w: lb.w, g: lb.g });
    }
    placeLabels(L, items);
    for (const it of items) it.g.setAttribute('transform', `translate(${it.x.toFixed(1)},${it.y.toFixed(1)})`);
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
    for (const id of ids) {
      const n = state.nodes.get(id);
      const p = L.pos.get(id);
      if (!p) continue;
      seen.add(id);
      const t = traffic(id);
      const hl = nodeHealth(t);
      const name = nodeName(n);
      const sub = nodeSub(n);
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
        el.g.append(el.title, el.halo, el.shape, el.glyph, el.name, el.sub);
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
    }
    for (const [id, el] of nodeEls) {
      if (!seen.has(id)) {
        el.g.remove();
        nodeEls.delete(id);
      }
    }
  }

  function applySelectionClasses() {
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

  // ------------------------------------------------------------ pan & zoom

  function applyView() {
    const v = state.view;
    els.viewport.setAttribute('transform', `translate(${v.x.toFixed(1)},${v.y.toFixed(1)}) scale(${v.k.toFixed(4)})`);
  }

  function fit() {
    const L = state.layout;
    const rect = els.stage.getBoundingClientRect();
    if (!L || rect.width === 0 || rect.height === 0) return;
    const legend = els.legend.getBoundingClientRect();
    const padTop = 44; // the zoom buttons
    const padBottom = legend.height + 20;
    const availW = rect.width - 16;
    const availH = rect.height - padTop - padBottom;
    const k = Math.max(0.2, Math.min(1.15, availW / L.width, availH / L.height));
    state.view = {
      k,
      x: (rect.width - L.width * k) / 2,
      y: padTop + Math.max(0, (availH - L.height * k) / 2),
    };
    applyView();
  }

  function zoomAt(factor, cx, cy) {
    const v = state.view;
    const k = Math.max(0.15, Math.min(4, v.k * factor));
    const f = k / v.k;
    state.view = { k, x: cx - (cx - v.x) * f, y: cy - (cy - v.y) * f };
    state.userMoved = true;
    applyView();
  }

  function setupPanZoom() {
    const svg = els.graph;
    let drag = null;
    svg.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0 || ev.target.closest('[data-node-id],[data-edge-id]')) return;
      drag = { x: ev.clientX, y: ev.clientY, vx: state.view.x, vy: state.view.y, moved: false };
      svg.setPointerCapture(ev.pointerId);
    });
    svg.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      const dx = ev.clientX - drag.x;
      const dy = ev.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      drag.moved = true;
      svg.classList.add('panning');
      state.view = { ...state.view, x: drag.vx + dx, y: drag.vy + dy };
      state.userMoved = true;
      applyView();
    });
    const end = () => {
      if (!drag) return;
      if (!drag.moved) select(null);
      drag = null;
      svg.classList.remove('panning');
    };
    svg.addEventListener('pointerup', end);
    svg.addEventListener('pointercancel', end);
    svg.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const r = svg.getBoundingClientRect();
      zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    const centre = () => {
      const r = svg.getBoundingClientRect();
      return [r.width / 2, r.height / 2];
    };
    $('zoomIn').addEventListener('click', () => zoomAt(1.25, ...centre()));
    $('zoomOut').addEventListener('click', () => zoomAt(0.8, ...centre()));
    $('zoomFit').addEventListener('click', () => {
      state.userMoved = false;
      fit();
    });
    new ResizeObserver(() => {
      if (!state.userMoved) fit();
    }).observe(els.stage);
  }

  // -------------------------------------------------------------- selection

  function select(kind, id, ev) {
    if (ev) ev.stopPropagation();
    state.selected = kind ? { kind, id } : null;
    state.detailsKey = '';
    els.details.scrollTop = 0;
    applySelectionClasses();
    renderDetails();
  }

  function keySelect(ev, kind, id) {
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      select(kind, id);
    }
  }

  // ---------------------------------------------------------------- details

  function renderDetails() {
    const sel = state.selected;
    let kind = 'none';
    let item = null;
    if (sel && sel.kind === 'edge' && state.edges.has(sel.id)) {
      kind = 'edge';
      item = state.edges.get(sel.id);
    } else if (sel && sel.kind === 'node' && state.nodes.has(sel.id)) {
      kind = 'node';
      item = state.nodes.get(sel.id);
    } else if (sel) {
      kind = 'gone';
    }
    // Re-render only when what is shown changed.
    const key = JSON.stringify([kind, sel && sel.id, state.window, item, kind === 'node' || kind === 'none' ? state.time : null,
      kind === 'none' ? state.stats : null]);
    if (key === state.detailsKey) return;
    state.detailsKey = key;

    const focusKey = document.activeElement && els.details.contains(document.activeElement) ? document.activeElement.getAttribute('data-focus-key') : null;
    let body;
    if (kind === 'edge') body = edgeDetails(item);
    else if (kind === 'node') body = nodeDetails(item);
    else if (kind === 'gone') body = goneDetails(sel);
    else body = overview();
    els.details.setAttribute('data-kind', kind === 'gone' ? 'none' : kind);
    if (item) els.details.setAttribute('data-id', item.id);
    else els.details.removeAttribute('data-id');
    els.detailsBody.replaceChildren(...body.flat(Infinity));
    if (focusKey) {
      const f = els.details.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (f) f.focus();
    }
  }

  function kpi(label, value, unit, cls, metric, extra) {
    return h('div', { class: 'kpi', 'data-metric': metric },
      h('div', { class: 'k' }, label),
      h('div', { class: 'v ' + (cls || '') }, value, unit ? h('small', null, ' ', unit) : null),
      extra ? h('div', { class: 'x' }, extra) : null);
  }

  function windowNote() {
    const w = windowInfo();
    if (!w) return '';
    const covered = Math.round(w.coveredSeconds);
    return covered < w.seconds - 1 ? `last ${w.name} (${covered} s of data)` : `last ${w.name}`;
  }

  function edgeRow(e, peerId, focusPrefix) {
    const st = statsOf(e);
    const hl = edgeHealth(e);
    const act = isActive(st);
    return h('tr', {
      class: 'clickable', tabindex: 0, 'data-focus-key': focusPrefix + e.id, 'data-select-edge': e.id,
      onclick: () => select('edge', e.id), onkeydown: (ev) => keySelect(ev, 'edge', e.id),
    },
    h('td', null, nodeName(state.nodes.get(peerId)), ' ', h('span', { class: 'muted' }, e.protocol)),
    h('td', null, act && e.protocol !== 'tcp' ? fmtRate(st.requestRate) + '/s' : act ? fmtBytes((st.bytesInRate || 0) + (st.bytesOutRate || 0)) + '/s' : 'idle'),
    h('td', { class: hl }, act && e.protocol !== 'tcp' ? fmtPct(st.errorPercent) : '–'),
    h('td', null, st && st.latency ? fmtMs(st.latency.p99) : '–'));
  }

  function edgeTable(title, edges, peerOf, focusPrefix) {
    if (!edges.length) return [];
    edges = edges.slice().sort((a, b) => (statsOf(b)?.requestRate || 0) - (statsOf(a)?.requestRate || 0) || (a.id < b.id ? -1 : 1));
    return [
      h('h3', null, title),
      h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'peer'), h('th', null, 'rate'), h('th', null, 'errors'), h('th', null, 'p99'))),
        h('tbody', null, edges.map((e) => edgeRow(e, peerOf(e), focusPrefix)))),
    ];
  }

  function overview() {
    const edges = [...state.edges.values()];
    let req = 0;
    let err = 0;
    for (const e of edges) {
      const st = statsOf(e);
      if (st && e.protocol !== 'tcp') {
        req += st.requests;
        err += st.errors;
      }
    }
    const w = windowInfo();
    const rate = w ? req / w.coveredSeconds : 0;
    const out = [
      h('h2', null, 'Overview'),
      h('p', { class: 'meta' }, `${state.graphType} graph · ${windowNote()}`),
      h('div', { class: 'kpis' },
        kpi('nodes', String(state.nodes.size)),
        kpi('edges', String(state.edges.size)),
        kpi('request hops', fmtRate(rate), '/s', '', 'rate')),
    ];
    const active = edges.filter((e) => e.protocol !== 'tcp' && isActive(statsOf(e)));
    const worst = active.filter((e) => statsOf(e).errors > 0).sort((a, b) => statsOf(b).errorPercent - statsOf(a).errorPercent).slice(0, 5);
    const slow = active.filter((e) => statsOf(e).latency).sort((a, b) => statsOf(b).latency.p99 - statsOf(a).latency.p99).slice(0, 5);
    if (worst.length) {
      out.push(h('h3', null, 'Most errors'), listTable(worst, (e) => [fmtPct(statsOf(e).errorPercent), edgeHealth(e)], 'errors', 'ov-err-'));
    }
    if (slow.length) {
      out.push(h('h3', null, 'Slowest (p99)'), listTable(slow, (e) => [fmtMs(statsOf(e).latency.p99), ''], 'p99', 'ov-slow-'));
    }
    if (req > 0) out.push(h('p', { class: 'meta' }, `${fmtPct((100 * err) / req)} of ${fmtCount(req)} request hops failed in the window.`));
    const st = state.stats;
    if (st) {
      const over = (st.edgesOverflow || 0) + (st.nodesOverflow || 0);
      out.push(h('p', { class: 'meta' }, `${fmtCount(st.records)} records counted · ${st.edges} stored edges · ${st.nodes} workloads`));
      if (over > 0) out.push(h('p', { class: 'callout warn' }, `${fmtCount(over)} records were dropped because the graph is full (max_edges / max_nodes).`));
    }
    out.push(h('div', { class: 'hint' },
      h('h3', null, 'How to read it'),
      h('ul', null,
        h('li', null, 'Click a node or an edge (or its label) for its details, including what the client and the server each saw.'),
        h('li', null, 'Edge labels: request rate · error % · p99 latency over the selected window.'),
        h('li', null, 'Drag to pan, scroll to zoom, “fit” to reset. Esc clears the selection.'))));
    return out;
  }

  function listTable(edges, val, head, focusPrefix) {
    return h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'edge'), h('th', null, head))),
      h('tbody', null, edges.map((e) => {
        const [v, cls] = val(e);
        return h('tr', {
          class: 'clickable', tabindex: 0, 'data-focus-key': focusPrefix + e.id, 'data-select-edge': e.id,
          onclick: () => select('edge', e.id), onkeydown: (ev) => keySelect(ev, 'edge', e.id),
        }, h('td', null, edgeName(e)), h('td', { class: cls }, v));
      })));
  }

  function goneDetails(sel) {
    return [
      h('h2', null, 'No longer in the graph'),
      h('p', { class: 'meta' }, `The selected ${sel.kind} has no traffic left in the retained windows or is not part of the ${state.graphType} graph.`),
      h('p', null, h('code', null, sel.id)),
    ];
  }

  function nodeDetails(n) {
    const t = trafficByNode()(n.id);
    const hl = nodeHealth(t);
    const name = nodeName(n);
    const props = [
      ['namespace', n.namespace],
      ['cluster', n.cluster],
      ['workload', n.workload],
      ['app', n.app],
      ['version', n.version],
      ['service', n.service],
      ['services', (n.destServices || []).map((d) => d.name + (d.namespace !== n.namespace ? '.' + d.namespace : '')).join(', ')],
      ['hosts', (n.hosts || []).join(', ')],
      ['id', n.id],
    ].filter(([, v]) => v);
    const badges = [h('span', { class: 'badge' }, nodeTypeLabel(n)), h('span', { class: 'badge ' + hl }, hl)];
    if (n.external) badges.push(h('span', { class: 'badge' }, 'outside the mesh'));
    if (n.egressCluster) badges.push(h('span', { class: 'badge' }, 'egress: ' + n.service));
    if (n.injected && state.graphType !== 'service') badges.push(h('span', { class: 'badge' }, 'service node'));
    const inPct = t.inReq > 0 ? (100 * t.inErr) / t.inReq : 0;
    return [
      h('h2', null, name),
      h('div', { class: 'badges' }, badges),
      h('p', { class: 'meta' }, windowNote()),
      h('div', { class: 'kpis' },
        kpi('requests in', fmtRate(t.inRate), '/s', '', 'in-rate'),
        kpi('errors in', t.inReq > 0 ? fmtPct(inPct) : '–', '', t.inReq > 0 ? healthOf(inPct, true) : '', 'in-errors'),
        kpi('requests out', fmtRate(t.outRate), '/s', '', 'out-rate')),
      edgeTable('Inbound', t.inEdges, (e) => e.source, 'in-'),
      edgeTable('Outbound', t.outEdges, (e) => e.target, 'out-'),
      h('h3', null, 'Identity'),
      h('dl', { class: 'props' }, props.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    ];
  }

  function sideCell(side, metric, fn) {
    if (!side) return h('td', { class: 'na', 'data-side': metric[0], 'data-metric': metric[1] }, '—');
    const v = fn(side);
    return h('td', { 'data-side': metric[0], 'data-metric': metric[1], class: v.cls || '' }, v.t);
  }

  function edgeDetails(e) {
    const st = statsOf(e) || {};
    const hl = edgeHealth(e);
    const src = state.nodes.get(e.source);
    const dst = state.nodes.get(e.target);
    const act = isActive(st);
    const tcp = e.protocol === 'tcp';
    const w = windowInfo();
    const secs = w ? w.coveredSeconds : 1;
    const out = [];

    out.push(
      h('h2', null, nodeName(src), h('span', { class: 'arrow-sep' }, '→'), nodeName(dst)),
      h('div', { class: 'badges' },
        h('span', { class: 'badge' }, e.protocol.toUpperCase()),
        h('span', { class: 'badge ' + hl }, hl),
        st.mtlsPercent !== undefined ? h('span', { class: 'badge' }, `mTLS ${fmtPct(st.mtlsPercent)}`) : null),
      h('p', { class: 'meta' }, `${src ? src.namespace : '?'} → ${dst ? dst.namespace : '?'} · ${windowNote()}`),
    );

    if (tcp) {
      out.push(h('div', { class: 'kpis' },
        kpi('sent → server', fmtBytes(st.bytesInRate || 0), '/s', '', 'bytes-in'),
        kpi('received ← server', fmtBytes(st.bytesOutRate || 0), '/s', '', 'bytes-out'),
        kpi('connections', fmtRate((st.connectionsOpened || 0) / secs), '/s', '', 'connections')));
    } else {
      const lat = st.latency;
      out.push(h('div', { class: 'kpis' },
        kpi('requests', fmtRate(st.requestRate), '/s', '', 'rate'),
        kpi('errors', act ? fmtPct(st.errorPercent) : '–', '', act ? hl : '', 'errors', act && st.errors ? fmtRate(st.errorRate) + '/s' : ''),
        kpi('p99', lat ? fmtMs(lat.p99) : '–', '', '', 'p99', lat ? `p50 ${fmtMs(lat.p50)} · p95 ${fmtMs(lat.p95)}` : '')));
      out.push(h('p', { class: 'meta' }, 'Each request hop counted once: the server side when it reported, plus the failures only the client saw; latency is what the caller waited.'));
    }

    // Client vs server.
    const c = st.client;
    const sv = st.server;
    const pct = (x) => ({ t: x.requests > 0 ? fmtPct((100 * x.errors) / x.requests) : '0%', cls: x.requests > 0 ? healthOf((100 * x.errors) / x.requests, true) : '' });
    const lat = (q) => (x) => ({ t: x.latency ? fmtMs(x.latency[q]) : '–' });
    const rows = tcp
      ? [['mTLS', 'mtls', (x) => ({ t: x.mtlsPercent !== undefined ? fmtPct(x.mtlsPercent) : '–' })]]
      : [
        ['request rate', 'rate', (x) => ({ t: fmtRate(x.requestRate) + '/s' })],
        ['requests', 'requests', (x) => ({ t: fmtCount(x.requests) })],
        ['error rate', 'errors', pct],
        ['proxy errors', 'proxy-errors', (x) => ({ t: fmtCount(x.proxyErrors) })],
        ['p50', 'p50', lat('p50')],
        ['p95', 'p95', lat('p95')],
        ['p99', 'p99', lat('p99')],
        ['average', 'avg', lat('avg')],
        ['mTLS', 'mtls', (x) => ({ t: x.mtlsPercent !== undefined ? fmtPct(x.mtlsPercent) : '–' })],
      ];
    out.push(
      h('h3', null, 'Client vs server'),
      h('table', { class: 'compare', 'aria-label': 'What the client and the server each reported' },
        h('thead', null, h('tr', null,
          h('th', null, ''),
          h('th', { scope: 'col' }, 'client', h('small', null, 'source proxy')),
          h('th', { scope: 'col' }, 'server', h('small', null, 'destination proxy')))),
        h('tbody', null, rows.map(([label, metric, fn]) => h('tr', null,
          h('th', { scope: 'row' }, label),
          sideCell(c, ['client', metric], fn),
          sideCell(sv, ['server', metric], fn))))),
    );
    if (!c || !sv) {
      out.push(h('p', { class: 'meta' }, !sv
        ? 'The server side did not report: the destination has no proxy sending access logs to meshlens (outside the mesh, or not configured).'
        : 'The client side did not report: the caller has no proxy sending access logs to meshlens.'));
    }

    if (!tcp) {
      // Where the time goes.
      out.push(h('h3', null, 'Where the time goes'));
      if (c && sv && c.latency && sv.latency) {
        const ov = st.latencyOverhead || {};
        const maxv = Math.max(c.latency.p99, sv.latency.p99, 1e-9);
        const grid = h('div', { class: 'timegrid', role: 'table', 'aria-label': 'Latency: client, server and the difference' },
          h('span', { role: 'columnheader' }, ''), h('span', { role: 'columnheader' }, ''),
          h('span', { class: 'th', role: 'columnheader' }, 'client'),
          h('span', { class: 'th', role: 'columnheader' }, 'server'),
          h('span', { class: 'th', role: 'columnheader' }, 'outside'));
        for (const q of ['p50', 'p95', 'p99']) {
          const total = c.latency[q];
          const server = sv.latency[q];
          const over = ov[q] !== undefined ? ov[q] : total - server;
          const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
          const srv = h('span', { class: 'srv' });
          const ovh = h('span', { class: 'ovh' });
          srv.style.width = ((100 * Math.min(server, total)) / maxv).toFixed(1) + '%';
          ovh.style.width = ((100 * Math.max(0, over)) / maxv).toFixed(1) + '%';
          bar.append(srv, ovh);
          grid.append(
            h('span', { class: 'q', role: 'rowheader' }, q), bar,
            h('span', { class: 'num', 'data-metric': 'client-' + q }, fmtMs(total)),
            h('span', { class: 'num', 'data-metric': 'server-' + q }, fmtMs(server)),
            h('span', { class: 'num ovn', 'data-metric': 'overhead-' + q }, (over < 0 ? '−' : '+') + fmtMs(Math.abs(over))));
        }
        out.push(
          grid,
          h('div', { class: 'timekey' },
            h('span', null, h('i', { class: 'srv' }), 'server: destination proxy and application'),
            h('span', null, h('i', { class: 'ovh' }), 'outside: network and client proxy')),
          h('p', { class: 'meta' }, 'The client\'s latency is what the caller waited, the server\'s is measured at the destination; ' +
            'the difference (client − server) is spent outside the server. Each quantile is estimated per side, so small negative differences are noise.'),
        );
      } else {
        out.push(h('p', { class: 'meta' }, 'Needs latency from both sides.'));
      }

      // Failures only the client saw.
      out.push(h('h3', null, 'Failures only the client saw'));
      const cof = st.clientOnlyFailures || 0;
      if (!c || !sv) {
        out.push(h('p', { class: 'meta', 'data-metric': 'client-only-failures' }, 'Not comparable: only one side reported.'));
      } else if (cof > 0) {
        out.push(h('div', { class: 'callout warn', 'data-metric': 'client-only-failures' },
          h('div', { class: 'big' }, `${fmtCount(cof)} ${cof === 1 ? 'request' : 'requests'}`, h('span', { class: 'muted' }, ` · ${fmtRate(cof / secs)}/s`)),
          'failed in the client\'s proxy and never reached the server: connection failures, resets, no healthy upstream (response flags UF, URX, UH, UO, NR…). They count as proxy errors in the error rate.'));
      } else {
        out.push(h('div', { class: 'callout ok', 'data-metric': 'client-only-failures' },
          h('div', { class: 'big' }, '0'),
          'The server saw every request the client sent in this window.'));
      }
    }

    // Responses.
    if (st.responses && st.responses.length) {
      const resp = st.responses.slice().sort((a, b) => b.requests - a.requests).slice(0, 12);
      out.push(h('h3', null, tcp ? 'Connections' : 'Responses'),
        h('table', null,
          h('thead', null, h('tr', null, h('th', null, tcp ? 'code' : 'code'), h('th', null, 'flags'), h('th', null, 'host'), h('th', null, 'share'))),
          h('tbody', null, resp.map((r) => h('tr', null,
            h('td', null, r.code), h('td', null, r.flags), h('td', { class: 'host', title: r.host || '' }, r.host || ''), h('td', null, fmtPct(r.percent)))))));
    }

    // Traffic and identity.
    const props = [];
    if (!tcp) {
      if (st.bytesInRate || st.bytesOutRate) props.push(['bytes', `${fmtBytes(st.bytesInRate || 0)}/s sent · ${fmtBytes(st.bytesOutRate || 0)}/s received`]);
      if (st.messagesInRate || st.messagesOutRate) props.push(['gRPC messages', `${fmtRate(st.messagesInRate || 0)}/s sent · ${fmtRate(st.messagesOutRate || 0)}/s received`]);
      if (st.proxyErrors || st.appErrors) props.push(['errors', `${fmtCount(st.appErrors)} from the application · ${fmtCount(st.proxyErrors)} from proxies`]);
    }
    if (e.sourcePrincipal) props.push(['source principal', e.sourcePrincipal]);
    if (e.destPrincipal) props.push(['destination principal', e.destPrincipal]);
    props.push(['id', e.id]);
    out.push(h('h3', null, 'Details'), h('dl', { class: 'props' }, props.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])));
    return out;
  }

  // ----------------------------------------------------------------- stream

  function setConn(conn, text) {
    state.conn = conn;
    state.connText = text;
    els.status.setAttribute('data-conn', conn);
    updateStatusText();
  }

  // updateStatusText shows the connection (a live region: it changes
  // rarely) and the age of the last update (not announced).
  function updateStatusText() {
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

  function syncWindowSelect() {
    const sel = els.window;
    const names = state.windows.map((w) => w.name);
    const have = [...sel.options].map((o) => o.value);
    if (names.length && names.join() !== have.join()) {
      sel.replaceChildren(...names.map((n) => h('option', { value: n }, 'last ' + n)));
    }
    if (names.length && !names.includes(state.window)) state.window = names[0];
    sel.value = state.window;
  }

  function connect() {
    if (state.es) state.es.close();
    clearTimeout(state.retryTimer);
    const q = new URLSearchParams({ graphType: state.graphType });
    const es = new EventSource(STREAM + '?' + q.toString());
    state.es = es;
    setConn('connecting', 'connecting…');
    es.addEventListener('snapshot', (ev) => {
      if (es !== state.es) return;
      state.retries = 0;
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
      } else {
        // The browser reconnects by itself; the server then sends a fresh snapshot.
        setConn('reconnecting', 'reconnecting…');
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

  // ------------------------------------------------------------ URL & init

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

  function init() {
    for (const id of ['graph', 'viewport', 'bands', 'edges', 'nodes', 'labels', 'defs', 'empty', 'stage', 'legend', 'details', 'detailsBody', 'status', 'statusText', 'statusAge', 'graphType', 'window']) {
      els[id] = $(id);
    }
    for (const hl of ['healthy', 'degraded', 'failing', 'idle']) {
      els.defs.append(s('marker', {
        id: 'arrow-' + hl, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9,
        markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse',
      }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow ' + hl })));
    }
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
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') select(null);
    });
    setupPanZoom();
    setInterval(updateStatusText, 1000);
    render();
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
