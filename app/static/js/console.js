// The OCPP debug console: the chosen charger's raw stream, both directions.
(function () {
  var C = window.ChargeOps, last = 0, current = "", out = document.getElementById("stream");
  C.poll(function () {
    var cid = document.getElementById("console-cid").value.trim();
    if (cid !== current) { current = cid; last = 0; out.textContent = ""; }
    return cid ? "/api/v1/network/chargers/" + encodeURIComponent(cid) + "/messages?after=" + last : "/api/v1/network/summary";
  }, function (d) {
    if (!d.result) return;
    d.result.slice().reverse().forEach(function (m) {
      last = Math.max(last, m.id);
      out.textContent += m.received_at + (m.direction === "in" ? "  <- " : "  -> ") + m.action + "  " + (m.payload || "") +
        (m.flag ? "   [" + m.flag + "]" : "") + "\n";
    });
    out.scrollTop = out.scrollHeight;
  }, 1000);
})();
document.getElementById("console-form").addEventListener("submit", function (e) { e.preventDefault(); });
