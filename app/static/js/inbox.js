// The WhatsApp inbox refreshes its list by itself: the same page is fetched again and the table body
// swapped in place (no full reload, so the scroll position and the open menu stay put).
(function () {
  "use strict";
  var table = document.getElementById("conversations");
  if (!table) { return; }
  var seconds = parseInt(table.getAttribute("data-refresh-seconds"), 10) || 15;
  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#conversations tbody");
        var current = table.querySelector("tbody");
        if (fresh && current) {
          current.replaceWith(fresh);
          table.setAttribute("data-refreshed-at", String(Date.now()));
        }
      })
      .catch(function () { /* offline for a moment: the next round tries again */ })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }
  window.setTimeout(refresh, seconds * 1000);
})();
