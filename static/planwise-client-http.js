// The HTTP channel (part of static/planwise-client.js): the fallback when WebSockets are blocked.
// Resumes or creates the session over the HTTP API, sends operations one at a time, in order, and
// long polls for updates (docs/client.md "Fallback").
//
// `HttpChannelMethods` holds methods of PlanwiseClient, kept apart by concept; planwise-client.js
// installs them on PlanwiseClient.prototype (`this` is the client).

import { backoffDelay } from "./planwise-client-backoff.js";
import { PlanwiseError } from "./planwise-client-error.js";

export class HttpChannelMethods {
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
      const { after, version, stage, step } = this._ordering.cursor();
      const stepped = step === undefined ? "" : `&step=${step}`;
      const query = `after=${after}&version=${version}&stage=${stage}${stepped}&wait=${this.longPollWait}`;
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
      } else if (op.kind === "explain") {
        res = await this._api("GET", `${base}/plans/${encodeURIComponent(op.planId)}`, { token: session.token });
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
      else if (op.kind !== "explain") this._acceptUpdate(res.data);
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
