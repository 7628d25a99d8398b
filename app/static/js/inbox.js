// The inbox reloads itself so new conversations show up.
(function () {
  var ms = Number(document.currentScript.dataset.reloadMs) || 15000;
  setTimeout(function () { window.location.reload(); }, ms);
})();
