// The graph's data as the page reads it: the selected window's statistics
// of an edge, health by error percentage, display names of nodes and edges,
// the text of edge labels, and every node's traffic in and out.

import { state } from './state.js';
import { fmtBytes, fmtCount, fmtMs, fmtPct, fmtRate } from './format.js';

// Health by error percentage (5xx, no response, gRPC non-OK).
const DEGRADED_PCT = 1;
const FAILING_PCT = 5;

export function healthOf(errPct, active) {
  if (!active) return 'idle';
  if (errPct >= FAILING_PCT) return 'failing';
  if (errPct >= DEGRADED_PCT) return 'degraded';
  return 'healthy';
}

function windowIndex() {
  const i = state.windows.findIndex((w) => w.name === state.window);
  return i < 0 ? 0 : i;
}

export function windowInfo() {
  return state.windows[windowIndex()] || null;
}

export function statsOf(e) {
  if (!e || !e.stats) return null;
  return e.stats.find((x) => x.window === state.window) || e.stats[windowIndex()] || null;
}

export function isActive(st) {
  return !!st && (st.requests > 0 || st.connectionsOpened > 0 || st.bytesInRate > 0 || st.bytesOutRate > 0 || st.errors > 0);
}

// errorPct is the share of failed requests; for TCP, of failed
// connections (the API counts proxy failures as TCP errors).
function errorPct(e, st) {
  if (!st) return 0;
  if (e.protocol === 'tcp') return st.connectionsOpened > 0 ? Math.min(100, (100 * st.errors) / st.connectionsOpened) : 0;
  return st.errorPercent;
}

export function edgeHealth(e) {
  const st = statsOf(e);
  return healthOf(errorPct(e, st), isActive(st));
}

export function nodeName(n) {
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

export function nodeSub(n, showCluster = false) {
  if (!n) return '';
  const parts = [];
  // Another node differs from this one only by its cluster: name it.
  if (showCluster && n.cluster) parts.push('cluster ' + n.cluster);
  if (n.type === 'app' && n.id.startsWith('vapp_') && n.version) parts.push(n.version);
  if (n.egressCluster) parts.push(n.service);
  else if (n.external) parts.push('external service');
  if (n.type === 'unknown') parts.push('no identity');
  return parts.join(' · ');
}

export function nodeTypeLabel(n) {
  if (n.type === 'app' && n.id.startsWith('vapp_')) return 'versioned app';
  if (n.type === 'unknown') return 'unknown caller';
  return n.type;
}

export function isOutside(n) {
  return !!(n.external || n.egressCluster || (n.type === 'service' && n.namespace === 'unknown'));
}

export function edgeName(e) {
  return nodeName(state.nodes.get(e.source)) + ' → ' + nodeName(state.nodes.get(e.target));
}

// edgeLabelParts is the text of an edge label: "12.3 rps · 0.5% · p99 45 ms"
// (TCP: byte rate and connections).
export function edgeLabelParts(e) {
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

export function edgeLabelText(e) {
  return edgeLabelParts(e).map((p) => p.t).join('');
}

// trafficByNode sums every node's inbound and outbound traffic in the
// selected window, in one pass over the edges.
export function trafficByNode() {
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

export function nodeHealth(t) {
  if (t.inReq > 0) return healthOf((100 * t.inErr) / t.inReq, true);
  if (t.outReq > 0) return healthOf((100 * t.outErr) / t.outReq, true);
  return t.active ? 'healthy' : 'idle';
}
