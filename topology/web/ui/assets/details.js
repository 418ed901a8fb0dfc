// The side panel: an overview of the graph, or the details of the
// selected node (its traffic in and out, its proxies' telemetry
// completeness, its identity) or edge (what the
// client and the server each reported, where the time goes, the failures
// only the client saw, the responses).

import { state } from './state.js';
import { els, h } from './dom.js';
import { fmtBytes, fmtCount, fmtMs, fmtPct, fmtRate } from './format.js';
import { edgeHealth, edgeName, healthOf, isActive, nodeHealth, nodeName, nodeTypeLabel, statsOf, trafficByNode, windowInfo } from './model.js';
import { keySelect, select } from './selection.js';
import { hasProxies, proxiesOf, telemetrySection } from './telemetry.js';

export function renderDetails() {
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
  const proxies = kind === 'node' && hasProxies(item) ? proxiesOf(item) : null;
  // Re-render only when what is shown changed.
  const key = JSON.stringify([kind, sel && sel.id, state.window, item, kind === 'node' || kind === 'none' ? state.time : null,
    kind === 'none' ? state.stats : null, proxies && [proxies.report, proxies.error]]);
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
    hasProxies(n) ? telemetrySection(n) : [],
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
    out.push(h('p', { class: 'meta' }, 'Each request hop counted once, as Kiali counts it: per response code and flags the server side when it reported that response, else the client side; latency is what the caller waited.'));
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
        'failed with a response the server did not report: connection failures, resets, no healthy upstream (response flags UF, URX, UH, UO, NR…), or the client gave up (UT) on a request the server answered later. They count in the error rate.'));
    } else {
      out.push(h('div', { class: 'callout ok', 'data-metric': 'client-only-failures' },
        h('div', { class: 'big' }, '0'),
        'The server reported every failure the client saw in this window.'));
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
