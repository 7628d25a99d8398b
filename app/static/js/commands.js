// The command buttons of the charger page and the OCPP console (see chargers/_commands.html).
(function () {
  var C = window.ChargeOps, bar = document.getElementById("command-buttons");
  if (!bar) return;
  var picker = document.getElementById("console-cid");
  var feedback = document.getElementById("command-feedback");
  function chosen() { return (bar.dataset.cid || (picker ? picker.value : "")).trim(); }
  function known(cid) {  // the console: a charger is chosen when its identity is one of the list's
    if (bar.dataset.cid) return true;
    var list = document.getElementById("cids");
    return !!cid && (!list || Array.prototype.some.call(list.options, function (o) { return o.value === cid; }));
  }
  function refresh() {
    var ok = known(chosen());
    bar.querySelectorAll("button").forEach(function (b) { if (!b.hasAttribute("data-keep-disabled")) b.disabled = !ok; });
  }
  bar.querySelectorAll("button[disabled]").forEach(function (b) { b.setAttribute("data-keep-disabled", ""); });
  function show(label, status, body) {
    feedback.textContent = status >= 200 && status < 300
      ? label + ": " + (body.status === "Pending" ? "not delivered yet (broker unreachable), retried until its timeout" : (body.status || "accepted")) + " (" + (body.command_id || body.job_id || body.id || "") + ")"
      : "Refused: " + (body.message || status);
  }
  bar.querySelectorAll("button").forEach(function (b) {
    b.addEventListener("click", function () {
      var cid = chosen();
      if (!known(cid) || !C.confirmed(b)) return;
      var base = "/api/v1/chargers/" + encodeURIComponent(cid);
      if (b.dataset.post === "diagnostics") {
        C.post(base + "/diagnostics", {}, function (s, j) { show("Get diagnostics", s, j); });
      } else if (b.dataset.post === "ssh-reboot") {
        C.post(base + "/ssh-reboot", {}, function (s, j) { show("SSH reboot", s, j); });
      } else if (b.dataset.post === "firmware") {
        var fw = parseInt(document.getElementById("firmware-choice").value, 10);
        C.post("/api/v1/firmware/campaigns", {firmware_id: fw, charger_cids: [cid], batch_size: 1},
               function (s, j) { show("Firmware campaign", s, j); });
      } else {
        var payload = b.dataset.payload ? JSON.parse(b.dataset.payload) : {};
        if (b.dataset.ask === "transactionId") {
          var tx = window.prompt("Transaction id to stop"); if (!tx) return; payload.transactionId = parseInt(tx, 10);
        }
        C.send(cid, b.dataset.action, payload, function (s, j) { show(b.dataset.action, s, j); });
      }
    });
  });
  if (picker) { picker.addEventListener("input", refresh); picker.addEventListener("change", refresh); }
  refresh();
})();
