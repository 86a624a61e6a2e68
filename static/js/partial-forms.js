// Forms that load the next part of a page without reloading it (the booking wizard, the
// reschedule page). The page works without this script: a container with an id and
// data-partial holds plain forms and links. Here its forms (and links marked data-partial-link)
// are sent in the background with the Kezek-Partial header; the server answers with that
// container only, and it replaces the old one. The address bar follows the new container's
// data-url, the focus moves to its element marked data-focus, and an answer that names another
// page (the Kezek-Location header, or a redirect elsewhere such as the sign-in page) opens it;
// a Kezek-Location on the same page (after a POST) is loaded in place.
// Whatever goes wrong, the form is sent again the ordinary way.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser || !window.URLSearchParams || !window.FormData ||
      !window.history || !window.history.replaceState || !Element.prototype.closest) {
    return;
  }
  var HEADER = "Kezek-Partial";
  var LOCATION = "Kezek-Location";
  var busy = false;

  Array.prototype.forEach.call(document.querySelectorAll("[data-partial][id]"), function (box) {
    window.history.replaceState({ partial: box.id }, "");
  });

  function swap(box, html, history) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(box.id);
    if (!fresh || !fresh.hasAttribute("data-partial")) { return false; }
    fresh = document.importNode(fresh, true);
    box.replaceWith(fresh);
    var url = fresh.getAttribute("data-url");
    var here = window.location.pathname + window.location.search;
    if (url && history === "push" && url !== here) {
      window.history.pushState({ partial: fresh.id }, "", url);
    } else if (url && history !== "none") {
      window.history.replaceState({ partial: fresh.id }, "", url);
    }
    // The language switch comes back to the step the person is on.
    Array.prototype.forEach.call(document.querySelectorAll("form.lang input[name=next]"), function (next) {
      next.value = window.location.pathname + window.location.search;
    });
    var focus = fresh.querySelector("[data-focus]");
    if (focus) {
      focus.focus({ preventScroll: true });
      focus.scrollIntoView({ block: "start" });
    }
    return true;
  }

  function load(box, url, options, history, fallback) {
    if (busy) { return; }
    busy = true;
    options.credentials = "same-origin";
    options.headers = {};
    options.headers[HEADER] = box.id;
    box.setAttribute("aria-busy", "true");
    window.fetch(url, options).then(function (response) {
      var location = response.headers.get(LOCATION);
      if (location) {
        busy = false;
        if (new URL(location, window.location.href).pathname === window.location.pathname) {
          load(box, location, { method: "GET" }, "replace", function () { window.location.assign(location); });
        } else {
          window.location.assign(location);
        }
        return null;
      }
      if (new URL(response.url).pathname !== window.location.pathname) {
        window.location.assign(response.url);
        return null;
      }
      return response.text().then(function (html) {
        busy = false;
        if (!swap(box, html, history)) { fallback(); }
      });
    }).catch(function () {
      busy = false;
      fallback();
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var box = form.closest("[data-partial][id]");
    if (!box || form.hasAttribute("data-partial-off") || event.defaultPrevented) { return; }
    event.preventDefault();
    var submitter = event.submitter;
    var data = new FormData(form);
    if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
    var params = new URLSearchParams(data);
    var fallback = function () {
      box.removeAttribute("aria-busy");
      form.setAttribute("data-partial-off", "");
      if (submitter && form.requestSubmit) { form.requestSubmit(submitter); } else { form.submit(); }
    };
    var action = form.getAttribute("action") || window.location.pathname;
    if ((form.getAttribute("method") || "get").toLowerCase() === "post") {
      load(box, action, { method: "POST", body: params }, "replace", fallback);
    } else {
      load(box, action.split("?")[0] + "?" + params.toString(), { method: "GET" }, "push", fallback);
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-partial-link]") : null;
    if (!link || event.defaultPrevented || event.button !== 0 ||
        event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    var box = link.closest("[data-partial][id]");
    if (!box) { return; }
    event.preventDefault();
    load(box, link.href, { method: "GET" }, "push", function () { window.location.assign(link.href); });
  });

  // Back and forward between the steps: load the step the address names.
  window.addEventListener("popstate", function (event) {
    var box = event.state && event.state.partial ? document.getElementById(event.state.partial) : null;
    if (!box) { return; }
    load(box, window.location.href, { method: "GET" }, "none", function () { window.location.reload(); });
  });
})();
