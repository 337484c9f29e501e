// The client against an in-memory server: connection, ordering, reconnection, resend rules,
// the HTTP fallback and the way back to the WebSocket. Time is virtual (FakeClock).
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";

import { createPlanwiseClient } from "../../static/planwise-client.js";
import { FakeClock, FakePlanwise, memoryStorage, settle } from "./helpers.mjs";

const clients = [];

function setup({ storage = memoryStorage(), random = () => 0.5, ...options } = {}) {
  const clock = new FakeClock();
  const server = new FakePlanwise(clock);
  const client = createPlanwiseClient({
    url: "http://planwise.test",
    WebSocketImpl: server.WebSocket,
    fetchImpl: server.fetch,
    storage,
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout },
    now: clock.now,
    random,
    eventTarget: null,
    randomId: (() => {
      let n = 0;
      return () => `key-${++n}`;
    })(),
    ...options,
  });
  clients.push(client);
  const events = { update: [], questionnaire: [], session: [], error: [], status: [], selection: [] };
  for (const name of Object.keys(events)) client.on(name, (payload) => events[name].push(payload));
  return { clock, server, client, events, storage };
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe("over the WebSocket", () => {
  it("opens with hello, emits session, questionnaire and the first update, and keeps the token", async () => {
    const { server, client, events, storage } = setup();
    await settle();
    assert.equal(server.sockets[0].url, "ws://planwise.test/ws");
    assert.deepEqual(server.received[0], { via: "ws", event: "hello", data: {}, id: server.received[0].id });
    assert.equal(events.session[0].sessionId, "s_1");
    assert.equal(events.questionnaire.length, 1);
    assert.equal(events.update.length, 1);
    assert.equal(events.update[0].replyTo, undefined);
    assert.deepEqual(events.status, ["live"]);
    assert.deepEqual(events.selection, [null], "a new session has no selection");
    assert.equal(client.status, "live");
    assert.deepEqual(JSON.parse(storage.getItem("planwise.session")), { token: "t_1", sessionId: "s_1" });
  });

  it("resumes with the stored token and fetches the saved selection over HTTP", async () => {
    const storage = memoryStorage();
    const first = setup({ storage });
    await settle();
    await first.client.answer("usage", "light");
    await first.client.select("p1");
    first.client.close();

    const clock = first.clock;
    const server = first.server;
    const client = createPlanwiseClient({
      url: "http://planwise.test",
      WebSocketImpl: server.WebSocket,
      fetchImpl: server.fetch,
      storage,
      timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout },
      now: clock.now,
      eventTarget: null,
    });
    clients.push(client);
    const selections = [];
    client.on("selection", (s) => selections.push(s));
    await settle();
    const hello = server.received.filter((r) => r.event === "hello").at(-1);
    assert.equal(hello.data.token, "t_1");
    assert.equal(client.session.resumed, true);
    assert.deepEqual(client.update.answers, { usage: "light" });
    assert.equal(selections.at(-1).planId, "p1");
    assert.equal(selections.at(-1).createdAt, "2024-01-01T00:00:00Z");
  });

  it("resolves answer(), answers() and reset() with their replies", async () => {
    const { server, client, events } = setup();
    await settle();
    const update = await client.answer("usage", "light");
    assert.equal(update.revision, 1);
    assert.deepEqual(update.answers, { usage: "light" });
    const second = await client.answers({ budget: 20, usage: null });
    assert.deepEqual(second.answers, { budget: 20 });
    const third = await client.reset();
    assert.deepEqual(third.answers, {});
    assert.deepEqual(
      server.received.slice(1).map((r) => r.event),
      ["userResponse", "userResponse", "reset"],
    );
    assert.deepEqual(server.received[1].data, { answers: { usage: "light" } });
    assert.deepEqual(
      events.update.map((u) => u.revision),
      [0, 1, 2, 3],
    );
  });

  it("never emits an update older than one already emitted", async () => {
    const { server, client, events } = setup();
    await settle();
    const socket = server.sockets[0];
    const state = server.sessions.get("s_1");
    await client.answer("usage", "light");
    server.enrich(state); // (1, 1, enriched)
    const stale = [
      { ...server.evaluate(state), revision: 0 },
      { ...server.evaluate(state), revision: 1, stage: "rules" },
      { ...server.evaluate(state, "enriched"), revision: 0, version: 9 },
    ];
    for (const update of stale) socket.push("recommendationUpdates", update);
    socket.push("recommendationUpdates", { ...server.evaluate(state), version: 2 });
    await settle();
    assert.deepEqual(
      events.update.map((u) => [u.revision, u.version, u.stage]),
      [
        [0, 1, "rules"],
        [1, 1, "rules"],
        [1, 1, "enriched"],
        [1, 2, "rules"],
      ],
    );
  });

  it("emits a push from another service that comes after the enriched update of its revision", async () => {
    const { server, client, events } = setup();
    await settle();
    const state = server.sessions.get("s_1");
    await client.answer("usage", "light");
    server.enrich(state); // (1, 1, enriched)
    server.push(state, { installPrice: 0 }); // (1, 1, enriched, step 1)
    await settle();
    assert.deepEqual(
      events.update.map((u) => [u.revision, u.stage, u.step ?? 0]),
      [
        [0, "rules", 0],
        [1, "rules", 0],
        [1, "enriched", 0],
        [1, "enriched", 1],
      ],
    );
    assert.equal(client.update.plans[0].installPrice, 0);
    assert.equal(client.update.plans[0].estimate.value, 9, "the enrichment's fields are kept");
  });

  it("rejects a refused answer with the server's error and emits it", async () => {
    const { server, client, events } = setup();
    await settle();
    const socket = server.sockets[0];
    const original = server.onFrame.bind(server);
    server.onFrame = (s, message) => {
      if (message.event !== "userResponse") return original(s, message);
      server.received.push({ via: "ws", ...message });
      s.push("error", {
        code: "invalid_answer",
        message: "Answer for 'budget' must be a number",
        replyTo: message.id,
        details: [{ questionId: "budget", message: "must be a number" }],
      });
    };
    await assert.rejects(client.answer("budget", "12"), (err) => {
      assert.equal(err.code, "invalid_answer");
      assert.equal(err.details[0].questionId, "budget");
      return true;
    });
    assert.equal(events.error.at(-1).code, "invalid_answer");
    assert.equal(socket.readyState, 1, "an error does not close anything");
  });

  it("reconnects with exponential backoff and jitter, then resumes the same session", async () => {
    const { clock, server, client, events } = setup({ random: () => 0 });
    await settle();
    await client.answer("usage", "light");
    server.wsMode = "refuse";
    server.httpUp = false;
    server.sockets[0].serverClose(1012);
    await settle();
    assert.equal(client.status, "reconnecting");
    // First retry after 250 ms: attempt 0 (500 ms step) at the jitter floor (random() = 0).
    assert.deepEqual(clock.pending().slice(0, 1), [250]);
    await clock.advance(249);
    assert.equal(server.sockets.length, 1);
    await clock.advance(1);
    assert.equal(server.sockets.length, 2, "retried after the backoff");
    server.wsMode = "accept";
    server.httpUp = true;
    await clock.advance(500); // attempt 1: 500 ms with random() = 0
    assert.equal(client.status, "live");
    const hellos = server.received.filter((r) => r.event === "hello");
    assert.equal(hellos.at(-1).data.token, "t_1");
    assert.equal(events.session.at(-1).resumed, true);
    assert.ok(events.status.includes("reconnecting"));
    assert.equal(events.update.length, 2, "the resumed update equals the last one: not emitted again");
  });

  it("does not resend an answer the server applied before the socket died", async () => {
    const { clock, server, client } = setup();
    await settle();
    server.dropBeforeReply = true;
    const pending = client.answer("usage", "light");
    await settle();
    assert.equal(client.status, "reconnecting");
    await clock.advance(1000);
    const update = await pending;
    assert.deepEqual(update.answers, { usage: "light" });
    assert.equal(server.sent("userResponse").length, 1, "sent once: the resumed update already had it");
    assert.equal(server.sessions.get("s_1").revision, 1);
  });

  it("sends an answer that never arrived exactly once after reconnecting", async () => {
    const { clock, server, client } = setup();
    await settle();
    server.wsMode = "refuse";
    server.httpUp = false;
    server.sockets[0].serverClose(1006);
    await settle();
    const a = client.answer("budget", 30);
    const b = client.answer("budget", 40);
    const c = client.answer("usage", "light");
    server.wsMode = "accept";
    server.httpUp = true;
    await clock.advance(1000);
    await Promise.all([a, b, c]);
    const sent = server.sent("userResponse");
    assert.equal(sent.length, 1, "the three answers went as one difference");
    assert.deepEqual(sent[0].data.answers, { budget: 40, usage: "light" });
  });

  it("reuses the selection's idempotency key when resending it", async () => {
    const { clock, server, client, events } = setup();
    await settle();
    server.dropBeforeReply = true;
    const pending = client.select("p1");
    await settle();
    await clock.advance(1000);
    const saved = await pending;
    const sent = server.sent("selectPlan");
    assert.equal(sent.length, 2);
    assert.equal(sent[0].data.idempotencyKey, sent[1].data.idempotencyKey);
    assert.equal(server.sessions.get("s_1").keys.size, 1, "saved once");
    assert.equal(saved.planId, "p1");
    assert.equal(events.selection.at(-1).planId, "p1");
    const again = await client.select("p1");
    assert.notEqual(server.sent("selectPlan")[2].data.idempotencyKey, sent[0].data.idempotencyKey);
    assert.equal(again.selectionId, "sel_2", "a new attempt is a new selection");
  });

  it("starts a new session after invalid_token and forgets the old ordering", async () => {
    const storage = memoryStorage({ "planwise.session": JSON.stringify({ token: "stale", sessionId: "s_99" }) });
    const { client, events } = setup({ storage });
    await settle();
    assert.equal(events.error[0].code, "invalid_token");
    assert.equal(client.sessionId, "s_1");
    assert.deepEqual(JSON.parse(storage.getItem("planwise.session")), { token: "t_1", sessionId: "s_1" });
    assert.equal(events.update[0].revision, 0);
  });

  it("pings when idle and reconnects when no pong arrives", async () => {
    const { clock, server, client } = setup({ pingIntervalMs: 1000, pongTimeoutMs: 500 });
    await settle();
    await clock.advance(1000);
    assert.equal(server.received.at(-1).event, "ping");
    assert.equal(client.status, "live", "the pong came back");
    const socket = server.sockets[0];
    socket.send = () => {}; // a dead link: nothing comes back
    await clock.advance(1500);
    assert.equal(socket.closedWith, 4000);
    assert.notEqual(server.sockets.length, 1, "a new socket was opened");
  });
});

