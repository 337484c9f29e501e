// Test doubles for the Planwise client: a virtual clock and a small in-memory server that speaks
// PROTOCOL.md over a fake WebSocket and a fake fetch (same sessions for both, like the real one).

const STAGE = { rules: 0, enriched: 1 };

/** Let pending promise callbacks and I/O-free continuations run. */
export async function settle(rounds = 30) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** A virtual clock whose timers run only when the test advances it. */
export class FakeClock {
  constructor() {
    this.time = 1_000_000;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, ms = 0) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
    this.now = () => this.time;
  }

  /** Move time forward by `ms`, running every timer that falls due, in order. */
  async advance(ms) {
    const target = this.time + ms;
    await settle();
    for (;;) {
      let nextId = null;
      let next = null;
      for (const [id, t] of this.timers) {
        if (t.at <= target && (next === null || t.at < next.at || (t.at === next.at && id < nextId))) {
          next = t;
          nextId = id;
        }
      }
      if (next === null) break;
      this.timers.delete(nextId);
      this.time = Math.max(this.time, next.at);
      next.fn();
      await settle();
    }
    this.time = target;
    await settle();
  }

  /** Delays of the pending timers, soonest first. */
  pending() {
    return [...this.timers.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }
}

/** An in-memory storage with the localStorage methods the client uses. */
export function memoryStorage(initial = {}) {
  const map = new Map(Object.entries(initial));
  return {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => map.set(k, String(v)),
    removeItem: (k) => map.delete(k),
  };
}

function key(update) {
  return [update.revision, update.version, STAGE[update.stage], update.step ?? 0];
}

function newer(a, b) {
  for (let i = 0; i < 4; i += 1) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}

/**
 * A fake Planwise service. `wsMode`: "accept" (sockets open), "refuse" (fail before opening),
 * "drop" (open, then close at once), "manual" (the test opens them). `httpUp = false` makes
 * every fetch fail like a network error. Every client message is logged in `received`.
 */
