// "Why not this plan?" on the page `/` (see planwise-page.js): search a plan by name, or type its
// id, and say in plain words why it is shown, cut, excluded or no longer offered
// (client.explainPlan, PROTOCOL.md v1.1 `planExplanation`).
//
// The protocol has no listing of the catalogue: an update names the plans shown and at most
// `ranking.excludedLimit` excluded ones. The page keeps every plan any update of the session
// named (`state.names`, filled by planwise-page-plans.js) and searches that; for a plan it has
// never seen, a typed plan id goes to the server as it is. Every text is set as text.
//
// The input is an ARIA combobox with a listbox of matches (arrows, Enter, Escape); the number of
// matches and the explanation are announced politely.
import { PLAN_ID } from "./planwise-client.js";
import { $, el, state } from "./planwise-page-shared.js";

const MAX_OPTIONS = 8;
const COUNT_DELAY_MS = 400;

/** Text folded for matching: no accents, lower case, single spaces. */
export function fold(text) {
  return String(text ?? "")
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * The plans of `names` (Map id -> {name, provider}) that match `query`: the same name (or id)
 * first, then names starting with it, then a word of the name, then anywhere in the name, the
 * provider or the id; alphabetical within each. Returns `{matches: [{id, name, provider, exact}],
 * total}` with at most `limit` matches.
 */
export function searchPlans(names, query, limit = MAX_OPTIONS) {
  const q = fold(query);
  if (!q) return { matches: [], total: 0 };
  const found = [];
  for (const [id, plan] of names) {
    const name = fold(plan.name);
    const lowerId = id.toLowerCase();
    let rank;
    if (name === q || lowerId === q) rank = 0;
    else if (name.startsWith(q)) rank = 1;
    else if (name.includes(` ${q}`)) rank = 2;
    else if (name.includes(q) || fold(plan.provider).includes(q) || lowerId.includes(q)) rank = 3;
    else continue;
    found.push({ id, name: plan.name, provider: plan.provider ?? null, exact: rank === 0, rank });
  }
  found.sort((a, b) => a.rank - b.rank || a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  return { matches: found.slice(0, limit).map(({ rank, ...m }) => m), total: found.length };
}

/**
 * What a submitted query means: one plan (`{plan: id}`), several to choose from
 * (`{choose: matches, total}`), or nothing (`{none: true}`). A query that names no plan the page
 * has seen but could be a plan id is taken as one (the server knows every plan).
 */
export function resolveQuery(names, query) {
  const text = String(query ?? "").trim();
  const { matches, total } = searchPlans(names, text, Number.MAX_SAFE_INTEGER);
  const exact = matches.filter((m) => m.exact);
  if (exact.length === 1) return { plan: exact[0].id };
  if (exact.length > 1) return { choose: exact.slice(0, MAX_OPTIONS), total: exact.length };
  if (total === 1) return { plan: matches[0].id };
  if (total > 1) return { choose: matches.slice(0, MAX_OPTIONS), total };
  if (PLAN_ID.test(text)) return { plan: text };
  return { none: true };
}

/** The status of a `planExplanation` in plain words; `shownCount`: how many plans the list shows. */
export function statusText(why, shownCount) {
  switch (why.status) {
    case "shown":
      return `Shown at rank ${why.rank}.`;
    case "cut":
      return shownCount > 0
        ? `Matches your answers, but ranked below the top ${shownCount}.`
        : "Matches your answers, but ranked below the plans shown.";
    case "excluded":
      return "Excluded because:";
    case "inactive":
      return "No longer offered.";
    default:
      return `Status: ${why.status}.`;
  }
}

/** The heading of the reasons under the status (null: the status line says it). */
function reasonsHeading(why) {
  if (why.status === "shown") return "Why it is shown:";
  if (why.status === "cut") return "What counts for it:";
  return null;
}

// ---------------------------------------------------------------------------------------------
// The search box (combobox) and the result
// ---------------------------------------------------------------------------------------------

const ui = {
  options: [], // the matches listed
  active: -1, // index of the highlighted option
  countTimer: null,
  seq: 0, // the latest request; older replies are dropped
  current: null, // {planId, typed, revision, version}: what the result explains
};

export function setupWhyNot() {
  const input = $("#why-not-input");
  input.addEventListener("input", () => {
    const { matches, total } = searchPlans(state.names, input.value);
    showOptions(matches, total);
  });
  input.addEventListener("keydown", onKey);
  input.addEventListener("blur", () => setTimeout(closeOptions, 0));
  const list = $("#why-not-options");
  list.addEventListener("mousedown", (event) => event.preventDefault()); // keep the focus in the input
  list.addEventListener("click", (event) => {
    const option = event.target.closest('[role="option"]');
    if (option) pick(ui.options[Number(option.dataset.index)]);
  });
  $("#why-not-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit(input.value);
  });
  // An excluded plan listed with some of its reasons (ranking.excludedReasonsLimit): its
  // "all N reasons" button asks here, like a search for that plan would.
  $("#excluded").addEventListener("click", (event) => {
    const button = event.target.closest("button.excluded-all-reasons");
    if (!button) return;
    const planId = button.dataset.planId;
    input.value = displayName(planId);
    closeOptions();
    explain(planId, null);
    $("#why-not").scrollIntoView?.({ block: "nearest" });
  });
}

function onKey(event) {
  const open = !$("#why-not-options").hidden;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (!open) {
      const { matches, total } = searchPlans(state.names, event.target.value);
      showOptions(matches, total);
      if (ui.options.length) setActive(event.key === "ArrowDown" ? 0 : ui.options.length - 1);
      return;
    }
    const step = event.key === "ArrowDown" ? 1 : -1;
    const n = ui.options.length;
    if (n) setActive(ui.active < 0 ? (step > 0 ? 0 : n - 1) : (ui.active + step + n) % n);
  } else if (event.key === "Enter" && open && ui.active >= 0) {
    event.preventDefault();
    pick(ui.options[ui.active]);
  } else if (event.key === "Escape") {
    if (open) {
      event.preventDefault();
      closeOptions();
    } else if (event.target.value) {
      event.preventDefault();
      event.target.value = "";
    }
  } else if (event.key === "Tab") {
    closeOptions();
  }
}

