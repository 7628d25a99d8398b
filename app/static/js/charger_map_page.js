/* The back office's map page: the shared charger map over the session cookie, refreshed every 15 s. */
(function () {
  "use strict";
  var element = document.getElementById("charger-map");
  if (!element) return;
  var view = window.ChargerMap.create(element, {
    tileUrl: element.getAttribute("data-tile-url") || null,
    attribution: element.getAttribute("data-attribution") || "",
    detailHref: function (cid) { return "/chargers/network/" + encodeURIComponent(cid); }
  });
  function load() {
    fetch("/api/v1/network/map", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (d) {
        view.setPoints(d.result);
        var note = document.getElementById("map-count");
        if (note) note.textContent = d.count + " chargers with a position";
      })
      .catch(function () {});
  }
  load();
  setInterval(load, 15000);
})();
