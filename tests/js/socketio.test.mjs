// The real socket.io-client (npm, pinned in package.json) against a real `planwise serve`.
// Run by tests/js/test_socketio_node.py, which starts the server and sets PLANWISE_SIO_URL; under
// a plain `node --test tests/js/` (the client's unit tests) there is no server and these skip.
import assert from "node:assert/strict";
import { test } from "node:test";

import { io } from "socket.io-client";

const URL = process.env.PLANWISE_SIO_URL;
const skip = URL ? false : "needs a server (tests/js/test_socketio_node.py starts one)";
const WAIT = 10_000;

/** The next `event` on `socket` whose arguments pass `accept`, as the argument list. */
function next(socket, event, accept = () => true, timeout = WAIT) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no '${event}' within ${timeout} ms`));
    }, timeout);
    function handler(...args) {
      if (!accept(...args)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(args);
    }
    socket.on(event, handler);
  });
}

/** Connect and collect every event in order; resolves once the opening sequence is in. */
async function open(options = {}) {
  const socket = io(URL, { reconnection: false, forceNew: true, ...options });
  const events = [];
  socket.onAny((event, ...args) => events.push([event, ...args]));
  const first = next(socket, "recommendationUpdates");
  await first;
  return { socket, events };
}

function emit(socket, event, ...args) {
  return socket.timeout(WAIT).emitWithAck(event, ...args);
}

for (const transports of [["websocket"], ["polling"]]) {
  test(`the original design's calls, unchanged, over ${transports[0]}`, { skip }, async () => {
    // The original front end: io(url, {query: {userId}}), a handler taking the plans list, and
    // emit("userResponse", answers).
    const socket = io(URL, { query: { userId: "u-42" }, transports, forceNew: true, reconnection: false });
    const seen = [];
    let plans = null;
    socket.on("recommendationUpdates", (updatedPlans) => {
      plans = updatedPlans;
      seen.push(updatedPlans);
    });
    const order = [];
    socket.onAny((event) => order.push(event));
    try {
      await next(socket, "recommendationUpdates");
      assert.equal(socket.io.engine.transport.name, transports[0]);
      assert.deepEqual(order.slice(0, 3), ["session", "questionnaire", "recommendationUpdates"]);
      assert.ok(Array.isArray(plans) && plans.length > 0, "the first argument is the plans list");
      const before = plans.map((p) => p.id);
      const userResponse = { budget: 10, dataUsage: "heavy" };
      const changed = next(socket, "recommendationUpdates", (_, update) => update.revision === 1);
      socket.emit("userResponse", userResponse); // no acknowledgement, as in the original design
      const [after, update] = await changed;
      assert.equal(update.stage, "rules");
      assert.deepEqual(update.answers, userResponse);
      assert.deepEqual(after, update.plans, "plans first, then the whole update");
      assert.notDeepEqual(after.map((p) => p.id), before, "the plans changed with the answers");
      for (const plan of after) assert.ok(plan.attributes.monthlyPrice <= 10 || plan.id === "nodata");
    } finally {
      socket.close();
    }
  });
}

test("acknowledgements carry each operation's reply", { skip }, async () => {
  const { socket, events } = await open();
  try {
    const update = await emit(socket, "userResponse", { answers: { budget: 30 } });
    assert.equal(update.revision, 1);
    assert.equal(update.stage, "rules");
    assert.deepEqual(update.answers, { budget: 30 });
    const one = await emit(socket, "userResponse", { questionId: "dataUsage", value: "light" });
    assert.deepEqual(one.answers, { budget: 30, dataUsage: "light" });
    const cleared = await emit(socket, "userResponse", { budget: null });
    assert.deepEqual(cleared.answers, { dataUsage: "light" });
    const reset = await emit(socket, "reset");
    assert.equal(reset.revision, 4);
    assert.deepEqual(reset.answers, {});
    const planId = reset.plans[0].id;
    const saved = await emit(socket, "selectPlan", { planId, idempotencyKey: "k-1" });
    assert.equal(saved.planId, planId);
    assert.equal(saved.revision, 4);
    const again = await emit(socket, "selectPlan", { planId, idempotencyKey: "k-1" });
    assert.equal(again.selectionId, saved.selectionId, "an idempotency key repeats the selection");
    assert.ok(events.some(([event, data]) => event === "selectionSaved" && data.selectionId === saved.selectionId));
    const why = await emit(socket, "explainPlan", { planId });
    assert.equal(why.planId, planId);
    assert.equal(why.status, "shown");
    assert.equal(why.revision, 4);
    // The update events arrived before each acknowledgement, in revision order.
    const revisions = events.filter(([e]) => e === "recommendationUpdates").map(([, , u]) => u.revision);
    assert.deepEqual(revisions, [...revisions].sort((a, b) => a - b));
    assert.ok(revisions.includes(4));
  } finally {
    socket.close();
  }
});

