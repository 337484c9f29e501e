// The card's reasons (static/planwise-reasons.js) against the cases the admin simulator's
// definition is tested with too (tests/fixtures/distinct-reasons.json).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { distinctReasons } from "../../static/planwise-reasons.js";

const { cases } = JSON.parse(readFileSync(new URL("../fixtures/distinct-reasons.json", import.meta.url), "utf8"));

describe("distinctReasons (the same cases as admin/simulate.py distinct_reasons)", () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(distinctReasons(c.reasons), c.distinct);
    });
  }
  it("takes a missing list as none", () => {
    assert.deepEqual(distinctReasons(undefined), []);
  });
});
