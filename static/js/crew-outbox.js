// The crew app's memory and its sync engine, shared by the page (crew.js) and the service worker
// (crew-sw.js, for Background Sync). Everything a lineman does is a mutation written to IndexedDB first,
// then pushed in order to /sync/push (protocol: sync/__init__.py). An entry leaves the outbox only when the
// server has answered it for good (applied, rejected or conflict) — never on reload, update or sign-out.
(function (scope) {
  "use strict";
  var DB_NAME = "faultline-crew";
  var BATCH = 100;
  var dbPromise = null;

  function open() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = function () {
          var db = request.result;
          db.createObjectStore("meta", { keyPath: "key" });
          db.createObjectStore("jobs", { keyPath: "id" });
          db.createObjectStore("outbox", { keyPath: "id" });
          db.createObjectStore("photos", { keyPath: "id" });
          db.createObjectStore("log", { keyPath: "at" });
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return dbPromise;
  }

  // Runs `work(stores)` in one transaction; resolves with what it returned once the transaction committed.
  function transact(names, mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(names, mode);
        var stores = {};
        names.forEach(function (name) { stores[name] = tx.objectStore(name); });
        var result;
        Promise.resolve(work(stores)).then(function (value) { result = value; }, reject);
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function request(req) {
    return new Promise(function (resolve, reject) {
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function getMeta(key, fallback) {
    return transact(["meta"], "readonly", function (s) { return request(s.meta.get(key)); })
      .then(function (row) { return row ? row.value : fallback; });
  }

  function setMeta(values) {
    return transact(["meta"], "readwrite", function (s) {
      Object.keys(values).forEach(function (key) { s.meta.put({ key: key, value: values[key] }); });
    });
  }

  function uuid() {
    if (scope.crypto && scope.crypto.randomUUID) return scope.crypto.randomUUID();
    var b = scope.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // Append a mutation. Its id is the next in this install's sequence, taken in the same transaction.
  function enqueue(name, args, baseRev) {
    return transact(["meta", "outbox"], "readwrite", function (s) {
      return request(s.meta.get("next_id")).then(function (row) {
        var id = row ? row.value : 1;
        var mutation = { id: id, name: name, args: args, client_time: new Date().toISOString() };
        if (baseRev != null) mutation.base_rev = baseRev;
        s.outbox.put(mutation);
        s.meta.put({ key: "next_id", value: id + 1 });
        return mutation;
      });
    });
  }

  function all(store) {
    return transact([store], "readonly", function (s) { return request(s[store].getAll()); });
  }

  function savePhoto(id, incidentId, blob) {
    return transact(["photos"], "readwrite", function (s) {
      s.photos.put({ id: id, incident_id: incidentId, blob: blob, at: new Date().toISOString() });
    });
  }

  function note(text) {
    var at = new Date().toISOString() + Math.random().toString(36).slice(2, 6);
    return transact(["log"], "readwrite", function (s) { s.log.put({ at: at, text: text }); });
  }

  function postJson(path, body, csrf) {
    return fetch(path, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "content-type": "application/json", "x-csrftoken": csrf || "" }
    });
  }

  // Outcome of a sync: "done", "signin" (the session ended: keep everything, ask to sign in),
  // "refused" (the server says the app is wrong: keep everything, say so), or a thrown error (network, 5xx:
  // try again later).
  function pushAll(owner) {
    return Promise.all([getMeta("client_id", null), getMeta("csrf", ""), all("outbox")]).then(function (got) {
      var clientId = got[0], csrf = got[1];
      var queue = got[2].sort(function (a, b) { return a.id - b.id; });
      if (!queue.length) return "done";
      var batch = queue.slice(0, BATCH);
      return postJson("/sync/push", { client_id: clientId, mutations: batch }, csrf).then(function (response) {
        if (response.status === 401 || response.status === 403) return "signin";
        if (response.status >= 500) throw new Error("server " + response.status);
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            return note(body.detail || ("HTTP " + response.status)).then(function () { return "refused"; });
          });
        }
        return response.json().then(function (body) {
          var finished = body.results.filter(function (a) { return a.status !== "pending"; });
          return transact(["outbox", "log"], "readwrite", function (s) {
            finished.forEach(function (answer) {
              s.outbox.delete(answer.id);
              if (answer.status !== "applied") {
                s.log.put({ at: new Date().toISOString() + answer.id, text: answer.message || answer.reason });
              }
            });
          }).then(function () {
            // More than one batch waiting, and this one went through: send the next.
            return finished.length && queue.length > batch.length ? pushAll(owner) : "done";
          });
        });
      });
    });
  }

  function pull() {
    return Promise.all([getMeta("client_id", null), getMeta("cursor", "")]).then(function (got) {
      var query = "?client_id=" + encodeURIComponent(got[0]) + (got[1] ? "&cursor=" + encodeURIComponent(got[1]) : "");
      return fetch("/sync/pull" + query, { credentials: "same-origin", headers: { accept: "application/json" } });
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) return "signin";
      if (!response.ok) throw new Error("pull " + response.status);
      return response.json().then(function (body) {
        return transact(["jobs", "outbox", "meta", "log"], "readwrite", function (s) {
          if (body.reset) s.jobs.clear();
          body.ops.forEach(function (op) {
            var id = Number(op.key.split("/")[1]);
            if (op.op === "put") s.jobs.put(op.value);
            else {
              s.jobs.delete(id);
              s.log.put({ at: new Date().toISOString() + id, text: (op.code || "") + ": " + op.why });
            }
          });
          // Mutations the server already holds (answered while we were away) leave the outbox.
          s.outbox.openCursor().onsuccess = function (event) {
            var cursor = event.target.result;
            if (!cursor) return;
            if (cursor.value.id <= body.last_mutation_id) cursor.delete();
            cursor.continue();
          };
          s.meta.put({ key: "cursor", value: body.cursor });
          s.meta.put({ key: "last_sync", value: new Date().toISOString() });
        }).then(function () { return "done"; });
      });
    });
  }

  // Photos travel after the mutations and one at a time: a slow photo never holds back a status change.
  function uploadPhotos() {
    return Promise.all([getMeta("csrf", ""), all("photos")]).then(function (got) {
      var csrf = got[0];
      return got[1].reduce(function (chain, photo) {
        return chain.then(function (state) {
          if (state !== "done") return state;
          return fetch("/sync/photos/" + photo.id, {
            method: "PUT", credentials: "same-origin", body: photo.blob,
            headers: { "content-type": photo.blob.type || "image/jpeg", "x-csrftoken": csrf }
          }).then(function (response) {
            if (response.status === 401 || response.status === 403) return "signin";
            if (response.status >= 500) throw new Error("photo " + response.status);
            return transact(["photos", "log"], "readwrite", function (s) {
              s.photos.delete(photo.id);
              if (!response.ok) s.log.put({ at: new Date().toISOString() + photo.id, text: "photo: HTTP " + response.status });
            }).then(function () { return "done"; });
          });
        });
      }, Promise.resolve("done"));
    });
  }

  var running = null;
  // One sync at a time per page or worker; both may run (the server applies each mutation id once).
  function sync(owner) {
    if (running) return running;
    running = getMeta("owner", owner).then(function (stored) {
      if (owner && stored !== owner) return "other-owner"; // another lineman's work waits for them
      return pushAll(owner).then(function (state) {
        if (state !== "done") return state;
        return pull().then(function (pulled) { return pulled === "done" ? uploadPhotos() : pulled; });
      });
    }).finally(function () { running = null; });
    return running;
  }

  function counts() {
    return transact(["outbox", "photos"], "readonly", function (s) {
      return Promise.all([request(s.outbox.count()), request(s.photos.count())]);
    }).then(function (c) { return { mutations: c[0], photos: c[1] }; });
  }

  scope.FaultlineOutbox = {
    open: open, enqueue: enqueue, savePhoto: savePhoto, sync: sync, counts: counts, all: all,
    getMeta: getMeta, setMeta: setMeta, uuid: uuid, note: note
  };
})(typeof self !== "undefined" ? self : window);
