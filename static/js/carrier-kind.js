// The registration page (templates/auth2fa/register.html): only the fields of the chosen kind of
// carrier show. Without this script every group shows, each saying whom it is for, and the
// server ignores the fields of the other kind.
(function () {
  "use strict";
  var select = document.querySelector("select[data-carrier-kind]");
  if (!select) { return; }
  var groups = document.querySelectorAll("[data-carrier-kinds]");

  function show() {
    Array.prototype.forEach.call(groups, function (group) {
      var kinds = group.getAttribute("data-carrier-kinds").split(" ");
      group.hidden = kinds.indexOf(select.value) < 0;
    });
  }

  select.addEventListener("change", show);
  show();
}());