describe("the questionnaire's schema", () => {
  it("exposes attributes, display and estimate, and emits a questionnaire when only the schema changes", async () => {
    const { server, client, events } = setup();
    await settle();
    assert.deepEqual(client.attributes, server.schema.attributes);
    assert.deepEqual(client.display, { headline: ["speed"] });
    assert.equal(client.estimate.label, "Estimated cost");
    assert.deepEqual(events.questionnaire[0].attributes, server.schema.attributes);

    server.publish(); // same questions and schema, new version: nothing to redraw
    await settle();
    assert.equal(events.questionnaire.length, 1);
    assert.equal(client.questionnaire.version, 2, "the newest questionnaire is kept all the same");

    server.schema = { ...server.schema, estimate: { label: "Yearly saving", unit: "kWh", decimals: 0 } };
    server.publish();
    await settle();
    assert.equal(events.questionnaire.length, 2, "a new estimate is a new questionnaire");
    assert.equal(client.estimate.label, "Yearly saving");

    server.schema = { attributes: server.schema.attributes };
    server.publish();
    await settle();
    assert.equal(events.questionnaire.length, 3);
    assert.equal(client.estimate, null, "a catalogue without an estimate");
    assert.equal(client.display, null);
  });

  it("has an empty schema before any questionnaire", () => {
    const { client } = setup({ autoConnect: false });
    assert.deepEqual(client.attributes, []);
    assert.equal(client.display, null);
    assert.equal(client.estimate, null);
  });

  it("passes the enriched estimate through untouched", async () => {
    const { server, client, events } = setup();
    await settle();
    server.enrich(server.sessions.get("s_1"));
    await settle();
    assert.deepEqual(events.update.at(-1).plans[0].estimate, { value: 9, explanation: "9 a month" });
    assert.equal(client.update.stage, "enriched");
  });
});

