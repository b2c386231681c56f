// The config in the page URL's fragment: read it on load and on hashchange,
// write it (shortly after edits settle) so that a copied link reproduces the experiment.

import { iframeSnippet } from "./views/share.js";

const URL_WRITE_DELAY_MS = 150;

export class UrlSync {
  constructor({ state, shareView }) {
    Object.assign(this, { state, shareView });
    this.timer = null;
    this.onWarnings = () => {};
    window.addEventListener("hashchange", () => this.read());
  }

  /** ``handler(list)`` hears the settings of a link that could not be used. */
  bindWarnings(handler) { this.onWarnings = handler; }

  read(fragment = window.location.hash) {
    const warnings = this.state.applyFragment(fragment, "url");
    if (warnings.length) this.onWarnings(warnings);
  }

  writeSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.write(), URL_WRITE_DELAY_MS);
  }

  write() {
    const fragment = this.state.toFragment();
    window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}#${fragment}`);
    this.shareView.setFullPageLink(`/#${fragment}`);
  }

  /** The playground's own URL for this config (an embed links to the full page). */
  shareLink() {
    this.write();
    const path = window.location.pathname === "/embed" ? "/" : window.location.pathname;
    return `${window.location.origin}${path}#${this.state.toFragment()}`;
  }

  embedSnippet() {
    this.write();
    return iframeSnippet(window.location.origin, this.state.toFragment());
  }
}