test("errors: in the acknowledgement and as an error event, nothing applied", { skip }, async () => {
  const { socket, events } = await open();
  try {
    const bad = await emit(socket, "userResponse", { budget: "a lot", dataUsage: "heavy" });
    assert.equal(bad.error.code, "invalid_answer");
    assert.equal(bad.error.details[0].questionId, "budget");
    const [error] = await next(socket, "error", (e) => e.code === "invalid_answer").catch(() => [
      events.find(([e, d]) => e === "error" && d.code === "invalid_answer")?.[1],
    ]);
    assert.equal(error.code, "invalid_answer");
    assert.equal(error.replyTo, undefined);
    const good = await emit(socket, "userResponse", { dataUsage: "heavy" });
    assert.equal(good.revision, 1, "the invalid message changed nothing");
    assert.deepEqual(good.answers, { dataUsage: "heavy" });
    assert.equal((await emit(socket, "userResponse", "not an object")).error.code, "invalid_message");
    assert.equal((await emit(socket, "selectPlan", { planId: "no-such-plan" })).error.code, "unknown_plan");
    assert.equal((await emit(socket, "selectPlan", {})).error.code, "invalid_message");
    assert.equal((await emit(socket, "noSuchEvent", {})).error.code, "unknown_event");
    const many = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`q${i}`, 1]));
    assert.equal((await emit(socket, "userResponse", many)).error.code, "too_large");
    assert.ok(socket.connected, "errors never close the connection");
  } finally {
    socket.close();
  }
});

test("resume with auth.token: same session, answers and revision", { skip }, async () => {
  const first = await open();
  const [[, session]] = first.events.filter(([e]) => e === "session");
  assert.equal(session.resumed, false);
  await emit(first.socket, "userResponse", { budget: 25 });
  first.socket.close();
  const again = await open({ auth: { token: session.token } });
  try {
    const [[, resumed]] = again.events.filter(([e]) => e === "session");
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.sessionId, session.sessionId);
    assert.equal(resumed.revision, 1);
    const [[, , update]] = again.events.filter(([e]) => e === "recommendationUpdates");
    assert.deepEqual(update.answers, { budget: 25 });
    // The token may come as a query parameter too.
    const byQuery = await open({ query: { token: session.token }, transports: ["polling"] });
    assert.equal(byQuery.events.find(([e]) => e === "session")[1].sessionId, session.sessionId);
    byQuery.socket.close();
  } finally {
    again.socket.close();
  }
});

test("two connections of one session are one room: both see every update", { skip }, async () => {
  const a = await open();
  const token = a.events.find(([e]) => e === "session")[1].token;
  const b = await open({ auth: { token }, transports: ["polling"] });
  try {
    const seenByB = next(b.socket, "recommendationUpdates", (_, u) => u.revision === 1);
    await emit(a.socket, "userResponse", { budget: 12 });
    const [, update] = await seenByB;
    assert.deepEqual(update.answers, { budget: 12 });
  } finally {
    a.socket.close();
    b.socket.close();
  }
});

test("a bad session token starts a new session with an invalid_token error", { skip }, async () => {
  const { socket, events } = await open({ auth: { token: "forged" } });
  try {
    assert.equal(events[0][0], "error");
    assert.equal(events[0][1].code, "invalid_token");
    const session = events.find(([e]) => e === "session")[1];
    assert.equal(session.resumed, false);
    assert.equal(session.revision, 0);
  } finally {
    socket.close();
  }
});

test("a host JWT that fails verification refuses the connection", { skip }, async () => {
  const socket = io(URL, { auth: { authToken: "not-a-jwt" }, forceNew: true, reconnection: false });
  try {
    const [error] = await next(socket, "connect_error");
    assert.equal(error.data.code, "unauthorized");
    assert.equal(socket.connected, false);
  } finally {
    socket.close();
  }
});

test("a flood is answered rate_limited, then disconnected by the server", { skip }, async () => {
  const { socket } = await open();
  try {
    const disconnected = next(socket, "disconnect", () => true, 20_000);
    const replies = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        socket.timeout(20_000).emitWithAck("userResponse", { budget: i % 500 }).catch((e) => ({ lost: e.message })),
      ),
    );
    const limited = replies.filter((r) => r.error?.code === "rate_limited");
    assert.ok(limited.length > 0, "some messages were refused");
    // The first ones were applied, and each got its ack before the server closed the socket.
    const firstRefused = replies.findIndex((r) => r.revision === undefined);
    assert.ok(firstRefused > 0, "the first ones were applied");
    assert.deepEqual(
      replies.slice(0, firstRefused).map((r) => r.revision),
      Array.from({ length: firstRefused }, (_, i) => i + 1), // in order, each one once
    );
    assert.ok(
      replies.slice(firstRefused).every((r) => r.revision === undefined),
      "nothing applied after the flood was refused",
    );
    const [reason] = await disconnected;
    assert.equal(reason, "io server disconnect", "closed by the server (no automatic reconnection)");
  } finally {
    socket.close();
  }
});

test("an Origin that is not allowed cannot connect", { skip }, async () => {
  const socket = io(URL, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    extraHeaders: { Origin: "https://evil.example" },
  });
  try {
    await next(socket, "connect_error");
    assert.equal(socket.connected, false);
  } finally {
    socket.close();
  }
});
