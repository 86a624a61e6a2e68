// EDS sign-in through NCALayer, the signing application on the person's computer.
// It signs the server's nonce as a detached CMS with the person's AUTH key; the form then posts
// the signature (the certificate travels inside the CMS).
(function () {
  "use strict";
  var form = document.getElementById("eds-form");
  var button = document.getElementById("eds-ncalayer");
  var status = document.getElementById("eds-status");
  if (!form || !button || !window.WebSocket) { return; }
  button.hidden = false;

  function say(text) { status.textContent = text; }

  function utf8Base64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return window.btoa(binary);
  }

  button.addEventListener("click", function () {
    var nonce = form.elements.nonce.value;
    say(button.dataset.connecting);
    var socket;
    try {
      socket = new WebSocket("wss://127.0.0.1:13579/");
    } catch (error) {
      say(button.dataset.noNcalayer);
      return;
    }
    socket.onerror = function () { say(button.dataset.noNcalayer); };
    socket.onopen = function () {
      say(button.dataset.choose);
      socket.send(JSON.stringify({
        module: "kz.gov.pki.knca.commonUtils",
        method: "createCAdESFromBase64",
        args: ["PKCS12", "AUTHENTICATION", utf8Base64(nonce), false]
      }));
    };
    socket.onmessage = function (event) {
      var answer;
      try { answer = JSON.parse(event.data); } catch (error) { return; }
      if (answer.result && answer.result.version) { return; }  // NCALayer's greeting
      socket.close();
      if (String(answer.code) !== "200" || !answer.responseObject) {
        say(button.dataset.refused + (answer.message ? " (" + answer.message + ")" : ""));
        return;
      }
      form.elements.signature.value = answer.responseObject;
      form.elements.signature_format.value = "cms";
      say(button.dataset.signed);
      form.submit();
    };
  });
})();
