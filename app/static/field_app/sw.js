/* ChargeOps Field service worker (scope /app/).
   - The shell (page, scripts, styles, icons, the Natural Earth basemap) is cached at install: the app opens
     with no connection.
   - API reads go to the network first and keep the last answer: offline, the screen shows the last data seen.
   - Writes are never replayed here: the app's IndexedDB outbox sends them, each once, with its own key.
   - Web Push: a push shows a notification even with the app closed; tapping it opens the app. */
"use strict";
var VERSION = "chargeops-field-v1";
var SHELL = "shell-" + VERSION;
var DATA = "data-" + VERSION;
var SHELL_FILES = [
  "/app/", "/app/offline.html", "/app/manifest.webmanifest", "/app/icons/icon-192.png", "/app/icons/icon-512.png",
  "/static/field_app/app.js", "/static/field_app/app.css", "/static/js/charger_map.js",
  "/static/vendor/idb.js", "/static/vendor/leaflet.js", "/static/vendor/leaflet.css",
  "/static/vendor/leaflet.markercluster.js", "/static/vendor/MarkerCluster.css", "/static/vendor/MarkerCluster.Default.css",
  "/static/vendor/topojson-client.js", "/static/vendor/countries-50m.json"
];
var NEVER_CACHED = ["/api/v1/live/stream", "/api/v1/security/"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_FILES); }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== SHELL && n !== DATA; }).map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

function networkFirst(request, cacheName) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(cacheName).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(request, {ignoreVary: true}).then(function (hit) {
      if (hit) return hit;
      throw new Error("offline and never seen");
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (NEVER_CACHED.some(function (p) { return url.pathname.indexOf(p) === 0; })) return;
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, SHELL).catch(function () {
      return caches.match("/app/").then(function (hit) { return hit || caches.match("/app/offline.html"); });
    }));
    return;
  }
  if (url.pathname.indexOf("/api/") === 0) {
    // the token differs per person: keyed by URL alone, the cache is this phone's, and sign-out clears it
    event.respondWith(networkFirst(request, DATA).catch(function () {
      return new Response(JSON.stringify({message: "offline: no saved copy of this yet"}),
                          {status: 503, headers: {"Content-Type": "application/json"}});
    }));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/app/") === 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || networkFirst(request, SHELL); }));
  }
});

self.addEventListener("message", function (event) {
  if (event.data === "signed-out") event.waitUntil(caches.delete(DATA));
});

self.addEventListener("push", function (event) {
  var note = {title: "ChargeOps", body: ""};
  try { note = event.data ? event.data.json() : note; } catch (e) { note.body = event.data ? event.data.text() : ""; }
  event.waitUntil(self.registration.showNotification(note.title || "ChargeOps", {
    body: note.body || "", tag: note.notification_id ? "n" + note.notification_id : undefined,
    icon: "/app/icons/icon-192.png", badge: "/app/icons/icon-192.png", data: {link: note.link || "/app/#more/notifications"}
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var link = (event.notification.data && event.notification.data.link) || "/app/";
  var target = link.indexOf("/app/") === 0 ? link : "/app/#more/notifications";
  event.waitUntil(self.clients.matchAll({type: "window", includeUncontrolled: true}).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url.indexOf("/app/") >= 0 && "focus" in windows[i]) { windows[i].navigate(target); return windows[i].focus(); }
    }
    return self.clients.openWindow(target);
  }));
});
