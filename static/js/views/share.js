// Sharing: a link that reproduces the experiment, and an iframe snippet for course pages.

import { t } from "../i18n.js";

export function iframeSnippet(origin, fragment) {
  const source = `${origin}/embed#${fragment}`.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
  return `<iframe src="${source}" title="Tuning Playground" width="100%" height="600" `
    + `style="border:0" loading="lazy"></iframe>`;
}

export class ShareView {
  constructor({ linkButton, embedButton, output, text, label, note, fullPageLink }) {
    Object.assign(this, { linkButton, embedButton, output, text, label, note, fullPageLink });
  }

  /** The embed's "open in the playground" link follows the config. */
  setFullPageLink(href) { if (this.fullPageLink) this.fullPageLink.href = href; }

  /** ``handler()`` returns the text to copy. */
  bindLink(handler) { this.linkButton?.addEventListener("click", () => this.offer(t("Link"), handler())); }

  bindEmbed(handler) { this.embedButton?.addEventListener("click", () => this.offer(t("Iframe"), handler())); }

  async offer(kind, value) {
    this.label.textContent = kind;
    this.text.value = value;
    this.output.hidden = false;
    this.text.select();
    try {
      await navigator.clipboard.writeText(value);
      this.note.textContent = t("Copied.");
    } catch {
      // Clipboard access is refused in some frames and browsers: the selected text is the fallback.
      this.note.textContent = t("Press Ctrl+C (⌘C) to copy.");
    }
  }
}
