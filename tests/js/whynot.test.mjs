// The page's "Why not this plan?" logic without a DOM: the name search over the plans the page
// has seen, what a submitted query means, and the status in plain words.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { fold, resolveQuery, searchPlans, statusText } from "../../static/planwise-page-whynot.js";

const names = new Map([
  ["acme-max-50", { name: "Max 50", provider: "Acme" }],
  ["acme-max-5", { name: "Max 5", provider: "Acme" }],
  ["bluejay-mini", { name: "Mini Max", provider: "Bluejay" }],
  ["zed-basic", { name: "Basic Café", provider: "Zed" }],
  ["other-basic", { name: "Basic Café", provider: "Other" }],
  ["solo", { name: "Solo", provider: null }],
]);

describe("searching the plans the page has seen", () => {
  it("folds case, accents and spaces", () => {
    assert.equal(fold("  Basic   CAFÉ "), "basic cafe");
    assert.equal(fold(null), "");
  });

  it("ranks the same name first, then names starting with it, then a word, then anywhere", () => {
    const { matches, total } = searchPlans(names, "max 5");
    assert.deepEqual(
      matches.map((m) => [m.id, m.exact]),
      [
        ["acme-max-5", true],
        ["acme-max-50", false],
      ],
    );
    assert.equal(total, 2);
    assert.deepEqual(
      searchPlans(names, "max").matches.map((m) => m.id),
      ["acme-max-5", "acme-max-50", "bluejay-mini"],
    );
    assert.deepEqual(
      searchPlans(names, "cafe").matches.map((m) => m.id),
      ["other-basic", "zed-basic"],
      "without accents; the same name sorted by id",
    );
  });

  it("matches the provider and the id too, and caps the list", () => {
    assert.deepEqual(
      searchPlans(names, "bluejay").matches.map((m) => m.id),
      ["bluejay-mini"],
    );
    assert.deepEqual(
      searchPlans(names, "SOLO").matches.map((m) => m.provider),
      [null],
    );
    const many = new Map(Array.from({ length: 30 }, (_, i) => [`p${i}`, { name: `Plan ${i}` }]));
    const { matches, total } = searchPlans(many, "plan");
    assert.equal(matches.length, 8);
    assert.equal(total, 30);
    assert.deepEqual(searchPlans(names, "   "), { matches: [], total: 0 });
  });
});

describe("what a submitted query means", () => {
  it("one plan by its exact name or id, or by the only match", () => {
    assert.deepEqual(resolveQuery(names, "max 50"), { plan: "acme-max-50" });
    assert.deepEqual(resolveQuery(names, "acme-max-5"), { plan: "acme-max-5" });
    assert.deepEqual(resolveQuery(names, "blue"), { plan: "bluejay-mini" });
  });

  it("asks to choose between plans of the same name or several matches", () => {
    const same = resolveQuery(names, "Basic Cafe");
    assert.deepEqual(
      same.choose.map((m) => m.id),
      ["other-basic", "zed-basic"],
    );
    assert.equal(same.total, 2);
    assert.equal(resolveQuery(names, "ma").total, 3);
  });

  it("takes an unknown name as a plan id when it can be one, else nothing", () => {
    assert.deepEqual(resolveQuery(names, " never-seen-42 "), { plan: "never-seen-42" });
    assert.deepEqual(resolveQuery(names, "No such plan"), { none: true });
    assert.deepEqual(resolveQuery(new Map(), "9lives"), { none: true });
  });
});

describe("the status in plain words", () => {
  it("says where the plan is", () => {
    assert.equal(statusText({ status: "shown", rank: 3 }, 20), "Shown at rank 3.");
    assert.equal(statusText({ status: "cut" }, 20), "Matches your answers, but ranked below the top 20.");
    assert.equal(statusText({ status: "cut" }, 0), "Matches your answers, but ranked below the plans shown.");
    assert.equal(statusText({ status: "excluded" }, 20), "Excluded because:");
    assert.equal(statusText({ status: "inactive" }, 20), "No longer offered.");
  });
});
