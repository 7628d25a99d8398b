/* The charger map, one for the field app and the back office: Leaflet with marker clustering (npm, served by
   app/vendor.py). DC chargers red, AC blue; offline ones hollow and greyed. Tiles come from MAP_TILE_URL when
   it is set; underneath, always, the Natural Earth outline shipped with the app, so the map still shows where
   things are with no tiles reachable. Tap a marker for its details. */
(function (global) {
  "use strict";
  var COLOURS = {DC: "#d62828", AC: "#1d4ed8"};
  var SRI_LANKA = [[5.85, 79.6], [9.85, 81.9]];
  var SRI_LANKA_ID = "144"; // ISO 3166-1 numeric, the id world-atlas gives each country

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function markerStyle(point) {
    var colour = COLOURS[point.current] || COLOURS.AC;
    return {
      radius: 9, weight: 3, color: colour, opacity: point.offline ? 0.55 : 1,
      fillColor: point.offline ? "#ffffff" : colour, fillOpacity: point.offline ? 0.35 : 0.9,
      className: "charger-marker charger-" + point.current + (point.offline ? " charger-offline" : " charger-online")
    };
  }

  function popupHtml(point, detailHref) {
    var link = detailHref ? '<br><a class="map-open" href="' + esc(detailHref(point.cid)) + '">Open ' + esc(point.cid) + "</a>" : "";
    return '<div class="map-popup" data-cid="' + esc(point.cid) + '"><strong>' + esc(point.cid) + "</strong> " + esc(point.name || "") +
      "<br>" + esc(point.current) + " (" + esc(point.type) + ") &middot; " + esc(point.bucket) +
      (point.site ? "<br>" + esc(point.site) : "") + link + "</div>";
  }

  function create(element, options) {
    options = options || {};
    var map = global.L.map(element, {zoomControl: true, attributionControl: !!options.tileUrl, minZoom: 3, maxZoom: 18});
    map.fitBounds(SRI_LANKA);
    map.createPane("basemap");
    map.getPane("basemap").style.zIndex = 150; // under the tiles: seen only where no tile arrives
    var basemapReady = global.fetch(options.basemapUrl || "/static/vendor/countries-50m.json")
      .then(function (r) { return r.json(); })
      .then(function (topo) {
        var countries = global.topojson.feature(topo, topo.objects.countries);
        global.L.geoJSON(countries, {
          pane: "basemap", interactive: false,
          style: function (f) {
            return f.id === SRI_LANKA_ID
              ? {color: "#4b6478", weight: 1.5, fillColor: "#eef3e6", fillOpacity: 1, className: "basemap-home"}
              : {color: "#a3adb8", weight: 0.6, fillColor: "#f3f3f1", fillOpacity: 1};
          }
        }).addTo(map);
        element.setAttribute("data-basemap", "ready");
      })
      .catch(function () { element.setAttribute("data-basemap", "failed"); });
    if (options.tileUrl) {
      global.L.tileLayer(options.tileUrl, {attribution: options.attribution || "", maxZoom: 19}).addTo(map);
    }
    var cluster = global.L.markerClusterGroup({chunkedLoading: true, maxClusterRadius: 40, disableClusteringAtZoom: 14});
    map.addLayer(cluster);
    var markers = {};

    function setPoints(points) {
      var seen = {};
      points.forEach(function (p) {
        seen[p.cid] = true;
        var old = markers[p.cid];
        if (old && old._point.current === p.current && old._point.offline === p.offline &&
            old._point.lat === p.lat && old._point.lng === p.lng) {
          old._point = p;
          old.setPopupContent(popupHtml(p, options.detailHref));
          return;
        }
        if (old) cluster.removeLayer(old);
        var marker = global.L.circleMarker([p.lat, p.lng], markerStyle(p));
        marker._point = p;
        marker.bindPopup(popupHtml(p, options.detailHref));
        if (options.onTap) marker.on("click", function () { options.onTap(marker._point); });
        markers[p.cid] = marker;
        cluster.addLayer(marker);
      });
      Object.keys(markers).forEach(function (cid) {
        if (!seen[cid]) { cluster.removeLayer(markers[cid]); delete markers[cid]; }
      });
      element.setAttribute("data-markers", String(points.length));
    }

    return {map: map, setPoints: setPoints, basemapReady: basemapReady,
            invalidate: function () { map.invalidateSize(); }};
  }

  global.ChargerMap = {create: create, COLOURS: COLOURS};
})(window);
