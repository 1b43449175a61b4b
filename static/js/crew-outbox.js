// The crew app's memory and its sync engine, shared by the page (crew.js) and the service worker
// (crew-sw.js, for Background Sync). Everything a lineman does is a mutation written to IndexedDB first,
// then pushed in order to /sync/push (protocol: sync/__init__.py). An entry leaves the outbox only when the
// server has answered it for good (applied, rejected or conflict) — never on reload, update or sign-out.
//
// A phone may be shared by linemen: each person's work, photos and messages are marked with their username
// and sent under their own install id (`client_id:<user>`), numbered in their own sequence, only while they
// are signed in. One person's queued work never waits behind, or travels under, another's.
(function (scope) {
  "use strict";
  var DB_NAME = "faultline-crew";
  var BATCH = 100;
  var dbPromise = null;
  var person = null;  // who is signed in on this page (the service worker passes it to sync)

  function key(name, user) { return name + ":" + user; }
  function theirs(user) { return function (row) { return row.owner === user; }; }

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

  // The signed-in person's install id and sequence; the jobs shown are theirs alone. An outbox from before
  // phones were shared (one `client_id`, unmarked rows) is handed to the person it belonged to, untouched.
  function use(user) {
    person = user;
    return transact(["meta", "jobs", "outbox", "photos", "log"], "readwrite", function (s) {
      return Promise.all(["client_id", "next_id", "cursor", "owner", "jobs_owner", key("client_id", user)]
        .map(function (name) { return request(s.meta.get(name)); })).then(function (got) {
        var value = function (i) { return got[i] ? got[i].value : null; };
        if (value(0)) {
          var before = value(3) || user;
          ["client_id", "next_id", "cursor"].forEach(function (name, i) {
            if (value(i) != null) s.meta.put({ key: key(name, before), value: value(i) });
            s.meta.delete(name);
          });
          s.meta.delete("owner");
          ["outbox", "photos", "log"].forEach(function (store) {
            s[store].openCursor().onsuccess = function (event) {
              var row = event.target.result;
              if (!row) return;
              if (store === "outbox" && !row.value.mutation) {  // a bare mutation, keyed by its number alone
                row.delete();
                s.outbox.put({ id: key(row.value.id, before), owner: before, mutation: row.value });
              } else if (!row.value.owner) {
                row.update(Object.assign({}, row.value, { owner: before }));
              }
              row.continue();
            };
          });
          if (before === user) got[5] = { value: value(0) };
        }
        if (!got[5]) s.meta.put({ key: key("client_id", user), value: uuid() });
        var jobsOwner = value(4) || value(3);
        if (jobsOwner && jobsOwner !== user) {
          s.jobs.clear();  // another person's jobs: theirs to see, and the next pull starts afresh
          s.meta.delete(key("cursor", user));
        }
        s.meta.put({ key: "jobs_owner", value: user });
      });
    });
  }

  // Append a mutation. Its id is the next in the person's sequence, taken in the same transaction.
  function enqueue(name, args, baseRev) {
    var owner = person;
    return transact(["meta", "outbox"], "readwrite", function (s) {
      return request(s.meta.get(key("next_id", owner))).then(function (row) {
        var id = row ? row.value : 1;
        var mutation = { id: id, name: name, args: args, client_time: new Date().toISOString() };
        if (baseRev != null) mutation.base_rev = baseRev;
        s.outbox.put({ id: key(id, owner), owner: owner, mutation: mutation });
        s.meta.put({ key: key("next_id", owner), value: id + 1 });
        return mutation;
      });
    });
  }

  function all(store) {
    return transact([store], "readonly", function (s) { return request(s[store].getAll()); });
  }

  // The signed-in person's rows of a store (outbox entries as the mutations themselves), oldest first.
  function mine(store, user) {
    return all(store).then(function (rows) {
      rows = rows.filter(theirs(user || person));
      if (store !== "outbox") return rows;
      return rows.map(function (row) { return row.mutation; }).sort(function (a, b) { return a.id - b.id; });
    });
  }

  // Who else has work waiting on this phone (their usernames).
  function othersWaiting() {
    return Promise.all([all("outbox"), all("photos")]).then(function (got) {
      var names = got[0].concat(got[1]).map(function (row) { return row.owner; })
        .filter(function (owner) { return owner && owner !== person; });
      return names.filter(function (name, i) { return names.indexOf(name) === i; });
    });
  }

  function savePhoto(id, incidentId, blob) {
    var owner = person;
    return transact(["photos"], "readwrite", function (s) {
      s.photos.put({ id: id, owner: owner, incident_id: incidentId, blob: blob, at: new Date().toISOString() });
    });
  }

  function logEntry(text, owner) {
    return { at: new Date().toISOString() + Math.random().toString(36).slice(2, 6), owner: owner, text: text };
  }

  function note(text, owner) {
    return transact(["log"], "readwrite", function (s) { s.log.put(logEntry(text, owner || person)); });
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
    return Promise.all([getMeta(key("client_id", owner), null), getMeta("csrf", ""), mine("outbox", owner)])
      .then(function (got) {
      var clientId = got[0], csrf = got[1];
      var queue = got[2];
      if (!queue.length) return "done";
      var batch = queue.slice(0, BATCH);
      return postJson("/sync/push", { client_id: clientId, mutations: batch }, csrf).then(function (response) {
        if (response.status === 401 || response.status === 403) return "signin";
        if (response.status >= 500) throw new Error("server " + response.status);
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            return note(body.detail || ("HTTP " + response.status), owner).then(function () { return "refused"; });
          });
        }
        return response.json().then(function (body) {
          var finished = body.results.filter(function (a) { return a.status !== "pending"; });
          return transact(["outbox", "log"], "readwrite", function (s) {
            finished.forEach(function (answer) {
              s.outbox.delete(key(answer.id, owner));
              if (answer.status !== "applied") s.log.put(logEntry(answer.message || answer.reason, owner));
            });
          }).then(function () {
            // More than one batch waiting, and this one went through: send the next.
            return finished.length && queue.length > batch.length ? pushAll(owner) : "done";
          });
        });
      });
    });
  }

  function pull(owner) {
    return Promise.all([getMeta(key("client_id", owner), null), getMeta(key("cursor", owner), "")])
      .then(function (got) {
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
              s.log.put(logEntry((op.code || "") + ": " + op.why, owner));
            }
          });
          // Mutations the server already holds (answered while we were away) leave the outbox.
          s.outbox.openCursor().onsuccess = function (event) {
            var cursor = event.target.result;
            if (!cursor) return;
            if (cursor.value.owner === owner && cursor.value.mutation.id <= body.last_mutation_id) cursor.delete();
            cursor.continue();
          };
          s.meta.put({ key: key("cursor", owner), value: body.cursor });
          s.meta.put({ key: key("last_sync", owner), value: new Date().toISOString() });
        }).then(function () { return "done"; });
      });
    });
  }

  // Photos travel after the mutations and one at a time: a slow photo never holds back a status change.
  function uploadPhotos(owner) {
    return Promise.all([getMeta("csrf", ""), mine("photos", owner)]).then(function (got) {
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
            // Refused for good (not an image, too large): the server's reason, in the lineman's language,
            // goes to the messages; keeping the file would only retry it forever.
            var reason = response.ok ? Promise.resolve(null) : response.json().then(function (body) {
              return body.detail;
            }).catch(function () { return null; });
            return reason.then(function (detail) {
              return transact(["photos", "log"], "readwrite", function (s) {
                s.photos.delete(photo.id);
                if (!response.ok) s.log.put(logEntry(detail || "photo: HTTP " + response.status, owner));
              });
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
    running = getMeta(key("client_id", owner), null).then(function (clientId) {
      if (!clientId) return "done";  // this person has not opened the app on this phone yet
      return pushAll(owner).then(function (state) {
        if (state !== "done") return state;
        return pull(owner).then(function (pulled) { return pulled === "done" ? uploadPhotos(owner) : pulled; });
      });
    }).finally(function () { running = null; });
    return running;
  }

  scope.FaultlineOutbox = {
    open: open, use: use, enqueue: enqueue, savePhoto: savePhoto, sync: sync, all: all,
    mine: mine, othersWaiting: othersWaiting, getMeta: getMeta, setMeta: setMeta, uuid: uuid, note: note
  };
})(typeof self !== "undefined" ? self : window);
