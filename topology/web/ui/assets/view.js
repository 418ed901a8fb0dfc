// Pan and zoom: the view's transform, fitting the graph to the stage, and
// dragging, the mouse wheel and the zoom buttons.

import { state } from './state.js';
import { $, els } from './dom.js';
import { select } from './selection.js';
import { zoomed } from './render.js';

function applyView() {
  const v = state.view;
  els.viewport.setAttribute('transform', `translate(${v.x.toFixed(1)},${v.y.toFixed(1)}) scale(${v.k.toFixed(4)})`);
  zoomed(v.k);
}

export function fit() {
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

export function setupPanZoom() {
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
