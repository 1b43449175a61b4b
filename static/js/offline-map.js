// Offline map areas: the base-map tiles of the crew's zone (saved when the lineman asks, with progress) and
// of each job's surroundings (kept while the job is on the phone) go into Cache Storage. The service worker
// answers /tiles/base/… from these caches first, and map-base.js draws them, so the map works with no signal.
// The server has already capped each area's size (see /maps/offline/…).
(function () {
  "use strict";
  var ZONE_CACHE = "faultline-map-tiles";
  var JOBS_CACHE = "faultline-map-jobs";
  var TOP_KEY = "faultline-map-top";     // the highest zoom saved: the map draws closer views from it
  var JOBS_KEY = "faultline-map-jobs";   // job id → the tiles kept for it
  var SAVED_KEY = "faultline-map-saved"; // which zone's map is saved, and its size
  var keeping = false;

  function topZoom() { return Number(localStorage.getItem(TOP_KEY)) || 16; }

  // A few at a time: a 3G link is slow, not narrow. Tiles already stored are not fetched again.
  function fetchInto(cache, urls, progress) {
    var queue = urls.slice();
    var done = 0;
    function worker() {
      if (!queue.length) return Promise.resolve();
      var url = queue.shift();
      return cache.match(url).then(function (hit) {
        return hit || fetch(url, { credentials: "same-origin" }).then(function (response) {
          if (!response.ok) throw new Error(url + " " + response.status);
          return cache.put(url, response);
        });
      }).then(function () {
        done += 1;
        if (progress) progress(done);
        return worker();
      });
    }
    return Promise.all([worker(), worker(), worker(), worker()]);
  }

  function forgetAllBut(cache, keep) {
    return cache.keys().then(function (requests) {
      return Promise.all(requests.filter(function (r) { return !keep.has(new URL(r.url).pathname); })
        .map(function (r) { return cache.delete(r); }));
    });
  }

  function manifest(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + " " + r.status);
      return r.json();
    });
  }

  function say(box, key, values) {
    var text = box.dataset[key] || "";
    Object.keys(values || {}).forEach(function (k) { text = text.replace("%(" + k + ")s", values[k]); });
    box.querySelector("[data-offline-status]").textContent = text;
  }

  function saveZone(box) {
    var bar = box.querySelector("progress");
    var button = box.querySelector("button");
    button.disabled = true;
    box.dataset.state = "saving";
    var persisted = navigator.storage && navigator.storage.persist ? navigator.storage.persist() : Promise.resolve();
    return persisted.then(function () { return manifest(box.dataset.manifest); }).then(function (area) {
      if (!area.count) {  // not even the widest view fits under the cap: say so, keep what is there
        say(box, "msgTooLarge");
        box.dataset.state = "too-large";
        return;
      }
      var megabytes = (area.bytes / 1048576).toFixed(1);
      bar.max = area.count;
      bar.value = 0;
      bar.hidden = false;
      return caches.open(ZONE_CACHE).then(function (cache) {
        return fetchInto(cache, area.tiles, function (done) {
          bar.value = done;
          say(box, "msgProgress", { done: done, count: area.count, megabytes: megabytes });
        }).then(function () {
          // A zone saved before (another zone, or zooms since capped away) must not fill the phone.
          return forgetAllBut(cache, new Set(area.tiles));
        });
      }).then(function () {
        localStorage.setItem(TOP_KEY, String(area.max_zoom));
        localStorage.setItem(SAVED_KEY, JSON.stringify({ manifest: box.dataset.manifest, megabytes: megabytes }));
        say(box, "msgDone", { count: area.count, megabytes: megabytes });
        box.dataset.state = "done";
      });
    }).catch(function () {
      say(box, "msgFailed");
      box.dataset.state = "failed";
    }).then(function () { button.disabled = false; });
  }

  // Keep the surroundings of every job on the phone, and forget those of jobs that have left it.
  // Called after each sync while online; a failed area is tried again at the next one.
  function keepAround(jobs) {
    if (keeping || !window.caches || navigator.onLine === false) return Promise.resolve();
    var kept = JSON.parse(localStorage.getItem(JOBS_KEY) || "{}");
    var present = {};
    jobs.forEach(function (job) { if (job.latitude != null) present[job.id] = job; });
    var within = function (a, b) { return Object.keys(a).every(function (id) { return id in b; }); };
    if (within(present, kept) && within(kept, present)) return Promise.resolve();  // the same jobs: nothing to do
    keeping = true;
    return caches.open(JOBS_CACHE).then(function (cache) {
      var chain = Promise.resolve();
      Object.keys(present).forEach(function (id) {
        if (kept[id]) return;
        var job = present[id];
        chain = chain.then(function () {
          return manifest("/maps/offline/around?lat=" + job.latitude + "&lon=" + job.longitude +
                          "&max_zoom=" + Math.max(13, topZoom()));
        }).then(function (area) {
          return fetchInto(cache, area.tiles).then(function () { kept[id] = area.tiles; });
        }).catch(function () {});
      });
      return chain.then(function () {
        var wanted = new Set();
        Object.keys(kept).forEach(function (id) {
          if (!present[id]) { delete kept[id]; return; }
          kept[id].forEach(function (url) { wanted.add(url); });
        });
        localStorage.setItem(JOBS_KEY, JSON.stringify(kept));
        return forgetAllBut(cache, wanted);
      });
    }).catch(function () {}).then(function () { keeping = false; });
  }

  // After a reload the lineman still sees that this zone's map is on the phone.
  function showSaved() {
    var box = document.querySelector("[data-offline-map]");
    var saved = JSON.parse(localStorage.getItem(SAVED_KEY) || "null");
    var zone = function (url) { return String(url).split("?")[0]; };
    if (!box || !saved || zone(saved.manifest) !== zone(box.dataset.manifest)) return;
    say(box, "msgDone", { megabytes: saved.megabytes });
    box.dataset.state = "done";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showSaved);
  else showSaved();

  document.addEventListener("click", function (event) {
    var box = event.target.closest && event.target.closest("[data-offline-map]");
    if (box && event.target.tagName === "BUTTON") saveZone(box);
  });

  window.FaultlineOfflineMap = { keepAround: keepAround, topZoom: topZoom };
})();
