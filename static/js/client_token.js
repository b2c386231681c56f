// The opaque token that names this browser to the server's per-client limits
// (runs, open streams, event memory; see docs/api.md): made once, kept in
// localStorage, sent as the X-Tuning-Client header, or as ?client= where a
// request cannot carry headers (EventSource).  It grants nothing but a quota
// of its own, so a class behind one school address gets one per browser.

export const CLIENT_HEADER = "X-Tuning-Client";
const STORAGE_KEY = "tuning-client";
const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;
let token = null;

/** This browser's token (32 hex digits), made on first use. */
export function clientToken() {
  if (token) return token;
  try { token = localStorage.getItem(STORAGE_KEY); } catch { token = null; }
  if (!token || !TOKEN.test(token)) {
    // getRandomValues, unlike randomUUID, works on plain-http addresses too.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    token = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
    try { localStorage.setItem(STORAGE_KEY, token); } catch { /* no storage: a token for this page only */ }
  }
  return token;
}

/** `url` with this browser's token as its `client` query parameter. */
export function withClientToken(url) {
  return `${url}${url.includes("?") ? "&" : "?"}client=${clientToken()}`;
}