function showOptions(matches, total, message) {
  const input = $("#why-not-input");
  const list = $("#why-not-options");
  ui.options = matches;
  ui.active = -1;
  input.removeAttribute("aria-activedescendant");
  list.replaceChildren(
    ...matches.map((m, i) =>
      el("li", { id: `why-not-option-${i}`, role: "option", "aria-selected": "false", "data-index": i, "data-plan-id": m.id }, [
        el("span", { class: "option-name", text: m.name }),
        m.provider ? el("span", { class: "option-provider", text: ` · ${m.provider}` }) : null,
      ]),
    ),
  );
  const open = matches.length > 0;
  list.hidden = !open;
  input.setAttribute("aria-expanded", String(open));
  let text = message ?? "";
  if (!message && input.value.trim()) {
    if (total === 0) text = "No plan listed on this page has that name. Press Enter to look it up as a plan id.";
    else if (total === 1) text = "1 plan matches. Use the down arrow to pick it, or press Enter.";
    else if (total > matches.length) text = `${total} plans match; the first ${matches.length} are listed. Type more to narrow them.`;
    else text = `${total} plans match. Use the up and down arrows to pick one.`;
  }
  countSay(text, message ? 0 : COUNT_DELAY_MS);
}

/** Announce the matches once typing pauses (not on every key). */
function countSay(text, delay) {
  clearTimeout(ui.countTimer);
  const node = $("#why-not-count");
  ui.countTimer = setTimeout(() => {
    node.textContent = text;
  }, delay);
}

function setActive(index) {
  const input = $("#why-not-input");
  const items = [...$("#why-not-options").children];
  items.forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
  ui.active = index;
  const item = items[index];
  if (item) {
    input.setAttribute("aria-activedescendant", item.id);
    item.scrollIntoView({ block: "nearest" });
  } else input.removeAttribute("aria-activedescendant");
}

