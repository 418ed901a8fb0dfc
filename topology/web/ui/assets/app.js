// meshlens live service graph: the entry module of the page.
//
// Plain JavaScript in native ES modules, no dependencies, no build step. The
// page subscribes to the graph's server-sent events (api/v1/graph/stream: a
// "snapshot" event, then "change" events with added/updated/removed nodes
// and edges), keeps the graph in two maps, lays it out deterministically
// (namespaces as bands, columns by call depth) and draws it in SVG. Every
// window of the stream is kept, so the window selector switches without a
// new request; the graph type reconnects with ?graphType=.
//
// The modules, all in this folder and imported by relative URLs (so that
// the page works behind a path prefix):
//
//	state.js      the shared state
//	dom.js        elements by id, building HTML and SVG elements
//	format.js     number formatting
//	model.js      the graph's data: statistics, health, names, edge labels
//	layout.js     where nodes, bands, edges and labels go
//	render.js     drawing the graph in SVG
//	view.js       pan and zoom
//	selection.js  selecting a node or an edge
//	details.js    the side panel
//	telemetry.js  the selected workload's proxies: telemetry completeness
//	stream.js     the push stream and the connection status
//	options.js    graph type and window: selectors and URL fragment
//
// DOM hooks for tests and tools: [data-node-id], [data-edge-id] (edge line
// and its label), [data-health], #details[data-kind][data-id], and in the
// details table [data-side=client|server][data-metric=…]; in a node's
// telemetry section [data-telemetry=…] and, per proxy,
// [data-proxy=<node id>][data-state=…] with cells [data-metric=…].

import { $, els } from './dom.js';
import { drawMarkers, render } from './render.js';
import { setupPanZoom } from './view.js';
import { select } from './selection.js';
import { connect, updateStatusText } from './stream.js';
import { setupOptions } from './options.js';

function init() {
  for (const id of ['graph', 'viewport', 'bands', 'edges', 'nodes', 'labels', 'defs', 'empty', 'stage', 'legend', 'details', 'detailsBody', 'status', 'statusText', 'statusAge', 'graphType', 'window']) {
    els[id] = $(id);
  }
  drawMarkers();
  setupOptions();
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
