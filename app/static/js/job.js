// the generic media form sends the file under the chosen kind
document.querySelectorAll('form[data-action=upload]').forEach(function (f) {
  var sel = f.querySelector('select[name=file_kind]'), inp = f.querySelector('.io-upload-file');
  sel.addEventListener('change', function () { inp.name = sel.value; });
});
