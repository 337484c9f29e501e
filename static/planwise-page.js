// The plan listing page `/`: questions in a sidebar, a live, explained plan list, a confirmed
// choice. Built on planwise-client.js; every catalogue text is set with textContent. Plan cards
// are labelled and formatted from the questionnaire's schema (`attributes`, `display`,
// `estimate`) by planwise-format.js: nothing here knows a particular catalogue.
import { createPlanwiseClient } from "./planwise-client.js";
import { estimateText, formatNumber, pendingEstimateText, planFacts } from "./planwise-format.js";

const STATUS_LABELS = {
  connecting: "Connecting…",
  live: "Live",
  fallback: "Live (HTTP fallback)",
  reconnecting: "Reconnecting…",
  offline: "Offline, retrying…",
};

const ESTIMATE_GRACE_MS = 6000;

const $ = (selector, root = document) => root.querySelector(selector);

/** Create an element; `props.text` becomes textContent, other props become attributes. */
function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter(Boolean));
  return node;
}

/** Append the children that exist (`null` would otherwise become the text "null"). */
function append(node, ...children) {
  node.append(...children.filter(Boolean));
}

function num(v) {
  return formatNumber(v, undefined, 2);
}

const state = {
  questionnaire: null,
  update: null, // the newest update
  shown: null, // the update the list shows (may lag while the list is held)
  held: null,
  selection: null,
  saving: null,
  names: new Map(),
  pending: new Map(), // questionId -> {seq, value}: answers sent, not yet confirmed
  seq: 0,
  errors: new Map(),
  debounces: new Map(),
  sessionId: null,
  synced: false,
  pointerInList: false,
  estimateTimer: null,
  estimatesExpired: -1,
  opener: null,
};

// ---------------------------------------------------------------------------------------------
// Status, version, alerts
// ---------------------------------------------------------------------------------------------

function renderStatus(status) {
  const node = $("#connection");
  node.dataset.status = status;
  $(".label", node).textContent = STATUS_LABELS[status] ?? status;
  document.body.dataset.status = status;
}

function showAlert(message) {
  const box = $("#alert");
  $(".alert-text", box).textContent = message;
  box.hidden = false;
}

function showNotice(message) {
  const node = $("#notice");
  node.textContent = message;
  node.hidden = !message;
}

function announce(message) {
  const node = $("#questions-live");
  node.textContent = "";
  // A fresh text node so screen readers announce a repeated message too.
  setTimeout(() => {
    node.textContent = message;
  }, 50);
}

// ---------------------------------------------------------------------------------------------
// Questions
// ---------------------------------------------------------------------------------------------

function questionById(qid) {
  return state.questionnaire?.questions.find((q) => q.id === qid) ?? null;
}

