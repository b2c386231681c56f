// The iframe side of embedding: hide the panels a course page asked to hide,
// and tell the parent page how tall the content is so it can size the iframe.
//
// Message to the parent (any origin may embed):
//   {type: "tuning-playground:resize", height: <CSS pixels, integer>}

export const RESIZE_MESSAGE = "tuning-playground:resize";

export function hidePanels(names) {
  for (const name of names) {
    for (const element of document.querySelectorAll(`[data-panel="${name}"]`)) element.classList.add("panel-hidden");
  }
}

/** Posts the content height on load and whenever it changes; returns a function that stops it. */
export function reportHeight(target = window.parent) {
  if (!target || target === window) return () => {};
  let lastHeight = -1;
  const post = () => {
    const height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height === lastHeight) return;
    lastHeight = height;
    target.postMessage({ type: RESIZE_MESSAGE, height }, "*");
  };
  const observer = new ResizeObserver(post);
  observer.observe(document.body);
  window.addEventListener("load", post);
  post();
  return () => observer.disconnect();
}
