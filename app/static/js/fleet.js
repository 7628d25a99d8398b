// Firmware catalogue upload, new campaign form, and the campaign page (pause / resume / cancel).
(function () {
  function post(url, body, done) {
    var form = body instanceof FormData, token = document.querySelector('meta[name="csrf-token"]');
    var headers = {"Accept": "application/json", "X-CSRFToken": token ? token.content : ""};
    if (!form) headers["Content-Type"] = "application/json";
    fetch(url, {method: "POST", credentials: "same-origin", headers: headers, body: form ? body : JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (j) { done(r.status, j); }, function () { done(r.status, {}); }); });
  }
  function say(form, status, body, ok) {
    var el = form.querySelector(".js-feedback");
    if (el) el.textContent = status >= 200 && status < 300 ? ok(body) : "Refused: " + (body.message || status);
  }
  function confirmed(el) { return !el || !el.dataset.confirm || window.confirm(el.dataset.confirm); }

  var upload = document.getElementById("firmware-upload");
  if (upload) upload.addEventListener("submit", function (e) {
    e.preventDefault();
    post(upload.dataset.url, new FormData(upload), function (s, j) {
      say(upload, s, j, function (b) { setTimeout(function () { location.reload(); }, 800); return "Added " + b.version + " (sha256 " + b.sha256.slice(0, 12) + ")"; });
    });
  });

  var create = document.getElementById("campaign-create");
  if (create) create.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!confirmed(create.querySelector("[data-confirm]"))) return;
    var body = {}, data = new FormData(create);
    data.forEach(function (v, k) {
      v = String(v).trim(); if (!v) return;
      if (k === "charger_cids") body[k] = v.split(/[\s,]+/).filter(Boolean);
      else if (k === "failure_threshold") body[k] = parseFloat(v);
      else if (/_id$|_size$|_batches$|_hour$|_retries$/.test(k)) body[k] = parseInt(v, 10);
      else body[k] = v;
    });
    post("/api/v1/firmware/campaigns", body, function (s, j) {
      say(create, s, j, function (b) { location.href = "/firmwarecampaignview/campaign/" + b.id; return "Started"; });
    });
  });

  var page = document.getElementById("campaign-page");
  if (page && window.ChargeOps) {
    var C = window.ChargeOps, id = page.dataset.id;
    C.poll("/api/v1/firmware/campaigns/" + id, function (d) {
      document.getElementById("campaign-status").textContent = d.status;
      document.getElementById("campaign-reason").textContent = d.paused_reason ? "(" + d.paused_reason + ")" : "";
      document.getElementById("campaign-counts").textContent = Object.keys(d.counts).filter(function (k) { return d.counts[k]; })
        .map(function (k) { return k + ": " + d.counts[k]; }).join(" · ");
      document.querySelector("#campaign-chargers tbody").innerHTML = d.chargers.map(function (c) {
        return "<tr><td>" + (c.batch + 1) + "</td><td><a href=\"/chargers/network/" + encodeURIComponent(c.cid) + "\">" + C.esc(c.cid) +
          "</a></td><td>" + C.esc(c.status) + "</td><td>" + c.attempts + "</td><td>" + C.esc(c.error) + "</td><td>" +
          (c.confirmed ? "yes" : "") + "</td><td>" + C.esc(C.when(c.status_at)) + "</td></tr>";
      }).join("");
    }, 2000);
    page.querySelectorAll("[data-move]").forEach(function (b) {
      b.addEventListener("click", function () {
        if (!confirmed(b)) return;
        post("/api/v1/firmware/campaigns/" + id + "/" + b.dataset.move, {}, function (s, j) {
          var el = page.querySelector(".js-feedback");
          el.textContent = s === 200 ? "Campaign " + j.status.toLowerCase() : "Refused: " + (j.message || s);
        });
      });
    });
  }
})();
