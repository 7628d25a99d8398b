// The manual top-up form says whom the typed phone number or #id credits before anything is credited.
(function () {
  "use strict";
  var input = document.getElementById("customer"), target = document.getElementById("customer-name");
  if (!input || !target) { return; }
  var url = target.getAttribute("data-who-url"), timer = null;
  function resolve() {
    var ref = input.value.trim();
    fetch(url + "?customer=" + encodeURIComponent(ref), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || input.value.trim() !== ref) { return; }
        target.innerHTML = html;  // rendered and escaped by the server's template
      });
  }
  input.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(resolve, 250); });
  if (input.value) { resolve(); }
})();
