// Pure logic of the client: update ordering, backoff with jitter, the fallback decision and the
// reconciliation that keeps anything from being sent twice.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  assessSocketEnd,
  backoffDelay,
  compareUpdates,
  DEFAULT_POLICY,
  readStoredSession,
  reconcileAnswers,
  sameAnswer,
  stageRank,
  UpdateOrdering,
  updateKey,
} from "../../static/planwise-client.js";
import { memoryStorage } from "./helpers.mjs";

const u = (revision, version, stage = "rules") => ({ revision, version, stage });

describe("update order", () => {
  it("orders by revision, then version, then stage (rules before enriched)", () => {
    const sorted = [u(2, 1, "enriched"), u(1, 2), u(2, 1), u(1, 1, "enriched"), u(1, 1), u(2, 3)].sort(
      compareUpdates,
    );
    assert.deepEqual(sorted.map(updateKey), [
      [1, 1, 0, 0],
      [1, 1, 1, 0],
      [1, 2, 0, 0],
      [2, 1, 0, 0],
      [2, 1, 1, 0],
      [2, 3, 0, 0],
    ]);
  });

  it("ranks an unknown future stage after the known ones", () => {
    assert.ok(stageRank("priced") > stageRank("enriched"));
    assert.ok(stageRank("enriched") > stageRank("rules"));
  });

  it("never lets an older or equal update through", () => {
    const order = new UpdateOrdering();
    assert.equal(order.accept(u(3, 1)), true);
    assert.equal(order.accept(u(3, 1)), false, "a duplicate is dropped");
    assert.equal(order.accept(u(2, 1, "enriched")), false, "a late enriched update of an old revision");
    assert.equal(order.accept(u(3, 1, "enriched")), true);
    assert.equal(order.accept(u(3, 1)), false, "rules after enriched of the same revision");
    assert.equal(order.accept(u(3, 2)), true, "a publish: same revision, new version");
    assert.equal(order.accept(u(3, 1, "enriched")), false, "enriched of the old version");
    assert.equal(order.accept(u(4, 2)), true);
    assert.equal(order.accept({ revision: "x", version: 2, stage: "rules" }), false, "garbage");
  });

  it("lets a pushed enriched update (a higher step) through after the enriched one of its revision", () => {
    const order = new UpdateOrdering();
    assert.equal(order.accept(u(3, 1)), true);
    assert.equal(order.accept(u(3, 1, "enriched")), true);
    assert.equal(order.accept({ ...u(3, 1, "enriched"), step: 1 }), true, "a push after the enrichment");
    assert.equal(order.accept({ ...u(3, 1, "enriched"), step: 1 }), false, "the same push again");
    assert.equal(order.accept(u(3, 1, "enriched")), false, "the enrichment after the push");
    assert.equal(order.accept({ ...u(3, 1, "enriched"), step: 3 }), true, "steps may be skipped");
    assert.equal(order.accept({ ...u(3, 1, "enriched"), step: 2 }), false, "an older push");
    assert.equal(order.accept({ ...u(2, 1, "enriched"), step: 9 }), false, "a push of an old revision");
    assert.equal(order.accept({ ...u(4, 1, "enriched"), step: -1 }), false, "garbage step");
    assert.equal(order.accept({ ...u(4, 1, "enriched"), step: 0.5 }), false, "garbage step");
    assert.equal(order.accept(u(4, 1)), true, "the next revision's rules update");
    assert.deepEqual(updateKey({ ...u(4, 1, "enriched"), step: 2 }), [4, 1, 1, 2]);
  });

  it("gives the long-poll cursor of the last accepted update", () => {
    const order = new UpdateOrdering();
    assert.deepEqual(order.cursor(), { after: -1, version: 0, stage: "rules" });
    order.accept(u(5, 7, "enriched"));
    assert.deepEqual(order.cursor(), { after: 5, version: 7, stage: "enriched", step: 0 });
    order.accept({ ...u(5, 7, "enriched"), step: 2 });
    assert.deepEqual(order.cursor(), { after: 5, version: 7, stage: "enriched", step: 2 });
    order.reset();
    assert.equal(order.accept(u(0, 7)), true, "a new session starts over");
  });
});

