/* The offline staff screen of a checkpoint (O2, docs/offline.md). No third-party code.

   It keeps the checkpoint's latest signed manifest (O1) and every event staff record in the
   browser's IndexedDB, verifies the manifest's Ed25519 signature with WebCrypto over the exact
   bytes the portal signed (the `payload` text) before using it, and works without the network:
   find a booking by its QR code (what it holds is the booking number) or plate, mark it
   arrived, call the next vehicle in the Q2 order computed here, mark crossed or refused. Every
   event gets a unique id and the device's time, and is sent to the portal in order (O3) as soon
   as it can be; the portal applies each once. The screen shows whether it is online, how old its
   manifest is and how many events wait to be sent. */
(function () {
  "use strict";

  var root = document.getElementById("offline-app");
  if (!root) {
    return;
  }
  var TEXTS = JSON.parse(document.getElementById("offline-app-texts").textContent);
  var CODE = root.getAttribute("data-checkpoint");
  var URLS = {
    manifest: root.getAttribute("data-manifest-url"),
    keys: root.getAttribute("data-keys-url"),
    events: root.getAttribute("data-events-url"),
    sw: root.getAttribute("data-sw-url"),
    scope: root.getAttribute("data-sw-scope"),
    signin: root.getAttribute("data-signin-url")
  };
  var DEVICE_NAME = root.getAttribute("data-device-name");
  var CALL_ORDER = { out_of_turn: 0, accelerated: 1, regular: 2 };
  var SYNC_EVERY_MS = 15000;
  var MANIFEST_EVERY_MS = 180000;
  var BATCH = 200;
  var LOOKALIKES = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "І": "I"
  };

  var state = {
    online: navigator.onLine,
    signedOut: false,
    keys: [],
    envelope: null,
    doc: null,
    events: [],
    deviceId: null,
    lastManifestTry: 0,
    syncing: false,
    lastFind: "",
    kept: false
  };

  function t(key, values) {
    var text = TEXTS[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("%(" + name + ")s").join(String(values[name]));
    });
    return text;
  }

  function $(selector, scope) {
    return (scope || root).querySelector(selector);
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  // --- IndexedDB ------------------------------------------------------------------------------

  var dbPromise = new Promise(function (resolve, reject) {
    var request = indexedDB.open("kezek-staff-" + CODE, 1);
    request.onupgradeneeded = function () {
      var db = request.result;
      db.createObjectStore("state");
      db.createObjectStore("events", { keyPath: "id" });
    };
    request.onsuccess = function () {
      resolve(request.result);
    };
    request.onerror = function () {
      reject(request.error);
    };
  });

  function store(name, mode, work) {
    return dbPromise.then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction(name, mode);
        var result = work(transaction.objectStore(name));
        transaction.oncomplete = function () {
          resolve(result && "result" in result ? result.result : undefined);
        };
        transaction.onerror = function () {
          reject(transaction.error);
        };
      });
    });
  }

  function getState(key) {
    return store("state", "readonly", function (s) {
      return s.get(key);
    });
  }

  function putState(key, value) {
    return store("state", "readwrite", function (s) {
      s.put(value, key);
    });
  }

  function allEvents() {
    return store("events", "readonly", function (s) {
      return s.getAll();
    });
  }

  function putEvent(event) {
    return store("events", "readwrite", function (s) {
      s.put(event);
    });
  }

  function deleteEvents(ids) {
    return store("events", "readwrite", function (s) {
      ids.forEach(function (id) {
        s.delete(id);
      });
    });
  }

  // --- The manifest's signature (O1) ------------------------------------------------------------

  function bytesOf(base64) {
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes;
  }

  function refusal(kind) {
    var error = new Error(kind);
    error.refusal = kind;
    return error;
  }

  /* The manifest's document, once the signature over the exact bytes of `payload` verifies
     with an accepted key (the current or the previous one) and it is this checkpoint's. */
  function verified(envelope, keys) {
    var key = null;
    keys.forEach(function (candidate) {
      if (candidate.key_id === envelope.key_id) {
        key = candidate;
      }
    });
    if (!key) {
      return Promise.reject(refusal("refused_key"));
    }
    if (!window.crypto || !crypto.subtle) {
      return Promise.reject(refusal("no_webcrypto"));
    }
    return crypto.subtle
      .importKey("raw", bytesOf(key.public_key), { name: "Ed25519" }, false, ["verify"])
      .catch(function () {
        throw refusal("no_webcrypto");
      })
      .then(function (publicKey) {
        return crypto.subtle.verify(
          { name: "Ed25519" },
          publicKey,
          bytesOf(envelope.signature),
          new TextEncoder().encode(envelope.payload)
        );
      })
      .then(function (valid) {
        if (!valid) {
          throw refusal("refused_signature");
        }
        var doc = JSON.parse(envelope.payload);
        if (doc.key_id !== envelope.key_id || !doc.checkpoint || doc.checkpoint.code !== CODE) {
          throw refusal("refused_other");
        }
        return doc;
      });
  }

  // --- The bookings as this device knows them -----------------------------------------------------

  function sortedEvents() {
    return state.events.slice().sort(function (a, b) {
      return a.seq - b.seq;
    });
  }

  /* A delivered event stays on top of the manifest until a manifest issued after its delivery
     shows what the portal made of it. */
  function coveredByManifest(event) {
    return (
      event.delivered &&
      state.doc &&
      event.received_at &&
      Date.parse(state.doc.issued_at) >= Date.parse(event.received_at)
    );
  }

  function apply(booking, event) {
    var status = booking.status;
    if (event.kind === "arrived" && status === "confirmed") {
      booking.status = "arrived";
      booking.arrived_at = event.at;
    } else if (event.kind === "called" && status === "arrived") {
      booking.status = "called";
      booking.called_at = event.at;
    } else if (event.kind === "crossed" && ["confirmed", "arrived", "called"].indexOf(status) >= 0) {
      booking.status = "crossed";
      booking.crossed_at = event.at;
    } else if (event.kind === "refused" && ["arrived", "called"].indexOf(status) >= 0) {
      booking.status = "refused";
    } else {
      return;
    }
    booking.unsent = booking.unsent || !event.delivered;
  }

  function bookings() {
    if (!state.doc) {
      return [];
    }
    var list = state.doc.bookings.map(function (entry) {
      return Object.assign({}, entry, { unsent: false });
    });
    var byNumber = {};
    list.forEach(function (booking) {
      byNumber[booking.number] = booking;
    });
    sortedEvents().forEach(function (event) {
      if (!coveredByManifest(event) && byNumber[event.booking]) {
        apply(byNumber[event.booking], event);
      }
    });
    return list;
  }

  function callRank(booking) {
    return [CALL_ORDER[booking.service], booking.slot_start, booking.booked_at, booking.number];
  }

  function inCallOrder(a, b) {
    var left = callRank(a);
    var right = callRank(b);
    for (var i = 0; i < left.length; i += 1) {
      if (left[i] < right[i]) {
        return -1;
      }
      if (left[i] > right[i]) {
        return 1;
      }
    }
    return 0;
  }

  function fold(text) {
    return String(text || "")
      .toUpperCase()
      .split("")
      .map(function (letter) {
        return LOOKALIKES[letter] || letter;
      })
      .join("")
      .replace(/[^A-Z0-9]/g, "");
  }

  function find(text) {
    var wanted = fold(text);
    if (!wanted) {
      return [];
    }
    var number = wanted.replace(/^K/, "");
    return bookings().filter(function (booking) {
      return (
        fold(booking.qr).replace(/^K/, "") === number ||
        fold(booking.plate) === wanted ||
        (booking.trailer && fold(booking.trailer.plate) === wanted)
      );
    });
  }

  function when(text) {
    var moment = new Date(text);
    return moment.toLocaleString("ru-RU", {
      timeZone: "Asia/Almaty",
      day: "2-digit",
      month: "2-digit",
      hour: "2-digit",
      minute: "2-digit"
    });
  }

  function checkInWindow(booking) {
    var rules = state.doc.check_in;
    return [
      Date.parse(booking.slot_start) - rules.opens_before_minutes * 60000,
      Date.parse(booking.slot_end) + rules.closes_after_minutes * 60000
    ];
  }

  // --- Events -----------------------------------------------------------------------------------

  function nextSeq() {
    return state.events.reduce(function (highest, event) {
      return Math.max(highest, event.seq);
    }, 0) + 1;
  }

  function record(booking, kind, extra) {
    var event = Object.assign(
      {
        id: crypto.randomUUID(),
        seq: nextSeq(),
        booking: booking.number,
        kind: kind,
        at: new Date().toISOString(),
        device_status: booking.status,
        reason: "",
        note: "",
        delivered: false
      },
      extra || {}
    );
    state.events.push(event);
    return putEvent(event).then(function () {
      render();
      sync();
    });
  }

  function say(message) {
    var notice = $("#app-notice");
    notice.textContent = message;
    notice.hidden = !message;
    alertMessage("");
  }

  function alertMessage(message) {
    var alert = $("#app-alert");
    alert.textContent = message;
    alert.hidden = !message;
  }

  function markArrived(booking) {
    var range = checkInWindow(booking);
    var now = Date.now();
    if (now < range[0] || now >= range[1]) {
      alertMessage(
        t("window", {
          number: booking.number,
          opens: when(new Date(range[0]).toISOString()),
          closes: when(new Date(range[1]).toISOString())
        })
      );
      return;
    }
    record(booking, "arrived").then(function () {
      say(t("arrived", { plate: booking.plate_display, number: booking.number }));
    });
  }

  function callNext(direction) {
    var now = Date.now();
    var waiting = bookings()
      .filter(function (booking) {
        return (
          booking.direction === direction &&
          booking.status === "arrived" &&
          Date.parse(booking.slot_start) <= now
        );
      })
      .sort(inCallOrder);
    if (!waiting.length) {
      alertMessage(t("queue_empty"));
      return;
    }
    var next = waiting[0];
    record(next, "called").then(function () {
      say(t("called", { plate: next.plate_display, number: next.number }));
    });
  }

  function markCrossed(booking) {
    record(booking, "crossed").then(function () {
      say(t("crossed", { plate: booking.plate_display, number: booking.number }));
    });
  }

  function refuse(booking, reason, note) {
    if (reason === "other" && !note) {
      alertMessage(t("note_needed"));
      return;
    }
    record(booking, "refused", { reason: reason, note: note }).then(function () {
      say(t("refused", { plate: booking.plate_display, number: booking.number }));
    });
  }

  // --- Talking to the portal ----------------------------------------------------------------------

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function setOnline(online) {
    if (state.online !== online) {
      state.online = online;
      render();
    }
  }

  function request(url, options) {
    return fetch(url, Object.assign({ credentials: "same-origin", cache: "no-store" }, options))
      .catch(function (error) {
        setOnline(false);
        throw error;
      })
      .then(function (response) {
        setOnline(true);
        if (response.status === 401 || response.status === 403) {
          state.signedOut = true;
          render();
          throw new Error("signed out");
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        state.signedOut = false;
        return response.json();
      });
  }

  function refreshKeys() {
    return request(URLS.keys).then(function (body) {
      state.keys = body.keys;
      return putState("keys", body.keys);
    });
  }

  function accept(envelope) {
    return verified(envelope, state.keys).then(function (doc) {
      if (state.doc && doc.sequence <= state.doc.sequence) {
        return false; // not newer than the one kept: an old manifest replayed
      }
      state.envelope = envelope;
      state.doc = doc;
      alertMessage("");
      var covered = state.events.filter(coveredByManifest).map(function (event) {
        return event.id;
      });
      state.events = state.events.filter(function (event) {
        return covered.indexOf(event.id) < 0;
      });
      return Promise.all([putState("manifest", envelope), deleteEvents(covered)]).then(
        function () {
          return true;
        }
      );
    });
  }

  function refreshManifest() {
    state.lastManifestTry = Date.now();
    var query = "?device=" + encodeURIComponent(state.deviceId) + "&name=" +
      encodeURIComponent(DEVICE_NAME);
    return refreshKeys()
      .catch(function () {
        return null; // the keys kept verify what they can
      })
      .then(function () {
        return request(URLS.manifest + query);
      })
      .then(accept)
      .catch(function (error) {
        if (error.refusal) {
          alertMessage(t(error.refusal));
        }
      })
      .then(render);
  }

  function sync() {
    if (state.syncing || !navigator.onLine) {
      return Promise.resolve(); // the browser knows it has no network: try when it has
    }
    state.syncing = true;
    var pending = sortedEvents().filter(function (event) {
      return !event.delivered;
    });
    var batch = pending.slice(0, BATCH);
    var body = {
      device: state.deviceId,
      name: DEVICE_NAME,
      pending_after: pending.length - batch.length,
      events: batch.map(function (event) {
        return {
          id: event.id,
          booking: event.booking,
          kind: event.kind,
          at: event.at,
          device_status: event.device_status,
          reason: event.reason,
          note: event.note
        };
      })
    };
    return request(URLS.events, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body)
    })
      .then(function (answer) {
        var byId = {};
        answer.results.forEach(function (result) {
          byId[result.id] = result;
        });
        var saved = batch.map(function (event) {
          var result = byId[event.id];
          if (!result) {
            return null;
          }
          event.delivered = true;
          event.outcome = result.outcome;
          event.detail = result.detail;
          event.received_at = answer.received_at;
          return putEvent(event);
        });
        state.syncing = false;
        return Promise.all(saved).then(function () {
          render();
          if (pending.length > batch.length) {
            return sync();
          }
          if (batch.length) {
            return refreshManifest();
          }
          return null;
        });
      })
      .catch(function () {
        state.syncing = false;
        render();
      });
  }

  function tick() {
    if (!navigator.onLine) {
      setOnline(false);
      render();
      return;
    }
    sync().then(function () {
      // Without a manifest yet (the first load met a bad link), ask again at every round.
      if (!state.doc || Date.now() - state.lastManifestTry > MANIFEST_EVERY_MS) {
        refreshManifest();
      }
      if (!state.kept) {
        keepForOffline();
      }
    });
  }

  // --- Drawing ------------------------------------------------------------------------------------

  function statusText(status) {
    return t("status_" + status);
  }

  function actionsFor(booking) {
    var cell = element("div", null, "offline-actions");
    if (booking.status === "confirmed") {
      var arrive = element("button", t("mark_arrived"), "button");
      arrive.type = "button";
      arrive.addEventListener("click", function () {
        markArrived(booking);
      });
      cell.appendChild(arrive);
    }
    if (booking.status === "called") {
      var cross = element("button", t("mark_crossed"), "button");
      cross.type = "button";
      cross.addEventListener("click", function () {
        markCrossed(booking);
      });
      cell.appendChild(cross);
    }
    if (booking.status === "arrived" || booking.status === "called") {
      var form = element("form", null, "form-inline");
      var select = element("select");
      select.setAttribute("aria-label", t("refuse"));
      select.innerHTML = document.getElementById("refusal-reasons").innerHTML;
      var note = element("input");
      note.type = "text";
      note.maxLength = 200;
      note.placeholder = t("note");
      note.setAttribute("aria-label", t("note"));
      var button = element("button", t("refuse"), "button");
      button.type = "submit";
      form.appendChild(select);
      form.appendChild(note);
      form.appendChild(button);
      form.addEventListener("submit", function (submitted) {
        submitted.preventDefault();
        refuse(booking, select.value, note.value.trim());
      });
      cell.appendChild(form);
    }
    return cell;
  }

  function describe(booking) {
    var item = element("div", null, "offline-booking");
    item.setAttribute("data-number", booking.number);
    var head = element("p");
    head.appendChild(element("strong", booking.number));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(element("span", booking.plate_display, "plate-text"));
    head.appendChild(document.createTextNode(" "));
    var status = element("span", statusText(booking.status), "status status-" + booking.status);
    head.appendChild(status);
    if (booking.unsent) {
      head.appendChild(element("span", " (" + t("not_sent") + ")", "muted"));
    }
    item.appendChild(head);
    var facts = element("p", null, "muted");
    facts.textContent = [
      booking.carrier,
      booking.service,
      when(booking.slot_start) + "–" + when(booking.slot_end).slice(-5),
      "VIN …" + booking.vin_tail
    ].join(" · ");
    item.appendChild(facts);
    booking.drivers.forEach(function (driver) {
      item.appendChild(
        element(
          "p",
          t("driver", { name: driver.name, country: driver.citizenship, number: driver.identity }),
          "muted"
        )
      );
    });
    if (booking.trailer) {
      item.appendChild(element("p", t("trailer", { plate: booking.trailer.plate }), "muted"));
    }
    if (booking.document) {
      item.appendChild(
        element("p", t("document", { number: booking.document.number }), "muted")
      );
    }
    item.appendChild(actionsFor(booking));
    return item;
  }

  function renderFind() {
    var results = $("#find-results");
    results.textContent = "";
    if (!state.lastFind) {
      return;
    }
    var found = find(state.lastFind);
    if (!found.length) {
      results.appendChild(element("p", t("not_found", { text: state.lastFind }), "error"));
      return;
    }
    found.forEach(function (booking) {
      results.appendChild(describe(booking));
    });
  }

  function renderQueues() {
    var all = bookings();
    var now = Date.now();
    root.querySelectorAll(".queue-side").forEach(function (side) {
      var direction = side.getAttribute("data-direction");
      var waiting = all
        .filter(function (booking) {
          return booking.direction === direction && booking.status === "arrived";
        })
        .sort(inCallOrder);
      var called = all.filter(function (booking) {
        return booking.direction === direction && booking.status === "called";
      });
      var list = $(".waiting-list", side);
      list.textContent = "";
      waiting.forEach(function (booking) {
        var row = element("li");
        row.setAttribute("data-number", booking.number);
        row.appendChild(element("span", booking.plate_display, "plate-text"));
        row.appendChild(document.createTextNode(" " + booking.number + " · " + when(booking.slot_start)));
        if (Date.parse(booking.slot_start) > now) {
          row.appendChild(element("span", " (" + t("not_yet") + ")", "muted"));
        }
        list.appendChild(row);
      });
      if (!waiting.length) {
        list.appendChild(element("li", t("waiting_none"), "muted"));
      }
      var calledList = $(".called-list", side);
      calledList.textContent = "";
      called.forEach(function (booking) {
        var row = element("li");
        row.setAttribute("data-number", booking.number);
        row.appendChild(element("span", booking.plate_display, "plate-text"));
        row.appendChild(document.createTextNode(" " + booking.number + " "));
        row.appendChild(actionsFor(booking));
        calledList.appendChild(row);
      });
      if (!called.length) {
        calledList.appendChild(element("li", t("called_none"), "muted"));
      }
    });
  }

  function renderStatus() {
    var net = $("#net-state");
    var online = state.online && navigator.onLine;
    net.textContent = online ? t("online") : t("offline");
    net.setAttribute("data-state", online ? "online" : "offline");
    var manifestState = $("#manifest-state");
    if (state.doc) {
      var minutes = Math.max(0, Math.floor((Date.now() - Date.parse(state.doc.issued_at)) / 60000));
      manifestState.textContent = t("manifest", {
        sequence: state.doc.sequence,
        issued: when(state.doc.issued_at),
        minutes: minutes,
        count: state.doc.bookings.length
      });
      manifestState.setAttribute("data-sequence", state.doc.sequence);
    } else {
      manifestState.textContent = t("no_manifest");
    }
    var pending = state.events.filter(function (event) {
      return !event.delivered;
    }).length;
    var pendingState = $("#pending-state");
    pendingState.textContent = pending ? t("pending", { count: pending }) : t("pending_none");
    pendingState.setAttribute("data-pending", pending);
    var parked = state.events.filter(function (event) {
      return event.delivered && event.outcome === "parked";
    });
    var parkedState = $("#parked-state");
    var parkedList = $("#parked-list");
    parkedState.hidden = parkedList.hidden = !parked.length;
    parkedState.textContent = t("parked", { count: parked.length });
    parkedList.textContent = "";
    parked.forEach(function (event) {
      parkedList.appendChild(
        element("li", event.booking + " · " + event.kind + " · " + when(event.at) + ": " + event.detail)
      );
    });
    if (state.signedOut) {
      var alert = $("#app-alert");
      alert.textContent = t("signed_out") + " ";
      var link = element("a", "→");
      link.href = URLS.signin;
      alert.appendChild(link);
      alert.hidden = false;
    }
  }

  function render() {
    renderStatus();
    renderQueues();
    renderFind();
  }

  // --- QR codes through the camera, where the browser reads them itself ---------------------------

  function setUpScanner() {
    var button = $("#scan-qr");
    if (!("BarcodeDetector" in window) || !navigator.mediaDevices) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var video = $("#scan-video");
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices
        .getUserMedia({ video: { facingMode: "environment" } })
        .then(function (stream) {
          video.srcObject = stream;
          video.hidden = false;
          return video.play().then(function () {
            return new Promise(function (resolve) {
              function look() {
                detector
                  .detect(video)
                  .then(function (codes) {
                    if (codes.length) {
                      resolve(codes[0].rawValue);
                    } else {
                      setTimeout(look, 250);
                    }
                  })
                  .catch(function () {
                    setTimeout(look, 500);
                  });
              }
              look();
            });
          }).then(function (text) {
            stream.getTracks().forEach(function (track) {
              track.stop();
            });
            video.hidden = true;
            $("#find-text").value = text;
            state.lastFind = text;
            renderFind();
          });
        })
        .catch(function () {
          alertMessage(t("scan_unsupported"));
        });
    });
  }

  // --- Starting ---------------------------------------------------------------------------------

  function keepForOffline() {
    if (!("serviceWorker" in navigator) || !window.caches) {
      return;
    }
    navigator.serviceWorker.register(URLS.sw, { scope: URLS.scope }).catch(function () {});
    var assets = root.getAttribute("data-cache").split(" ").filter(Boolean);
    // All or nothing: tried again at the next round when a request failed.
    return caches
      .open("kezek-staff-v1")
      .then(function (cache) {
        return cache.addAll([window.location.pathname].concat(assets));
      })
      .then(function () {
        state.kept = true;
      })
      .catch(function () {});
  }

  function start() {
    $("#find-form").addEventListener("submit", function (submitted) {
      submitted.preventDefault();
      state.lastFind = $("#find-text").value.trim();
      say("");
      alertMessage("");
      renderFind();
      $("#find-text").select();
    });
    root.querySelectorAll(".call-next").forEach(function (button) {
      button.addEventListener("click", function () {
        callNext(button.getAttribute("data-direction"));
      });
    });
    $("#refresh-manifest").addEventListener("click", function () {
      refreshManifest();
    });
    window.addEventListener("online", function () {
      setOnline(true);
      tick();
    });
    window.addEventListener("offline", function () {
      setOnline(false);
    });
    setUpScanner();
    Promise.all([getState("device"), getState("keys"), getState("manifest"), allEvents()])
      .then(function (kept) {
        state.deviceId = kept[0];
        if (!state.deviceId) {
          state.deviceId = "web-" + crypto.randomUUID();
          putState("device", state.deviceId);
        }
        state.keys = kept[1] || [];
        state.events = kept[3] || [];
        if (!kept[2]) {
          return null;
        }
        return verified(kept[2], state.keys)
          .then(function (doc) {
            state.envelope = kept[2];
            state.doc = doc;
          })
          .catch(function (error) {
            alertMessage(t(error.refusal || "refused_signature"));
          });
      })
      .then(function () {
        render();
        root.setAttribute("data-ready", "1");
        // One request after another: the first contact reports, then the manifest, then the
        // copy of the screen for offline use.
        var first = navigator.onLine ? sync().then(refreshManifest) : Promise.resolve();
        first.then(keepForOffline);
        setInterval(tick, SYNC_EVERY_MS);
      });
  }

  start();
})();
