// A plan's reasons as the card shows them: each distinct text once, where it first appears, with
// the rules that gave it (each named once) and how many reasons it stands for. The admin
// simulator does the same (admin/simulate.py, distinct_reasons); both are tested against
// tests/fixtures/distinct-reasons.json. The payload keeps every reason (PROTOCOL.md: reasons
// come from the rules that fired); only the display folds repeats.

/** `[{text, rule}]` -> `[{text, rules: [rule, ...], times}]`, texts compared exactly. */
export function distinctReasons(reasons) {
  const byText = new Map();
  for (const reason of reasons ?? []) {
    if (!reason || typeof reason.text !== "string") continue;
    let found = byText.get(reason.text);
    if (!found) {
      found = { text: reason.text, rules: [], times: 0 };
      byText.set(reason.text, found);
    }
    found.times += 1;
    if (typeof reason.rule === "string" && !found.rules.includes(reason.rule)) found.rules.push(reason.rule);
  }
  return [...byText.values()];
}
