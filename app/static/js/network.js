// Network status: bucket tiles, and the fleet list paged and sorted by the server (faults and offline first).
(function () {
  var C = window.ChargeOps, PAGE_SIZE = 50, page = 0, sort = "", total = 0;
  C.poll("/api/v1/network/summary", function (s) {
    ["L2", "L3"].forEach(function (t) { Object.keys(s[t] || {}).forEach(function (b) {
      var el = document.getElementById("count-" + t + "-" + b.replace(" ", "-")); if (el) el.textContent = s[t][b]; }); });
  });
  function value(id) { return document.getElementById(id).value; }
  function listUrl() {
    var p = new URLSearchParams({q: value("q"), bucket: value("bucket"), type: value("type"), page: page, page_size: PAGE_SIZE});
    if (sort) p.set("sort", sort);
    return "/api/v1/network/chargers?" + p.toString();
  }
  C.poll(listUrl, function (data) {
    total = data.count;
    var pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    document.getElementById("count").textContent = data.count + " chargers";
    document.getElementById("page-info").textContent = "page " + (page + 1) + " of " + pages;
    document.querySelector("#chargers tbody").innerHTML = data.result.map(function (c) {
      return '<tr data-cid="' + C.esc(c.cid) + '"><td><a href="/chargers/network/' + encodeURIComponent(c.cid) + '">' + C.esc(c.cid) + '</a></td><td>' +
        C.esc(c.name) + '</td><td>' + C.esc(c.type) + '</td><td>' + C.esc(c.site) + '</td><td class="bucket">' + C.badge(c.bucket) +
        '</td><td>' + C.esc(C.when(c.last_seen)) + '</td><td>' + C.esc(c.rssi_dbm) + '</td></tr>';
    }).join("");
  });
  document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  ["q", "bucket", "type"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", function () { page = 0; });
  });
  document.getElementById("page-prev").addEventListener("click", function (e) { e.preventDefault(); if (page > 0) page -= 1; });
  document.getElementById("page-next").addEventListener("click", function (e) {
    e.preventDefault(); if ((page + 1) * PAGE_SIZE < total) page += 1; });
  document.querySelectorAll("[data-sort]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      var field = a.dataset.sort;
      sort = !field ? "" : (sort === field ? "-" + field : field);  // a second click reverses
      page = 0;
    });
  });
  document.querySelectorAll("[data-bucket]").forEach(function (tile) {
    tile.style.cursor = "pointer";
    tile.addEventListener("click", function () {
      document.getElementById("bucket").value = tile.dataset.bucket; document.getElementById("type").value = tile.dataset.type; page = 0;
    });
  });
})();
