// Planwise browser client: PROTOCOL.md over a WebSocket, with an automatic HTTP fallback.
//
// An ES module with no dependencies and no build step. Everything the environment provides
// (WebSocket, fetch, localStorage, timers, randomness, the clock) can be injected, so the
// logic runs under Node's test runner without a DOM. See docs/client.md.

/** Stage order inside one (revision, version): `rules` before `enriched`. */
export const STAGES = Object.freeze({ rules: 0, enriched: 1 });

/** The values of the "status" event. */
export const STATUSES = Object.freeze(["connecting", "live", "fallback", "reconnecting", "offline"]);

export const DEFAULT_BACKOFF = Object.freeze({ baseMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 });
export const DEFAULT_PROBE_BACKOFF = Object.freeze({ baseMs: 2000, maxMs: 60000, factor: 2, jitter: 0.5 });

/**
 * When to give up on the WebSocket and use HTTP: after `openFailures` attempts in a row that
 * never opened (blocked upgrade, refused), or `drops` connections in a row that opened but died
 * before `healthyAfterMs` (a proxy that kills upgraded connections).
 */
export const DEFAULT_POLICY = Object.freeze({ openFailures: 2, drops: 3, healthyAfterMs: 15000 });

/** An error reported by the server (or by the client for a closed client), with the protocol code. */
export class PlanwiseError extends Error {
  constructor({ code = "internal", message = "", details, replyTo, status } = {}) {
    super(message || code);
    this.name = "PlanwiseError";
    this.code = code;
    if (details !== undefined) this.details = details;
    if (replyTo !== undefined) this.replyTo = replyTo;
    if (status !== undefined) this.status = status;
  }
}

// ---------------------------------------------------------------------------------------------
// Pure logic (exported for tests and for other clients)
// ---------------------------------------------------------------------------------------------

/** The rank of a stage; an unknown (future) stage sorts after the known ones. */
export function stageRank(stage) {
  return Object.prototype.hasOwnProperty.call(STAGES, stage) ? STAGES[stage] : Object.keys(STAGES).length;
}

/** The order key of an update: [revision, version, stage rank]. */
export function updateKey(update) {
  return [Number(update.revision), Number(update.version), stageRank(update.stage)];
}

/** -1, 0 or 1 comparing two order keys lexicographically. */
export function compareKeys(a, b) {
  for (let i = 0; i < 3; i += 1) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

/** -1, 0 or 1 comparing two updates by (revision, version, stage). */
export function compareUpdates(a, b) {
  return compareKeys(updateKey(a), updateKey(b));
}

/** Lets through only updates newer than every one let through before (per session). */
export class UpdateOrdering {
  constructor() {
    this.last = null;
  }

  /** True (and remembered) when `update` is newer than the last accepted one. */
  accept(update) {
    const key = updateKey(update);
    if (key.some((n) => !Number.isFinite(n))) return false;
    if (this.last !== null && compareKeys(key, this.last) <= 0) return false;
    this.last = key;
    return true;
  }

  /** The long-poll cursor (`after`, `version`, `stage`) for the last accepted update. */
  cursor() {
    if (this.last === null) return { after: -1, version: 0, stage: "rules" };
    const stage = Object.keys(STAGES).find((s) => STAGES[s] === this.last[2]) ?? "enriched";
    return { after: this.last[0], version: this.last[1], stage };
  }

  reset() {
    this.last = null;
  }
}

/**
 * Delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter"
 * (a random point in the upper `jitter` share of the step, so it is never near zero and
 * clients that failed together do not retry together).
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const { baseMs, maxMs, factor, jitter } = { ...DEFAULT_BACKOFF, ...options };
  const step = Math.min(maxMs, baseMs * factor ** Math.max(0, attempt));
  const floor = step * (1 - Math.min(1, Math.max(0, jitter)));
  return Math.round(floor + random() * (step - floor));
}

/**
 * The fallback decision after a WebSocket ended. `health` counts failures in a row; `outcome`
 * is `{opened, livedMs}`. Returns the new health and whether to switch to HTTP.
 */
export function assessSocketEnd(health, outcome, policy = DEFAULT_POLICY) {
  const p = { ...DEFAULT_POLICY, ...policy };
  const h = { openFailures: 0, drops: 0, ...health };
  if (!outcome.opened) {
    h.openFailures += 1;
  } else if ((outcome.livedMs ?? 0) < p.healthyAfterMs) {
    h.openFailures = 0;
    h.drops += 1;
  } else {
    h.openFailures = 0;
    h.drops = 0;
  }
  const fallback = h.openFailures >= p.openFailures || h.drops >= p.drops;
  return { health: h, fallback, healthy: h.openFailures === 0 && h.drops === 0 };
}

/** Whether two answer values are the same (multi answers compare as sets). */
export function sameAnswer(a, b) {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    const sa = [...a].map(String).sort();
    const sb = [...b].map(String).sort();
    return sa.every((v, i) => v === sb[i]);
  }
  return a === b;
}

