// client.explainPlan(planId) (PROTOCOL.md v1.1 `planExplanation`) over both transports, against
// the in-memory server of helpers.mjs on a virtual clock.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";

import { createPlanwiseClient, PlanwiseError } from "../../static/planwise-client.js";
import { FakeClock, FakePlanwise, memoryStorage, settle } from "./helpers.mjs";

const clients = [];

function setup({ storage = memoryStorage(), ...options } = {}) {
  const clock = new FakeClock();
  const server = new FakePlanwise(clock);
  const client = createPlanwiseClient({
    url: "http://planwise.test",
    WebSocketImpl: server.WebSocket,
    fetchImpl: server.fetch,
    storage,
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout },
    now: clock.now,
    random: () => 0.5,
    eventTarget: null,
    ...options,
  });
  clients.push(client);
  const events = { update: [], error: [], session: [] };
  for (const name of Object.keys(events)) client.on(name, (payload) => events[name].push(payload));
  return { clock, server, client, events, storage };
}

/** A client in the HTTP fallback (the WebSocket never opens). */
async function inFallback(options = {}) {
  const ctx = setup(options);
  ctx.server.wsMode = "refuse";
  await settle();
  await ctx.clock.advance(1000);
  assert.equal(ctx.client.mode, "http");
  return ctx;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe("explainPlan over the WebSocket", () => {
  it("sends explainPlan with an id and resolves with the matching planExplanation", async () => {
    const { server, client, events } = setup();
    await settle();
    const explained = await client.explainPlan("p2");
    const sent = server.sent("explainPlan");
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0].data, { planId: "p2" });
    assert.match(sent[0].id, /^c-\d+$/);
    assert.deepEqual(explained, {
      planId: "p2",
      revision: 0,
      version: 1,
      status: "cut",
      score: -1,
      reasons: [{ rule: "cheap", text: "Cheaper first" }],
    });
    assert.equal(explained.replyTo, undefined, "the envelope's replyTo is not part of the payload");
    assert.deepEqual((await client.explainPlan("p1")).rank, 1);
    assert.equal((await client.explainPlan("old")).status, "inactive");
    assert.equal(events.update.length, 1, "an explanation is not an update");
  });

  it("is sent after the answers before it, so it reflects them", async () => {
    const { server, client } = setup();
    await settle();
    const answered = client.answer("usage", "light");
    const explained = await client.explainPlan("p2");
    await answered;
    assert.deepEqual(
      server.received.slice(1).map((r) => r.event),
      ["userResponse", "explainPlan"],
    );
    assert.equal(explained.status, "excluded");
    assert.equal(explained.revision, 1);
    assert.deepEqual(explained.reasons, [{ rule: "heavy", text: "Needs 20 GB" }]);
  });

  it("waits for its own reply, not for a reply to a later operation", async () => {
    const { server, client } = setup();
    await settle();
    const original = server.onFrame.bind(server);
    const held = [];
    server.onFrame = (socket, message) => {
      if (message.event === "explainPlan") {
        server.received.push({ via: "ws", ...message });
        held.push(() => original(socket, message)); // the reply comes after the answer's
        return undefined;
      }
      return original(socket, message);
    };
    let done = false;
    const explained = client.explainPlan("p1").then((value) => {
      done = true;
      return value;
    });
    await client.answer("usage", "light");
    await settle();
    assert.equal(done, false, "the answer's reply did not settle the explanation");
    server.received.pop(); // replayed below through the original handler
    held.shift()();
    assert.equal((await explained).status, "shown");
  });

  it("rejects with the server's unknown_plan error, emits it, and keeps the socket", async () => {
    const { server, client, events } = setup();
    await settle();
    await assert.rejects(client.explainPlan("nope"), (err) => {
      assert.ok(err instanceof PlanwiseError);
      assert.equal(err.code, "unknown_plan");
      assert.equal(err.replyTo, server.sent("explainPlan")[0].id);
      return true;
    });
    assert.equal(events.error.at(-1).code, "unknown_plan");
    assert.equal(server.sockets[0].readyState, 1);
    assert.equal(client.status, "live");
  });

  it("refuses what cannot be a plan id at once, without asking the server", async () => {
    const { server, client, events } = setup();
    await settle();
    await assert.rejects(client.explainPlan("a/b"), (err) => err instanceof PlanwiseError && err.code === "unknown_plan");
    await assert.rejects(client.explainPlan("x".repeat(65)), (err) => err.code === "unknown_plan");
    await assert.rejects(client.explainPlan(""), TypeError);
    await assert.rejects(client.explainPlan(42), TypeError);
    assert.equal(server.sent("explainPlan").length, 0);
    assert.equal(events.error.length, 0, "nothing came from the server");
  });

  it("sends it again after a reconnection when the reply was lost (it is read-only)", async () => {
    const { clock, server, client } = setup();
    await settle();
    server.dropBeforeReply = true;
    const pending = client.explainPlan("p1");
    await settle();
    assert.equal(client.status, "reconnecting");
    await clock.advance(1000);
    assert.equal((await pending).status, "shown");
    assert.equal(server.sent("explainPlan").length, 2);
    assert.equal(client.sessionId, "s_1", "the same session");
  });

  it("waits while offline and goes out once connected; close() rejects it", async () => {
    const { clock, server, client } = setup();
    server.wsMode = "manual";
    await settle();
    const first = client.explainPlan("p1");
    server.sockets[0].accept();
    await settle();
    assert.equal((await first).status, "shown");
    server.wsMode = "refuse";
    server.httpUp = false;
    server.sockets[0].serverClose(1006);
    await clock.advance(100);
    const second = client.explainPlan("p2");
    client.close();
    await assert.rejects(second, (err) => err.code === "closed");
  });
});

