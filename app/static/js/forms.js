// Small form behaviours, declared in the markup (no inline handlers: the CSP allows scripts from 'self' only).
// data-autosubmit on a field: changing it submits its form.
// data-fill-location on a button: fills the form's latitude/longitude fields from the device's position.
(function () {
  document.querySelectorAll("[data-autosubmit]").forEach(function (field) {
    field.addEventListener("change", function () { field.form.submit(); });
  });
  document.querySelectorAll("[data-fill-location]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!navigator.geolocation) return;
      navigator.geolocation.getCurrentPosition(function (p) {
        var form = button.form || document;
        form.querySelector("[name=latitude]").value = p.coords.latitude.toFixed(6);
        form.querySelector("[name=longitude]").value = p.coords.longitude.toFixed(6);
      });
    });
  });
})();
