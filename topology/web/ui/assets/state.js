// The page's state, shared by every module: the graph as last received
// from the stream, the options, the connection, the layout, the view and
// the selection.

export const state = {
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
  graceTimer: 0, // pending "reconnecting…" while the browser reconnects
  streams: 0, // snapshots received (one per stream opened)
  conn: 'connecting',
  connText: 'connecting…',
  layoutKey: '',
  layout: null,
  view: { x: 0, y: 0, k: 1 },
  userMoved: false,
  renderQueued: false,
  detailsKey: '',
  proxies: null, // the selected workload's proxies (telemetry.js)
};
