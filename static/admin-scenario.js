// Planwise admin, a test scenario's answer rows: optional progressive enhancement (the form works
// without it: "Update the answer inputs", "Add an answer" and "Remove" post the form).
// - picking a question shows the inputs for its answer at once (the server renders them);
// - removing a row happens in the page (the server accepts gaps in the row numbers).
(function () {
  "use strict";
  var form = document.querySelector("form[data-scenario]");
  if (!form) { return; }
  var refresh = form.querySelector("button[data-refresh]");
  form.querySelectorAll(".nojs").forEach(function (el) { el.hidden = true; });

  form.addEventListener("change", function (event) {
    var select = event.target;
    if (!refresh || !select.matches("select.question")) { return; }
    var row = select.closest("tr");
    if (row && row.id) { form.setAttribute("action", location.pathname + location.search + "#" + row.id); }
    if (form.requestSubmit) { form.requestSubmit(refresh); } else { refresh.click(); }
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-remove]");
    if (!button) { return; }
    var row = document.getElementById(button.getAttribute("data-remove"));
    if (row) { event.preventDefault(); row.remove(); }
  });
})();
