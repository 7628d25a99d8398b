// The force-charge status page follows GET /api/v1/force-charges/<id> until the charge ends.
(function () {
  "use strict";
  var page = document.getElementById("force-charge-status");
  if (!page || !page.dataset.api) { return; }
  var done = ["Completed", "Failed"];
  function show(id, text) {
    var el = document.getElementById(id);
    if (el && text !== null && text !== undefined) { el.textContent = text; }
  }
  function poll() {
    fetch(page.dataset.api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (fc) {
        if (!fc) { return; }
        show("fc-status", fc.status);
        show("fc-energy", (fc.energy_wh / 1000).toFixed(3) + " kWh");
        if (fc.amount_charged) { show("fc-charged", fc.amount_charged); }
        if (done.indexOf(fc.status) < 0) { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  if (done.indexOf(page.dataset.status) < 0) { window.setTimeout(poll, 2000); }
})();
