// The print button of the yearly report (no inline scripts: the pages' CSP forbids them).
(function () {
  "use strict";
  var button = document.getElementById("print");
  if (button) { button.addEventListener("click", function () { window.print(); }); }
  var year = document.getElementById("year");
  if (year) { year.addEventListener("change", function () { year.form.submit(); }); }
})();
