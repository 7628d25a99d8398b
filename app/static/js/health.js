// Heartbeat health: online/offline counts and the chargers with degraded connectivity.
(function () {
  var C = window.ChargeOps;
  C.poll("/api/v1/network/health", function (d) {
    ["online", "offline"].forEach(function (k) { document.getElementById(k).textContent = d[k]; });
    document.getElementById("interval").textContent = d.average_heartbeat_interval_s === null ? "?" : d.average_heartbeat_interval_s;
    document.getElementById("gap").textContent = d.average_heartbeat_gap_s === null ? "?" : d.average_heartbeat_gap_s;
    document.querySelector("#degraded tbody").innerHTML = d.degraded.map(function (c) {
      return '<tr><td><a href="/chargers/network/' + encodeURIComponent(c.cid) + '">' + C.esc(c.cid) + '</a></td><td>' + C.esc(c.name) +
        '</td><td>' + C.esc(c.site) + '</td><td>' + C.esc(c.rssi_dbm) + '</td><td>' + C.esc(c.last_seen) + '</td></tr>';
    }).join("");
  }, 2000);
})();