/**
 * What to send so the server's answers end up as the person intended, given the answer and
 * reset operations whose fate is unknown (sent over a connection that died) or that were never
 * sent, in order. Returns `{answers}` holding only what differs from `serverAnswers`
 * (`null` clears); an empty object means everything already arrived. Nothing is sent twice.
 */
export function reconcileAnswers(ops, serverAnswers) {
  const server = serverAnswers ?? {};
  let touched = {};
  let resetSeen = false;
  for (const op of ops) {
    if (op.kind === "reset") {
      resetSeen = true;
      touched = {};
    } else if (op.kind === "answers") {
      Object.assign(touched, op.answers);
    }
  }
  const diff = {};
  if (resetSeen) {
    for (const key of Object.keys(server)) {
      if (!(key in touched) || touched[key] === null) diff[key] = null;
    }
  }
  for (const [key, value] of Object.entries(touched)) {
    if (!sameAnswer(server[key], value)) diff[key] = value;
    else delete diff[key];
  }
  for (const key of Object.keys(diff)) {
    if (diff[key] === null && !(key in server)) delete diff[key];
  }
  return diff;
}

/**
 * The schema a questionnaire carries (PROTOCOL.md v1.1): `attributes` (`[]` when absent),
 * `display` and `estimate` (null when the catalogue has none). Clients label and format plans
 * with it; see planwise-format.js.
 */
export function questionnaireSchema(questionnaire) {
  const q = questionnaire ?? {};
  return {
    attributes: Array.isArray(q.attributes) ? q.attributes : [],
    display: q.display && typeof q.display === "object" ? q.display : null,
    estimate: q.estimate && typeof q.estimate === "object" ? q.estimate : null,
  };
}

/** What makes two questionnaires different for a client: everything but the version. */
function questionnaireContent(data) {
  const { version: _version, ...rest } = data ?? {};
  return { ...rest, questions: rest.questions ?? [] };
}

/** Read `{token, sessionId}` from storage; anything unreadable is no session. */
export function readStoredSession(storage, key) {
  if (!storage) return null;
  try {
    const raw = storage.getItem(key);
    if (!raw) return null;
    const value = JSON.parse(raw);
    if (value && typeof value.token === "string" && typeof value.sessionId === "string") return value;
  } catch {
    /* private mode, quota, garbage: start afresh */
  }
  return null;
}

function defaultStorage() {
  try {
    const storage = globalThis.localStorage;
    if (!storage) return null;
    const probe = "planwise.probe";
    storage.setItem(probe, "1");
    storage.removeItem(probe);
    return storage;
  } catch {
    return null;
  }
}