function closeOptions() {
  const list = $("#why-not-options");
  if (list.hidden) return;
  list.hidden = true;
  ui.active = -1;
  const input = $("#why-not-input");
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
}

function pick(match) {
  if (!match) return;
  $("#why-not-input").value = match.name;
  closeOptions();
  explain(match.id, null);
}

function submit(query) {
  const text = String(query ?? "").trim();
  if (!text) {
    closeOptions();
    countSay("Type the name of a plan first.", 0);
    return;
  }
  const found = resolveQuery(state.names, text);
  if (found.plan) {
    closeOptions();
    explain(found.plan, state.names.has(found.plan) ? null : text);
  } else if (found.choose) {
    const count = found.total === 1 ? "1 plan matches" : `${found.total} plans match`;
    showOptions(found.choose, found.total, `${count} “${text}”: pick one from the list.`);
    setActive(0);
  } else {
    closeOptions();
    renderMessage(null, `No plan listed on this page is called “${text}”, and that cannot be a plan id.`);
  }
}

/** Ask the server about `planId`; `typed` is the text when the page did not know the plan. */
function explain(planId, typed, quiet = false) {
  const seq = ++ui.seq;
  ui.current = { planId, typed, revision: null, version: null };
  const region = $("#why-not-result");
  region.setAttribute("aria-busy", "true");
  if (!quiet) renderMessage(planId, `Looking up ${displayName(planId)}…`, "pending");
  state.client.explainPlan(planId).then(
    (why) => {
      if (seq !== ui.seq) return;
      ui.current.revision = why.revision;
      ui.current.version = why.version;
      renderExplanation(why);
    },
    (err) => {
      if (seq !== ui.seq || err.code === "closed") return;
      ui.current = null;
      let text = `Could not explain this plan right now: ${err.message}`;
      if (err.code === "unknown_plan") {
        text = typed
          ? `No plan listed on this page is called “${typed}”, and no plan has that id.`
          : `${displayName(planId)} is not in the catalogue any more.`;
      }
      renderMessage(planId, text, "error");
    },
  );
}

/** After a newer update (an answer, a publish), explain the same plan again. */
export function onWhyNotUpdate(update) {
  $("#why-not").hidden = false;
  const cur = ui.current;
  if (!cur || cur.revision === null) return;
  if (update.revision > cur.revision || update.version > cur.version) explain(cur.planId, cur.typed, true);
}

function displayName(planId) {
  return state.names.get(planId)?.name ?? planId;
}

function planLine(planId) {
  const known = state.names.get(planId);
  return el("p", { class: "why-not-plan" }, [
    el("span", { class: "why-not-name", text: known?.name ?? planId }),
    known?.provider ? el("span", { class: "why-not-provider", text: ` · ${known.provider}` }) : null,
  ]);
}

function renderMessage(planId, text, kind = "error") {
  const region = $("#why-not-result");
  region.removeAttribute("data-status");
  region.dataset.state = kind;
  if (planId) region.dataset.planId = planId;
  else delete region.dataset.planId;
  if (kind !== "pending") region.removeAttribute("aria-busy");
  region.replaceChildren(el("p", { class: "why-not-message", text }));
}

function renderExplanation(why) {
  const region = $("#why-not-result");
  region.dataset.state = "explained";
  region.dataset.status = why.status;
  region.dataset.planId = why.planId;
  const reasons = why.reasons ?? [];
  const heading = reasonsHeading(why);
  let list = null;
  if (reasons.length) {
    list = el(
      "ul",
      { class: "reasons" },
      reasons.map((r) => el("li", { text: r.text, "data-rule": r.rule })),
    );
  } else if (why.status === "shown" || why.status === "cut") {
    list = el("p", { class: "no-reason", text: "It fits every answer you gave so far." });
  }
  const parts = [
    planLine(why.planId),
    el("p", { class: "why-not-status", text: statusText(why, state.update?.plans?.length ?? 0) }),
    heading && reasons.length ? el("p", { class: "why-not-heading", text: heading }) : null,
    list,
  ];
  region.replaceChildren(...parts.filter(Boolean));
  region.removeAttribute("aria-busy");
}
