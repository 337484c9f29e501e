// The plan list of the page `/` (see planwise-page.js): cards labelled and formatted from the
// questionnaire's schema by planwise-format.js, the estimate line, the summary and the plans that
// do not fit. While the pointer or focus is on the list, a new order waits ("held").
import { estimateText, pendingEstimateText, planFacts } from "./planwise-format.js";
import { markChosen } from "./planwise-page-choice.js";
import { syncQuestions } from "./planwise-page-questions.js";
import { $, el, estimateSpec, showNotice, state } from "./planwise-page-shared.js";
import { distinctReasons } from "./planwise-reasons.js";

const ESTIMATE_GRACE_MS = 6000;
const COUNT = new Intl.NumberFormat(document.documentElement.lang || undefined);

export function onUpdate(update) {
  const previous = state.update;
  state.update = update;
  rememberPlans(update);
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

/**
 * Every plan an update names, shown or excluded (v1.1 excluded plans carry name and provider), is
 * kept for the session: "Why not this plan?" searches these names (planwise-page-whynot.js).
 */
function rememberPlans(update) {
  for (const p of [...update.plans, ...(update.excluded ?? [])]) {
    if (typeof p.name === "string" && p.name) state.names.set(p.id, { name: p.name, provider: p.provider ?? null });
  }
}

function listHeld() {
  const list = $("#plans");
  return state.pointerInList || list.contains(document.activeElement);
}

function sameOrder(update) {
  const ids = [...$("#plans").children].filter((li) => !li.classList.contains("stale")).map((li) => li.dataset.planId);
  return ids.length === update.plans.length && update.plans.every((p, i) => p.id === ids[i]);
}

export function releaseList() {
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

export function renderPlans(update) {
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
export function refreshCards() {
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
  // Each distinct text once (two rules giving the same reason), as the admin simulator shows it.
  const reasons = distinctReasons(plan.reasons);
  $(".reasons", li).replaceChildren(
    ...(reasons.length
      ? reasons.map((r) => el("li", { text: r.text, "data-rule": r.rules.join(" ") }))
      : [el("li", { class: "no-reason", text: "It fits every answer you gave so far." })]),
  );
}

function factNodes(fact) {
  return [el("dt", { text: fact.label }), el("dd", { text: fact.text, "data-key": fact.key })];
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

/**
 * For an excluded plan listed with only its first reasons (`reasonsTotal`, set when the catalogue's
 * `ranking.excludedReasonsLimit` cut them): a button that explains it in full ("Why not this
 * plan?", planwise-page-whynot.js). Null when every reason is listed.
 */
function moreReasons(item, name) {
  const listed = (item.reasons ?? []).length;
  if (!(item.reasonsTotal > listed)) return null;
  const more = item.reasonsTotal - listed;
  return el("button", {
    type: "button",
    class: "excluded-all-reasons link-button",
    "data-plan-id": item.id,
    text: `All ${COUNT.format(item.reasonsTotal)} reasons (${COUNT.format(more)} more)`,
    "aria-label": `Why not ${name}: all ${item.reasonsTotal} reasons`,
  });
}

/**
 * The plans that do not fit: the excluded plans the update lists (at most
 * `ranking.excludedLimit`, in ranking order) with their reasons, and how many more there are
 * (`totalPlans - matchedPlans` are excluded in all).
 */
function renderExcluded(update) {
  const details = $("#excluded");
  const excluded = update.excluded ?? [];
  const total = Math.max(excluded.length, (update.totalPlans ?? 0) - (update.matchedPlans ?? 0));
  const more = total - excluded.length;
  details.hidden = total === 0;
  $(".count", details).textContent = COUNT.format(total);
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
        moreReasons(item, known?.name ?? item.id),
      ]);
    }),
  );
  const note = $(".excluded-more", details);
  note.hidden = more <= 0;
  note.dataset.count = String(more);
  const plans = more === 1 ? "plan does" : "plans do";
  const count = excluded.length ? `And ${COUNT.format(more)} more ${plans}` : `${COUNT.format(more)} ${plans}`;
  note.textContent = more <= 0 ? "" : `${count} not fit. Ask about any of them with “Why not this plan?” below.`;
}
