// Formatting plan data from the catalogue's own schema (CATALOGUE.md, "Estimate and display").
//
// The questionnaire carries the attribute schema (`attributes`: key, type, label, unit, options),
// `display.headline` and `estimate` (label, unit, currency, decimals). Everything a plan card shows
// is labelled and formatted from these: nothing here knows an attribute of a particular catalogue.
// An ES module with no dependencies and no DOM, so it runs under Node's test runner as well.
// Every function returns plain strings: render them as text (textContent), never as HTML.

/** A unit that is a currency code (ISO 4217: three upper-case letters) means money. */
export function isCurrencyCode(unit) {
  return typeof unit === "string" && /^[A-Z]{3}$/.test(unit);
}

/** A number for people: grouped, at most `maxDigits` fraction digits. */
export function formatNumber(value, locale = undefined, maxDigits = 3) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  return new Intl.NumberFormat(locale, { maximumFractionDigits: maxDigits }).format(value);
}

/** A number with exactly `decimals` fraction digits. */
export function formatFixed(value, decimals, locale = undefined) {
  const digits = clampDigits(decimals);
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  if (digits === null) return formatNumber(value, locale);
  return new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

function clampDigits(decimals) {
  return Number.isInteger(decimals) && decimals >= 0 && decimals <= 20 ? decimals : null;
}

/**
 * Money in `currency` (`Intl.NumberFormat` with style "currency"), with exactly `decimals` fraction
 * digits when given, else the currency's usual digits. Null when the runtime refuses the code.
 */
export function formatMoney(value, currency, locale = undefined, decimals = undefined) {
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  const options = { style: "currency", currency };
  const digits = clampDigits(decimals);
  if (digits !== null) {
    options.minimumFractionDigits = digits;
    options.maximumFractionDigits = digits;
  }
  try {
    return new Intl.NumberFormat(locale, options).format(value);
  } catch {
    return null; // not a currency this runtime knows: the caller shows number and unit
  }
}

/** A number followed by its unit ("50 GB", "24.5 p/kWh", "30%"). */
export function withUnit(text, unit) {
  if (!unit) return text;
  return unit === "%" ? `${text}%` : `${text} ${unit}`;
}

/** The schema of one attribute, or a bare one (label = key) for a key the schema lacks. */
export function attributeOf(schema, key) {
  return schema?.get?.(key) ?? { key, type: undefined, label: key };
}

/** `questionnaire.attributes` as a Map key -> attribute (in schema order). */
export function attributeSchema(questionnaire) {
  const map = new Map();
  for (const attr of questionnaire?.attributes ?? []) {
    if (attr && typeof attr.key === "string") map.set(attr.key, attr);
  }
  return map;
}

function optionLabel(attr, value) {
  for (const option of attr.options ?? []) {
    if (option && typeof option === "object" && option.value === value && option.label) return String(option.label);
  }
  return String(value);
}

/**
 * One attribute value as text, from its schema: a number with its unit (money when the unit is a
 * currency code), booleans "Yes"/"No", sets as a comma-separated list ("None" when empty), enums
 * as their value (or the option's label when the schema gives one), text as it is.
 */
export function formatAttribute(attr, value, locale = undefined) {
  if (value === null || value === undefined) return "–";
  const unit = attr?.unit;
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (Array.isArray(value)) {
    return value.length ? value.map((v) => (attr ? optionLabel(attr, v) : String(v))).join(", ") : "None";
  }
  if (typeof value === "number") {
    if (isCurrencyCode(unit)) {
      const money = formatMoney(value, unit, locale);
      if (money !== null) return money;
    }
    return withUnit(formatNumber(value, locale), unit);
  }
  if (attr?.type === "enum") return optionLabel(attr, value);
  return String(value);
}

/**
 * The facts of a plan card: `headline` (the keys of `display.headline` the plan has, in that
 * order) and `rest` (the plan's other attributes, in schema order, then keys the schema lacks).
 * Each fact is `{key, label, text}`. Without a headline, the plan's first `fallbackCount`
 * attributes in schema order take its place (the catalogue's own order, not a guess).
 */
export const FALLBACK_HEADLINE = 5;

export function planFacts(questionnaire, attributes, locale = undefined, fallbackCount = FALLBACK_HEADLINE) {
  const values = attributes ?? {};
  const schema = attributeSchema(questionnaire);
  const has = (key) => Object.prototype.hasOwnProperty.call(values, key) && values[key] !== undefined;
  const fact = (key) => {
    const attr = attributeOf(schema, key);
    return { key, label: String(attr.label ?? key), text: formatAttribute(attr, values[key], locale) };
  };
  const ordered = [...schema.keys(), ...Object.keys(values).filter((k) => !schema.has(k))].filter(has);
  const headlineKeys = questionnaire?.display?.headline;
  if (!Array.isArray(headlineKeys) || headlineKeys.length === 0) {
    return { headline: ordered.slice(0, fallbackCount).map(fact), rest: ordered.slice(fallbackCount).map(fact) };
  }
  const first = [...new Set(headlineKeys)].filter(has);
  const chosen = new Set(first);
  return { headline: first.map(fact), rest: ordered.filter((k) => !chosen.has(k)).map(fact) };
}

/**
 * An estimate value with the catalogue's format: money with exactly `decimals` digits when the
 * estimate has a `currency` (or its unit is a currency code), else the number with `decimals`
 * digits; then the unit ("£41.20 a month", "1,234.5 kWh").
 */
export function formatEstimateValue(spec, value, locale = undefined) {
  const decimals = spec?.decimals;
  const currency = spec?.currency ?? (isCurrencyCode(spec?.unit) ? spec.unit : null);
  const unit = spec?.unit && spec.unit !== currency ? spec.unit : null;
  if (currency) {
    const money = formatMoney(value, currency, locale, decimals);
    if (money !== null) return withUnit(money, unit);
    return withUnit(withUnit(formatFixed(value, decimals, locale), currency), unit);
  }
  return withUnit(formatFixed(value, decimals, locale), unit);
}

/**
 * What a card says about one plan's estimate (`{value, explanation?}` from an enriched update):
 * `{amount: "Estimated monthly cost: £41.20 a month", explanation}`; null without a number.
 */
export function estimateText(spec, estimate, locale = undefined) {
  if (!spec || !estimate || typeof estimate.value !== "number" || !Number.isFinite(estimate.value)) return null;
  const formatted = formatEstimateValue(spec, estimate.value, locale);
  const label = spec.label ? String(spec.label) : "";
  return {
    amount: label ? `${label}: ${formatted}` : formatted,
    explanation: typeof estimate.explanation === "string" ? estimate.explanation : "",
  };
}

/** The placeholder while the estimate is being worked out ("Working out estimated monthly cost…"). */
export function pendingEstimateText(spec) {
  const label = spec?.label ? String(spec.label).trim() : "";
  return label ? `Working out ${label.charAt(0).toLowerCase()}${label.slice(1)}…` : "Working it out…";
}