describe("HTTP fallback", () => {
  it("falls back when the WebSocket cannot open, with the same events", async () => {
    const { clock, server, client, events } = setup();
    server.wsMode = "refuse";
    await settle();
    await clock.advance(1000);
    assert.equal(client.status, "fallback");
    assert.equal(client.mode, "http");
    assert.equal(events.session[0].sessionId, "s_1");
    assert.equal(events.questionnaire.length, 1);
    assert.equal(events.update[0].revision, 0);
    assert.deepEqual(events.selection, [null]);

    const update = await client.answer("usage", "light");
    assert.equal(update.revision, 1);
    const posts = server.received.filter((r) => r.via === "http" && r.method === "POST");
    assert.deepEqual(posts.at(-1).body, { answers: { usage: "light" } });

    // Enrichment and a publish arrive by long poll, in order, without duplicates.
    server.enrich(server.sessions.get("s_1"));
    await settle();
    server.questions = [...server.questions, { id: "extra", text: "New?", type: "boolean" }];
    server.publish();
    await settle();
    assert.deepEqual(
      events.update.map((u) => [u.revision, u.version, u.stage]),
      [
        [0, 1, "rules"],
        [1, 1, "rules"],
        [1, 1, "enriched"],
        [1, 2, "rules"],
      ],
    );
    assert.equal(events.questionnaire.length, 2, "the new questions were fetched");
    assert.equal(events.questionnaire[1].version, 2);
    const polls = server.received.filter((r) => r.path?.endsWith("/updates"));
    assert.match(polls.at(-1).search, /after=1&version=2&stage=rules&wait=25/);
    // A push from another service after the enriched update of the new version's revision.
    server.enrich(server.sessions.get("s_1"));
    await settle();
    assert.match(server.received.filter((r) => r.path?.endsWith("/updates")).at(-1).search, /stage=enriched&step=0/);
    server.push(server.sessions.get("s_1"), { installPrice: 0 });
    await settle();
    assert.deepEqual(
      events.update.slice(-2).map((u) => [u.revision, u.version, u.stage, u.step ?? 0]),
      [
        [1, 2, "enriched", 0],
        [1, 2, "enriched", 1],
      ],
    );
    assert.equal(client.update.plans[0].installPrice, 0);

    const saved = await client.select("p1");
    assert.equal(saved.planId, "p1");
    const selection = server.received.filter((r) => r.path?.endsWith("/selection"));
    assert.equal(selection[0].body.idempotencyKey, "key-1");
  });

  it("falls back when connections keep dying right after opening", async () => {
    const { clock, server, client } = setup();
    server.wsMode = "drop";
    await settle();
    await clock.advance(1200); // retries after 375 and 750 ms (backoff with random() = 0.5)
    assert.equal(client.status, "fallback");
    assert.equal(server.sockets.length, 3, "three short-lived connections, then HTTP");
    await clock.advance(5000);
    assert.equal(client.status, "fallback", "background probes keep failing: stays in fallback");
    assert.ok(server.sockets.length > 3, "but it keeps trying");
  });

  it("uses the Bearer token and resumes the stored session over HTTP", async () => {
    const storage = memoryStorage();
    const { clock, server, client } = setup({ storage, transport: "http" });
    await settle();
    await client.answer("usage", "light");
    const gets = server.received.filter((r) => r.via === "http");
    assert.equal(gets[0].path, "/api/sessions");
    client.close();

    const again = setup({ storage, transport: "http" });
    again.server.sessions = server.sessions; // the same database
    again.server.count = server.count;
    await settle();
    await clock.advance(0);
    assert.equal(again.client.sessionId, "s_1");
    assert.deepEqual(again.client.update.answers, { usage: "light" });
    assert.equal(again.server.sockets.length, 0, "transport http never opens a WebSocket");
  });

  it("returns to the WebSocket in the background once it works again", async () => {
    const { clock, server, client, events } = setup();
    server.wsMode = "refuse";
    await settle();
    await clock.advance(1000);
    assert.equal(client.status, "fallback");
    const before = server.sockets.length;
    server.wsMode = "accept";
    await clock.advance(2000); // first probe within the probe backoff (1-2 s)
    assert.ok(server.sockets.length > before);
    assert.equal(client.status, "live");
    assert.equal(client.mode, "ws");
    assert.equal(server.polls.length, 0, "the long poll was stopped");
    await client.answer("usage", "light");
    assert.equal(server.sent("userResponse").at(-1).via, "ws");
    assert.deepEqual(events.status, ["fallback", "live"]);
  });

  it("goes offline while the server is unreachable and recovers", async () => {
    const { clock, server, client, events } = setup();
    await settle();
    await client.answer("usage", "light");
    server.wsMode = "refuse";
    server.httpUp = false;
    server.sockets[0].serverClose(1006);
    await clock.advance(3000);
    assert.equal(client.status, "offline");
    const queued = client.answer("budget", 50);
    server.httpUp = true;
    await clock.advance(20000);
    assert.ok(["fallback", "live"].includes(client.status));
    server.wsMode = "accept";
    await clock.advance(60000);
    assert.equal(client.status, "live");
    await queued;
    assert.deepEqual(server.sessions.get("s_1").answers, { usage: "light", budget: 50 });
    assert.equal(server.sent("userResponse").length, 2, "each answer sent once");
    assert.deepEqual(events.status.slice(0, 2), ["live", "reconnecting"]);
    assert.ok(events.status.includes("offline"));
  });

  it("starts a new session when the stored one is gone, with the same error as over the WebSocket", async () => {
    const storage = memoryStorage({ "planwise.session": JSON.stringify({ token: "stale", sessionId: "s_99" }) });
    const { client, events } = setup({ storage, transport: "http" });
    await settle();
    assert.equal(events.error[0].code, "invalid_token");
    assert.equal(client.sessionId, "s_1");
    assert.equal(events.session[0].resumed, false);
    assert.deepEqual(JSON.parse(storage.getItem("planwise.session")), { token: "t_1", sessionId: "s_1" });
  });

  it("close() rejects what is pending and stops everything", async () => {
    const { clock, server, client, events } = setup();
    server.wsMode = "manual";
    await settle();
    const pending = client.answer("usage", "light");
    client.close();
    await assert.rejects(pending, (err) => err.code === "closed");
    assert.equal(client.status, "offline");
    assert.deepEqual(events.status, ["offline"]);
    assert.equal(clock.pending().length, 0, "no timer left behind");
  });
});
