// The lineman's app. Jobs live in IndexedDB (filled by /sync/pull); every action is a mutation queued in
// the outbox first and shown at once, then pushed in order when there is signal (crew-outbox.js).
// No framework: a few hundred lines of DOM for a cheap phone on 2G.
(function () {
  "use strict";
  var root = document.getElementById("crew-app");
  if (!root || !window.FaultlineOutbox || !document.getElementById("crew-words")) return;
  var box = window.FaultlineOutbox;
  var words = JSON.parse(document.getElementById("crew-words").textContent);
  var labels = words.labels;
  var user = root.dataset.user;
  var list = root.querySelector("[data-jobs]");
  var detail = root.querySelector("[data-job]");
  var pendingText = root.querySelector("[data-pending]");
  var lastSyncText = root.querySelector("[data-last-sync]");
  var signinBox = root.querySelector("[data-signin]");
  var othersText = root.querySelector("[data-others]");
  var logList = root.querySelector("[data-log]");
  // The server's own words when it refused the queued work for good (in the lineman's language): shown until a
  // push goes through; the work stays counted as waiting.
  var refusedBox = el("p", { class: "error", role: "alert", "data-refused": "" });
  refusedBox.hidden = true;
  signinBox.parentNode.insertBefore(refusedBox, signinBox.nextSibling);
  var openJob = null;
  var retryDelay = 5000, retryTimer = null;
  var STEP = { accept_job: "assigned", en_route: "en_route", arrived: "on_site", restored: "restored" };
  var ORDER = ["reported", "assigned", "en_route", "on_site", "cancelled", "restored", "closed"];

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function csrfCookie() {
    var match = document.cookie.match(/(?:^|;\s*)fl_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function localTime(iso) {
    return iso ? new Date(iso).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" }) : "";
  }

  // A job as the lineman should see it: the server's copy with their queued actions laid over it.
  function withPending(job, outbox) {
    var view = JSON.parse(JSON.stringify(job));
    view.queued = [];
    outbox.forEach(function (m) {
      if (!m.args || m.args.incident_id !== job.id) return;
      view.queued.push(m);
      var step = STEP[m.name];
      if (step && ORDER.indexOf(step) > ORDER.indexOf(view.status)) view.status = step;
      if (m.name === "note") view.notes.push({ text: m.args.text, at: m.client_time, author: "", queued: true });
      if (m.name === "photo") view.photos.push({ id: m.args.photo_id, at: m.client_time, queued: true });
      if (m.name === "accept_job") view.accepted = true;
    });
    return view;
  }

  function render() {
    return box.screen(user, 20).then(function (shown) {
      var outbox = shown.outbox;  // oldest first
      var jobs = shown.jobs.map(function (job) { return withPending(job, outbox); });
      var waiting = outbox.length + shown.photos;
      pendingText.textContent = waiting
        ? fill(labels.pending[waiting === 1 ? "one" : "other"], { n: waiting }) : words.nothing_pending;
      lastSyncText.textContent = shown.lastSync ? fill(words.last_sync, { time: localTime(shown.lastSync) })
                                                : words.never_synced;
      root.dataset.waiting = String(waiting);
      othersText.hidden = !shown.others.length;
      othersText.textContent = shown.others.length ? fill(words.other_owner, { user: shown.others.join(", ") }) : "";
      refusedBox.hidden = !shown.refusal || !outbox.length;
      refusedBox.textContent = shown.refusal ? shown.refusal.detail : "";
      logList.replaceChildren.apply(logList, shown.log.map(function (entry) {  // the newest first
        return el("li", { text: localTime(entry.at.slice(0, 24)) + " " + entry.text });
      }));
      drawList(jobs);
      FaultlineOfflineMap.keepAround(jobs);
      if (openJob !== null) {
        var job = jobs.filter(function (j) { return j.id === openJob; })[0];
        if (job) drawJob(job); else closeJob();
      }
    });
  }

  function drawList(jobs) {
    if (!jobs.length) { list.replaceChildren(el("li", { text: words.no_jobs })); return; }
    jobs.sort(function (a, b) { return (b.category === "danger") - (a.category === "danger") || a.id - b.id; });
    list.replaceChildren.apply(list, jobs.map(function (job) {
      var button = el("button", { type: "button", class: "job-link", "data-job-id": String(job.id),
                                  onclick: function () { openJob = job.id; said = ""; render().then(function () { detail.focus(); }); } }, [
        el("strong", { class: "code", text: job.code }),
        el("span", { text: " " + (labels.categories[job.category] || job.category) }),
        job.category === "danger" ? el("strong", { class: "flag", text: " ⚠ " + words.danger }) : null,
        el("span", { class: "hint", text: " — " + (labels.statuses[job.status] || job.status) +
                                          (job.queued.length ? " ⏳" : "") })
      ]);
      return el("li", { id: "job-" + job.id }, [button]);
    }));
  }

  function closeJob() {
    openJob = null;
    said = "";
    detail.hidden = true;
    detail.replaceChildren();
  }

  function section(title, children) {
    return el("section", {}, [el("h3", { text: title })].concat(children));
  }

  function form(fields, submitLabel, onsubmit) {
    var f = el("form", { class: "row", onsubmit: function (event) {
      event.preventDefault();
      var data = new FormData(f);
      f.reset();  // taken: a redraw must not bring the text back
      onsubmit(data, f);
    } }, fields.concat([el("button", { type: "submit", text: submitLabel })]));
    return f;
  }

  function field(label, name, attrs) {
    return el("label", {}, [document.createTextNode(label + " "),
                            el(attrs && attrs.tag || "input", Object.assign({ name: name, required: "" }, attrs || {}))]);
  }

  var said = "";  // survives a redraw of the job
  // Photos are shrunk and stored one after another; "restored" waits for them, so a photo taken a moment
  // before counts.
  var photosSaving = Promise.resolve();
  function say(text) {
    said = text;
    var status = detail.querySelector("[data-said]");
    if (status) status.textContent = text;
  }

  function act(job, name, args) {
    args = Object.assign({ incident_id: job.id }, args || {});
    return box.enqueue(name, args, job.rev).then(function () {
      say(words.queued);
      requestBackgroundSync();
      return render();
    }).then(syncSoon);
  }

  function drawJob(job) {
    // A redraw (a sync, a queued action) keeps what the lineman is typing.
    var typing = {};
    detail.querySelectorAll("input[name]:not([type=file]), textarea[name]").forEach(function (input) {
      if (input.value) typing[input.name] = input.value;
    });
    var focused = document.activeElement && detail.contains(document.activeElement) ? document.activeElement.name : null;
    drawJobParts(job);
    detail.querySelectorAll("input[name]:not([type=file]), textarea[name]").forEach(function (input) {
      if (typing[input.name]) input.value = typing[input.name];
      if (focused && input.name === focused) input.focus();
    });
  }

  function drawJobParts(job) {
    detail.hidden = false;
    detail.setAttribute("tabindex", "-1");
    var open = ["assigned", "en_route", "on_site"].indexOf(job.status) >= 0;
    var parts = [
      el("button", { type: "button", class: "link", text: "← " + words.back, onclick: closeJob }),
      el("h2", { text: job.code + " — " + (labels.categories[job.category] || job.category) }),
      el("p", {}, [el("strong", { text: labels.statuses[job.status] || job.status }),
                   job.category === "danger" ? el("strong", { class: "flag", text: " ⚠ " + words.danger }) : null]),
      el("p", { text: words.customers + ": " + job.customers_affected + " · " + words.reports + ": " + job.report_count +
                      (job.etr ? " · " + words.etr + ": " + localTime(job.etr) : "") +
                      (job.transformer ? " · " + job.transformer : "") }),
      root.dataset.crewCode ? el("p", { class: "identity", text: fill(words.identity, { code: root.dataset.crewCode }) }) : null,
      job.latitude != null ? el("p", {}, [el("a", {
        class: "button", target: "_blank", rel: "noopener", text: words.navigate,
        href: "https://www.google.com/maps/dir/?api=1&destination=" + job.latitude + "," + job.longitude })]) : null,
      lastCheckin(job),
      job.latitude != null ? el("button", { type: "button", class: "secondary", text: words.map,
                                             onclick: function () { showMap(job); } }) : null,
      el("div", { class: "map", "data-job-map": "", hidden: "" }),
      el("p", { class: "done", role: "status", "data-said": "", text: said })
    ];
    if (open) parts = parts.concat(actionsFor(job));
    parts.push(section(words.notes, [el("ul", {}, job.notes.map(function (n) {
      return el("li", { text: localTime(n.at) + " " + (n.author ? n.author + ": " : "") + n.text + (n.queued ? " ⏳" : "") });
    }))]));
    detail.replaceChildren.apply(detail, parts.filter(Boolean));
  }

  function lastCheckin(job) {
    var checkin = job.checkins[job.checkins.length - 1];
    if (!checkin || checkin.distance_m == null) return null;
    return el("p", { "data-checkin": "", text: fill(words.checked_in, { metres: Math.round(checkin.distance_m) }) +
                                                (checkin.outside_geofence ? " " + words.outside : "") });
  }

  function actionsFor(job) {
    var parts = [];
    if (job.status === "assigned" && !job.accepted) {
      parts.push(el("button", { type: "button", "data-action": "accept_job", text: words.accept,
                                onclick: function () { act(job, "accept_job"); } }));
    }
    if (job.status === "assigned") {
      parts.push(el("button", { type: "button", "data-action": "en_route", text: words.en_route,
                                onclick: function () { act(job, "en_route"); } }));
    }
    if (job.status === "assigned" || job.status === "en_route") {
      parts.push(el("button", { type: "button", "data-action": "arrived", text: words.arrived,
                                onclick: function () { checkIn(job); } }));
    }
    parts.push(section(words.note, [form([field(words.note, "text", { tag: "textarea", rows: "2", maxlength: "2000" })],
      words.add_note, function (data, f) {
        act(job, "note", { note_id: box.uuid(), text: String(data.get("text")).trim() });
      })]));
    parts.push(section(words.photo, [form([field(words.add_photo, "photo",
      { type: "file", accept: "image/*", capture: "environment" })], words.save, function (data, f) {
        var file = data.get("photo");
        if (!file || !file.size) return;
        var id = box.uuid();
        photosSaving = photosSaving.then(function () { return shrink(file); })
          .then(function (blob) { return box.savePhoto(id, job.id, blob); })
          .then(function () { return act(job, "photo", { photo_id: id, caption: "" }); })
          .catch(function () {});
      })]));
    parts.push(section(words.materials, [form([field(words.item, "item", { maxlength: "120" }),
      field(words.quantity, "quantity", { type: "number", min: "0.001", step: "any", inputmode: "decimal" }),
      field(words.unit, "unit", { maxlength: "20" })], words.save, function (data, f) {
        act(job, "materials", { material_id: box.uuid(), item: String(data.get("item")).trim(),
                                quantity: String(data.get("quantity")), unit: String(data.get("unit")).trim() });
      })]));
    if (job.status === "on_site" || job.status === "en_route") {
      parts.push(section(words.restored, [form([field(words.cause, "cause", { maxlength: "200" })], words.restored,
        function (data) {
          // Photos queued a moment ago count too: ask the outbox, not this (maybe older) drawing of the job.
          photosSaving.then(function () { return box.mine("outbox"); }).then(function (outbox) {
            var photographed = job.photos.length || outbox.some(function (m) {
              return m.name === "photo" && m.args.incident_id === job.id;
            });
            if (!photographed) { say(words.needs_photo); return; }
            act(job, "restored", { cause: String(data.get("cause")).trim() });
          });
        })]));
    }
    parts.push(section(words.unable, [form([field(words.reason, "reason", { maxlength: "500" })], words.unable,
      function (data) { act(job, "unable_to_fix", { reason: String(data.get("reason")).trim() }); })]));
    return parts;
  }

  // The job's surroundings: the network's base-map tiles, kept on the phone for the crew's zone and around
  // each job (offline-map.js), so the map works with no signal. The map's scripts load only when asked for.
  function showMap(job) {
    var holder = detail.querySelector("[data-job-map]");
    holder.hidden = false;
    FaultlineMap.load().then(function () {
      if (holder.dataset.drawn) return;
      holder.dataset.drawn = "yes";
      var map = L.map(holder, { zoomSnap: 0.25 }).setView([job.latitude, job.longitude], 16);
      FaultlineMap.addBase(map, { tiles: "base", maxDataZoom: FaultlineOfflineMap.topZoom() });
      L.circleMarker([job.latitude, job.longitude], { radius: 10, color: "#b91c1c" }).addTo(map);
    }).catch(function () {});
  }

  function position(highAccuracy) {
    return new Promise(function (resolve, reject) {
      if (!navigator.geolocation) { reject(new Error("no geolocation")); return; }
      navigator.geolocation.getCurrentPosition(resolve, reject,
        { enableHighAccuracy: highAccuracy, timeout: 20000, maximumAge: highAccuracy ? 0 : 120000 });
    });
  }

  // The phone's fix, whatever its accuracy: inside the geofence it counts as on site; outside it is still
  // recorded and flagged for the supervisor (GPS is poor under trees and in rain), never refused.
  function checkIn(job) {
    say(words.locating);
    position(true).then(function (fix) {
      return act(job, "arrived", { checkin_id: box.uuid(), latitude: fix.coords.latitude,
                                   longitude: fix.coords.longitude, accuracy_m: fix.coords.accuracy });
    }, function () { say(words.no_fix); });
  }

  // Long side at most 1600 px, JPEG about 300 KB: a photo must cross a 2G link.
  function shrink(file) {
    return createImageBitmap(file).then(function (image) {
      var scale = Math.min(1, 1600 / Math.max(image.width, image.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(image.width * scale);
      canvas.height = Math.round(image.height * scale);
      canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.7); });
    }).then(function (blob) { return withExif(file, blob); })
      .catch(function () { return file; }); // not decodable here: send as is, the server checks it
  }

  // The canvas drops the photo's EXIF, and with it when and where it was taken, which the supervisor's
  // audit uses. Carry the original's EXIF block over (the server keeps only the time and GPS from it), with
  // its orientation set to upright: the pixels were turned upright when the photo was decoded.
  function withExif(original, blob) {
    return original.slice(0, 256 * 1024).arrayBuffer().then(function (head) {
      var segment = exifSegment(new DataView(head));
      return segment ? new Blob([blob.slice(0, 2), segment, blob.slice(2)], { type: "image/jpeg" }) : blob;
    }).catch(function () { return blob; });
  }

  function exifSegment(view) {
    if (view.byteLength < 4 || view.getUint16(0) !== 0xFFD8) return null;  // not a JPEG
    for (var at = 2; at + 10 <= view.byteLength;) {
      var marker = view.getUint16(at), length = view.getUint16(at + 2);
      if ((marker & 0xFF00) !== 0xFF00 || marker === 0xFFDA) return null;  // the image data starts: no EXIF
      if (marker === 0xFFE1 && view.getUint32(at + 4) === 0x45786966 && at + 2 + length <= view.byteLength) {
        var segment = new Uint8Array(view.buffer.slice(at, at + 2 + length));  // "Exif" APP1, whole
        uprightOrientation(new DataView(segment.buffer), 10);
        return segment;
      }
      at += 2 + length;
    }
    return null;
  }

  function uprightOrientation(view, tiff) {
    var little = view.getUint16(tiff) === 0x4949;
    var ifd = tiff + view.getUint32(tiff + 4, little);
    var count = ifd + 2 <= view.byteLength ? view.getUint16(ifd, little) : 0;
    for (var i = 0; i < count && ifd + 14 + i * 12 <= view.byteLength; i++) {
      var entry = ifd + 2 + i * 12;
      if (view.getUint16(entry, little) === 0x0112) view.setUint16(entry + 8, 1, little);  // Orientation
    }
  }

  function requestBackgroundSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) return registration.sync.register("faultline-outbox");
    }).catch(function () {});
  }

  // Pressing Sync now (`event` a click) also sends again a batch the server refused for good; nothing else does.
  function syncNow(event) {
    clearTimeout(retryTimer);
    var force = Boolean(event && event.type === "click");
    return box.setMeta({ csrf: csrfCookie(), session_user: user })
      .then(function () { return box.sync(user, { force: force }); })
      .then(function (state) {
        signinBox.hidden = state !== "signin";
        retryDelay = 5000;
      }, function () {
        // No signal or a server hiccup: try again later, less and less often (at most every 5 minutes).
        retryTimer = setTimeout(syncNow, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 300000);
      }).then(render);
  }

  var soon = null;
  function syncSoon() {
    clearTimeout(soon);
    soon = setTimeout(function () { if (navigator.onLine !== false) syncNow(); }, 300);
  }

  // Positions while on shift, sparingly: one low-accuracy fix every five minutes while the app is open.
  function pingPositions() {
    if (root.dataset.onShift !== "yes") return;
    setInterval(function () {
      position(false).then(function (fix) {
        return box.enqueue("position", { ping_id: box.uuid(), latitude: fix.coords.latitude,
                                         longitude: fix.coords.longitude, accuracy_m: fix.coords.accuracy });
      }).then(syncSoon, function () {});
    }, 300000);
  }

  function guardSignOut() {
    var signOut = document.querySelector('form[action="/logout"]');
    if (!signOut) return;
    signOut.addEventListener("submit", function (event) {
      var waiting = Number(root.dataset.waiting || "0");
      if (waiting && !window.confirm(fill(words.leave_pending, { n: waiting }))) event.preventDefault();
    });
  }

  // The office's changes for this crew (a new job, a note, a reassignment) arrive as a "pull now" poke.
  function listenForPokes() {
    if (!window.EventSource) return;
    var pokes = new EventSource("/sync/poke");
    pokes.addEventListener("poke", syncSoon);
  }

  function start() {
    return box.use(user).then(function () { return box.setMeta({ csrf: csrfCookie(), session_user: user }); })
      .then(render).then(syncNow).then(listenForPokes);
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/crew/sw.js", { scope: "/crew" }).catch(function () {});
    navigator.serviceWorker.addEventListener("message", function () { render(); });
  }
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist();
  // Going on or off shift is decided by the office's records at once: it needs a signal.
  function onlineOnly() {
    root.querySelectorAll("[data-online-only] button").forEach(function (b) { b.disabled = navigator.onLine === false; });
  }
  root.querySelector("[data-sync-now]").addEventListener("click", syncNow);
  window.addEventListener("online", function () { onlineOnly(); syncNow(); });
  window.addEventListener("offline", onlineOnly);
  onlineOnly();
  guardSignOut();
  pingPositions();
  start();
})();
