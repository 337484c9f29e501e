// The WebSocket channel (part of static/planwise-client.js): open, hello, frames, pings, the end of
// a socket, reconnection with backoff, and the probes back from the HTTP fallback.
//
// `SocketChannelMethods` holds methods of PlanwiseClient, kept apart by concept;
// planwise-client.js installs them on PlanwiseClient.prototype (`this` is the client).

import { assessSocketEnd, backoffDelay } from "./planwise-client-backoff.js";
import { isAnswerOp, sameAnswer } from "./planwise-client-outbox.js";

export class SocketChannelMethods {
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
    else if (op.kind === "explain") message = { event: "explainPlan", data: { planId: op.planId }, id: op.id };
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
      case "planExplanation":
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

  /**
   * Settle the operation `replyTo`; earlier answers and resets sent on the same socket are done
   * too (the server may skip their replies when a newer update went out).
   */
  _reply(conn, replyTo, error, value) {
    const target = this._ops.find((op) => op.id === replyTo && op.via === conn);
    if (!target) return;
    for (const op of [...this._ops]) {
      if (op === target) break;
      if (op.via === conn && op.state === "sent" && isAnswerOp(op)) this._settle(op, null, this._update);
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
}
