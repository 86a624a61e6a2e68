/* The service worker of the offline staff screen (O2, docs/offline.md), served by the portal
   from /staff/checkpoints/sw.js so that its scope is every checkpoint's screen.

   - The offline screen of a checkpoint (/staff/checkpoints/<code>/app/): from the network while
     there is one (kept for later), else the kept copy.
   - The online staff screen (/staff/checkpoints/<code>/): from the network; without one, the
     kept offline screen of that checkpoint.
   - The screen's static files and its web app manifest: the kept copy, else the network.
   - The API is never answered from here: the screen keeps its manifest and events itself
     (IndexedDB) and knows when the portal cannot be reached. */
"use strict";

var CACHE = "kezek-staff-v1";
var APP = /^\/staff\/checkpoints\/([^/]+)\/app\/$/;
var SCREEN = /^\/staff\/checkpoints\/([^/]+)\/$/;

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

function keep(key, response) {
  if (response && response.ok && response.type === "basic" && !response.redirected) {
    var copy = response.clone();
    caches.open(CACHE).then(function (cache) {
      cache.put(key, copy);
    });
  }
  return response;
}

// The kept copy of a page, whatever the headers it varies on (the language, the cookie).
function kept(path) {
  return caches.match(path, { ignoreVary: true, ignoreSearch: true }).then(function (page) {
    return page || Response.error();
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return;
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) {
    return;
  }
  var app = APP.exec(url.pathname);
  if (request.mode === "navigate" && app) {
    event.respondWith(
      fetch(request)
        .then(function (response) {
          return keep(url.pathname, response);
        })
        .catch(function () {
          return kept(url.pathname);
        })
    );
    return;
  }
  var screen = SCREEN.exec(url.pathname);
  if (request.mode === "navigate" && screen) {
    event.respondWith(
      fetch(request).catch(function () {
        return kept("/staff/checkpoints/" + screen[1] + "/app/");
      })
    );
    return;
  }
  if (url.pathname.indexOf("/static/") === 0 || /\/app\.webmanifest$/.test(url.pathname)) {
    event.respondWith(
      caches.match(request, { ignoreVary: true }).then(function (copy) {
        return (
          copy ||
          fetch(request).then(function (response) {
            return keep(request, response);
          })
        );
      })
    );
  }
});
