// Planwise admin: small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Question form: show only the settings of the chosen question type.
  var type = document.querySelector("select[name=type]");
  var parts = document.querySelectorAll(".for-type[data-types]");
  function showType() {
    parts.forEach(function (part) {
      part.hidden = part.getAttribute("data-types").split(" ").indexOf(type.value) < 0;
    });
  }
  if (type && parts.length) { type.addEventListener("change", showType); showType(); }
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
