// Offline map areas: store a zone's base-map tiles in Cache Storage so the map works with no signal.
// The service worker answers /tiles/base/… from this cache first. Progress is shown as tiles arrive;
// the server has already capped the area's size (see /maps/offline/zones/{id}).
(function () {
  "use strict";
  var CACHE = "faultline-map-tiles";

  function say(box, key, values) {
    var text = box.dataset[key] || "";
    Object.keys(values || {}).forEach(function (k) { text = text.replace("%(" + k + ")s", values[k]); });
    box.querySelector("[data-offline-status]").textContent = text;
  }

  async function download(box) {
    var bar = box.querySelector("progress");
    var button = box.querySelector("button");
    button.disabled = true;
    try {
      if (navigator.storage && navigator.storage.persist) { await navigator.storage.persist(); }
      var area = await (await fetch(box.dataset.manifest, { credentials: "same-origin" })).json();
      var cache = await caches.open(CACHE);
      var done = 0;
      bar.max = area.count;
      bar.value = 0;
      bar.hidden = false;
      var megabytes = (area.bytes / 1048576).toFixed(1);
      var queue = area.tiles.slice();
      async function worker() {  // a few at a time: a 3G link is slow, not narrow
        while (queue.length) {
          var url = queue.shift();
          if (!(await cache.match(url))) {
            var response = await fetch(url, { credentials: "same-origin" });
            if (!response.ok) throw new Error(url + " " + response.status);
            await cache.put(url, response);
          }
          done += 1;
          bar.value = done;
          say(box, "msgProgress", { done: done, count: area.count, megabytes: megabytes });
        }
      }
      await Promise.all([worker(), worker(), worker(), worker()]);
      say(box, "msgDone", { count: area.count, megabytes: megabytes });
      box.dataset.state = "done";
    } catch (error) {
      say(box, "msgFailed");
      box.dataset.state = "failed";
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", function (event) {
    var box = event.target.closest && event.target.closest("[data-offline-map]");
    if (box && event.target.tagName === "BUTTON") download(box);
  });
})();