export class FakePlanwise {
  constructor(clock) {
    this.clock = clock;
    this.version = 1;
    this.sessions = new Map();
    this.sockets = [];
    this.polls = [];
    this.received = [];
    this.wsMode = "accept";
    this.httpUp = true;
    this.count = 0;
    this.dropBeforeReply = false; // apply the next userResponse/selectPlan/explainPlan, then close without replying
    this.questions = [
      { id: "usage", text: "Data?", type: "choice", options: [{ value: "light", label: "Light" }] },
      { id: "budget", text: "Budget?", type: "number", min: 0, max: 100 },
    ];
    // The questionnaire's schema (PROTOCOL.md v1.1); example data, nothing the client knows.
    this.schema = {
      attributes: [{ key: "speed", type: "number", label: "Speed", unit: "Mbit/s" }],
      display: { headline: ["speed"] },
      estimate: { label: "Estimated cost", currency: "EUR", unit: "a month", decimals: 2 },
    };
    const server = this;
    this.WebSocket = class FakeWebSocket {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.session = null;
        server.sockets.push(this);
        if (server.wsMode === "refuse") queueMicrotask(() => this.serverClose(1006, false));
        else if (server.wsMode === "accept") queueMicrotask(() => this.accept());
        else if (server.wsMode === "drop") {
          queueMicrotask(() => {
            this.accept();
            this.serverClose(1006);
          });
        }
      }

      accept() {
        if (this.readyState !== 0) return;
        this.readyState = 1;
        this.onopen?.({});
      }

      send(text) {
        if (this.readyState !== 1) throw new Error("not open");
        server.onFrame(this, JSON.parse(text));
      }

      close(code = 1000) {
        if (this.readyState === 3) return;
        this.readyState = 3;
        this.closedWith = code;
        queueMicrotask(() => this.onclose?.({ code }));
      }

      push(event, data) {
        if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify({ event, data }) });
      }

      serverClose(code = 1006, wasOpen = true) {
        if (this.readyState === 3) return;
        this.readyState = 3;
        if (!wasOpen) this.onerror?.({});
        this.onclose?.({ code });
      }
    };
    this.fetch = (url, init = {}) => this.onFetch(url, init);
  }

  get openSockets() {
    return this.sockets.filter((s) => s.readyState === 1);
  }

  newSession() {
    this.count += 1;
    const state = {
      id: `s_${this.count}`,
      token: `t_${this.count}`,
      answers: {},
      revision: 0,
      selection: null,
      keys: new Map(),
      latest: null,
    };
    this.sessions.set(state.id, state);
    return state;
  }

  byToken(token) {
    return [...this.sessions.values()].find((s) => s.token === token) ?? null;
  }

  sessionPayload(state, resumed) {
    return { sessionId: state.id, token: state.token, resumed, version: this.version, revision: state.revision };
  }

  questionnaire() {
    return { version: this.version, questions: this.questions, ...this.schema };
  }

  evaluate(state, stage = "rules") {
    const plans = [{ id: "p1", name: "Plan 1", rank: 1, score: 0, attributes: {}, reasons: [] }];
    if (stage === "enriched") plans[0].estimate = { value: 9, explanation: "9 a month" };
    return {
      revision: state.revision,
      version: this.version,
      stage,
      answers: { ...state.answers },
      questions: this.questions.map((q) => ({ id: q.id, visible: true, answered: q.id in state.answers })),
      plans,
      excluded: [],
      totalPlans: 1,
      matchedPlans: 1,
    };
  }

  /** Make `update` the session's newest and send it to its sockets and waiting long polls. */
  publishUpdate(state, update, origin = null, replyTo = undefined) {
    if (state.latest && !newer(key(update), key(state.latest))) return false;
    state.latest = update;
    for (const s of this.openSockets.filter((x) => x.session === state.id)) {
      s.push("recommendationUpdates", s === origin && replyTo !== undefined ? { ...update, replyTo } : update);
    }
    for (const poll of [...this.polls]) {
      if (poll.state === state && newer(key(update), poll.cursor)) poll.finish(200, update);
    }
    return true;
  }

  current(state) {
    const update = this.evaluate(state);
    if (!state.latest || newer(key(update), key(state.latest))) state.latest = update;
    return state.latest;
  }

  enrich(state) {
    this.publishUpdate(state, this.evaluate(state, "enriched"));
  }

  /** A push from another service (POST /api/enrichments): the next enriched step of the newest update. */
  push(state, fields) {
    const latest = state.latest;
    const step = latest.stage === "enriched" ? (latest.step ?? 0) + 1 : 0;
    const plans = latest.plans.map((p) => ({ ...p, ...fields }));
    const update = { ...latest, stage: "enriched", plans };
    if (step) update.step = step;
    this.publishUpdate(state, update);
  }

  publish() {
    this.version += 1;
    for (const state of this.sessions.values()) {
      const live = this.openSockets.some((s) => s.session === state.id) || this.polls.some((p) => p.state === state);
      if (!live) continue;
      for (const s of this.openSockets.filter((x) => x.session === state.id)) {
        s.push("questionnaire", this.questionnaire());
      }
      this.publishUpdate(state, this.evaluate(state));
    }
  }

  /**
   * A `planExplanation` (PROTOCOL.md v1.1) from a tiny made-up catalogue: p1 shown, p2 excluded
   * once usage is "light" (cut before), old inactive; null for any other plan (unknown_plan).
   */
  explain(state, planId) {
    const base = { planId, revision: state.revision, version: this.version };
    if (planId === "p1") return { ...base, status: "shown", rank: 1, score: 0, reasons: [] };
    if (planId === "old") return { ...base, status: "inactive", reasons: [] };
    if (planId !== "p2") return null;
    if (state.answers.usage === "light") {
      return { ...base, status: "excluded", reasons: [{ rule: "heavy", text: "Needs 20 GB" }] };
    }
    return { ...base, status: "cut", score: -1, reasons: [{ rule: "cheap", text: "Cheaper first" }] };
  }

  apply(state, answers) {
    for (const [k, v] of Object.entries(answers)) {
      if (v === null) delete state.answers[k];
      else state.answers[k] = v;
    }
    state.revision += 1;
  }

  select(state, data) {
    if (data.idempotencyKey && state.keys.has(data.idempotencyKey)) return [state.keys.get(data.idempotencyKey), true];
    const saved = { selectionId: `sel_${state.keys.size + 1}`, planId: data.planId, revision: state.revision, version: this.version };
    state.selection = { ...saved, createdAt: "2024-01-01T00:00:00Z" };
    if (data.idempotencyKey) state.keys.set(data.idempotencyKey, saved);
    return [saved, false];
  }

  onFrame(socket, message) {
    this.received.push({ via: "ws", ...message });
    const { event, data = {}, id } = message;
    const withReply = (payload) => (id !== undefined ? { ...payload, replyTo: id } : payload);
    if (event === "hello") {
      let state = data.token ? this.byToken(data.token) : null;
      let resumed = true;
      if (data.token && !state) socket.push("error", withReply({ code: "invalid_token", message: "bad token" }));
      if (!state) {
        state = this.newSession();
        resumed = false;
      }
      socket.session = state.id;
      socket.push("session", withReply(this.sessionPayload(state, resumed)));
      socket.push("questionnaire", this.questionnaire());
      socket.push("recommendationUpdates", this.current(state));
      return;
    }
    const state = this.sessions.get(socket.session);
    if (event === "ping") {
      socket.push("pong", withReply({}));
    } else if (event === "userResponse" || event === "reset") {
      this.apply(state, event === "reset" ? Object.fromEntries(Object.keys(state.answers).map((k) => [k, null])) : data.answers);
      if (this.dropBeforeReply) {
        this.dropBeforeReply = false;
        socket.serverClose(1006);
        return;
      }
      this.publishUpdate(state, this.evaluate(state), socket, id);
    } else if (event === "selectPlan") {
      const [saved] = this.select(state, data);
      if (this.dropBeforeReply) {
        this.dropBeforeReply = false;
        socket.serverClose(1006);
        return;
      }
      socket.push("selectionSaved", withReply(saved));
    } else if (event === "explainPlan") {
      if (this.dropBeforeReply) {
        this.dropBeforeReply = false;
        socket.serverClose(1006);
        return;
      }
      const explained = this.explain(state, data.planId);
      if (explained) socket.push("planExplanation", withReply(explained));
      else socket.push("error", withReply({ code: "unknown_plan", message: `There is no plan '${data.planId}'` }));
    }
  }

  async onFetch(url, init) {
    await Promise.resolve();
    if (!this.httpUp) throw new TypeError("Failed to fetch");
    const u = new URL(url);
    const method = init.method ?? "GET";
    const body = init.body ? JSON.parse(init.body) : undefined;
    this.received.push({ via: "http", method, path: u.pathname, search: u.search, body });
    const auth = init.headers?.Authorization ?? "";
    const reply = (status, data) => ({
      status,
      ok: status >= 200 && status < 300,
      text: async () => (data === undefined ? "" : JSON.stringify(data)),
    });
    const err = (status, code) => reply(status, { error: { code, message: code } });
    if (method === "POST" && u.pathname === "/api/sessions") return reply(201, this.sessionPayload(this.newSession(), false));
    if (method === "GET" && u.pathname === "/api/questionnaire") return reply(200, this.questionnaire());
    const m = u.pathname.match(/^\/api\/sessions\/([^/]+)(\/.*)?$/);
    if (!m) return err(404, "not_found");
    const state = this.sessions.get(decodeURIComponent(m[1]));
    if (!auth.startsWith("Bearer ")) return err(401, "unauthorized");
    const tokenState = this.byToken(auth.slice(7));
    if (!tokenState) return err(401, "invalid_token");
    if (!state) return err(404, "not_found");
    if (tokenState !== state) return err(403, "forbidden");
    const rest = m[2] ?? "";
    if (method === "GET" && rest === "") {
      return reply(200, {
        session: this.sessionPayload(state, true),
        answers: { ...state.answers },
        revision: state.revision,
        selection: state.selection,
        update: this.current(state),
      });
    }
    if (rest === "/responses" && (method === "POST" || method === "DELETE")) {
      this.apply(state, method === "DELETE" ? Object.fromEntries(Object.keys(state.answers).map((k) => [k, null])) : body.answers);
      const update = this.evaluate(state);
      this.publishUpdate(state, update);
      return reply(200, update);
    }
    if (method === "POST" && rest === "/selection") {
      const [saved, repeated] = this.select(state, body);
      return reply(repeated ? 200 : 201, saved);
    }
    const plan = rest.match(/^\/plans\/([^/]+)$/);
    if (method === "GET" && plan) {
      const explained = this.explain(state, decodeURIComponent(plan[1]));
      return explained ? reply(200, explained) : err(422, "unknown_plan");
    }
    if (method === "GET" && rest === "/updates") {
      const q = u.searchParams;
      const cursor = [
        Number(q.get("after") ?? -1),
        Number(q.get("version") ?? 0),
        STAGE[q.get("stage") ?? "rules"],
        Number(q.get("step") ?? 0),
      ];
      const latest = this.current(state);
      if (newer(key(latest), cursor)) return reply(200, latest);
      return new Promise((resolve, reject) => {
        const poll = {
          state,
          cursor,
          finish: (status, data) => {
            this.polls = this.polls.filter((p) => p !== poll);
            this.clock.clearTimeout(poll.timer);
            resolve(reply(status, data));
          },
        };
        poll.timer = this.clock.setTimeout(() => poll.finish(204), Number(q.get("wait") ?? 25) * 1000);
        init.signal?.addEventListener("abort", () => {
          this.polls = this.polls.filter((p) => p !== poll);
          this.clock.clearTimeout(poll.timer);
          reject(new DOMException("aborted", "AbortError"));
        });
        this.polls.push(poll);
      });
    }
    return err(404, "not_found");
  }

  /** The client messages of one kind ("userResponse", "selectPlan", ...) over both channels. */
  sent(kind) {
    const http = {
      userResponse: (r) => r.method === "POST" && r.path.endsWith("/responses"),
      reset: (r) => r.method === "DELETE" && r.path.endsWith("/responses"),
      selectPlan: (r) => r.method === "POST" && r.path.endsWith("/selection"),
      explainPlan: (r) => r.method === "GET" && r.path.includes("/plans/"),
    }[kind];
    return this.received.filter((r) => (r.via === "ws" ? r.event === kind : http ? http(r) : false));
  }
}
