// Choosing a plan on the page `/` (see planwise-page.js): the buttons on the cards, the
// confirmation dialog, saving the choice and the saved choice.
import { estimateText } from "./planwise-format.js";
import { $, estimateSpec, showAlert, state } from "./planwise-page-shared.js";

function planLabel(planId) {
  const known = state.names.get(planId);
  if (!known) return planId;
  return known.provider ? `${known.name} from ${known.provider}` : known.name;
}

export function markChosen() {
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

export function renderSelection() {
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

export function openConfirm(planId, opener) {
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

export function onConfirmClosed() {
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
  state.client
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
