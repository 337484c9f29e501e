// Planwise browser client: PROTOCOL.md over a WebSocket, with an automatic HTTP fallback.
//
// An ES module with no dependencies and no build step. Everything the environment provides
// (WebSocket, fetch, localStorage, timers, randomness, the clock) can be injected, so the
// logic runs under Node's test runner without a DOM. See docs/client.md.
//
// This file is the entry point and the public facade: `createPlanwiseClient`, the
// `PlanwiseClient` class with its public API and events, and (re-exported) the pure logic. The
// rest lives next to it, one concept a module, imported relatively (serve the folder, or copy
// every planwise-client*.js file):
//
//   planwise-client-error.js     PlanwiseError
//   planwise-client-ordering.js  update order (UpdateOrdering, compareUpdates, ...)
//   planwise-client-backoff.js   reconnection delays and the fallback decision
//   planwise-client-state.js     session, storage, questionnaire, update, selection
//   planwise-client-outbox.js    operations in order, reconciliation (nothing sent twice)
//   planwise-client-socket.js    the WebSocket channel, reconnection, probes
//   planwise-client-http.js      the HTTP fallback and its long poll

import {
  assessSocketEnd,
  backoffDelay,
  DEFAULT_BACKOFF,
  DEFAULT_POLICY,
  DEFAULT_PROBE_BACKOFF,
} from "./planwise-client-backoff.js";
import { PlanwiseError } from "./planwise-client-error.js";
import { HttpChannelMethods } from "./planwise-client-http.js";
import {
  compareKeys,
  compareUpdates,
  STAGES,
  stageRank,
  UpdateOrdering,
  updateKey,
} from "./planwise-client-ordering.js";
import { OutboxMethods, reconcileAnswers, sameAnswer } from "./planwise-client-outbox.js";
import { SocketChannelMethods } from "./planwise-client-socket.js";
import {
  ClientStateMethods,
  defaultStorage,
  memoryStorage,
  questionnaireSchema,
  readStoredSession,
} from "./planwise-client-state.js";

export {
  assessSocketEnd,
  backoffDelay,
  compareKeys,
  compareUpdates,
  DEFAULT_BACKOFF,
  DEFAULT_POLICY,
  DEFAULT_PROBE_BACKOFF,
  PlanwiseError,
  questionnaireSchema,
  readStoredSession,
  reconcileAnswers,
  sameAnswer,
  STAGES,
  stageRank,
  UpdateOrdering,
  updateKey,
};

/** A plan id as CATALOGUE.md defines it. */
export const PLAN_ID = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** The values of the "status" event. */
export const STATUSES = Object.freeze(["connecting", "live", "fallback", "reconnecting", "offline"]);

function defaultRandomId(random) {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  let out = "";
  for (let i = 0; i < 32; i += 1) out += Math.floor(random() * 16).toString(16);
  return out;
}