function memoryStorage() {
  const map = new Map();
  return {
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => map.set(k, String(v)),
    removeItem: (k) => map.delete(k),
  };
}

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

  // -- events ----------------------------------------------------------------------------------

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

  // -- state shared by both channels -----------------------------------------------------------

  _storedSession() {
    return readStoredSession(this._storage, this.storageKey);
  }

  _storeSession(value) {
    try {
      if (value) this._storage.setItem(this.storageKey, JSON.stringify(value));
      else this._storage.removeItem(this.storageKey);
    } catch {
      /* storage full or denied: the session just won't survive a reload */
    }
  }

  _adoptSession(data, emit = true) {
    const previous = this._session?.sessionId ?? null;
    const changed = previous !== data.sessionId;
    this._session = { ...data };
    delete this._session.replyTo;
    this._storeSession({ token: data.token, sessionId: data.sessionId });
    if (changed) {
      this._ordering.reset();
      this._update = null;
      if (previous !== null || !data.resumed) this._setSelection(null);
    }
    if (emit) this._emit("session", this._session);
  }

  _acceptQuestionnaire(data) {
    // The version alone is no change; new questions or a new schema (attributes, display,
    // estimate: PROTOCOL.md v1.1) are.
    const json = JSON.stringify(questionnaireContent(data));
    const changed = json !== this._questionsJson;
    this._questionnaire = data;
    this._questionsJson = json;
    if (changed) this._emit("questionnaire", data);
  }

  _acceptUpdate(update) {
    if (!update || typeof update !== "object") return false;
    const clean = { ...update };
    delete clean.replyTo;
    if (!this._ordering.accept(clean)) return false;
    this._update = clean;
    this._emit("update", clean);
    return true;
  }

  _setSelection(selection) {
    this._selectionSeq += 1;
    const value = selection ? { ...selection } : null;
    if (value) delete value.replyTo;
    if (this._selection !== undefined && JSON.stringify(this._selection) === JSON.stringify(value)) return;
    this._selection = value;
    this._emit("selection", value);
  }

  // -- the outbox ------------------------------------------------------------------------------
  //
  // An operation is "queued" (not sent), "sent" (over `op.via`, awaiting its reply) or
  // "orphaned" (sent over a channel that died: its fate is unknown). When a channel becomes
  // ready, the orphaned and queued answer/reset operations are reconciled against the
  // server's answers and sent as one difference, and selections are resent with their key.

  _enqueue(fields) {
    if (this._closed) return Promise.reject(new PlanwiseError({ code: "closed", message: "Client closed" }));
    return new Promise((resolve, reject) => {
      this._ops.push({ ...fields, id: this._nextId(), state: "queued", via: null, resolve, reject });
      this._pump();
    });
  }

  _settle(op, error, value) {
    const i = this._ops.indexOf(op);
    if (i >= 0) this._ops.splice(i, 1);
    if (error) op.reject(error);
    else op.resolve(value);
  }

  /** Reconcile what is pending with `serverAnswers` (null: unknown, resend as queued). */
  _flush(serverAnswers) {
    for (const op of this._ops) if (op.state === "orphaned") op.state = "queued";
    if (serverAnswers == null) return;
    const members = this._ops.filter((op) => op.state === "queued" && op.kind !== "select");
    if (members.length === 0) return;
    const diff = reconcileAnswers(members, serverAnswers);
    const first = this._ops.indexOf(members[0]);
    this._ops = this._ops.filter((op) => !members.includes(op));
    const settleAll = (err, value) => {
      for (const m of members) (err ? m.reject(err) : m.resolve(value));
    };
    if (Object.keys(diff).length === 0) {
      settleAll(null, this._update);
      return;
    }
    const merged = {
      kind: "answers",
      answers: diff,
      id: this._nextId(),
      state: "queued",
      via: null,
      resolve: (v) => settleAll(null, v),
      reject: (e) => settleAll(e),
    };
    this._ops.splice(Math.min(first, this._ops.length), 0, merged);
  }

  _pump() {
    if (this._closed || this._httpInFlight > 0) return;
    if (this._mode === "ws" && this._conn?.ready) {
      for (const op of [...this._ops]) {
        const conn = this._conn;
        if (!conn?.ready) break; // the socket died while sending
        if (op.state === "queued") this._sendSocket(conn, op);
      }
    } else if (this._mode === "http" && this._httpReady) {
      const op = this._ops.find((o) => o.state === "queued");
      if (op) this._sendHttp(op);
    }
  }

  // -- WebSocket channel ------------------------------------------------------------------------

  _startSocket(probe) {
    if (this._closed || this._conn) return;
    const WS = this._WebSocket();
    const conn = {
      socket: null,
      probe,
      opened: false,
      ready: false,
      syncing: false,
      ended: false,
      openedAt: 0,
      helloId: null,
      openTimer: null,
      pingTimer: null,
      pongTimer: null,
    };
    this._conn = conn;
    if (!probe) this._setStatus(this._everLive ? "reconnecting" : "connecting");
    if (typeof WS !== "function") {
      this._timer(() => this._onSocketEnd(conn), 0);
      return;
    }
    let socket;
    try {
      socket = new WS(this.wsUrl);
    } catch {
      this._timer(() => this._onSocketEnd(conn), 0);
      return;
    }
    conn.socket = socket;
    conn.openTimer = this._timer(() => {
      if (!conn.opened) this._dropSocket(conn, 4000, "open timeout");
    }, this.openTimeoutMs);
    socket.onopen = () => this._onSocketOpen(conn);
    socket.onmessage = (ev) => this._onSocketFrame(conn, ev.data);
    socket.onerror = () => {};
    socket.onclose = () => this._onSocketEnd(conn);
  }

  async _onSocketOpen(conn) {
    if (conn.ended || conn !== this._conn) return;
    conn.opened = true;
    conn.openedAt = this._now();
    this._cancel(conn.openTimer);
    const data = {};
    const stored = this._storedSession();
    if (stored) data.token = stored.token;
    try {
      const auth = typeof this._authToken === "function" ? await this._authToken() : this._authToken;
      if (auth) data.authToken = auth;
    } catch {
      /* no host token this time: continue anonymously */
    }
    if (conn.ended) return;
    conn.helloId = this._nextId();
    conn.syncing = true;
    this._socketSend(conn, { event: "hello", data, id: conn.helloId });
  }

  _socketSend(conn, message) {
    try {
      conn.socket.send(JSON.stringify(message));
      return true;
    } catch {
      this._dropSocket(conn, 4000, "send failed");
      return false;
    }
  }

  _sendSocket(conn, op) {
    let message;
    if (op.kind === "answers") message = { event: "userResponse", data: { answers: op.answers }, id: op.id };
    else if (op.kind === "reset") message = { event: "reset", data: {}, id: op.id };
    else message = { event: "selectPlan", data: { planId: op.planId, idempotencyKey: op.idempotencyKey }, id: op.id };
    op.state = "sent";
    op.via = conn;
    this._socketSend(conn, message);
  }

  _onSocketFrame(conn, raw) {
    if (conn.ended || conn !== this._conn) return;
    this._cancel(conn.pongTimer);
    conn.pongTimer = null;
    let message;
    try {
      message = JSON.parse(typeof raw === "string" ? raw : String(raw));
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    const data = message.data && typeof message.data === "object" ? message.data : {};
    switch (message.event) {
      case "session":
        this._adoptSession(data);
        conn.syncing = true;
        break;
      case "questionnaire":
        this._acceptQuestionnaire(data);
        break;
      case "recommendationUpdates":
        this._acceptUpdate(data);
        if (data.replyTo !== undefined) this._reply(conn, data.replyTo, null, this._stripReply(data));
        else this._settleReflected(conn, data);
        if (conn.syncing) {
          conn.syncing = false;
          this._onSocketReady(conn, data);
        }
        break;
      case "selectionSaved":
        this._setSelection(data);
        if (data.replyTo !== undefined) this._reply(conn, data.replyTo, null, this._stripReply(data));
        break;
      case "error":
        this._onSocketError(conn, data);
        break;
      default:
        break; // pong, and events this client does not know
    }
  }

  _stripReply(data) {
    const copy = { ...data };
    delete copy.replyTo;
    return copy;
  }

  /** Settle the operation `replyTo`; earlier ones sent on the same socket are done too. */
  _reply(conn, replyTo, error, value) {
    const target = this._ops.find((op) => op.id === replyTo && op.via === conn);
    if (!target) return;
    for (const op of [...this._ops]) {
      if (op === target) break;
      if (op.via === conn && op.state === "sent" && op.kind !== "select") this._settle(op, null, this._update);
    }
    this._settle(target, error, value);
  }

  /**
   * A reply can be skipped by the server when a newer update already went out (e.g. a publish
   * raced with the answer): settle sent answer operations that an update already reflects.
   */
  _settleReflected(conn, update) {
    const answers = update.answers ?? {};
    for (const op of [...this._ops]) {
      if (op.via !== conn || op.state !== "sent" || op.kind !== "answers") continue;
      if (Object.entries(op.answers).every(([k, v]) => sameAnswer(answers[k], v))) {
        this._settle(op, null, this._stripReply(update));
      }
    }
  }

  _onSocketError(conn, data) {
    const err = this._error(data);
    if (data.replyTo !== undefined && data.replyTo === conn.helloId) {
      if (err.code === "invalid_token") this._storeSession(null); // the server starts a new session
      else if (conn.syncing && err.code !== "forbidden") this._dropSocket(conn, 4000, err.code); // retry later
      return;
    }
    if (data.replyTo !== undefined) this._reply(conn, data.replyTo, err);
  }

  _onSocketReady(conn, update) {
    if (this._mode === "http") this._leaveHttp();
    this._cancel(this._probeTimer);
    this._probeTimer = null;
    this._cancel(this._retryTimer);
    this._retryTimer = null;
    conn.ready = true;
    this._mode = "ws";
    this._everLive = true;
    this._probeAttempt = 0;
    this._setStatus("live");
    this._flush(update.answers ?? null);
    this._pump();
    this._schedulePing(conn);
    if (this._session?.resumed || this._selection === undefined) this._fetchSelection();
  }

  _schedulePing(conn) {
    if (!(this.pingIntervalMs > 0)) return;
    conn.pingTimer = this._timer(() => {
      if (conn.ended) return;
      this._socketSend(conn, { event: "ping", data: {}, id: this._nextId() });
      conn.pongTimer = this._timer(() => this._dropSocket(conn, 4000, "no pong"), this.pongTimeoutMs);
      this._schedulePing(conn);
    }, this.pingIntervalMs);
  }

  /** Close a socket ourselves and handle its end at once (a dead TCP link can take minutes). */
  _dropSocket(conn, code, reason) {
    try {
      conn.socket?.close(code, reason);
    } catch {
      /* already closed */
    }
    this._onSocketEnd(conn);
  }

  _onSocketEnd(conn) {
    if (conn.ended) return;
    conn.ended = true;
    for (const t of [conn.openTimer, conn.pingTimer, conn.pongTimer]) this._cancel(t);
    if (conn.socket) conn.socket.onopen = conn.socket.onmessage = conn.socket.onclose = null;
    for (const op of this._ops) if (op.via === conn && op.state === "sent") op.state = "orphaned";
    if (conn !== this._conn) return;
    this._conn = null;
    if (this._closed) return;
    const outcome = { opened: conn.opened, livedMs: conn.opened ? this._now() - conn.openedAt : 0 };
    const { health, fallback, healthy } = assessSocketEnd(this._health, outcome, this.policy);
    this._health = health;
    if (healthy) this._wsAttempt = 0;
    if (this._mode === "http") {
      this._scheduleProbe();
      return;
    }
    this._mode = null;
    if (fallback && this.transport === "auto") {
      this._startHttp();
      return;
    }
    this._setStatus(this._everLive ? "reconnecting" : "connecting");
    const delay = backoffDelay(this._wsAttempt, this.backoff, this._random);
    this._wsAttempt += 1;
    this._retryTimer = this._timer(() => {
      this._retryTimer = null;
      this._startSocket(false);
    }, delay);
  }

  _scheduleProbe(delay) {
    if (this.transport !== "auto" || this._closed || this._conn) return;
    this._cancel(this._probeTimer);
    const ms = delay ?? backoffDelay(this._probeAttempt, this.probeBackoff, this._random);
    if (delay === undefined) this._probeAttempt += 1;
    this._probeTimer = this._timer(() => {
      this._probeTimer = null;
      if (this._mode === "http") this._startSocket(true);
    }, ms);
  }

  /** Retry at once (the browser says it is online again). */
  _retryNow() {
    if (this._closed) return;
    if (this._retryTimer !== null) {
      this._cancel(this._retryTimer);
      this._retryTimer = null;
      this._startSocket(false);
    }
    if (this._mode === "http" && !this._httpReady && this._httpRetryTimer) {
      this._cancel(this._httpRetryTimer);
      this._httpRetryTimer = null;
      this._httpSync();
    }
  }

  async _fetchSelection() {
    const session = this._session;
    if (!session || !this._fetch) return;
    const seq = this._selectionSeq;
    try {
      const res = await this._api("GET", `/sessions/${encodeURIComponent(session.sessionId)}`, {
        token: session.token,
      });
      if (res.status === 200 && seq === this._selectionSeq && this._session?.sessionId === session.sessionId) {
        this._setSelection(res.data?.selection ?? null);
      }
    } catch {
      /* the selection shows up with the next successful fetch */
    }
  }

  // -- HTTP channel ------------------------------------------------------------------------------

  async _api(method, path, { body, token, signal, timeoutMs } = {}) {
    if (!this._fetch) throw new PlanwiseError({ code: "unavailable", message: "fetch is not available" });
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const controller = typeof AbortController === "function" ? new AbortController() : null;
    let timer = null;
    if (controller) {
      if (signal) {
        if (signal.aborted) controller.abort();
        else signal.addEventListener("abort", () => controller.abort(), { once: true });
      }
      timer = this._timer(() => controller.abort(), timeoutMs ?? this.requestTimeoutMs);
    }
    try {
      const res = await this._fetch(this.apiUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller?.signal,
        credentials: "same-origin",
      });
      let data = null;
      if (res.status !== 204) {
        const text = await res.text();
        if (text) {
          try {
            data = JSON.parse(text);
          } catch {
            data = null;
          }
        }
      }
      return { status: res.status, ok: res.status >= 200 && res.status < 300, data };
    } finally {
      this._cancel(timer);
    }
  }

  _httpError(res, replyTo) {
    const body = res.data?.error ?? {};
    return new PlanwiseError({
      code: body.code ?? (res.status >= 500 ? "unavailable" : "internal"),
      message: body.message ?? `HTTP ${res.status}`,
      details: body.details,
      status: res.status,
      replyTo,
    });
  }

  _startHttp() {
    this._mode = "http";
    this._httpReady = false;
    this._httpAttempt = 0;
    this._httpSync();
  }

  _leaveHttp() {
    this._httpGen += 1;
    this._httpReady = false;
    this._cancel(this._httpRetryTimer);
    this._httpRetryTimer = null;
    if (this._pollAbort) this._pollAbort.abort();
    this._pollAbort = null;
  }

  _httpRetry() {
    this._httpReady = false;
    this._setStatus("offline");
    this._cancel(this._httpRetryTimer);
    const delay = backoffDelay(this._httpAttempt, this.backoff, this._random);
    this._httpAttempt += 1;
    this._httpRetryTimer = this._timer(() => {
      this._httpRetryTimer = null;
      this._httpSync();
    }, delay);
    if (!this._conn && !this._probeTimer) this._scheduleProbe();
  }

  /** (Re)establish the session over HTTP, then reconcile, send what is pending and long poll. */
  async _httpSync() {
    const gen = ++this._httpGen;
    const live = () => gen === this._httpGen && this._mode === "http" && !this._closed;
    const wasOffline = this._status === "offline";
    try {
      let stored = this._storedSession();
      let info = null;
      let created = null;
      if (stored) {
        const res = await this._api("GET", `/sessions/${encodeURIComponent(stored.sessionId)}`, {
          token: stored.token,
        });
        if (!live()) return;
        if (res.status === 200) info = res.data;
        else if ([401, 403, 404].includes(res.status)) {
          // The same event as over the WebSocket: the stored session cannot be resumed.
          const err = this._httpError(res);
          this._error(new PlanwiseError({ code: "invalid_token", message: err.message, status: res.status }));
          this._storeSession(null);
          stored = null;
        } else throw this._httpError(res);
      }
      if (!stored) {
        const body = {};
        const auth = typeof this._authToken === "function" ? await this._authToken() : this._authToken;
        if (auth) body.authToken = auth;
        const res = await this._api("POST", "/sessions", { body });
        if (!live()) return;
        if (res.status !== 201 && res.status !== 200) throw this._httpError(res);
        created = res.data;
        const again = await this._api("GET", `/sessions/${encodeURIComponent(created.sessionId)}`, {
          token: created.token,
        });
        if (!live()) return;
        if (again.status !== 200) throw this._httpError(again);
        info = again.data;
      }
      const session = created ?? info.session;
      if (!this._questionnaire || this._questionnaire.version < (info.update?.version ?? 0)) {
        await this._refreshQuestionnaire(live);
        if (!live()) return;
      }
      this._adoptSession(session);
      this._acceptUpdate(info.update);
      this._setSelection(info.selection ?? null);
      this._httpReady = true;
      this._httpAttempt = 0;
      this._setStatus("fallback");
      this._flush(info.answers ?? info.update?.answers ?? null);
      this._pump();
      if (wasOffline && !this._conn) {
        this._probeAttempt = 0;
        this._scheduleProbe(0); // the server is back: the WebSocket may be too
      } else if (!this._conn && !this._probeTimer) {
        this._scheduleProbe();
      }
      this._longPoll(gen);
    } catch (err) {
      if (!live()) return;
      if (err instanceof PlanwiseError && err.status && err.status < 500 && err.status !== 429) {
        this._error(err);
      }
      this._httpRetry();
    }
  }

  async _refreshQuestionnaire(live) {
    const res = await this._api("GET", "/questionnaire");
    if (live && !live()) return;
    if (res.status !== 200) throw this._httpError(res);
    this._acceptQuestionnaire(res.data);
  }

  async _longPoll(gen) {
    const live = () => gen === this._httpGen && this._mode === "http" && !this._closed;
    let failures = 0;
    while (live()) {
      const session = this._session;
      const { after, version, stage } = this._ordering.cursor();
      const query = `after=${after}&version=${version}&stage=${stage}&wait=${this.longPollWait}`;
      const controller = typeof AbortController === "function" ? new AbortController() : null;
      this._pollAbort = controller;
      let res;
      try {
        res = await this._api("GET", `/sessions/${encodeURIComponent(session.sessionId)}/updates?${query}`, {
          token: session.token,
          signal: controller?.signal,
          timeoutMs: (this.longPollWait + 10) * 1000,
        });
      } catch {
        if (!live()) return;
        this._httpRetry();
        return;
      }
      if (!live()) return;
      if (res.status === 200) {
        failures = 0;
        const update = res.data;
        if (update && (!this._questionnaire || update.version > this._questionnaire.version)) {
          try {
            await this._refreshQuestionnaire(live);
          } catch {
            /* the questions follow on the next update */
          }
          if (!live()) return;
        }
        this._acceptUpdate(update);
      } else if (res.status === 204) {
        failures = 0;
      } else if ([401, 403, 404].includes(res.status)) {
        this._error(this._httpError(res));
        this._storeSession(null);
        this._httpReady = false;
        this._httpSync();
        return;
      } else {
        failures += 1;
        await new Promise((resolve) =>
          this._timer(resolve, backoffDelay(failures - 1, this.backoff, this._random)),
        );
      }
    }
  }

  async _sendHttp(op) {
    const session = this._session;
    const base = `/sessions/${encodeURIComponent(session.sessionId)}`;
    op.state = "sent";
    op.via = "http";
    this._httpInFlight += 1;
    let res;
    try {
      if (op.kind === "answers") {
        res = await this._api("POST", `${base}/responses`, { token: session.token, body: { answers: op.answers } });
      } else if (op.kind === "reset") {
        res = await this._api("DELETE", `${base}/responses`, { token: session.token });
      } else {
        res = await this._api("POST", `${base}/selection`, {
          token: session.token,
          body: { planId: op.planId, idempotencyKey: op.idempotencyKey },
        });
      }
    } catch {
      // Unknown fate: reconciled at the next HTTP sync, or resent if the WebSocket took over.
      op.state = this._mode === "http" ? "orphaned" : "queued";
      this._httpInFlight -= 1;
      if (this._mode === "http" && !this._closed) {
        this._leavePoll();
        this._httpRetry();
      }
      this._pump();
      return;
    }
    this._httpInFlight -= 1;
    if (res.ok) {
      if (op.kind === "select") this._setSelection(res.data);
      else this._acceptUpdate(res.data);
      this._settle(op, null, res.data);
    } else if (res.status === 429) {
      op.state = "queued"; // refused, so not applied: send it again a little later
      this._httpInFlight += 1;
      this._timer(() => {
        this._httpInFlight -= 1;
        this._pump();
      }, backoffDelay(0, { baseMs: 1000 }, this._random));
      return;
    } else if (res.status >= 500 || [401, 403, 404].includes(res.status)) {
      op.state = "orphaned"; // maybe applied: reconcile after the next sync
      if ([401, 403, 404].includes(res.status)) {
        this._error(this._httpError(res, op.id));
        this._storeSession(null);
      }
      if (this._mode === "http" && !this._closed) {
        this._leavePoll();
        this._httpRetry();
      }
    } else {
      this._settle(op, this._error(this._httpError(res, op.id)));
    }
    this._pump();
  }

  _leavePoll() {
    this._httpGen += 1;
    if (this._pollAbort) this._pollAbort.abort();
    this._pollAbort = null;
  }
}
