// The state both channels share (part of static/planwise-client.js): the session and its stored
// token, the questionnaire, the last emitted update and the selection.
//
// `ClientStateMethods` holds methods of PlanwiseClient, kept apart by concept; planwise-client.js
// installs them on PlanwiseClient.prototype (`this` is the client). The fields they use are
// created in PlanwiseClient's constructor.

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

export function defaultStorage() {
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

export function memoryStorage() {
  const map = new Map();
  return {
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => map.set(k, String(v)),
    removeItem: (k) => map.delete(k),
  };
}

export class ClientStateMethods {
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

  /** The saved selection of a resumed session (the WebSocket opening sequence does not carry it). */
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
}
