// Planwise admin rule builder: optional progressive enhancement (the builder works without it).
// - the "Update" buttons are hidden: changing a kind, question, attribute or operator updates the
//   form at once (the server offers the operators and value inputs that fit the chosen type);
// - removing a test or an effect happens in the page (the server accepts gaps in the numbering);
// - "compare with the value / the answer to" shows only the input that applies.
(function () {
  "use strict";
  var form = document.querySelector("form[data-builder]");
  if (!form) { return; }
  form.querySelectorAll(".nojs").forEach(function (el) { el.hidden = true; });

  function refresh(anchor) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "builder";
    input.value = "refresh";
    form.appendChild(input);
    if (anchor) { form.setAttribute("action", location.pathname + location.search + "#" + anchor); }
    form.submit();
  }

  form.addEventListener("change", function (event) {
    var el = event.target;
    var node = el.closest(".node, .effect");
    if (!node || !el.matches("select.kind, select.subject, select.op")) {
      if (el.matches("select.source")) {
        var row = el.closest(".row");
        row.querySelector(".from-answer").hidden = el.value !== "answer";
        row.querySelector(".from-value").hidden = el.value === "answer";
      }
      return;
    }
    refresh(node.id);
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=builder]");
    if (!button || button.value.indexOf("remove:") !== 0) { return; }
    var target = document.getElementById("node-" + button.value.slice(7));
    if (target) { event.preventDefault(); target.remove(); }
  });
})();
