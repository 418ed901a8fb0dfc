// The selection: a node or an edge, chosen with the mouse or the keyboard.

import { state } from './state.js';
import { els } from './dom.js';
import { applySelectionClasses } from './render.js';
import { renderDetails } from './details.js';

// select selects a node or an edge (kind 'node' or 'edge'), or nothing
// (kind null), and shows its details.
export function select(kind, id, ev) {
  if (ev) ev.stopPropagation();
  state.selected = kind ? { kind, id } : null;
  state.detailsKey = '';
  els.details.scrollTop = 0;
  applySelectionClasses();
  renderDetails();
}

// keySelect selects on Enter or Space, as a click would.
export function keySelect(ev, kind, id) {
  if (ev.key === 'Enter' || ev.key === ' ') {
    ev.preventDefault();
    select(kind, id);
  }
}
