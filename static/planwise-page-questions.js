// The questionnaire of the page `/` (see planwise-page.js): one control per question type,
// answers sent as they are given (numbers and text debounced), errors per question, and the
// questions shown or hidden as each update says.
import { formatNumber } from "./planwise-format.js";
import { $, announce, append, el, showAlert, state } from "./planwise-page-shared.js";

function num(v) {
  return formatNumber(v, undefined, 2);
}

function questionById(qid) {
  return state.questionnaire?.questions.find((q) => q.id === qid) ?? null;
}

export function renderQuestions() {
  const form = $("#questions");
  flushDebounces();
  const focused = document.activeElement && form.contains(document.activeElement) ? document.activeElement.id : null;
  form.replaceChildren(...state.questionnaire.questions.map(buildQuestion));
  form.removeAttribute("aria-busy");
  syncQuestions(false);
  if (focused) document.getElementById(focused)?.focus({ preventScroll: true });
}

function buildQuestion(q) {
  const base = `q-${q.id}`;
  const wrap = el("div", { class: "question", id: base, "data-qid": q.id, "data-type": q.type });
  const helpId = q.help ? `${base}-help` : null;
  const errorId = `${base}-error`;
  const help = q.help ? el("p", { class: "help", id: helpId, text: q.help }) : null;
  const error = el("p", { class: "error", id: errorId, hidden: true });
  const clear = el("button", { type: "button", class: "link-button clear", text: "Clear", hidden: true });
  clear.setAttribute("aria-label", `Clear the answer to: ${q.text}`);
  clear.addEventListener("click", () => {
    cancelDebounce(q.id);
    clearError(q.id);
    sendAnswer(q.id, null);
  });

  if (q.type === "choice" || q.type === "multi" || q.type === "boolean") {
    const options =
      q.type === "boolean"
        ? [
            { value: "true", label: "Yes" },
            { value: "false", label: "No" },
          ]
        : q.options;
    const group = el("div", { class: "options" });
    options.forEach((o, i) => {
      const id = `${base}-opt-${i}`;
      const optionHelpId = o.help ? `${id}-help` : null;
      const input = el("input", {
        type: q.type === "multi" ? "checkbox" : "radio",
        id,
        name: base,
        value: String(o.value),
        "aria-describedby": optionHelpId,
      });
      const label = el("label", { for: id }, [
        el("span", { class: "option-label", text: o.label }),
        o.help ? el("span", { class: "option-help", id: optionHelpId, text: o.help }) : null,
      ]);
      group.append(el("div", { class: "option" }, [input, label]));
    });
    group.addEventListener("change", () => commitChoice(q, group));
    const fieldset = el("fieldset", { "aria-describedby": [helpId, errorId].filter(Boolean).join(" ") }, [
      el("legend", { text: q.text }),
      help,
      group,
      el("div", { class: "question-foot" }, [clear]),
      error,
    ]);
    wrap.append(fieldset);
    return wrap;
  }

  const inputId = `${base}-input`;
  const label = el("label", { for: inputId, class: "question-text", text: q.text });
  if (q.type === "number") {
    const rangeId = `${base}-range`;
    const step = q.step ?? "any";
    const integral = typeof q.step === "number" && Number.isInteger(q.step) && (q.min ?? 0) % 1 === 0;
    const input = el("input", {
      type: "number",
      id: inputId,
      name: base,
      min: q.min,
      max: q.max,
      step,
      inputmode: integral ? "numeric" : "decimal",
      "aria-describedby": [helpId, rangeId, errorId].filter(Boolean).join(" "),
    });
    const unit = q.unit ? el("span", { class: "unit", text: q.unit }) : null;
    input.addEventListener("input", () => debounce(q.id, () => commitNumber(q, input), 700));
    input.addEventListener("change", () => commitNumber(q, input));
    append(
      wrap,
      label,
      help,
      el("div", { class: "number-row" }, [input, unit]),
      el("p", { class: "range", id: rangeId, text: rangeText(q) }),
      el("div", { class: "question-foot" }, [clear]),
      error,
    );
    return wrap;
  }

  // text (and any type this page does not know: a free text answer is the safe default)
  const counterId = `${base}-counter`;
  const maxLength = q.maxLength ?? 500;
  const area = el("textarea", {
    id: inputId,
    name: base,
    rows: 3,
    maxlength: maxLength,
    "aria-describedby": [helpId, counterId, errorId].filter(Boolean).join(" "),
  });
  const counter = el("p", { class: "counter", id: counterId, text: `0 of ${maxLength} characters` });
  area.addEventListener("input", () => {
    updateCounter(area, counter, maxLength);
    debounce(q.id, () => commitText(q, area), 900);
  });
  area.addEventListener("change", () => commitText(q, area));
  append(wrap, label, help, area, counter, el("div", { class: "question-foot" }, [clear]), error);
  return wrap;
}

function updateCounter(area, counter, maxLength) {
  counter.textContent = `${[...area.value].length} of ${maxLength} characters`;
}

function rangeText(q) {
  const unit = q.unit ? ` ${q.unit}` : "";
  const parts = [];
  if (q.min !== undefined && q.max !== undefined) parts.push(`From ${num(q.min)} to ${num(q.max)}${unit}`);
  else if (q.min !== undefined) parts.push(`At least ${num(q.min)}${unit}`);
  else if (q.max !== undefined) parts.push(`At most ${num(q.max)}${unit}`);
  else if (unit) parts.push(`In${unit}`);
  if (q.step !== undefined && q.step !== 1) parts.push(`in steps of ${num(q.step)}`);
  return parts.join(", ");
}