function trimSlash(url) {
  return url.replace(/\/+$/, "");
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

const EVENTS = ["update", "questionnaire", "session", "error", "status", "selection"];

/** Create a client; see docs/client.md for every option. */
export function createPlanwiseClient(options = {}) {
  return new PlanwiseClient(options);
}

export class PlanwiseClient {
  constructor(options = {}) {
    const g = globalThis;
    const base = trimSlash(options.url ?? (g.location ? g.location.origin : "http://127.0.0.1:8000"));
    this.wsUrl = options.wsUrl ?? `${base.replace(/^http/, "ws")}/ws`;
    this.apiUrl = trimSlash(options.apiUrl ?? `${base}/api`);
    this._WebSocket = () => options.WebSocketImpl ?? g.WebSocket;
    this._fetch = options.fetchImpl ?? (g.fetch ? (...args) => g.fetch(...args) : null);
    this._storage = options.storage === undefined ? defaultStorage() : options.storage;
    if (!this._storage) this._storage = memoryStorage();
    this.storageKey = options.storageKey ?? "planwise.session";
    const timers = options.timers ?? {};
    this._setTimeout = timers.setTimeout ?? ((fn, ms) => g.setTimeout(fn, ms));
    this._clearTimeout = timers.clearTimeout ?? ((id) => g.clearTimeout(id));
    this._random = options.random ?? Math.random;
    this._now = options.now ?? (() => Date.now());
    this._randomId = options.randomId ?? (() => defaultRandomId(this._random));
    this._authToken = options.authToken;
    this.transport = options.transport ?? "auto"; // "auto" | "websocket" | "http"
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.probeBackoff = { ...DEFAULT_PROBE_BACKOFF, ...options.probeBackoff };
    this.policy = { ...DEFAULT_POLICY, ...options.policy };
    this.openTimeoutMs = options.openTimeoutMs ?? 5000;
    this.pingIntervalMs = options.pingIntervalMs ?? 25000;
    this.pongTimeoutMs = options.pongTimeoutMs ?? 10000;
    this.longPollWait = options.longPollWait ?? 25;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15000;
    this._onListenerError = options.onListenerError ?? ((err) => g.console?.error?.(err));

    this._listeners = new Map(EVENTS.map((e) => [e, new Set()]));
    this._status = null;
    this._closed = false;
    this._seq = 0;
    this._ordering = new UpdateOrdering();
    this._session = null; // the last `session` payload
    this._questionnaire = null;
    this._questionsJson = null;
    this._update = null;
    this._selection = undefined; // undefined: not known yet; null: none
    this._selectionSeq = 0;
    this._ops = []; // the outbox, in order
    this._mode = null; // "ws" | "http" | null (nothing ready)
    this._conn = null; // the current WebSocket attempt
    this._health = { openFailures: 0, drops: 0 };
    this._wsAttempt = 0;
    this._probeAttempt = 0;
    this._httpAttempt = 0;
    this._httpGen = 0;
    this._httpReady = false;
    this._httpInFlight = 0;
    this._pollAbort = null;
    this._everLive = false;
    this._timers = new Set();
    this._retryTimer = null;
    this._probeTimer = null;

    const win = options.eventTarget === undefined ? g : options.eventTarget;
    if (win && typeof win.addEventListener === "function" && typeof win.removeEventListener === "function") {
      this._eventTarget = win;
      this._onOnline = () => this._retryNow();
      win.addEventListener("online", this._onOnline);
    }

    this._setStatus("connecting");
    if (options.autoConnect !== false) Promise.resolve().then(() => this.connect());
  }

  // -- public API -----------------------------------------------------------------------------

  /** Subscribe to an event; returns a function that unsubscribes. */
  on(event, fn) {
    const set = this._listeners.get(event);
    if (!set) throw new TypeError(`unknown event '${event}' (one of ${EVENTS.join(", ")})`);
    set.add(fn);
    return () => set.delete(fn);
  }

  off(event, fn) {
    this._listeners.get(event)?.delete(fn);
  }

  get status() {
    return this._status;
  }

  get sessionId() {
    return this._session?.sessionId ?? readStoredSession(this._storage, this.storageKey)?.sessionId ?? null;
  }

  get session() {
    return this._session;
  }

  get questionnaire() {
    return this._questionnaire;
  }

  get update() {
    return this._update;
  }

  /** The catalogue's attribute schema from the questionnaire: `[{key, type, label, unit?, options?}]`. */
  get attributes() {
    return questionnaireSchema(this._questionnaire).attributes;
  }

  /** The catalogue's `display` (`{headline: [attribute keys]}`), or null. */
  get display() {
    return questionnaireSchema(this._questionnaire).display;
  }

  /** The catalogue's `estimate` (`{label, unit?, currency?, decimals}`), or null when it has none. */
  get estimate() {
    return questionnaireSchema(this._questionnaire).estimate;
  }

  get selection() {
    return this._selection ?? null;
  }

  /** "ws", "http" or null: the channel currently carrying the session. */
  get mode() {
    return this._mode;
  }

  /** Start connecting (done automatically unless `autoConnect: false`). */
  connect() {
    if (this._closed || this._conn || this._mode || this._started) return;
    this._started = true;
    if (this.transport === "http") this._startHttp();
    else this._startSocket(false);
  }

  /** Answer one question (`null` clears it). Resolves with the update that reflects it. */
  answer(questionId, value) {
    return this.answers({ [questionId]: value });
  }

  /** Answer several questions at once (all or nothing on the server). */
  answers(map) {
    if (!map || typeof map !== "object" || Array.isArray(map)) {
      return Promise.reject(new TypeError("answers(map) takes an object of questionId: value"));
    }
    return this._enqueue({ kind: "answers", answers: { ...map } });
  }

  /** Clear every answer. Resolves with the update after the reset. */
  reset() {
    return this._enqueue({ kind: "reset" });
  }

  /**
   * Choose a plan. One idempotency key per call, reused on every resend, so a retried
   * selection is saved once. Resolves with the `selectionSaved` payload.
   */
  select(planId) {
    return this._enqueue({ kind: "select", planId, idempotencyKey: this._randomId() });
  }

  /**
   * Why one plan is shown, cut, excluded or inactive for the session's current answers and the
   * live version (PROTOCOL.md v1.1). Resolves with the `planExplanation` payload
   * `{planId, revision, version, status, rank?, score?, reasons}`; rejects with a PlanwiseError
   * (`unknown_plan` for a plan the catalogue does not have). Sent in order after the operations
   * before it, so it reflects them; read-only, so it is resent after a reconnection if its reply
   * was lost. A `planId` that cannot be a plan id (CATALOGUE.md: 1–64 letters, digits, `-`, `_`,
   * starting with a letter) is refused at once with `unknown_plan`, without asking the server.
   */
  explainPlan(planId) {
    if (typeof planId !== "string" || planId === "") {
      return Promise.reject(new TypeError("explainPlan(planId) takes a plan id"));
    }
    if (!PLAN_ID.test(planId)) {
      return Promise.reject(new PlanwiseError({ code: "unknown_plan", message: `There is no plan '${planId}'` }));
    }
    return this._enqueue({ kind: "explain", planId });
  }

  /** Close everything; pending operations are rejected with code "closed". */
  close() {
    if (this._closed) return;
    this._closed = true;
    for (const t of this._timers) this._clearTimeout(t);
    this._timers.clear();
    if (this._eventTarget) this._eventTarget.removeEventListener("online", this._onOnline);
    const conn = this._conn;
    this._conn = null;
    if (conn) this._dropSocket(conn, 1000, "client closed");
    this._leaveHttp();
    this._mode = null;
    for (const op of this._ops.splice(0)) op.reject(new PlanwiseError({ code: "closed", message: "Client closed" }));
    this._setStatus("offline");
  }


  // -- events and timers -----------------------------------------------------------------------

  _emit(event, payload) {
    for (const fn of [...this._listeners.get(event)]) {
      try {
        fn(payload);
      } catch (err) {
        this._onListenerError(err);
      }
    }
  }

  _setStatus(status) {
    if (this._status === status) return;
    this._status = status;
    this._emit("status", status);
  }

  _error(data) {
    const err = data instanceof PlanwiseError ? data : new PlanwiseError(data);
    this._emit("error", err);
    return err;
  }

  _timer(fn, ms) {
    const id = this._setTimeout(() => {
      this._timers.delete(id);
      if (!this._closed) fn();
    }, ms);
    this._timers.add(id);
    return id;
  }

  _cancel(id) {
    if (id == null) return;
    this._clearTimeout(id);
    this._timers.delete(id);
  }

  _nextId() {
    this._seq += 1;
    return `c-${this._seq}`;
  }
}

// The client's internals, one concept a module (see the list at the top); `this` is the client.
for (const methods of [ClientStateMethods, OutboxMethods, SocketChannelMethods, HttpChannelMethods]) {
  for (const name of Object.getOwnPropertyNames(methods.prototype)) {
    if (name === "constructor") continue;
    Object.defineProperty(PlanwiseClient.prototype, name, Object.getOwnPropertyDescriptor(methods.prototype, name));
  }
}
