// The live charger page: polls the charger's detail every second.
(function () {
  var C = window.ChargeOps, cid = document.getElementById("charger-page").dataset.cid;
  function rows(sel, items, fn) { document.querySelector(sel + " tbody").innerHTML = items.map(fn).join(""); }
  function dur(s) { if (s === null) return ""; var m = Math.floor(s / 60); return Math.floor(m / 60) + "h " + (m % 60) + "m"; }
  C.poll("/api/v1/network/chargers/" + encodeURIComponent(cid), function (d) {
    document.getElementById("bucket").innerHTML = C.badge(d.bucket);
    document.getElementById("facts").textContent = "last seen " + (d.last_seen ? C.when(d.last_seen) : "never") + " · RSSI " + (d.rssi_dbm === null ? "?" : d.rssi_dbm) +
      " dBm · " + (d.temperature_c === null ? "?" : d.temperature_c) + " °C · firmware " + (d.firmware_version || "?") +
      (d.firmware_status ? " (" + d.firmware_status + ")" : "") + (d.diagnostics_status ? " · diagnostics " + d.diagnostics_status : "");
    document.getElementById("ocpp-link").textContent = !d.ocpp.password_set ? "speaks MQTT (no OCPP password)" :
      (d.ocpp.connected ? "OCPP connected" : "OCPP disconnected") + (d.ocpp.since ? " since " + d.ocpp.since : "");
    rows("#connectors", d.connectors, function (c) { return '<tr data-connector="' + c.connector_id + '"><td>' + c.connector_id + '</td><td class="status">' +
      C.esc(c.status) + '</td><td>' + C.esc(c.error_code) + '</td><td>' + C.esc(c.vendor_error_code) + '</td><td>' + C.esc(C.when(c.updated_at)) + '</td></tr>'; });
    rows("#sessions", d.sessions, function (s) { return '<tr><td>' + s.transaction_id + '</td><td>' + s.connector_id + '</td><td>' + C.esc(s.id_tag) +
      '</td><td>' + s.status + '</td><td>' + s.energy_kwh + '</td><td>' + C.esc(s.power_kw) + '</td><td>' + dur(s.duration_s) + '</td></tr>'; });
    rows("#commands", d.commands, function (c) { return '<tr><td>' + C.esc(C.when(c.created_at)) + '</td><td>' + C.esc(c.action) + '</td><td>' +
      C.esc(c.status) + (c.late ? " (late)" : "") + (!c.delivered && c.status !== "Queued" ? " (not delivered)" : "") +
      '</td><td>' + C.esc(c.created_by) + '</td></tr>'; });
    rows("#faults", d.faults, function (f) { return '<tr><td>' + f.connector_id + '</td><td>' + C.esc(f.error_code) + (f.nonstandard ? " *" : "") +
      '</td><td>' + f.occurrences + '</td><td>' + C.esc(C.when(f.first_seen)) + '</td><td>' + C.esc(C.when(f.last_seen)) + '</td><td>' + C.esc(C.when(f.cleared_at)) + '</td></tr>'; });
    rows("#messages", d.messages, function (m) { return '<tr><td>' + C.esc(C.when(m.received_at)) + '</td><td>' + m.direction + '</td><td>' + C.esc(m.action) +
      (m.flag ? ' <span class="flagged" title="' + C.esc(m.flag) + '">⚠</span>' : '') + '</td><td><code>' + C.esc((m.payload || "").slice(0, 160)) + '</code></td></tr>'; });
  }, 1000);
})();