describe("explainPlan over the HTTP fallback", () => {
  it("GETs /api/sessions/{id}/plans/{planId} with the Bearer token", async () => {
    const { server, client, events } = await inFallback();
    const updates = events.update.length;
    const explained = await client.explainPlan("p2");
    const request = server.sent("explainPlan");
    assert.equal(request.length, 1);
    assert.equal(request[0].path, "/api/sessions/s_1/plans/p2");
    assert.equal(explained.status, "cut");
    assert.equal(explained.planId, "p2");
    assert.equal(events.update.length, updates, "an explanation is not an update");
  });

  it("is sent after the answers before it", async () => {
    const { server, client } = await inFallback({ transport: "http" });
    const answered = client.answer("usage", "light");
    const explained = client.explainPlan("p2");
    assert.equal((await explained).status, "excluded");
    await answered;
    const order = server.received.filter((r) => r.via === "http" && !r.path.endsWith("/updates"));
    assert.deepEqual(
      order.slice(-2).map((r) => `${r.method} ${r.path}`),
      ["POST /api/sessions/s_1/responses", "GET /api/sessions/s_1/plans/p2"],
    );
  });

  it("rejects unknown_plan with the HTTP status and keeps the session", async () => {
    const { server, client, events, storage } = await inFallback();
    await assert.rejects(client.explainPlan("nope"), (err) => {
      assert.ok(err instanceof PlanwiseError);
      assert.equal(err.code, "unknown_plan");
      assert.equal(err.status, 422);
      return true;
    });
    assert.equal(events.error.at(-1).code, "unknown_plan");
    assert.equal(client.status, "fallback");
    assert.equal(events.session.length, 1, "no new session");
    assert.equal(JSON.parse(storage.getItem("planwise.session")).sessionId, "s_1");
    assert.equal((await client.explainPlan("p1")).status, "shown", "the next one works");
    assert.equal(server.sessions.size, 1);
  });

  it("is sent again after a network failure", async () => {
    const { clock, server, client } = await inFallback({ transport: "http" });
    server.httpUp = false;
    const pending = client.explainPlan("p1");
    await clock.advance(100);
    server.httpUp = true;
    await clock.advance(5000);
    assert.equal((await pending).status, "shown");
  });
});
