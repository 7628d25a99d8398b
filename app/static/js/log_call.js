// Log a call: the caller's customer card, looked up as the number is typed.
(function () {
  var input = document.getElementById('caller_phone'), body = document.getElementById('customer-card-body'), timer = null;
  function esc(s) { return String(s == null ? '' : s).replace(/[&<>"]/g, function (c) { return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]; }); }
  function lookup() {
    var phone = input.value.trim();
    if (phone.length < 7) { body.innerHTML = '<em>Type the caller\'s number.</em>'; return; }
    fetch('/api/v1/calls/lookup?phone=' + encodeURIComponent(phone), {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (input.value.trim() !== phone) { return; }
        var c = data.customer;
        if (!c) { body.innerHTML = '<em class="cc-none">No customer with ' + esc(data.phone || phone) + '.</em>'; return; }
        body.innerHTML = '<strong class="cc-name">' + esc(c.name) + '</strong><br><span class="cc-phone">' + esc(c.phone) +
          '</span> &middot; <span class="cc-email">' + esc(c.email || 'no e-mail') + '</span><br>Balance: <span class="cc-balance">' +
          (c.balance === null ? 'no wallet' : esc(c.currency + ' ' + c.balance)) + '</span>';
      });
  }
  input.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(lookup, 250); });
  if (input.value) { lookup(); }
})();
