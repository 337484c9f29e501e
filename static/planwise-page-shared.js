// What every part of the page `/` uses (see planwise-page.js): DOM helpers, the page's state,
// the connection status, alerts and announcements.

export const STATUS_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  fallback: "Live (HTTP fallback)",
  reconnecting: "Reconnecting…",
  offline: "Offline, retrying…",
};

export const $ = (selector, root = document) => root.querySelector(selector);

/** Create an element; `props.text` becomes textContent, other props become attributes. */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter(Boolean));
  return node;
}

/** Append the children that exist (`null` would otherwise become the text "null"). */
export function append(node, ...children) {
  node.append(...children.filter(Boolean));
}

/** The page's state, shared by the questions, the plan list and the choice. */
export const state = {
  questionnaire: null,
  update: null, // the newest update
  shown: null, // the update the list shows (may lag while the list is held)
  held: null,
  selection: null,
  saving: null,
  names: new Map(),
  pending: new Map(), // questionId -> {seq, value}: answers sent, not yet confirmed
  seq: 0,
  errors: new Map(),
  debounces: new Map(),
  sessionId: null,
  synced: false,
  pointerInList: false,
  estimateTimer: null,
  estimatesExpired: -1,
  opener: null,
  client: null, // the PlanwiseClient, set by planwise-page.js
};

// ---------------------------------------------------------------------------------------------
// Status, alerts
// ---------------------------------------------------------------------------------------------

export function renderStatus(status) {
  const node = $("#connection");
  node.dataset.status = status;
  $(".label", node).textContent = STATUS_LABELS[status] ?? status;
  document.body.dataset.status = status;
}

export function showAlert(message) {
  const box = $("#alert");
  $(".alert-text", box).textContent = message;
  box.hidden = false;
}

export function showNotice(message) {
  const node = $("#notice");
  node.textContent = message;
  node.hidden = !message;
}

export function announce(message) {
  const node = $("#questions-live");
  node.textContent = "";
  // A fresh text node so screen readers announce a repeated message too.
  setTimeout(() => {
    node.textContent = message;
  }, 50);
}

/** The catalogue's estimate (from the questionnaire), or null when it has none. */
export function estimateSpec() {
  const spec = state.questionnaire?.estimate;
  return spec && typeof spec === "object" ? spec : null;
}