function renderQuestions() {
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

function cancelDebounce(qid) {
  const d = state.debounces.get(qid);
  if (d) clearTimeout(d.timer);
  state.debounces.delete(qid);
}

function flushDebounces() {
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
  client
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

function clearError(qid) {
  state.errors.delete(qid);
  const node = document.getElementById(`q-${qid}-error`);
  if (!node) return;
  node.textContent = "";
  node.hidden = true;
  for (const input of document.querySelectorAll(`#q-${qid} [aria-invalid]`)) input.removeAttribute("aria-invalid");
}

function syncQuestions(announceChanges = true) {
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

// ---------------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------------

function onUpdate(update) {
  const previous = state.update;
  state.update = update;
  for (const p of update.plans) {
    state.names.set(p.id, { name: p.name, provider: p.provider ?? null });
  }
  syncQuestions();
  renderVersion(update.version, previous?.version);
  const sameRevision = state.shown && state.shown.revision === update.revision;
  if (sameRevision && listHeld()) {
    // Enriched estimates or a publish while the pointer or focus is on the list: update the
    // cards where they are and keep the order until the pointer or focus leaves.
    patchCards(update);
    state.held = update;
    $("#reorder").hidden = sameOrder(update) && update.plans.length === state.shown.plans.length;
    renderSummary(update);
    renderExcluded(update);
    return;
  }
  renderPlans(update);
}

function listHeld() {
  const list = $("#plans");
  return state.pointerInList || list.contains(document.activeElement);
}

function sameOrder(update) {
  const ids = [...$("#plans").children].filter((li) => !li.classList.contains("stale")).map((li) => li.dataset.planId);
  return ids.length === update.plans.length && update.plans.every((p, i) => p.id === ids[i]);
}

function releaseList() {
  if (!state.held || listHeld()) return;
  const update = state.held;
  state.held = null;
  renderPlans(update);
}

function renderVersion(version, previous) {
  $("#version").hidden = false;
  $("#version-number").textContent = String(version);
  if (previous !== undefined && previous !== version) {
    showNotice(`The catalogue was updated (version ${version}); the list shows the new plans and rules.`);
  }
}

function renderSummary(update) {
  const { matchedPlans, totalPlans, plans } = update;
  let text;
  if (matchedPlans === 0) {
    text = `None of the ${totalPlans} plans fits all your answers. “Plans that do not fit” below says why.`;
  } else {
    text = `${matchedPlans} of ${totalPlans} plans fit your answers`;
    if (plans.length < matchedPlans) text += `, showing the best ${plans.length}`;
    text += ".";
  }
  $("#summary").textContent = text;
  const jump = $("#jump");
  jump.hidden = false;
  jump.textContent = matchedPlans === 1 ? "See the plan" : `See the ${plans.length} plans`;
}

function renderPlans(update) {
  const list = $("#plans");
  const active = document.activeElement;
  const activeCard = active && list.contains(active) ? active.closest(".plan") : null;
  list.setAttribute("aria-busy", "true");
  const existing = new Map([...list.children].map((li) => [li.dataset.planId, li]));
  update.plans.forEach((plan, i) => {
    let li = existing.get(plan.id);
    if (li) existing.delete(plan.id);
    else li = createCard(plan.id);
    li.classList.remove("stale");
    fillCard(li, plan, update);
    const at = list.children[i];
    if (at !== li) list.insertBefore(li, at ?? null);
  });
  for (const li of existing.values()) li.remove();
  list.removeAttribute("aria-busy");
  if (activeCard && document.activeElement !== active) {
    if (activeCard.isConnected) active.focus({ preventScroll: true });
    else $("#plans-title").focus({ preventScroll: true });
  }
  state.shown = update;
  state.held = null;
  $("#reorder").hidden = true;
  renderSummary(update);
  renderExcluded(update);
  markChosen();
  scheduleEstimateExpiry(update);
}

function patchCards(update) {
  const byId = new Map(update.plans.map((p) => [p.id, p]));
  for (const li of $("#plans").children) {
    const plan = byId.get(li.dataset.planId);
    if (plan) {
      li.classList.remove("stale");
      fillCard(li, plan, update, false);
    } else {
      li.classList.add("stale");
    }
  }
}

/** Fill the cards again where they are (after the questionnaire's schema changed). */
function refreshCards() {
  const update = state.held ?? state.shown;
  if (!update) return;
  const byId = new Map(update.plans.map((p) => [p.id, p]));
  for (const li of $("#plans").children) {
    const plan = byId.get(li.dataset.planId);
    if (plan) fillCard(li, plan, update, false);
  }
}

function createCard(planId) {
  const li = $("#plan-template").content.firstElementChild.cloneNode(true);
  li.dataset.planId = planId;
  const nameId = `plan-${planId}-name`;
  $(".plan-name", li).id = nameId;
  $(".plan-card", li).setAttribute("aria-labelledby", nameId);
  $(".choose", li).dataset.planId = planId;
  return li;
}

function fillCard(li, plan, update, withRank = true) {
  if (withRank) $(".rank", li).textContent = String(plan.rank);
  $(".plan-name", li).textContent = plan.name;
  const provider = $(".provider", li);
  provider.textContent = plan.provider ?? "";
  provider.hidden = !plan.provider;
  fillEstimate($(".estimate", li), plan, update);
  const description = $(".description", li);
  description.textContent = plan.description ?? "";
  description.hidden = !plan.description;

  // Labels and formats from the questionnaire's attribute schema; `display.headline` first.
  const { headline, rest } = planFacts(state.questionnaire, plan.attributes);
  const facts = $(".facts", li);
  facts.replaceChildren(...headline.flatMap(factNodes));
  facts.hidden = headline.length === 0;
  const details = $(".details", li);
  $(".all-facts", details).replaceChildren(...rest.flatMap(factNodes));
  details.hidden = rest.length === 0;
  const reasons = plan.reasons ?? [];
  $(".reasons", li).replaceChildren(
    ...(reasons.length
      ? reasons.map((r) => el("li", { text: r.text, "data-rule": r.rule }))
      : [el("li", { class: "no-reason", text: "It fits every answer you gave so far." })]),
  );
}

function factNodes(fact) {
  return [el("dt", { text: fact.label }), el("dd", { text: fact.text, "data-key": fact.key })];
}

/** The catalogue's estimate (from the questionnaire), or null when it has none. */
function estimateSpec() {
  const spec = state.questionnaire?.estimate;
  return spec && typeof spec === "object" ? spec : null;
}

/**
 * The estimate line of a card: the value with the catalogue's label and format once enriched, a
 * placeholder while the rules-stage list waits for it, nothing at all when the catalogue has no
 * estimate (its space is not even reserved then).
 */
function fillEstimate(node, plan, update) {
  const spec = estimateSpec();
  const text = $(".estimate-text", node);
  node.hidden = spec === null;
  const shown = estimateText(spec, plan.estimate);
  if (shown) {
    node.dataset.state = "ready";
    text.replaceChildren(
      el("span", { class: "estimate-amount", text: shown.amount }),
      shown.explanation ? el("span", { class: "estimate-explanation", text: shown.explanation }) : null,
    );
    node.title = shown.explanation;
    if (!shown.explanation) node.removeAttribute("title");
  } else if (spec && update.stage === "rules" && state.estimatesExpired !== update.revision) {
    node.dataset.state = "pending";
    text.replaceChildren(el("span", { class: "estimate-amount", text: pendingEstimateText(spec) }));
    node.removeAttribute("title");
  } else {
    node.dataset.state = "none";
    text.replaceChildren();
    node.removeAttribute("title");
  }
}

function scheduleEstimateExpiry(update) {
  clearTimeout(state.estimateTimer);
  if (update.stage !== "rules") return;
  const revision = update.revision;
  state.estimateTimer = setTimeout(() => {
    // No enriched update arrived: drop the placeholders (their space stays reserved).
    state.estimatesExpired = revision;
    for (const node of document.querySelectorAll('.estimate[data-state="pending"]')) {
      node.dataset.state = "none";
      $(".estimate-text", node).replaceChildren();
    }
  }, ESTIMATE_GRACE_MS);
}

function renderExcluded(update) {
  const details = $("#excluded");
  const excluded = update.excluded ?? [];
  details.hidden = excluded.length === 0;
  $(".count", details).textContent = String(excluded.length);
  $(".excluded-list", details).replaceChildren(
    ...excluded.map((item) => {
      const known = state.names.get(item.id);
      return el("li", { "data-plan-id": item.id }, [
        el("span", { class: "excluded-name", text: known?.name ?? item.id }),
        known?.provider ? el("span", { class: "excluded-provider", text: ` · ${known.provider}` }) : null,
        el(
          "ul",
          { class: "reasons" },
          (item.reasons ?? []).map((r) => el("li", { text: r.text, "data-rule": r.rule })),
        ),
      ]);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Choosing a plan
// ---------------------------------------------------------------------------------------------

function planLabel(planId) {
  const known = state.names.get(planId);
  if (!known) return planId;
  return known.provider ? `${known.name} from ${known.provider}` : known.name;
}

function markChosen() {
  const chosen = state.selection?.planId ?? null;
  for (const li of $("#plans").children) {
    const isChosen = li.dataset.planId === chosen;
    li.classList.toggle("chosen", isChosen);
    $(".chosen-badge", li).hidden = !isChosen;
    const button = $(".choose", li);
    const saving = state.saving === li.dataset.planId;
    button.textContent = saving ? "Saving…" : isChosen ? "Chosen ✓" : "Choose this plan";
    if (saving) button.setAttribute("aria-disabled", "true");
    else button.removeAttribute("aria-disabled");
  }
}

function renderSelection() {
  const section = $("#selection");
  const text = $(".selection-text", section);
  if (state.saving) {
    section.hidden = false;
    section.dataset.state = "saving";
    text.textContent = `Saving your choice: ${planLabel(state.saving)}…`;
  } else if (state.selection) {
    section.hidden = false;
    section.dataset.state = "saved";
    section.dataset.planId = state.selection.planId;
    let message = `${planLabel(state.selection.planId)}. Saved`;
    if (state.selection.createdAt) {
      const when = new Date(state.selection.createdAt);
      if (!Number.isNaN(when.getTime())) {
        message += ` on ${when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}`;
      }
    }
    text.textContent = `${message}.`;
  } else {
    section.hidden = true;
    delete section.dataset.planId;
  }
  markChosen();
}

function openConfirm(planId, opener) {
  if (state.saving) return;
  const dialog = $("#confirm");
  state.opener = opener;
  dialog.dataset.planId = planId;
  $(".confirm-plan", dialog).textContent = planLabel(planId);
  const plan = state.update?.plans.find((p) => p.id === planId);
  const price = $(".confirm-price", dialog);
  const shown = estimateText(estimateSpec(), plan?.estimate);
  price.textContent = shown ? shown.amount : "";
  price.hidden = !shown;
  if (typeof dialog.showModal === "function") {
    dialog.returnValue = "";
    dialog.showModal();
  } else if (window.confirm(`Choose ${planLabel(planId)}?`)) {
    choose(planId);
  }
}

function onConfirmClosed() {
  const dialog = $("#confirm");
  const planId = dialog.dataset.planId;
  const opener = state.opener;
  state.opener = null;
  if (dialog.returnValue === "confirm" && planId) choose(planId);
  if (opener?.isConnected) opener.focus();
  else $("#plans-title").focus();
}

function choose(planId) {
  state.saving = planId;
  renderSelection();
  client
    .select(planId)
    .then((saved) => {
      state.saving = null;
      state.selection = { ...(state.selection?.selectionId === saved.selectionId ? state.selection : {}), ...saved };
      renderSelection();
    })
    .catch((err) => {
      state.saving = null;
      renderSelection();
      if (err.code !== "closed") showAlert(`Your choice could not be saved: ${err.message}`);
    });
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

const client = createPlanwiseClient();
window.planwiseClient = client; // for the browser console and the browser tests

client.on("status", renderStatus);
client.on("session", (session) => {
  if (state.sessionId && state.sessionId !== session.sessionId) {
    state.pending.clear();
    for (const qid of [...state.errors.keys()]) clearError(qid);
    showNotice("A new session was started: your earlier answers could not be restored.");
  }
  state.sessionId = session.sessionId;
});
client.on("questionnaire", (questionnaire) => {
  const questionsChanged =
    JSON.stringify(questionnaire.questions) !== JSON.stringify(state.questionnaire?.questions);
  state.questionnaire = questionnaire;
  if (questionsChanged) renderQuestions();
  refreshCards(); // the attribute schema, headline or estimate may have changed
});
client.on("update", onUpdate);
client.on("selection", (selection) => {
  state.selection = selection;
  renderSelection();
});
client.on("error", (err) => {
  if (err.code === "invalid_token") return; // handled by the "session" notice
  if (err.replyTo === undefined) showAlert(err.message);
});
renderStatus(client.status);

$("#questions").addEventListener("submit", (event) => {
  event.preventDefault();
  flushDebounces();
});

$("#reset").addEventListener("click", () => {
  for (const qid of [...state.debounces.keys()]) cancelDebounce(qid);
  state.pending.clear();
  for (const qid of [...state.errors.keys()]) clearError(qid);
  client.reset().then(
    () => {
      syncQuestions();
      announce("All answers were cleared.");
    },
    (err) => {
      if (err.code !== "closed") showAlert(`Could not start over: ${err.message}`);
    },
  );
});

const list = $("#plans");
list.addEventListener("click", (event) => {
  const button = event.target.closest("button.choose");
  if (button && button.getAttribute("aria-disabled") !== "true") openConfirm(button.dataset.planId, button);
});
list.addEventListener("pointerenter", (event) => {
  if (event.pointerType !== "touch") state.pointerInList = true;
});
list.addEventListener("pointerleave", () => {
  state.pointerInList = false;
  releaseList();
});
list.addEventListener("focusout", (event) => {
  if (!list.contains(event.relatedTarget)) setTimeout(releaseList, 0);
});
$("#reorder button").addEventListener("click", () => {
  const update = state.held;
  state.held = null;
  if (update) renderPlans(update);
  $("#plans-title").focus();
});
$("#confirm").addEventListener("close", onConfirmClosed);
if ("IntersectionObserver" in window) {
  // The phone's "See the plans" button is only useful while the list is out of view.
  new IntersectionObserver((entries) => {
    document.body.classList.toggle("plans-in-view", entries.some((e) => e.isIntersecting));
  }).observe($("#main"));
}
$("#alert .alert-close").addEventListener("click", () => {
  $("#alert").hidden = true;
});
