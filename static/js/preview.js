// What a config amounts to before it trains, as the engine says it: inputs,
// classes, split sizes and parameter count (``POST /api/preview``).  Edits come
// in bursts, so requests wait for a pause, and an answer overtaken by a newer
// request is dropped.

const PREVIEW_DELAY_MS = 120;

export class Preview {
  constructor({ api }) {
    this.api = api;
    this.timer = null;
    this.asked = 0;
  }

  /** ``onShape(preview)`` hears each current answer; ``onInvalid(error)`` when the server refused the config. */
  bind({ onShape, onInvalid }) { Object.assign(this, { onShape, onInvalid }); }

  request(config) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ask(structuredClone(config)), PREVIEW_DELAY_MS);
  }

  async ask(config) {
    this.asked += 1;
    const ticket = this.asked;
    try {
      const answer = await this.api.preview(config);
      if (ticket === this.asked) this.onShape(answer);
    } catch (error) {
      if (ticket === this.asked) this.onInvalid(error);
    }
  }
}
