// Plan cards labelled and formatted from the catalogue's schema (static/planwise-format.js).
// The catalogues here are example data: the module knows no attribute of any catalogue.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  attributeSchema,
  estimateText,
  formatAttribute,
  formatEstimateValue,
  formatMoney,
  isCurrencyCode,
  pendingEstimateText,
  planFacts,
} from "../../static/planwise-format.js";

const LOCALE = "en-GB";

const ENERGY = {
  version: 3,
  questions: [],
  attributes: [
    { key: "standingCharge", type: "number", label: "Standing charge", unit: "p/day" },
    { key: "unitRate", type: "number", label: "Unit rate", unit: "p/kWh" },
    { key: "exitFee", type: "number", label: "Exit fee", unit: "GBP" },
    { key: "contractMonths", type: "number", label: "Contract length", unit: "months" },
    { key: "greenPercent", type: "number", label: "Renewable electricity", unit: "%" },
    { key: "fixed", type: "boolean", label: "Fixed price" },
    { key: "fuels", type: "set", label: "Fuels" },
    { key: "meter", type: "enum", label: "Meter", options: ["smart", "standard"] },
    { key: "notes", type: "text", label: "Notes" },
  ],
  display: { headline: ["unitRate", "standingCharge", "contractMonths", "greenPercent"] },
  estimate: { label: "Estimated monthly cost", currency: "GBP", unit: "a month", decimals: 2 },
};

const TARIFF = {
  standingCharge: 53.35,
  unitRate: 24.5,
  exitFee: 75,
  contractMonths: 12,
  greenPercent: 100,
  fixed: true,
  fuels: ["electricity", "gas"],
  meter: "smart",
  notes: "<b>not HTML</b>",
};

const attr = (key) => attributeSchema(ENERGY).get(key);

describe("attribute values", () => {
  it("recognises currency codes as three upper-case letters", () => {
    assert.equal(isCurrencyCode("GBP"), true);
    assert.equal(isCurrencyCode("EUR"), true);
    assert.equal(isCurrencyCode("gbp"), false);
    assert.equal(isCurrencyCode("p/kWh"), false);
    assert.equal(isCurrencyCode("GBPX"), false);
    assert.equal(isCurrencyCode(undefined), false);
  });

  it("formats numbers with their unit and currency units as money", () => {
    assert.equal(formatAttribute(attr("unitRate"), 24.5, LOCALE), "24.5 p/kWh");
    assert.equal(formatAttribute(attr("standingCharge"), 53.35, LOCALE), "53.35 p/day");
    assert.equal(formatAttribute(attr("contractMonths"), 12, LOCALE), "12 months");
    assert.equal(formatAttribute(attr("greenPercent"), 100, LOCALE), "100%");
    assert.equal(formatAttribute(attr("exitFee"), 75, LOCALE), "£75.00");
    assert.equal(formatAttribute(attr("exitFee"), 1234.5, "en-US"), "£1,234.50");
    assert.equal(formatAttribute({ key: "n", type: "number", label: "N" }, 2700, LOCALE), "2,700");
  });

  it("falls back to number and unit for a currency code the runtime refuses", () => {
    const broken = { key: "x", type: "number", label: "X", unit: "ZZZ" };
    const text = formatAttribute(broken, 5, LOCALE);
    assert.ok(text.includes("5"), text);
    assert.equal(formatMoney(5, "not a code", LOCALE), null);
    assert.equal(formatAttribute({ ...broken, unit: "XX1" }, 5, LOCALE), "5 XX1");
  });

  it("formats booleans, sets, enums and text", () => {
    assert.equal(formatAttribute(attr("fixed"), true), "Yes");
    assert.equal(formatAttribute(attr("fixed"), false), "No");
    assert.equal(formatAttribute(attr("fuels"), ["electricity", "gas"]), "electricity, gas");
    assert.equal(formatAttribute(attr("fuels"), []), "None");
    assert.equal(formatAttribute(attr("meter"), "smart"), "smart");
    assert.equal(formatAttribute(attr("notes"), "<b>not HTML</b>"), "<b>not HTML</b>");
    assert.equal(formatAttribute(attr("notes"), null), "–");
  });
});

