/* Live pages (the public board, the staff screen): every few seconds the page is read again and
   the parts marked data-refresh (each with an id) are replaced by their new version. No inline
   script (the Content-Security-Policy allows none); without script the board refreshes itself
   with <meta http-equiv="refresh">. A part the person is working in (focus inside) is left as
   it is until the next round. When the server cannot be reached, the page says so and keeps the
   last data. A field marked data-select-on-load has its text selected once the page is loaded. */
(function () {
  "use strict";
  // A field the page wants filled anew (the staff screen's search, where a QR scanner types):
  // its text is selected, so the next scan replaces the last one instead of adding to it.
  var field = document.querySelector("[data-select-on-load]");
  if (field && field.select) {
    field.select();
  }
  if (!window.fetch || !window.DOMParser || !document.querySelector("[data-refresh][id]")) {
    return;
  }
  var seconds = parseInt(document.body.getAttribute("data-refresh-seconds"), 10) || 30;

  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var parts = document.querySelectorAll("[data-refresh][id]");
        var missing = false;
        for (var i = 0; i < parts.length; i++) {
          var part = parts[i];
          var replacement = fresh.getElementById(part.id);
          var active = document.activeElement;
          if (!replacement) {
            missing = true; // e.g. the session ended and the sign-in page came back
          } else if (!(active && active !== document.body && part.contains(active))) {
            part.innerHTML = replacement.innerHTML;
          }
        }
        if (missing) {
          document.documentElement.setAttribute("data-offline", "true");
        } else {
          document.documentElement.removeAttribute("data-offline");
        }
      })
      .catch(function () {
        document.documentElement.setAttribute("data-offline", "true");
      });
  }

  window.setInterval(refresh, seconds * 1000);
})();
