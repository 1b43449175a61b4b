// "Notify me" on the tracking page: subscribe this browser to push for this report.
(function () {
  "use strict";
  function key(base64) {
    var padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"]; } catch (e) { return ""; }
  }
  async function subscribe(box) {
    var status = box.querySelector("[data-notify-status]");
    try {
      if ((await Notification.requestPermission()) !== "granted") { status.textContent = box.dataset.msgDenied; return; }
      var registration = await navigator.serviceWorker.ready;
      var publicKey = (await (await fetch("/push/key")).json()).publicKey;
      var subscription = await registration.pushManager.subscribe({ userVisibleOnly: true,
                                                                    applicationServerKey: key(publicKey) });
      var response = await fetch(box.dataset.endpoint, {
        method: "POST", headers: { "content-type": "application/json", "x-csrftoken": csrf() },
        body: JSON.stringify(subscription.toJSON ? subscription.toJSON() : subscription),
      });
      status.textContent = response.ok ? box.dataset.msgDone : box.dataset.msgFailed;
      box.dataset.state = response.ok ? "subscribed" : "failed";
    } catch (error) {
      status.textContent = box.dataset.msgFailed;
      box.dataset.state = "failed";
    }
  }
  document.addEventListener("click", function (event) {
    var box = event.target.closest && event.target.closest("[data-notify]");
    if (box && event.target.tagName === "BUTTON") subscribe(box);
  });
  // Only where the browser can do it: otherwise the customer gets SMS, and the button stays hidden.
  if ("PushManager" in window && "serviceWorker" in navigator) {
    document.querySelectorAll("[data-notify]").forEach(function (box) { box.hidden = false; });
  }
})();
