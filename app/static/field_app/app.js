/* ChargeOps Field: the technicians' and agents' app. Talks only to the v1 API with the person's JWT.

   - Tokens: access + refresh kept on the phone; an access token near its end (or refused) is renewed with the
     refresh token, so nobody is signed out mid-shift; a refused refresh (revoked user) signs out.
   - Live: one Server-Sent Events stream (/api/v1/live/stream), read with fetch so it carries the token;
     it reconnects by itself and every (re)connect refetches what the screen shows.
   - Offline: issues, notes, photos and maintenance work go into an IndexedDB outbox first, each with its own
     Idempotency-Key, and are sent in order when the connection is there; a refusal is kept as a conflict
     for the person to see, never dropped or overwritten. GET answers are cached by the service worker. */
(function () {
  "use strict";
  var API = "/api/v1";
  var TOKENS = "chargeops.tokens";
  var BUCKETS = ["Available", "Charging", "Weak Signal", "Offline", "Faulted"];
  var TYPES = {L2: "L2 · AC", L3: "L3 · DC"};
  var me = null;
  var currentTab = null;
  var debugCid = null;
  var debugLastId = 0;
  var appMap = null;

  // --- small helpers -------------------------------------------------------------------------------
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function slug(s) { return String(s).replace(/\s+/g, "-"); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function debounce(fn, ms) {
    var t = null;
    return function () { clearTimeout(t); t = setTimeout(fn, ms); };
  }
  function duration(seconds) {
    if (seconds == null) return "";
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + "h " : "") + m + "m " + s + "s";
  }
  function when(iso) { return iso ? new Date(iso.endsWith("Z") || iso.includes("+") ? iso : iso + "Z").toLocaleString() : ""; }

  // --- tokens and the API ---------------------------------------------------------------------------
  function tokens() { try { return JSON.parse(localStorage.getItem(TOKENS)); } catch (e) { return null; } }
  function saveTokens(t) { localStorage.setItem(TOKENS, JSON.stringify(t)); }
  function expiresIn(jwt) {
    try {
      var body = JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return body.exp * 1000 - Date.now();
    } catch (e) { return 0; }
  }

  var refreshing = null;
  function refreshAccess() {
    if (refreshing) return refreshing;
    var t = tokens();
    if (!t || !t.refresh_token) return Promise.reject(new Error("signed out"));
    refreshing = fetch(API + "/security/refresh", {method: "POST", headers: {Authorization: "Bearer " + t.refresh_token}})
      .then(function (r) {
        if (r.status === 401 || r.status === 403 || r.status === 422) {
          signOut("Your sign-in has ended; sign in again.");
          throw new Error("signed out");
        }
        if (!r.ok) throw new Error("refresh failed: " + r.status);
        return r.json();
      })
      .then(function (d) { t.access_token = d.access_token; saveTokens(t); return t.access_token; })
      .finally(function () { refreshing = null; });
    return refreshing;
  }

  function accessToken() {
    var t = tokens();
    if (!t) return Promise.reject(new Error("signed out"));
    if (expiresIn(t.access_token) < 120000 && navigator.onLine) {
      return refreshAccess().catch(function (e) { if (e.message === "signed out") throw e; return t.access_token; });
    }
    return Promise.resolve(t.access_token);
  }

  /* fetch with the token; a 401 renews it once. Resolves {status, body, headers}; rejects when offline. */
  function api(path, options, retried) {
    options = options || {};
    return accessToken().then(function (token) {
      var headers = Object.assign({Accept: "application/json"}, options.headers || {}, {Authorization: "Bearer " + token});
      var init = {method: options.method || "GET", headers: headers, signal: options.signal};
      if (options.json !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(options.json); }
      if (options.form) init.body = options.form;
      return fetch(API + path, init).then(function (r) {
        if (r.status === 401 && !retried) return refreshAccess().then(function () { return api(path, options, true); });
        if (options.raw) return r;
        return r.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = {message: text}; }
          return {status: r.status, ok: r.ok, body: body, headers: r.headers};
        });
      });
    });
  }
  function getJson(path) {
    return api(path).then(function (r) {
      if (!r.ok) throw new Error((r.body && r.body.message) || ("HTTP " + r.status));
      return r.body;
    });
  }
  // A screen refreshed by live notes can have two reads in flight: only the newest may draw, so an older
  // answer arriving late never paints over a fresher one.
  var newest = {};
  function getLatest(key, path) {
    var mine = newest[key] = (newest[key] || 0) + 1;
    return getJson(path).then(function (body) {
      if (newest[key] !== mine) throw new Error("superseded");
      return body;
    });
  }

  // --- sign-in --------------------------------------------------------------------------------------
  function signOut(message) {
    localStorage.removeItem(TOKENS);
    localStorage.removeItem("chargeops.me");
    if (navigator.serviceWorker && navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage("signed-out");
    me = null;
    Live.stop();
    showSignin(message || "");
  }
  function showSignin(message) {
    $("#signin").hidden = false;
    $("#screens").hidden = true;
    $("#tabbar").hidden = true;
    $("#whoami").textContent = "";
    $("#signin-error").textContent = message || "";
  }
  function signIn(event) {
    event.preventDefault();
    $("#signin-error").textContent = "";
    fetch(API + "/security/login", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({username: $("#username").value, password: $("#password").value, provider: "db", refresh: true})
    }).then(function (r) {
      if (r.status === 401) throw new Error("Wrong user name or password.");
      if (!r.ok) throw new Error("Sign-in failed (" + r.status + ").");
      return r.json();
    }).then(function (d) {
      saveTokens({access_token: d.access_token, refresh_token: d.refresh_token});
      $("#password").value = "";
      return start();
    }).catch(function (e) { $("#signin-error").textContent = e.message === "Failed to fetch" ? "No connection." : e.message; });
  }

  function start() {
    return api("/app/me").then(function (r) {
      if (r.status === 403) { signOut("Your role has no access to the field app."); return; }
      if (!r.ok) throw new Error(r.status);
      me = r.body;
      localStorage.setItem("chargeops.me", JSON.stringify(me));
      enter();
    }).catch(function (e) {
      if (e.message === "signed out") return;
      var cached = localStorage.getItem("chargeops.me"); // offline: the last profile seen
      if (cached && tokens()) { me = JSON.parse(cached); enter(); } else showSignin("No connection.");
    });
  }

  function enter() {
    $("#signin").hidden = true;
    $("#screens").hidden = false;
    $("#tabbar").hidden = false;
    $("#whoami").textContent = me.user.name || me.user.username;
    $all("#tabbar a").forEach(function (a) {
      var tab = a.getAttribute("data-tab");
      a.hidden = (tab === "sessions" || tab === "dashboard" || tab === "map") && !me.can.network;
    });
    if (me.can.live) Live.start();
    Outbox.flush();
    route();
  }

  // --- tabs -----------------------------------------------------------------------------------------
  function route() {
    if (!me) return;
    var hash = (location.hash || "#dashboard").slice(1).split("/");
    var tab = hash[0] || "dashboard";
    if (!$("#tab-" + tab)) tab = "dashboard";
    currentTab = tab;
    $all(".tab").forEach(function (s) { s.hidden = s.getAttribute("data-tab") !== tab; });
    $all("#tabbar a").forEach(function (a) { a.classList.toggle("active", a.getAttribute("data-tab") === tab); });
    if (tab === "debug" && hash[1]) openDebug(decodeURIComponent(hash[1]));
    if (tab === "more") { panelName = hash[1] || null; panelArgs = hash.slice(2); }
    refreshTab();
  }

  function refreshTab(live) {
    if (currentTab === "dashboard") Dashboard.load();
    else if (currentTab === "sessions") Sessions.load();
    else if (currentTab === "debug") Debug.more();
    else if (currentTab === "map") MapTab.load();
    else if (currentTab === "more" && !live) Panels.reload(); // a live refresh never wipes a form being filled in
  }

  // --- Dashboard: L2/L3 x five buckets, search, filter ----------------------------------------------
  var Dashboard = {
    load: function () {
      if (!me.can.network) { $("#summary").innerHTML = "<p>Your role does not see the network.</p>"; return; }
      getLatest("summary", "/network/summary").then(Dashboard.summary).catch(function () {});
      Dashboard.list();
    },
    summary: function (s) {
      $("#summary").innerHTML = ["L2", "L3"].map(function (t) {
        var counts = s[t] || {};
        var total = BUCKETS.reduce(function (n, b) { return n + (counts[b] || 0); }, 0);
        return '<div class="type" id="summary-' + t + '"><h3>' + TYPES[t] + ' <small>' + total + ' chargers</small></h3><div class="buckets">' +
          BUCKETS.map(function (b) {
            return '<button class="bucket b-' + slug(b) + '" data-type="' + t + '" data-bucket="' + esc(b) + '"><span class="n">' +
              (counts[b] || 0) + '</span><span class="l">' + esc(b) + "</span></button>";
          }).join("") + "</div></div>";
      }).join("");
    },
    list: function () {
      var params = new URLSearchParams();
      if ($("#network-q").value) params.set("q", $("#network-q").value);
      if ($("#network-type").value) params.set("type", $("#network-type").value);
      if ($("#network-bucket").value) params.set("bucket", $("#network-bucket").value);
      params.set("page_size", "100");
      getLatest("network", "/network/chargers?" + params).then(function (d) {
        $("#network-list").innerHTML = d.result.map(function (c) {
          return '<li data-cid="' + esc(c.cid) + '"><a href="#debug/' + encodeURIComponent(c.cid) + '"><strong>' + esc(c.cid) +
            "</strong></a> " + esc(c.name) + ' <span class="pill b-' + slug(c.bucket) + '">' + esc(c.bucket) + '</span><div class="meta">' +
            esc(TYPES[c.type] || c.type) + (c.site ? " · " + esc(c.site) : "") + (c.last_seen ? " · seen " + esc(when(c.last_seen)) : "") + "</div></li>";
        }).join("") || "<li>No charger matches.</li>";
        $("#charger-ids").innerHTML = d.result.map(function (c) { return '<option value="' + esc(c.cid) + '">'; }).join("");
      }).catch(function () {});
    }
  };

  // --- Sessions: every active session, live --------------------------------------------------------
  var Sessions = {
    rows: [], loadedAt: 0,
    load: function () {
      if (!me.can.network) return;
      getLatest("sessions", "/network/sessions/connectors").then(function (d) { Sessions.rows = d.result; Sessions.loadedAt = Date.now(); Sessions.draw(); })
        .catch(function () {});
    },
    draw: function () {
      var extra = Math.floor((Date.now() - Sessions.loadedAt) / 1000);
      $("#sessions-count").textContent = "(" + Sessions.rows.length + ")";
      $("#sessions-list").innerHTML = Sessions.rows.map(function (s) {
        return '<li data-session="' + s.id + '"><strong>' + esc(s.cid) + "</strong> connector " + esc(s.connector_id) +
          ' <span class="pill b-Charging">' + esc(s.connector_status || s.status) + "</span>" +
          (s.connector_error && s.connector_error !== "NoError" ? ' <span class="pill b-Faulted">' + esc(s.connector_error) + "</span>" : "") +
          '<div class="meta">' + esc(s.energy_kwh) + " kWh · " +
          (s.power_kw != null ? esc(s.power_kw) + " kW · " : "") + duration((s.duration_s || 0) + extra) +
          " · tag " + esc(s.id_tag) + "</div></li>";
      }).join("") || "<li>No session is running.</li>";
    }
  };
  setInterval(function () { if (currentTab === "sessions" && Sessions.rows.length) Sessions.draw(); }, 1000);

  // --- Debug: a charger's OCPP stream, commands, customer lookup ------------------------------------
  var COMMANDS = {
    "soft-reset": {action: "Reset", payload: {type: "Soft"}},
    "hard-reset": {action: "Reset", payload: {type: "Hard"}, confirm: "Hard reset {cid}? A session running on it stops."},
    "unlock": {action: "UnlockConnector", payload: {connectorId: 1}},
    "unavailable": {action: "ChangeAvailability", payload: {connectorId: 0, type: "Inoperative"},
                    confirm: "Make {cid} unavailable? Nobody can charge on it until it is made available again."},
    "available": {action: "ChangeAvailability", payload: {connectorId: 0, type: "Operative"}},
    "trigger-status": {action: "TriggerMessage", payload: {requestedMessage: "StatusNotification"}},
    "trigger-heartbeat": {action: "TriggerMessage", payload: {requestedMessage: "Heartbeat"}}
  };

  function confirmAction(text) {
    var dialog = $("#confirm-dialog");
    $("#confirm-text").textContent = text;
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function once() {
        dialog.removeEventListener("close", once);
        resolve(dialog.returnValue === "ok");
      });
      dialog.showModal();
    });
  }

  function openDebug(cid) {
    if (cid === debugCid) return;
    debugCid = cid;
    debugLastId = 0;
    $("#debug-cid").value = cid;
    $("#ocpp-stream").innerHTML = "";
    $("#command-result").textContent = "";
    $("#debug-commands").hidden = !me.can.commands;
    getJson("/network/chargers/" + encodeURIComponent(cid)).then(function (c) {
      $("#debug-charger").innerHTML = '<div class="cards"><li><strong>' + esc(c.cid) + "</strong> " + esc(c.name || "") +
        ' <span class="pill b-' + slug(c.bucket) + '" id="debug-bucket">' + esc(c.bucket) + '</span><div class="meta">' +
        esc(TYPES[c.type] || c.type) + " · " + c.connectors.map(function (k) {
          return "#" + k.connector_id + " " + esc(k.status) + (k.error_code && k.error_code !== "NoError" ? " (" + esc(k.error_code) + ")" : "");
        }).join(", ") + "</div>" + (me.can.issues ? '<p><a href="#more/issues/new/' + encodeURIComponent(c.cid) + '">Report an issue</a></p>' : "") +
        "</li></div>";
    }).catch(function (e) { $("#debug-charger").innerHTML = '<p class="error">' + esc(e.message) + "</p>"; });
    Debug.more();
  }

  var Debug = {
    more: function () {
      if (!debugCid) return;
      var cid = debugCid;
      getJson("/network/chargers/" + encodeURIComponent(cid) + "/messages?after=" + debugLastId).then(function (d) {
        if (cid !== debugCid || !d.result.length) return;
        var rows = d.result.slice().sort(function (a, b) { return b.id - a.id; });
        debugLastId = Math.max(debugLastId, rows[0].id);
        var html = rows.map(function (m) {
          return '<li data-id="' + m.id + '"><b>' + esc(m.direction) + " " + esc(m.action) + "</b> " + esc(when(m.received_at)) +
            (m.flag ? " ⚑ " + esc(m.flag) : "") + "<br>" + esc(JSON.stringify(m.payload)) + "</li>";
        }).join("");
        $("#ocpp-stream").insertAdjacentHTML("afterbegin", html);
      }).catch(function () {});
    },
    command: function (name) {
      var spec = COMMANDS[name];
      if (!spec || !debugCid) return;
      var cid = debugCid;
      var go = spec.confirm ? confirmAction(spec.confirm.replace("{cid}", cid)) : Promise.resolve(true);
      go.then(function (ok) {
        if (!ok) { $("#command-result").textContent = "Cancelled."; return; }
        $("#command-result").textContent = "Sending " + spec.action + "…";
        api("/chargers/" + encodeURIComponent(cid) + "/commands", {method: "POST", json: {action: spec.action, payload: spec.payload}})
          .then(function (r) {
            if (!r.ok) { $("#command-result").textContent = (r.body && r.body.message) || ("Refused (" + r.status + ")"); return; }
            Debug.follow(r.body.command_id, spec.action, 0);
          }).catch(function () { $("#command-result").textContent = "No connection: the command was not sent."; });
      });
    },
    follow: function (commandId, action, tries) {
      getJson("/commands/" + commandId).then(function (c) {
        $("#command-result").textContent = action + ": " + c.status;
        if (["Pending", "Sent", "Queued"].indexOf(c.status) >= 0 && tries < 30) {
          setTimeout(function () { Debug.follow(commandId, action, tries + 1); }, 1000);
        }
      }).catch(function () {});
    },
    lookup: function (event) {
      event.preventDefault();
      var phone = $("#lookup-phone").value.trim();
      if (!phone) return;
      getJson("/customers/lookup?phone=" + encodeURIComponent(phone)).then(function (d) {
        $("#lookup-result").innerHTML = '<ul class="cards">' + (d.result.map(function (c) {
          return '<li data-customer="' + c.id + '"><strong>' + esc(c.name) + '</strong> <span class="pill b-Available">' +
            esc(c.balance) + " " + esc(c.currency || "") + '</span><div class="meta">' + esc(c.phone) + (c.email ? " · " + esc(c.email) : "") +
            (c.address ? "<br>" + esc(c.address) : "") + "</div>" +
            ((c.vehicles || []).length ? '<div class="meta">Vehicles: ' + c.vehicles.map(function (v) {
              return esc([v.make, v.model, v.plate].filter(Boolean).join(" "));
            }).join(", ") + "</div>" : "") + '<div class="meta sessions" id="customer-sessions-' + c.id + '"></div></li>';
        }).join("") || "<li>No customer with that phone.</li>") + "</ul>";
        d.result.forEach(function (c) { Debug.customerSessions(c.id); });
      }).catch(function (e) { $("#lookup-result").innerHTML = '<p class="error">' + esc(e.message) + "</p>"; });
    },
    customerSessions: function (customerId) {
      getJson("/app/customers/" + customerId + "/sessions").then(function (d) {
        var box = $("#customer-sessions-" + customerId);
        if (!box) return;
        box.innerHTML = d.result.length ? "Last sessions: " + d.result.map(function (s) {
          return esc(s.cid) + " " + esc(when(s.started_at)) + " " + esc(s.energy_kwh) + " kWh " + esc(s.status);
        }).join("; ") : "No sessions yet.";
      }).catch(function () {});
    }
  };

  // --- Map ------------------------------------------------------------------------------------------
  var MapTab = {
    load: function () {
      if (!me.can.network) return;
      if (!appMap) {
        appMap = window.ChargerMap.create($("#app-map"), {
          tileUrl: me.config.map_tile_url, attribution: me.config.map_tile_attribution,
          detailHref: function (cid) { return "#debug/" + encodeURIComponent(cid); }
        });
      }
      setTimeout(function () { appMap.invalidate(); }, 50);
      getLatest("map", "/network/map").then(function (d) { appMap.setPoints(d.result); }).catch(function () {});
    }
  };

  // --- the outbox: offline writes, each sent once -------------------------------------------------
  var dbPromise = window.idb.openDB("chargeops-field", 1, {
    upgrade: function (db) { db.createObjectStore("outbox", {keyPath: "key"}); }
  });

  var Outbox = {
    sending: false,
    add: function (item) {
      item.key = item.key || uuid();
      item.created = Date.now();
      item.state = "queued";
      item.step = item.step || 0;
      return dbPromise.then(function (db) { return db.put("outbox", item); })
        .then(Outbox.badge).then(function () { Outbox.flush(); return item; });
    },
    all: function () {
      return dbPromise.then(function (db) { return db.getAll("outbox"); })
        .then(function (rows) { return rows.sort(function (a, b) { return a.created - b.created; }); });
    },
    put: function (item) { return dbPromise.then(function (db) { return db.put("outbox", item); }); },
    remove: function (key) { return dbPromise.then(function (db) { return db.delete("outbox", key); }).then(Outbox.badge); },
    badge: function () {
      return Outbox.all().then(function (rows) {
        var conflicts = rows.filter(function (r) { return r.state === "conflict"; }).length;
        var badge = $("#outbox-badge");
        badge.hidden = !rows.length;
        badge.textContent = rows.length + (conflicts ? " · " + conflicts + " conflict" : "") + " to send";
        $("#outbox-count").textContent = rows.length ? "(" + rows.length + ")" : "";
      });
    },
    /* Each queued item in order; stops at the first that cannot be sent now (offline, server trouble). */
    flush: function () {
      if (Outbox.sending || !tokens()) return Promise.resolve();
      Outbox.sending = true;
      return Outbox.all().then(function (rows) {
        var queued = rows.filter(function (r) { return r.state === "queued"; });
        return queued.reduce(function (chain, item) {
          return chain.then(function (go) { return go === false ? false : Outbox.send(item); });
        }, Promise.resolve(true));
      }).catch(function () {}).finally(function () {
        Outbox.sending = false;
        Outbox.badge();
        if (currentTab === "more" && panelName === "outbox") Panels.reload();
        else if (currentTab === "more" && panelName === "issues") Panels.issueList();
      });
    },
    request: function (item) {
      var headers = {"Idempotency-Key": item.key + ":" + item.step};
      var p = item.payload;
      if (item.kind === "issue" && item.step === 0) return {path: "/issues/", method: "POST", json: p, headers: headers};
      if (item.kind === "issue" || item.kind === "note") {
        var form = new FormData();
        form.append("body", p.note || p.description || "Photo");
        (item.photos || []).forEach(function (f) { form.append("photo", f.blob, f.name); });
        return {path: "/issues/" + (item.issue_id || p.issue_id) + "/notes", method: "POST", form: form, headers: headers};
      }
      if (item.kind === "transition") return {path: "/issues/" + p.issue_id + "/transition", method: "POST", json: {to: p.to, from: p.from}, headers: headers};
      if (item.kind === "maintenance") return {path: "/maintenance/", method: "POST", json: p, headers: headers};
      if (item.kind === "complete") {
        var done = new FormData();
        done.append("report", p.report || "");
        (item.photos || []).forEach(function (f) { done.append("photo", f.blob, f.name); });
        return {path: "/maintenance/" + p.task_id + "/complete", method: "POST", form: done, headers: headers};
      }
      return null;
    },
    steps: function (item) { return item.kind === "issue" && (item.photos || []).length ? 2 : 1; },
    send: function (item) {
      var req = Outbox.request(item);
      if (!req) return Outbox.remove(item.key).then(function () { return true; });
      return api(req.path, req).then(function (r) {
        if (r.ok) {
          if (item.kind === "issue" && item.step === 0) item.issue_id = r.body.id;
          item.step += 1;
          if (item.step >= Outbox.steps(item)) return Outbox.remove(item.key).then(function () { return true; });
          return Outbox.put(item).then(function () { return Outbox.send(item); });
        }
        if (r.status >= 500 || r.status === 401) return false; // try again later, in the same order
        item.state = "conflict"; // the server refused it: the person decides, nothing is overwritten
        item.message = (r.body && r.body.message) || ("refused (" + r.status + ")");
        return Outbox.put(item).then(function () { return true; });
      }, function () { return false; }); // offline
    },
    retry: function (key) {
      return dbPromise.then(function (db) { return db.get("outbox", key); }).then(function (item) {
        if (!item) return;
        item.state = "queued";
        item.message = null;
        return Outbox.put(item).then(Outbox.flush);
      });
    }
  };
  window.addEventListener("online", function () { Outbox.flush(); Live.kick(); });
  setInterval(function () { if (navigator.onLine) Outbox.flush(); }, 30000);

  // --- More: issues, maintenance, force charge, tickets, alerts, notifications, health, outbox ----
  var panelName = null, panelArgs = [];
  function photosOf(input) {
    return Array.prototype.slice.call(input.files || []).map(function (f) { return {name: f.name, type: f.type, blob: f}; });
  }
  function refused(status) { return '<p class="error">' + esc(status) + "</p>"; }

  var Panels = {
    reload: function () {
      var box = $("#panel");
      if (!panelName) { box.innerHTML = ""; return; }
      var draw = Panels[panelName];
      if (draw) draw(box, panelArgs);
    },
    issues: function (box, args) {
      if (!me.can.issues) { box.innerHTML = refused("Your role does not work on issues."); return; }
      var cid = args[0] === "new" ? decodeURIComponent(args[1] || "") : "";
      box.innerHTML = '<h2>Issues</h2><form id="issue-form"><input id="issue-cid" list="charger-ids" placeholder="Charger id" required value="' +
        esc(cid) + '"><input id="issue-title" placeholder="What is wrong" required><select id="issue-priority">' +
        ["Low", "Medium", "High", "Critical"].map(function (p) { return "<option" + (p === "Medium" ? " selected" : "") + ">" + p + "</option>"; }).join("") +
        '</select><textarea id="issue-description" placeholder="Details (optional)"></textarea>' +
        '<label>Photos <input id="issue-photo" type="file" accept="image/*" capture="environment" multiple></label>' +
        '<button id="issue-save" type="submit">Open issue</button><p id="issue-saved" role="status"></p></form><ul id="issue-list" class="cards"></ul>';
      $("#issue-form").addEventListener("submit", function (e) {
        e.preventDefault();
        Outbox.add({
          kind: "issue", photos: photosOf($("#issue-photo")),
          payload: {charger_cid: $("#issue-cid").value.trim(), title: $("#issue-title").value.trim(),
                    priority: $("#issue-priority").value, description: $("#issue-description").value || null}
        }).then(function () {
          $("#issue-form").reset();
          $("#issue-saved").textContent = navigator.onLine ? "Saved; sending…" : "Saved on this phone; it goes out when you are back online.";
        });
      });
      Panels.issueList();
    },
    issueList: function () {
      if (!$("#issue-list")) return;
      getJson("/issues/?open=1").then(function (d) {
        $("#issue-list").innerHTML = d.result.map(function (i) {
          var next = {"Open": "In Progress", "In Progress": "Resolved", "Resolved": "Closed"}[i.status];
          return '<li data-issue="' + i.id + '"><strong>#' + i.id + " " + esc(i.title) + '</strong> <span class="pill b-' +
            (i.priority === "Critical" || i.priority === "High" ? "Faulted" : "Charging") + '">' + esc(i.priority) + '</span><div class="meta">' +
            esc(i.charger_cid || (i.charger && i.charger.cid) || "") + " · " + esc(i.status) + "</div>" +
            (next ? '<button class="secondary" data-move="' + i.id + '" data-from="' + esc(i.status) + '" data-to="' + esc(next) + '">→ ' + esc(next) + "</button>" : "") +
            ' <button class="secondary" data-note="' + i.id + '">Add note</button></li>';
        }).join("") || "<li>No open issue.</li>";
      }).catch(function () { $("#issue-list").innerHTML = "<li>Offline: the list shows when the connection returns.</li>"; });
    },
    maintenance: function (box) {
      if (!me.can.maintenance) { box.innerHTML = refused("Your role does not plan maintenance."); return; }
      box.innerHTML = '<h2>Maintenance</h2><div class="filters"><select id="mt-type"><option value="">L2 + L3</option><option>L2</option><option>L3</option></select>' +
        '<select id="mt-status"><option value="">Any status</option><option>Planned</option><option>In Progress</option><option>Done</option></select></div>' +
        '<ul id="mt-list" class="cards"></ul><form id="mt-form"><strong>Plan a task</strong><input id="mt-cid" list="charger-ids" placeholder="Charger id" required>' +
        '<select id="mt-kind"><option>Routine</option><option>Repair</option><option>Emergency</option><option>Inspection</option></select>' +
        '<input id="mt-due" type="date" required><button type="submit">Plan</button></form>';
      function list() {
        var params = new URLSearchParams();
        if ($("#mt-type").value) params.set("type", $("#mt-type").value);
        if ($("#mt-status").value) params.set("status", $("#mt-status").value);
        getJson("/maintenance/?" + params).then(function (d) {
          $("#mt-list").innerHTML = d.result.map(function (t) {
            return '<li data-task="' + t.id + '"><strong>' + esc(t.kind) + " " + esc(t.title) + '</strong><div class="meta">due ' + esc(t.due_date) +
              " · " + esc(t.status) + "</div>" + (t.status !== "Done" && t.status !== "Cancelled"
                ? '<form class="mt-done" data-task="' + t.id + '"><textarea placeholder="Report" name="report"></textarea>' +
                  '<input type="file" name="photo" accept="image/*" capture="environment" multiple><button type="submit">Complete</button></form>' : "") + "</li>";
          }).join("") || "<li>No task.</li>";
        }).catch(function () { $("#mt-list").innerHTML = "<li>Offline.</li>"; });
      }
      $("#mt-type").addEventListener("change", list);
      $("#mt-status").addEventListener("change", list);
      $("#mt-form").addEventListener("submit", function (e) {
        e.preventDefault();
        Outbox.add({kind: "maintenance", payload: {charger_cid: $("#mt-cid").value.trim(), kind: $("#mt-kind").value, due_date: $("#mt-due").value}})
          .then(function () { $("#mt-form").reset(); setTimeout(list, 500); });
      });
      list();
    },
    force: function (box) {
      if (!me.can.force_charge) { box.innerHTML = refused("Your role does not start force charges."); return; }
      box.innerHTML = '<h2>Force charge</h2><form id="fc-form"><input id="fc-cid" list="charger-ids" placeholder="Charger id" required>' +
        '<input id="fc-phone" type="tel" placeholder="Customer phone" required><button type="button" id="fc-find" class="secondary">Find customer</button>' +
        '<select id="fc-customer" required></select><select id="fc-connector"><option>1</option><option>2</option></select>' +
        '<select id="fc-mode"><option value="amount">Amount</option><option value="time">Time</option></select>' +
        '<input id="fc-value" placeholder="Amount (e.g. 500.00) or minutes" required><button type="submit">Start</button><p id="fc-result" role="status"></p></form>';
      $("#fc-find").addEventListener("click", function () {
        getJson("/customers/lookup?phone=" + encodeURIComponent($("#fc-phone").value)).then(function (d) {
          $("#fc-customer").innerHTML = d.result.map(function (c) {
            return '<option value="' + c.id + '">' + esc(c.name) + " · " + esc(c.balance) + "</option>";
          }).join("");
        }).catch(function (e) { $("#fc-result").textContent = e.message; });
      });
      $("#fc-form").addEventListener("submit", function (e) {
        e.preventDefault();
        var mode = $("#fc-mode").value, value = $("#fc-value").value.trim();
        var body = {customer_id: Number($("#fc-customer").value), connector_id: Number($("#fc-connector").value), mode: mode};
        if (mode === "amount") body.amount = value; else body.minutes = Number(value);
        api("/chargers/" + encodeURIComponent($("#fc-cid").value.trim()) + "/force-charge", {method: "POST", json: body}).then(function (r) {
          $("#fc-result").textContent = r.ok ? "Started: force charge #" + r.body.force_charge_id : (r.body && r.body.message) || r.status;
        }).catch(function () { $("#fc-result").textContent = "No connection: nothing was started."; });
      });
    },
    tickets: function (box) {
      if (!me.can.tickets) { box.innerHTML = refused("Your role does not see tickets."); return; }
      box.innerHTML = '<h2>Tickets</h2><select id="tk-status"><option>Open</option><option>In Progress</option><option>Resolved</option></select><ul id="tk-list" class="cards"></ul>';
      function list() {
        var q = "(filters:!((col:status,opr:eq,value:'" + $("#tk-status").value + "')),order_column:id,order_direction:desc,page_size:50)";
        getJson("/tickets/?q=" + encodeURIComponent(q)).then(function (d) {
          $("#tk-list").innerHTML = d.result.map(function (t) {
            return '<li data-ticket="' + t.id + '"><strong>#' + t.id + " " + esc(t.subject || t.title || "") + '</strong><div class="meta">' +
              esc(t.status) + (t.priority ? " · " + esc(t.priority) : "") + '</div><form class="tk-note" data-ticket="' + t.id +
              '"><input name="body" placeholder="Add a note"><button type="submit" class="secondary">Add</button></form></li>';
          }).join("") || "<li>None.</li>";
        }).catch(function (e) { $("#tk-list").innerHTML = "<li>" + esc(e.message) + "</li>"; });
      }
      $("#tk-status").addEventListener("change", list);
      list();
    },
    alerts: function (box) {
      if (!me.can.alerts) { box.innerHTML = refused("Your role does not see alerts."); return; }
      box.innerHTML = '<h2>Alerts</h2><ul id="alert-list" class="cards"></ul>';
      var q = "(order_column:created_at,order_direction:desc,page_size:50)";
      getJson("/alerts/?q=" + encodeURIComponent(q)).then(function (d) {
        $("#alert-list").innerHTML = d.result.map(function (a) {
          return '<li class="' + (a.resolved_at ? "" : "queued") + '"><strong>' + esc(a.title) + '</strong><div class="meta">' + esc(a.kind) + " · " +
            esc(when(a.created_at)) + (a.repeat_count > 1 ? " · ×" + a.repeat_count : "") + (a.resolved_at ? " · resolved" : " · open") + "</div>" +
            (a.body ? "<div>" + esc(a.body) + "</div>" : "") + "</li>";
        }).join("") || "<li>No alert.</li>";
      }).catch(function (e) { $("#alert-list").innerHTML = "<li>" + esc(e.message) + "</li>"; });
    },
    notifications: function (box) {
      box.innerHTML = '<h2>Notifications</h2><div class="buttons"><button id="push-toggle" class="secondary">Push on this phone…</button>' +
        '<button id="read-all" class="secondary">Mark all read</button></div><p id="push-state" role="status"></p><ul id="note-list" class="cards"></ul>';
      Push.state();
      $("#push-toggle").addEventListener("click", Push.toggle);
      $("#read-all").addEventListener("click", function () {
        api("/notifications/read-all", {method: "POST", json: {}}).then(function () { Panels.reload(); }).catch(function () {});
      });
      getJson("/notifications/").then(function (d) {
        $("#unread-count").textContent = d.unread ? "(" + d.unread + ")" : "";
        $("#note-list").innerHTML = d.result.map(function (n) {
          return '<li class="' + (n.read ? "" : "queued") + '" data-note-id="' + n.id + '"><strong>' + esc(n.title) + '</strong><div class="meta">' +
            esc(when(n.created_at)) + (n.read ? "" : " · unread") + "</div>" + (n.body ? "<div>" + esc(n.body) + "</div>" : "") +
            (n.read ? "" : '<button class="secondary" data-read="' + n.id + '">Mark read</button>') + "</li>";
        }).join("") || "<li>Nothing yet.</li>";
      }).catch(function () {});
    },
    health: function (box) {
      box.innerHTML = '<h2>Charger health</h2><div id="health"></div>';
      getJson("/network/health").then(function (h) {
        $("#health").innerHTML = '<ul class="cards"><li>Online <strong>' + h.online + "</strong> · offline <strong>" + h.offline + "</strong></li>" +
          "<li>Average heartbeat interval " + esc(h.average_heartbeat_interval_s) + " s · average gap " + esc(h.average_heartbeat_gap_s) + " s</li>" +
          "<li><strong>Degraded connectivity</strong><br>" + (h.degraded.map(function (c) {
            return '<a href="#debug/' + encodeURIComponent(c.cid) + '">' + esc(c.cid) + "</a> " + esc(c.rssi_dbm != null ? c.rssi_dbm + " dBm" : "");
          }).join(", ") || "none") + "</li></ul>";
      }).catch(function (e) { $("#health").innerHTML = refused(e.message); });
    },
    outbox: function (box) {
      box.innerHTML = '<h2>Waiting to send</h2><ul id="outbox-list" class="cards"></ul>';
      Outbox.all().then(function (rows) {
        $("#outbox-list").innerHTML = rows.map(function (r) {
          var p = r.payload || {};
          return '<li class="' + r.state + '" data-key="' + esc(r.key) + '"><strong>' + esc(r.kind) + "</strong> " + esc(p.title || p.note || p.to || p.kind || "") +
            ' <span class="meta">' + esc(p.charger_cid || p.issue_id || "") + ((r.photos || []).length ? " · " + r.photos.length + " photo(s)" : "") + "</span>" +
            (r.state === "conflict" ? '<p class="error">Not accepted: ' + esc(r.message) + '</p><button data-retry="' + esc(r.key) +
              '">Send again</button> <button class="secondary" data-discard="' + esc(r.key) + '">Discard</button>' : '<div class="meta">waiting for a connection</div>') + "</li>";
        }).join("") || "<li>Everything is sent.</li>";
      });
    }
  };

  // --- Web Push ---------------------------------------------------------------------------------
  function keyBytes(base64) {
    var padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  var Push = {
    registration: function () { return navigator.serviceWorker ? navigator.serviceWorker.ready : Promise.reject(new Error("no service worker")); },
    state: function () {
      if (!("PushManager" in window)) { $("#push-state").textContent = "This browser has no push."; return; }
      Push.registration().then(function (reg) { return reg.pushManager.getSubscription(); }).then(function (sub) {
        $("#push-toggle").textContent = sub ? "Turn push off on this phone" : "Turn push on for this phone";
        $("#push-state").textContent = sub ? "Broadcasts and charger alerts reach this phone, even with the app closed." : "";
      }).catch(function () {});
    },
    toggle: function () {
      Push.registration().then(function (reg) {
        return reg.pushManager.getSubscription().then(function (sub) {
          if (sub) {
            return api("/push/subscriptions", {method: "DELETE", json: {endpoint: sub.endpoint}})
              .then(function () { return sub.unsubscribe(); });
          }
          return Notification.requestPermission().then(function (permission) {
            if (permission !== "granted") throw new Error("Notifications are blocked for this app.");
            return reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: keyBytes(me.config.vapid_public_key)});
          }).then(function (created) {
            var json = created.toJSON();
            return api("/push/subscriptions", {method: "POST", json: {endpoint: json.endpoint, keys: json.keys}});
          });
        });
      }).then(Push.state).catch(function (e) { $("#push-state").textContent = e.message; });
    }
  };

  // --- live updates (Server-Sent Events over fetch, so the token goes in a header) ---------------
  var Live = {
    controller: null, backoff: 1000, timer: null, running: false,
    start: function () {
      if (Live.running) return;
      Live.running = true;
      Live.connect();
    },
    stop: function () {
      Live.running = false;
      clearTimeout(Live.timer);
      if (Live.controller) Live.controller.abort();
      Live.status(false);
    },
    kick: function () {
      if (!Live.running) return;
      clearTimeout(Live.timer);
      Live.backoff = 1000;
      if (!Live.controller) Live.connect();
    },
    status: function (on) {
      var el = $("#live-status");
      el.textContent = on ? "live" : (navigator.onLine ? "reconnecting" : "offline");
      el.classList.toggle("on", on);
      el.classList.toggle("off", !on);
    },
    later: function (ms) {
      Live.controller = null;
      Live.status(false);
      if (!Live.running) return;
      clearTimeout(Live.timer);
      Live.timer = setTimeout(Live.connect, ms || Live.backoff);
      Live.backoff = Math.min(Live.backoff * 2, 15000);
    },
    connect: function () {
      if (!Live.running || Live.controller) return;
      var controller = new AbortController();
      Live.controller = controller;
      api("/live/stream", {raw: true, signal: controller.signal, headers: {Accept: "text/event-stream"}}).then(function (r) {
        if (!r.ok) {
          var wait = Number(r.headers.get("Retry-After") || 0) * 1000;
          Live.later(wait || null);
          return;
        }
        Live.backoff = 1000;
        var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { Live.later(500); return; }
            buffer += decoder.decode(chunk.value, {stream: true});
            var parts = buffer.split("\n\n");
            buffer = parts.pop();
            parts.forEach(Live.handle);
            return pump();
          });
        }
        return pump();
      }).catch(function () { if (Live.controller === controller) Live.later(); });
    },
    handle: function (block) {
      var event = "message", data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) event = line.slice(6).trim();
        else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
      });
      if (event === "hello") { Live.status(true); refreshTab(true); return; }
      if (event !== "change") return;
      var note = {};
      try { note = JSON.parse(data); } catch (e) { return; }
      Live.changed(note);
    },
    changed: function (note) {
      var cids = note.chargers || {};
      if (currentTab === "dashboard") liveDashboard();
      else if (currentTab === "sessions") liveSessions();
      else if (currentTab === "map") liveMap();
      else if (currentTab === "debug" && debugCid && (note.all || cids[debugCid])) Debug.more();
    }
  };
  var liveDashboard = debounce(function () { Dashboard.load(); }, 150);
  var liveSessions = debounce(function () { Sessions.load(); }, 300);
  var liveMap = debounce(function () { MapTab.load(); }, 1500);

  // --- wiring -------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    $("#network-bucket").innerHTML = '<option value="">Every status</option>' + BUCKETS.map(function (b) { return "<option>" + b + "</option>"; }).join("");
    $("#signin-form").addEventListener("submit", signIn);
    $("#network-filter").addEventListener("submit", function (e) { e.preventDefault(); Dashboard.list(); });
    $("#network-q").addEventListener("input", debounce(Dashboard.list, 300));
    $("#network-type").addEventListener("change", Dashboard.list);
    $("#network-bucket").addEventListener("change", Dashboard.list);
    $("#summary").addEventListener("click", function (e) {
      var b = e.target.closest(".bucket");
      if (!b) return;
      $("#network-type").value = b.getAttribute("data-type");
      $("#network-bucket").value = b.getAttribute("data-bucket");
      Dashboard.list();
    });
    $("#debug-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var cid = $("#debug-cid").value.trim();
      if (cid) location.hash = "#debug/" + encodeURIComponent(cid);
    });
    $("#debug-commands").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-command]");
      if (b) Debug.command(b.getAttribute("data-command"));
    });
    $("#lookup-form").addEventListener("submit", Debug.lookup);
    $("#more-menu").addEventListener("click", function (e) {
      var b = e.target.closest("button[data-panel]");
      if (b) location.hash = "#more/" + b.getAttribute("data-panel");
    });
    $("#signout").addEventListener("click", function () { signOut(""); });
    $("#panel").addEventListener("click", function (e) {
      var t = e.target;
      if (t.hasAttribute("data-move")) {
        Outbox.add({kind: "transition", payload: {issue_id: Number(t.getAttribute("data-move")), to: t.getAttribute("data-to"), from: t.getAttribute("data-from")}});
      } else if (t.hasAttribute("data-note")) {
        var body = window.prompt("Note");
        if (body) Outbox.add({kind: "note", payload: {issue_id: Number(t.getAttribute("data-note")), note: body}});
      } else if (t.hasAttribute("data-retry")) {
        Outbox.retry(t.getAttribute("data-retry"));
      } else if (t.hasAttribute("data-discard")) {
        Outbox.remove(t.getAttribute("data-discard")).then(Panels.reload);
      } else if (t.hasAttribute("data-read")) {
        api("/notifications/" + t.getAttribute("data-read") + "/read", {method: "POST", json: {}}).then(Panels.reload).catch(function () {});
      }
    });
    $("#panel").addEventListener("submit", function (e) {
      var form = e.target;
      if (form.classList.contains("mt-done")) {
        e.preventDefault();
        Outbox.add({kind: "complete", photos: photosOf(form.querySelector("input[type=file]")),
                    payload: {task_id: Number(form.getAttribute("data-task")), report: form.querySelector("textarea").value}});
      } else if (form.classList.contains("tk-note")) {
        e.preventDefault();
        api("/tickets/" + form.getAttribute("data-ticket") + "/notes", {method: "POST", json: {body: form.querySelector("input").value}})
          .then(function () { Panels.reload(); }).catch(function () {});
      }
    });
    window.addEventListener("hashchange", route);
    window.addEventListener("offline", function () { Live.status(false); });
    if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", {scope: "/app/"}).catch(function () {});
    Outbox.badge();
    if (tokens()) start(); else showSignin("");
  });

  window.ChargeOpsField = {Outbox: Outbox, Live: Live}; // for the browser tests and debugging
})();