function debounce(qid, fn, ms) {
  cancelDebounce(qid);
  state.debounces.set(qid, { timer: setTimeout(() => {
    state.debounces.delete(qid);
    fn();
  }, ms), fn });
}

export function cancelDebounce(qid) {
  const d = state.debounces.get(qid);
  if (d) clearTimeout(d.timer);
  state.debounces.delete(qid);
}

export function flushDebounces() {
  for (const [qid, d] of [...state.debounces]) {
    cancelDebounce(qid);
    d.fn();
  }
}

function effectiveAnswer(qid) {
  if (state.pending.has(qid)) return state.pending.get(qid).value;
  const value = state.update?.answers?.[qid];
  return value === undefined ? null : value;
}

function sameValue(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return (a ?? null) === (b ?? null);
}

function commitChoice(q, group) {
  let value;
  if (q.type === "multi") {
    value = [...group.querySelectorAll("input:checked")].map((i) => i.value);
    const order = q.options.map((o) => String(o.value));
    value.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  } else {
    const checked = group.querySelector("input:checked");
    if (!checked) return;
    value = q.type === "boolean" ? checked.value === "true" : checked.value;
  }
  sendAnswer(q.id, value);
}

function commitNumber(q, input) {
  cancelDebounce(q.id);
  const raw = input.value.trim();
  if (raw === "" && !input.validity.badInput) {
    clearError(q.id);
    if (effectiveAnswer(q.id) !== null) sendAnswer(q.id, null);
    return;
  }
  const value = Number(raw);
  if (!input.validity.valid || !Number.isFinite(value)) {
    showError(q.id, `Enter a number${rangeText(q) ? `: ${rangeText(q).toLowerCase()}` : ""}.`);
    return;
  }
  clearError(q.id);
  if (!sameValue(effectiveAnswer(q.id), value)) sendAnswer(q.id, value);
}

function commitText(q, area) {
  cancelDebounce(q.id);
  const value = area.value === "" ? null : area.value;
  if (!sameValue(effectiveAnswer(q.id), value)) sendAnswer(q.id, value);
}

function sendAnswer(qid, value) {
  state.seq += 1;
  const seq = state.seq;
  state.pending.set(qid, { seq, value });
  syncQuestion(qid);
  state.client
    .answer(qid, value)
    .then(
      () => clearError(qid),
      (err) => {
        if (err.code === "invalid_answer") {
          const details = err.details?.length ? err.details : [{ questionId: qid, message: err.message }];
          for (const d of details) showError(d.questionId ?? qid, d.message);
        } else if (err.code !== "closed") {
          showAlert(`Your answer could not be saved: ${err.message}`);
        }
      },
    )
    .finally(() => {
      if (state.pending.get(qid)?.seq === seq) state.pending.delete(qid);
      syncQuestion(qid);
    });
}

function showError(qid, message) {
  state.errors.set(qid, message);
  const node = document.getElementById(`q-${qid}-error`);
  if (!node) return;
  node.textContent = message;
  node.hidden = false;
  for (const input of document.querySelectorAll(`#q-${qid} input, #q-${qid} textarea`)) {
    input.setAttribute("aria-invalid", "true");
  }
}

export function clearError(qid) {
  state.errors.delete(qid);
  const node = document.getElementById(`q-${qid}-error`);
  if (!node) return;
  node.textContent = "";
  node.hidden = true;
  for (const input of document.querySelectorAll(`#q-${qid} [aria-invalid]`)) input.removeAttribute("aria-invalid");
}

export function syncQuestions(announceChanges = true) {
  if (!state.questionnaire) return;
  const visibility = new Map((state.update?.questions ?? []).map((q) => [q.id, q.visible]));
  const appeared = [];
  for (const q of state.questionnaire.questions) {
    const node = document.getElementById(`q-${q.id}`);
    if (!node) continue;
    const visible = visibility.has(q.id) ? visibility.get(q.id) : !state.update;
    if (node.hidden === visible) {
      node.hidden = !visible;
      node.classList.toggle("appeared", visible && announceChanges && state.synced);
      if (visible && announceChanges && state.synced) appeared.push(q.text);
    }
    syncQuestion(q.id);
  }
  if (state.update) state.synced = true;
  if (appeared.length) announce(`New question: ${appeared.join("; ")}`);
}

function syncQuestion(qid) {
  const q = questionById(qid);
  const node = document.getElementById(`q-${qid}`);
  if (!q || !node) return;
  const value = effectiveAnswer(qid);
  const answered = value !== null;
  node.classList.toggle("answered", answered);
  $(".clear", node).hidden = !answered;
  if (q.type === "choice" || q.type === "boolean") {
    for (const input of node.querySelectorAll("input")) input.checked = answered && input.value === String(value);
  } else if (q.type === "multi") {
    const chosen = new Set(Array.isArray(value) ? value.map(String) : []);
    for (const input of node.querySelectorAll("input")) input.checked = chosen.has(input.value);
  } else {
    const field = node.querySelector("input, textarea");
    // Never overwrite what someone is typing, nor an input shown with its error.
    if (document.activeElement === field || state.debounces.has(qid) || state.errors.has(qid)) return;
    const text = answered ? String(value) : "";
    if (field.value !== text) field.value = text;
    const counter = node.querySelector(".counter");
    if (counter) updateCounter(field, counter, q.maxLength ?? 500);
  }
}

