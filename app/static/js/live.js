// Live pages poll a JSON endpoint (no websockets, nothing from the internet).
window.ChargeOps = {
  // a signed-out or revoked session (logout elsewhere, a password change, a deactivated person) sends
  // the page to the login form, and back here after signing in, instead of polling 401s forever
  signedOut: function () {
    if (window.ChargeOps.leaving) return;  // several polls see the 401: one navigation, not one aborting another
    window.ChargeOps.leaving = true;
    window.location.assign("/login/?next=" + encodeURIComponent(window.location.pathname + window.location.search));
  },
  poll: function (url, render, ms) {
    var busy = false, timer = null;
    function tick() {
      if (busy) return; busy = true;
      fetch(typeof url === "function" ? url() : url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) {
          if (r.status === 401) { clearInterval(timer); window.ChargeOps.signedOut(); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (data) { if (data) render(data); })
        .catch(function () {})
        .finally(function () { busy = false; });
    }
    tick(); timer = setInterval(tick, ms || 1500); return timer;
  },
  esc: function (v) { return v === null || v === undefined ? "" : String(v).replace(/[&<>"']/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]; }); },
  // an API time (UTC, ISO 8601) as people read it: the configured TIMEZONE, day-first, no seconds
  when: function (iso) {
    if (!iso) return "";
    var d = new Date(iso), holder = document.getElementById("chargeops-tz");
    if (isNaN(d.getTime())) return String(iso);
    var tz = holder ? holder.getAttribute("data-tz") : undefined;
    try {
      return new Intl.DateTimeFormat("en-GB", {timeZone: tz, day: "numeric", month: "short", year: "numeric",
        hour: "2-digit", minute: "2-digit", hour12: false}).format(d).replace(",", "");
    } catch (e) { return String(iso); }
  },
  badge: function (b) { return '<span class="badge-bucket bucket-' + b.replace(" ", "-") + '">' + b + '</span>'; },
  // the page's CSRF token: API writes made with the session cookie must carry it
  csrf: function () { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; },
  // POST JSON (or FormData) to the API with the session cookie; done(status, body)
  post: function (url, body, done) {
    var form = body instanceof FormData;
    var headers = {"Accept": "application/json", "X-CSRFToken": window.ChargeOps.csrf()};
    if (!form) headers["Content-Type"] = "application/json";
    fetch(url, {method: "POST", credentials: "same-origin", headers: headers, body: form ? body : JSON.stringify(body || {})})
      .then(function (r) { return r.json().then(function (j) { done(r.status, j); }, function () { done(r.status, {}); }); });
  },
  send: function (cid, action, payload, done) {
    window.ChargeOps.post("/api/v1/chargers/" + encodeURIComponent(cid) + "/commands", {action: action, payload: payload}, done);
  },
  // the confirmation step of a command that cannot be taken back
  confirmed: function (el) { return !el.dataset.confirm || window.confirm(el.dataset.confirm); }
};
