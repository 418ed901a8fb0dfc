// Telemetry completeness of the selected workload's proxies: what
// api/v1/proxies says of each (entries meshlens received against what its
// Envoy says its access loggers wrote and dropped), fetched when a workload
// node is selected and again every REFRESH ms while it stays selected, and
// the section of the node panel that shows it.

import { state } from './state.js';
import { h } from './dom.js';
import { fmtCount, fmtShare } from './format.js';
import { scheduleRender } from './render.js';

// Relative URL: the page may be served behind a path prefix.
const PROXIES = 'api/v1/proxies';
const REFRESH = 5000;

// hasProxies says whether node n stands for one workload, whose proxies
// the API knows by the workload's cluster, namespace and name.
export function hasProxies(n) {
  return !!n.workload && n.workload !== 'unknown' && n.type !== 'service' && n.type !== 'unknown';
}

// proxiesOf returns what is known of node n's proxies ({report} once
// answered, {error} if the request failed) and fetches them when due. The
// answer lands in state.proxies, which the panel's re-render key includes.
export function proxiesOf(n) {
  let c = state.proxies;
  if (!c || c.key !== n.id) {
    c = { key: n.id, report: null, error: null, at: 0, pending: false };
    state.proxies = c;
  }
  if (!c.pending && Date.now() - c.at >= REFRESH) load(c, n);
  return c;
}

async function load(c, n) {
  c.pending = true;
  const q = new URLSearchParams({ cluster: n.cluster || '', namespace: n.namespace, workload: n.workload });
  let report = null;
  let error = null;
  try {
    const resp = await fetch(PROXIES + '?' + q.toString(), { headers: { Accept: 'application/json' } });
    const body = await resp.json().catch(() => ({}));
    if (resp.ok) report = body;
    else error = `error ${resp.status}${body.error ? ': ' + body.error : ''}`;
  } catch (err) {
    error = 'meshlens is unreachable';
  }
  c.pending = false;
  c.at = Date.now();
  if (state.proxies !== c) return; // another node was selected meanwhile
  // A new object, so that the panel's key sees the change.
  state.proxies = { ...c, report: report || c.report, error: report ? null : error };
  scheduleRender();
  // Refresh while the node stays selected (the stream may be quiet).
  setTimeout(() => {
    if (state.proxies && state.proxies.key === c.key) scheduleRender();
  }, REFRESH);
}

// proxyName is the pod of an Istio node id (<type>~<ip>~<pod>.<ns>~<domain>),
// else the node id.
function proxyName(id) {
  const parts = id.split('~');
  if (parts.length !== 4) return id;
  const i = parts[2].lastIndexOf('.');
  return i > 0 ? parts[2].slice(0, i) : parts[2];
}

// telemetrySection is the node panel's "Telemetry completeness" section.
export function telemetrySection(n) {
  const out = [h('h3', null, 'Telemetry completeness')];
  const c = state.proxies;
  if (!c || c.key !== n.id || (!c.report && !c.error)) {
    out.push(h('p', { class: 'meta', 'data-telemetry': 'loading' }, 'Loading…'));
    return out;
  }
  if (!c.report) {
    out.push(h('p', { class: 'meta', 'data-telemetry': 'error' }, 'Not available: ' + c.error));
    return out;
  }
  const rep = c.report;
  const ps = rep.proxies || [];
  if (!ps.length) {
    out.push(h('p', { class: 'meta', 'data-telemetry': 'none' },
      'meshlens took no entries from this workload\'s proxies lately: none reports to this instance, or they have been idle for metrics::series_ttl.'));
    return out;
  }
  const threshold = fmtShare(rep.incompleteBelow);
  const incomplete = ps.filter((p) => p.state === 'incomplete').length;
  const counted = ps.filter((p) => p.envoy).length;
  if (incomplete > 0) {
    out.push(h('div', { class: 'callout warn', 'data-telemetry': 'incomplete' },
      h('div', { class: 'big' }, `${incomplete} of ${ps.length} ${ps.length === 1 ? 'proxy' : 'proxies'} incomplete`),
      `meshlens received less than ${threshold} of the entries their Envoys' access loggers wrote or dropped ` +
      '(the threshold of the alert MeshlensProxyTelemetryIncomplete): dropped by the Envoy, lost on the way, ' +
      'or sent to another access-log server. This workload\'s numbers miss that traffic.'));
  } else if (counted > 0) {
    out.push(h('div', { class: 'callout ok', 'data-telemetry': 'complete' },
      `meshlens received at least ${threshold} of what the Envoys that send their access logger counters logged.`));
  } else {
    out.push(h('p', { class: 'meta', 'data-telemetry': 'no-counters' },
      'No proxy of this workload sends its access logger counters over the Metrics Service: nothing to check its entries against.'));
  }
  out.push(h('table', { class: 'proxies', 'aria-label': 'Entries per proxy: received by meshlens, written and dropped by its Envoy' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'proxy'),
      h('th', { scope: 'col' }, 'received', h('small', null, 'by meshlens')),
      h('th', { scope: 'col' }, 'written', h('small', null, 'by Envoy')),
      h('th', { scope: 'col' }, 'dropped', h('small', null, 'by Envoy')),
      h('th', { scope: 'col' }, 'seen'))),
    h('tbody', null, ps.map((p) => {
      const e = p.envoy;
      const bad = p.state === 'incomplete';
      const cells = e
        ? [
          h('td', { 'data-metric': 'received' }, fmtCount(e.received)),
          h('td', { 'data-metric': 'written' }, fmtCount(e.written)),
          h('td', { 'data-metric': 'dropped', class: e.dropped > 0 ? 'failing' : '' }, fmtCount(e.dropped)),
          h('td', { 'data-metric': 'ratio', class: bad ? 'failing' : '' }, fmtShare(e.ratio)),
        ]
        : [
          h('td', { 'data-metric': 'received' }, fmtCount(p.received)),
          h('td', { colspan: 3, class: 'na', 'data-metric': 'no-counters' }, 'no Envoy counters received'),
        ];
      return h('tr', { 'data-proxy': p.nodeId, 'data-state': p.state },
        h('td', { class: 'proxy', title: p.nodeId }, proxyName(p.nodeId)), cells);
    }))));
  out.push(h('p', { class: 'meta' },
    'Written and dropped are the Envoy\'s own counts (Metrics Service), since meshlens first got them or the Envoy restarted; ' +
    `received is what meshlens took from the proxy over the same time (entries in flight count as missing for a moment). ` +
    `Below ${threshold} seen, a proxy is incomplete. This instance's view: with replicas, the self-monitoring dashboard sums them.`));
  return out;
}
