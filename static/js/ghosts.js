// Compare runs: finished runs kept as ghost curves, each named by what sets it
// apart from the current settings.

import { GHOST_COLORS } from "./charts/colors.js";
import { describeDifference } from "./describe.js";

const MAX_GHOSTS = 5;

export class Ghosts {
  constructor({ view, symbols }) {
    this.view = view;
    this.symbols = symbols;
    this.show = () => {};
    this.ghosts = [];
    this.nextId = 1;
    this.signature = null;
    view.bindRemove((id) => this.remove(id));
    view.render([]);
  }

  /** ``handler(curves)`` draws the ghosts; ``curves(chartKey)`` gives one chart's ghost curves. */
  bindShow(handler) { this.show = handler; }

  get count() { return this.ghosts.length; }

  /**
   * Keep a finished run: ``{config, loss, accuracy, summary}`` and, to name it
   * in words instead of by its settings, ``label``.
   */
  add(run, reference) {
    if (run.loss.epochs.length === 0) return;
    const color = GHOST_COLORS[(this.nextId - 1) % GHOST_COLORS.length];
    this.ghosts.push({ id: this.nextId, color, fixedLabel: run.label ?? null, ...run });
    this.nextId += 1;
    if (this.ghosts.length > MAX_GHOSTS) this.ghosts.shift();
    this.refresh(reference);
  }

  remove(id) {
    this.ghosts = this.ghosts.filter((ghost) => ghost.id !== id);
    this.refresh(this.reference);
  }

  /** Rename the ghosts against ``reference`` (the config they are compared with) and redraw if a name changed. */
  refresh(reference) {
    this.reference = reference;
    for (const ghost of this.ghosts) ghost.label = ghost.fixedLabel ?? describeDifference(ghost.config, reference, this.symbols);
    const signature = this.ghosts.map((ghost) => `${ghost.id}:${ghost.label}`).join("|");
    if (signature === this.signature) return;
    this.signature = signature;
    const curves = (key) => this.ghosts.map((ghost) => ({
      id: ghost.id, label: ghost.label, color: ghost.color, epochs: ghost[key].epochs, values: ghost[key].values,
    }));
    this.show(curves);
    this.view.render(this.ghosts);
  }
}
