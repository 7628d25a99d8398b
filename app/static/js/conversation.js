// A conversation: template variables for the reply form, and live delivery status.
(function () {
  var select = document.getElementById('template-select'), box = document.getElementById('template-vars');
  select.addEventListener('change', function () {
    box.innerHTML = '';
    var opt = select.options[select.selectedIndex], vars = (opt.getAttribute('data-vars') || '').split(',');
    vars.forEach(function (v) { v = v.trim(); if (!v) return;
      var input = document.createElement('input'); input.name = 'var_' + v; input.placeholder = v; input.className = 'form-control';
      box.appendChild(input); });
  });
  var me = document.currentScript, url = me.dataset.url, known = Number(me.dataset.known);
  function poll() {
    fetch(url, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (data) {
      if (data.messages.length !== known) { window.location.reload(); return; }
      data.messages.forEach(function (m) {
        var el = document.querySelector('.status[data-id="' + m.id + '"]');
        if (el && el.textContent !== m.status) { el.textContent = m.status; }
      });
    }).catch(function () {}).then(function () { setTimeout(poll, 1500); });
  }
  setTimeout(poll, 1500);
})();