describe("plan facts", () => {
  it("puts the headline first, in its order, then the rest in schema order", () => {
    const { headline, rest } = planFacts(ENERGY, TARIFF, LOCALE);
    assert.deepEqual(
      headline.map((f) => [f.label, f.text]),
      [
        ["Unit rate", "24.5 p/kWh"],
        ["Standing charge", "53.35 p/day"],
        ["Contract length", "12 months"],
        ["Renewable electricity", "100%"],
      ],
    );
    assert.deepEqual(
      rest.map((f) => f.key),
      ["exitFee", "fixed", "fuels", "meter", "notes"],
    );
  });

  it("skips headline keys the plan lacks and labels unknown keys with the key", () => {
    const { headline, rest } = planFacts(ENERGY, { unitRate: 20, contractMonths: 0, extra: 1 }, LOCALE);
    assert.deepEqual(
      headline.map((f) => f.key),
      ["unitRate", "contractMonths"],
    );
    assert.deepEqual(rest, [{ key: "extra", label: "extra", text: "1" }]);
  });

  it("shows the first attributes in schema order when the catalogue has no headline", () => {
    const { headline, rest } = planFacts({ ...ENERGY, display: undefined }, TARIFF, LOCALE);
    assert.deepEqual(
      headline.map((f) => f.key),
      ["standingCharge", "unitRate", "exitFee", "contractMonths", "greenPercent"],
    );
    assert.deepEqual(
      rest.map((f) => f.key),
      ["fixed", "fuels", "meter", "notes"],
    );
    const all = planFacts({ ...ENERGY, display: { headline: [] } }, TARIFF, LOCALE, 100);
    assert.equal(all.headline.length, Object.keys(TARIFF).length);
    assert.deepEqual(all.rest, []);
    assert.deepEqual(planFacts(null, null), { headline: [], rest: [] });
  });
});

describe("the estimate", () => {
  it("shows money with exactly `decimals` digits, the label, the unit and the explanation", () => {
    const text = estimateText(ENERGY.estimate, { value: 41.2, explanation: "53.35p a day and 2700 kWh" }, LOCALE);
    assert.deepEqual(text, {
      amount: "Estimated monthly cost: £41.20 a month",
      explanation: "53.35p a day and 2700 kWh",
    });
    const euro = { label: "Kosten", currency: "EUR", decimals: 0 };
    assert.equal(estimateText(euro, { value: 41.5 }, "en-US").amount, "Kosten: €42");
    assert.equal(estimateText(euro, { value: 41.5 }, "en-US").explanation, "");
  });

  it("shows a plain number with `decimals` digits and its unit without a currency", () => {
    const spec = { label: "Yearly saving", unit: "kWh", decimals: 1 };
    assert.equal(formatEstimateValue(spec, 1234, "en-US"), "1,234.0 kWh");
    assert.equal(estimateText(spec, { value: 12.25 }, "en-US").amount, "Yearly saving: 12.3 kWh");
    assert.equal(formatEstimateValue({ decimals: 2 }, 3, "en-US"), "3.00");
  });

  it("treats a currency-code unit as the currency and survives an unknown code", () => {
    assert.equal(formatEstimateValue({ unit: "GBP", decimals: 2 }, 5, LOCALE), "£5.00");
    const odd = formatEstimateValue({ currency: "not-a-code", unit: "a month", decimals: 2 }, 5, LOCALE);
    assert.equal(odd, "5.00 not-a-code a month");
  });

  it("has no text without a catalogue estimate or without a value", () => {
    assert.equal(estimateText(null, { value: 1 }), null);
    assert.equal(estimateText(ENERGY.estimate, undefined), null);
    assert.equal(estimateText(ENERGY.estimate, { monthly: 9 }), null, "the old shape is not an estimate");
  });

  it("says what is being worked out with the catalogue's label", () => {
    assert.equal(pendingEstimateText(ENERGY.estimate), "Working out estimated monthly cost…");
    assert.equal(pendingEstimateText({ label: "Yearly saving" }), "Working out yearly saving…");
    assert.equal(pendingEstimateText({}), "Working it out…");
  });
});
