// The plan listing page `/`: questions in a sidebar, a live, explained plan list, a confirmed
// choice. Built on planwise-client.js; every catalogue text is set with textContent. Plan cards
// are labelled and formatted from the questionnaire's schema (`attributes`, `display`,
// `estimate`) by planwise-format.js: nothing here knows a particular catalogue.
//
// This file wires the page: the client's events and the page's controls. The parts:
//   planwise-page-shared.js     DOM helpers, the page's state, status, alerts
//   planwise-page-questions.js  the questionnaire and answering
//   planwise-page-plans.js      the plan list, cards, estimates, the plans that do not fit
//   planwise-page-choice.js     choosing a plan: confirmation dialog and the saved choice
//   planwise-page-whynot.js     "Why not this plan?": search by name or id, explainPlan
import { createPlanwiseClient } from "./planwise-client.js";
import { onConfirmClosed, openConfirm, renderSelection } from "./planwise-page-choice.js";
import { onUpdate, refreshCards, releaseList, renderPlans } from "./planwise-page-plans.js";
import {
  cancelDebounce,
  clearError,
  flushDebounces,
  renderQuestions,
  syncQuestions,
} from "./planwise-page-questions.js";
import { $, announce, renderStatus, showAlert, showNotice, state } from "./planwise-page-shared.js";
import { onWhyNotUpdate, setupWhyNot } from "./planwise-page-whynot.js";

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

const client = createPlanwiseClient();
state.client = client;
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
client.on("update", (update) => {
  onUpdate(update);
  onWhyNotUpdate(update);
});
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
setupWhyNot();
if ("IntersectionObserver" in window) {
  // The phone's "See the plans" button is only useful while the list is out of view.
  new IntersectionObserver((entries) => {
    document.body.classList.toggle("plans-in-view", entries.some((e) => e.isIntersecting));
  }).observe($("#main"));
}
$("#alert .alert-close").addEventListener("click", () => {
  $("#alert").hidden = true;
});
