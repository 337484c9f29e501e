// The outbox (part of static/planwise-client.js): operations in order, each sent once on the channel
// that is up; after a channel died, what is in doubt is reconciled against the server's answers
// so that nothing is sent twice (docs/client.md "Nothing is sent twice").
//
// `OutboxMethods` holds methods of PlanwiseClient, kept apart by concept; planwise-client.js
// installs them on PlanwiseClient.prototype (`this` is the client).

import { PlanwiseError } from "./planwise-client-error.js";

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

/** Answers and resets are reconciled against the server's answers; selections and explanations are resent. */
export function isAnswerOp(op) {
  return op.kind === "answers" || op.kind === "reset";
}

export class OutboxMethods {
  //
  // An operation is "queued" (not sent), "sent" (over `op.via`, awaiting its reply) or
  // "orphaned" (sent over a channel that died: its fate is unknown). When a channel becomes
  // ready, the orphaned and queued answer/reset operations are reconciled against the
  // server's answers and sent as one difference, selections are resent with their key, and
  // explanations (read-only) are simply sent again.

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
    const members = this._ops.filter((op) => op.state === "queued" && isAnswerOp(op));
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
}
