// Planwise admin: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  if (window.planwiseAdminJs) { return; }  // loaded by the layout and by some pages: run once
  window.planwiseAdminJs = true;
  // Question form: show only the settings of the chosen question type.
  var type = document.querySelector("select[name=type]");
  var parts = document.querySelectorAll(".for-type[data-types]");
  function showType() {
    parts.forEach(function (part) {
      part.hidden = part.getAttribute("data-types").split(" ").indexOf(type.value) < 0;
    });
  }
  if (type && parts.length) { type.addEventListener("change", showType); showType(); }
  // Menus: one open at a time (browsers without <details name> support), closed by a click elsewhere.
  var menus = document.querySelectorAll("details.menu");
  menus.forEach(function (menu) {
    menu.addEventListener("toggle", function () {
      if (!menu.open) { return; }
      menus.forEach(function (other) { if (other !== menu) { other.open = false; } });
    });
  });
  document.addEventListener("click", function (event) {
    menus.forEach(function (menu) { if (!menu.contains(event.target)) { menu.open = false; } });
  });
  // Question list: drag a row to move it; the new order is posted (the ↑ ↓ buttons work without this).
  var list = document.querySelector("table[data-reorder] tbody");
  var reorder = document.getElementById("reorder-form");
  if (list && reorder) {
    var dragged = null;
    list.querySelectorAll("tr[data-id]").forEach(function (row) {
      row.draggable = true;
      row.addEventListener("dragstart", function (event) {
        dragged = row;
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", row.getAttribute("data-id"));
      });
      row.addEventListener("dragover", function (event) { event.preventDefault(); });
      row.addEventListener("drop", function (event) {
        event.preventDefault();
        if (!dragged || dragged === row) { return; }
        var rect = row.getBoundingClientRect();
        var after = event.clientY > rect.top + rect.height / 2;
        list.insertBefore(dragged, after ? row.nextSibling : row);
        var ids = Array.prototype.map.call(list.querySelectorAll("tr[data-id]"), function (r) {
          return r.getAttribute("data-id");
        });
        reorder.querySelector("input[name=order]").value = ids.join(",");
        reorder.submit();
      });
    });
  }
  // Simulator: re-run on every answer change so conditional questions appear as a person would see them.
  var sim = document.querySelector("form[data-autosubmit]");
  if (sim) {
    sim.addEventListener("change", function (event) {
      var box = event.target;
      if (box.type === "checkbox") {
        var marker = sim.querySelector("input[name='" + box.name + "__set']");
        if (marker) { marker.value = "1"; }
      }
      sim.requestSubmit ? sim.requestSubmit() : sim.submit();
    });
  }
})();
