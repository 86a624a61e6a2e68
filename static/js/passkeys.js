// Passkeys (WebAuthn): adding one on the security page, and using one at the sign-in's second step.
// A form with data-passkey="create" or data-passkey="get" names its two JSON endpoints
// (data-begin-url, data-complete-url) and carries the texts to show (data-waiting, data-cancelled,
// data-failed). The server sends the options with binary values in base64url; the browser's API
// takes ArrayBuffers, and its answer goes back to the server the same way.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-passkey]");
  if (!forms.length || !window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;  // the page's own text says passkeys need a browser that has them
  }

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "====".slice((base64.length % 4) || 4);
    var binary = window.atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) { binary += String.fromCharCode(bytes[i]); }
    return window.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
  }

  var ceremonies = {
    create: function (options) {
      var publicKey = Object.assign({}, options, {
        challenge: toBuffer(options.challenge),
        user: Object.assign({}, options.user, { id: toBuffer(options.user.id) }),
        excludeCredentials: descriptors(options.excludeCredentials)
      });
      return navigator.credentials.create({ publicKey: publicKey });
    },
    get: function (options) {
      var publicKey = Object.assign({}, options, {
        challenge: toBuffer(options.challenge),
        allowCredentials: descriptors(options.allowCredentials)
      });
      return navigator.credentials.get({ publicKey: publicKey });
    }
  };

  // The credential as JSON (what PublicKeyCredential.toJSON() gives in newer browsers).
  function asJSON(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      json.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return json;
  }

  function post(url, body, token) {
    return window.fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": token
      },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (response.ok) { return data; }
        var refusal = new Error(data.error ? data.error.message : "");
        refusal.fromServer = true;
        refusal.redirect = data.redirect;
        throw refusal;
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-unsupported]"), function (note) {
    note.hidden = true;
  });

  Array.prototype.forEach.call(forms, function (form) {
    var ceremony = ceremonies[form.dataset.passkey];
    var button = form.querySelector("button[type=submit]");
    var status = form.querySelector("[data-passkey-status]");
    var token = form.elements.csrfmiddlewaretoken.value;
    if (!ceremony || !button || !status) { return; }
    function say(text) { status.textContent = text || ""; }

    form.hidden = false;
    button.hidden = false;
    say("");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      say(form.dataset.waiting);
      post(form.dataset.beginUrl, {}, token)
        .then(ceremony)
        .then(function (credential) {
          var body = { credential: asJSON(credential) };
          if (form.elements.name) { body.name = form.elements.name.value; }
          return post(form.dataset.completeUrl, body, token);
        })
        .then(function (answer) { window.location.assign(answer.redirect); })
        .catch(function (error) {
          if (error.redirect) { window.location.assign(error.redirect); return; }
          button.disabled = false;
          if (error.fromServer && error.message) {
            say(error.message);
          } else if (error.name === "InvalidStateError" && form.dataset.exists) {
            say(form.dataset.exists);  // this authenticator already holds one of the person's passkeys
          } else if (error.name === "NotAllowedError" || error.name === "AbortError") {
            say(form.dataset.cancelled);  // the person closed the browser's window, or it timed out
          } else {
            say(form.dataset.failed);
          }
        });
    });
  });
})();