describe("backoff", () => {
  const opts = { baseMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 };

  it("grows exponentially up to the cap", () => {
    const top = (n) => backoffDelay(n, opts, () => 1);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 20].map(top), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it("jitters within the upper half of each step and never returns zero", () => {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const step = Math.min(30000, 500 * 2 ** attempt);
      assert.equal(backoffDelay(attempt, opts, () => 0), step / 2);
      assert.equal(backoffDelay(attempt, opts, () => 0.999999), step);
      for (let i = 0; i < 50; i += 1) {
        const d = backoffDelay(attempt, opts);
        assert.ok(d >= step / 2 && d <= step, `${d} within [${step / 2}, ${step}]`);
      }
    }
  });

  it("spreads clients that failed together", () => {
    const delays = new Set(Array.from({ length: 100 }, () => backoffDelay(4, opts)));
    assert.ok(delays.size > 50, `only ${delays.size} distinct delays`);
  });

  it("has full jitter with jitter=1 and none with jitter=0", () => {
    assert.equal(backoffDelay(3, { ...opts, jitter: 1 }, () => 0), 0);
    assert.equal(backoffDelay(3, { ...opts, jitter: 0 }, () => 0.3), 4000);
  });
});

describe("fallback decision", () => {
  it("falls back after the WebSocket failed to open twice in a row", () => {
    let state = assessSocketEnd({}, { opened: false });
    assert.equal(state.fallback, false);
    state = assessSocketEnd(state.health, { opened: false });
    assert.equal(state.fallback, true);
  });

  it("falls back when connections keep dying soon after opening", () => {
    let health = {};
    const results = [];
    for (let i = 0; i < DEFAULT_POLICY.drops; i += 1) {
      const r = assessSocketEnd(health, { opened: true, livedMs: 200 });
      health = r.health;
      results.push(r.fallback);
    }
    assert.deepEqual(results, [false, false, true]);
  });

  it("forgets failures after a healthy connection", () => {
    let r = assessSocketEnd({}, { opened: false });
    r = assessSocketEnd(r.health, { opened: true, livedMs: 60_000 });
    assert.deepEqual(r, { health: { openFailures: 0, drops: 0 }, fallback: false, healthy: true });
    r = assessSocketEnd(r.health, { opened: false });
    assert.equal(r.fallback, false, "one failure after a long healthy connection: retry the WebSocket");
  });

  it("honours a custom policy", () => {
    const r = assessSocketEnd({}, { opened: false }, { openFailures: 1 });
    assert.equal(r.fallback, true);
  });
});

describe("reconciling pending answers", () => {
  it("sends nothing when the server already has every pending answer", () => {
    const ops = [{ kind: "answers", answers: { a: 1 } }, { kind: "answers", answers: { b: ["x", "y"] } }];
    assert.deepEqual(reconcileAnswers(ops, { a: 1, b: ["y", "x"], c: true }), {});
  });

  it("sends only what differs, with the last value of each question", () => {
    const ops = [{ kind: "answers", answers: { a: 1, b: 2 } }, { kind: "answers", answers: { a: 3 } }];
    assert.deepEqual(reconcileAnswers(ops, { a: 1, b: 2 }), { a: 3 });
    assert.deepEqual(reconcileAnswers(ops, {}), { a: 3, b: 2 });
  });

  it("does not resend an applied earlier value over a later one (budget 30 then 40)", () => {
    const ops = [{ kind: "answers", answers: { budget: 30 } }, { kind: "answers", answers: { budget: 40 } }];
    assert.deepEqual(reconcileAnswers(ops, { budget: 40 }), {});
  });

  it("clears answers with null only when the server still has them", () => {
    const ops = [{ kind: "answers", answers: { a: null, b: null } }];
    assert.deepEqual(reconcileAnswers(ops, { a: 1 }), { a: null });
  });

  it("turns a pending reset into the nulls it still needs", () => {
    const ops = [{ kind: "answers", answers: { a: 1 } }, { kind: "reset" }, { kind: "answers", answers: { b: 2 } }];
    assert.deepEqual(reconcileAnswers(ops, { a: 1, c: 3 }), { a: null, c: null, b: 2 });
    assert.deepEqual(reconcileAnswers(ops, { b: 2 }), {}, "the reset and the answer both arrived");
  });

  it("compares answers strictly (no coercion), multi answers as sets", () => {
    assert.equal(sameAnswer(12, "12"), false);
    assert.equal(sameAnswer(true, 1), false);
    assert.equal(sameAnswer(undefined, null), true);
    assert.equal(sameAnswer([], []), true);
    assert.equal(sameAnswer(["a"], ["a", "b"]), false);
  });
});

describe("stored session", () => {
  it("reads a stored session and ignores garbage", () => {
    assert.deepEqual(readStoredSession(memoryStorage({ k: '{"token":"t","sessionId":"s"}' }), "k"), {
      token: "t",
      sessionId: "s",
    });
    assert.equal(readStoredSession(memoryStorage({ k: "not json" }), "k"), null);
    assert.equal(readStoredSession(memoryStorage({ k: '{"token":1}' }), "k"), null);
    const throwing = { getItem: () => { throw new Error("denied"); } };
    assert.equal(readStoredSession(throwing, "k"), null);
    assert.equal(readStoredSession(null, "k"), null);
  });
});
