// The call screen's customer card: as the caller's number is typed, the server renders who it is,
// their open tickets and recent calls (support/_caller_card.html) and the card shows it.
(function () {
  "use strict";
  var input = document.getElementById("caller_phone"), body = document.getElementById("customer-card-body");
  if (!input || !body) { return; }
  var url = body.getAttribute("data-card-url"), timer = null;
  function lookup() {
    var phone = input.value.trim();
    if (phone.length < 7) { body.innerHTML = "<em>Type the caller's number.</em>"; return; }
    fetch(url + "?phone=" + encodeURIComponent(phone), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || input.value.trim() !== phone) { return; }
        body.innerHTML = html;  // rendered and escaped by the server's template
        body.setAttribute("data-phone", phone);
      });
  }
  input.addEventListener("input", function () { window.clearTimeout(timer); timer = window.setTimeout(lookup, 250); });
  if (input.value) { lookup(); }
})();
