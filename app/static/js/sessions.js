// Active sessions: the live list of charging sessions.
(function () {
  var C = window.ChargeOps;
  C.poll("/api/v1/network/sessions", function (d) {
    document.getElementById("total").textContent = d.result.length + " charging now";
    document.querySelector("#active tbody").innerHTML = d.result.map(function (s) {
      var m = Math.floor((s.duration_s || 0) / 60);
      return '<tr><td><a href="/chargers/network/' + encodeURIComponent(s.cid) + '">' + C.esc(s.cid) + '</a></td><td>' + s.connector_id + '</td><td>' +
        s.transaction_id + '</td><td>' + C.esc(s.id_tag) + '</td><td>' + s.energy_kwh + '</td><td>' + C.esc(s.power_kw) + '</td><td>' +
        Math.floor(m / 60) + 'h ' + (m % 60) + 'm</td><td>' + C.esc(s.started_at) + '</td></tr>';
    }).join("");
  });
})();
