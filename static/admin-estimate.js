// Planwise admin, "Estimate and display": live formula validation and quicker option fields.
// The page works without this file (the Update and Preview buttons do the same on the server).
(function () {
  "use strict";
  var form = document.getElementById("estimate-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var url = form.getAttribute("data-check-url");
  var formula = form.querySelector("textarea[name=formula]");
  var live = document.getElementById("formula-live");
  var timer = null;
  var sequence = 0;

  // Text only: staff-written input is never put into the page as HTML.
  function show(problems) {
    while (live.firstChild) { live.removeChild(live.firstChild); }
    var mine = problems.filter(function (p) { return p.field === "formula"; });
    var others = problems.length - mine.length;
    if (!mine.length) {
      var ok = document.createElement("p");
      ok.className = others ? "help" : "good";
      ok.textContent = others ? "The formula reads well; other fields have " + others + " problem(s)."
        : "No problems.";
      live.appendChild(ok);
      return;
    }
    var list = document.createElement("ul");
    list.className = "errors";
    mine.forEach(function (p) {
      var item = document.createElement("li");
      item.textContent = p.message;
      list.appendChild(item);
    });
    live.appendChild(list);
    var at = mine.map(function (p) { return p.position; }).filter(function (n) { return n !== null; })[0];
    if (at !== undefined) {
      var text = formula.value.trim();
      var pre = document.createElement("pre");
      pre.className = "formula-mark";
      var mark = document.createElement("mark");
      mark.textContent = text.charAt(at) || " ";
      pre.appendChild(document.createTextNode(text.slice(0, at)));
      pre.appendChild(mark);
      pre.appendChild(document.createTextNode(text.slice(at + 1)));
      live.appendChild(pre);
    }
  }

  function check() {
    var mine = ++sequence;
    var data = new FormData(form);
    data.delete("action");
    fetch(url, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body && mine === sequence) { show(body.problems || []); } })
      .catch(function () { /* the server check on save still applies */ });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(check, 300);
  }

  if (formula && live && url) {
    formula.addEventListener("input", later);
    form.addEventListener("change", function (event) {
      if (event.target !== formula) { later(); }
    });
  }
  // Picking a question re-renders the row with one field per option (the Update button).
  var update = form.querySelector("[data-update-button]");
  form.addEventListener("change", function (event) {
    if (update && event.target.getAttribute("data-update") && event.target.form === form) {
      form.requestSubmit ? form.requestSubmit(update) : update.click();
    }
  });
})();
