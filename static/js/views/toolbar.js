// Run controls and readouts: play/pause, step, reset, status, epoch, progress, messages.

export const STATUSES = ["idle", "running", "paused", "done", "diverged"];

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 60) return `${Math.ceil(seconds)} s left`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s left`;
}

export class ToolbarView {
  constructor(root) {
    this.start = root.querySelector("#start");
    this.step = root.querySelector("#step");
    this.reset = root.querySelector("#reset");
    this.status = root.querySelector("#status");
    this.epoch = root.querySelector("#epoch");
    this.total = root.querySelector("#total-epochs");
    this.progress = root.querySelector("#progress");
    this.timeLeft = root.querySelector("#time-left");
    this.message = root.querySelector("#message");
    this.shownEpoch = null;
  }

  bindStart(handler) { this.start.addEventListener("click", handler); }

  bindStep(handler) { this.step.addEventListener("click", handler); }

  bindReset(handler) { this.reset.addEventListener("click", handler); }

  /** ``status`` is one of STATUSES; ``busy`` disables the buttons while a request is out. */
  setStatus(status, { busy = false } = {}) {
    this.status.textContent = status;
    this.status.dataset.status = status;
    const running = status === "running";
    this.start.setAttribute("aria-pressed", String(running));
    this.start.classList.toggle("is-running", running);
    this.start.querySelector(".play-label").textContent = running ? "Pause" : status === "paused" ? "Resume" : "Train";
    this.start.disabled = busy;
    this.step.disabled = busy || running;
    this.reset.disabled = busy;
    document.body.dataset.status = status;
  }

  /** The followed run's id on the body, for readers of the page; null when there is none. */
  setRunId(id) {
    if (id) document.body.dataset.runId = id;
    else delete document.body.dataset.runId;
  }

  setProgress(epoch, total, secondsLeft) {
    if (epoch !== this.shownEpoch) {
      this.epoch.textContent = String(epoch);
      this.shownEpoch = epoch;
    }
    // Written only when they change: this runs every animation frame.
    const text = secondsLeft === null ? "" : formatDuration(secondsLeft);
    const key = `${epoch}/${total}/${text}`;
    if (key === this.shownProgress) return;
    this.shownProgress = key;
    this.total.textContent = String(total);
    this.progress.max = Math.max(total, 1);
    this.progress.value = Math.min(epoch, total);
    this.timeLeft.textContent = text;
  }

  /** ``kind``: "error", "warning" or "info"; an action is ``{label, run}``. */
  showMessage(text, kind = "info", action = null) {
    this.message.replaceChildren(document.createTextNode(text));
    if (action) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = action.label;
      button.dataset.testid = "message-action";
      button.addEventListener("click", action.run);
      this.message.append(" ", button);
    }
    this.message.dataset.kind = kind;
    this.message.hidden = !text;
  }

  clearMessage() { this.showMessage(""); }
}
