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
  // The database's schema version: each step of `upgrade` takes a phone's database one version further, in
  // place, so a phone that skipped app versions loses nothing on the way.
  var DB_VERSION = 2;
  // A batch is at most this many mutations and this many bytes (a 2G link; the server takes up to 4 MB), and one
  // mutation at most what the server takes for one (sync/mutations.py MAX_MUTATION_BYTES).
  var LIMITS = { count: 100, bytes: 256 * 1024, mutation: 64 * 1024 };
  // This file's address carries its content's hash: a refusal recorded by one version of the app is not held
  // against the next, which may have fixed what the server refused. (The worker names it before importing.)
  var VERSION = (scope.document && scope.document.currentScript && scope.document.currentScript.src) ||
                scope.FaultlineOutboxVersion || "";
  var dbPromise = null;
  var person = null;  // who is signed in on this page (the service worker passes it to sync)

  function key(name, user) { return name + ":" + user; }

  function open() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var opening = indexedDB.open(DB_NAME, DB_VERSION);
        opening.onupgradeneeded = function (event) { upgrade(opening.result, opening.transaction, event.oldVersion); };
        opening.onsuccess = function () {
          var db = opening.result;
          // A newer app version (another window, the worker) needs the database to upgrade it: let it go; the
          // next call here opens it again.
          db.onversionchange = function () { db.close(); dbPromise = null; };
          resolve(db);
        };
        opening.onerror = function () { dbPromise = null; reject(opening.error); };
      });
    }
    return dbPromise;
  }

  // Version 1: the stores. Version 2: each store indexed by owner, so a redraw counts a person's photos without
  // reading one (each holds its picture) and a sync reads only that person's rows; the log by owner and time, so
  // the newest messages are read alone. A version-1 phone still in the older single-user format (one install id,
  // unmarked rows) has it handed to its owner here, once.
  function upgrade(db, tx, oldVersion) {
    if (oldVersion < 1) {
      db.createObjectStore("meta", { keyPath: "key" });
      db.createObjectStore("jobs", { keyPath: "id" });
      db.createObjectStore("outbox", { keyPath: "id" });
      db.createObjectStore("photos", { keyPath: "id" });
      db.createObjectStore("log", { keyPath: "at" });
    }
    if (oldVersion < 2) {
      tx.objectStore("outbox").createIndex("owner", "owner");
      tx.objectStore("photos").createIndex("owner", "owner");
      tx.objectStore("log").createIndex("owner", ["owner", "at"]);
      if (oldVersion === 1) markSingleUser(tx);
    }
  }

  // Before phones were shared the outbox had one install id, sequence and cursor (meta `client_id`, `next_id`,
  // `cursor`, `last_sync`), mutations keyed by their number alone and unmarked photos and messages. They belong
  // to the `owner` that version recorded at its first start (or, failing that, to the last person signed in);
  // they are marked as theirs, untouched otherwise, and go under their install id when they next sign in.
  function markSingleUser(tx) {
    var meta = tx.objectStore("meta");
    var names = ["client_id", "next_id", "cursor", "last_sync", "owner", "session_user", "jobs_owner"];
    Promise.all(names.map(function (name) { return request(meta.get(name)); })).then(function (got) {
      var old = {};
      names.forEach(function (name, i) { if (got[i]) old[name] = got[i].value; });
      if (old.client_id == null) return;  // written by a version that marks every row
      var before = old.owner || old.session_user || person;
      if (!before) { tx.abort(); return; }  // whose work this is only a signed-in page can say: it upgrades
      ["client_id", "next_id", "cursor", "last_sync"].forEach(function (name) {
        if (old[name] != null) meta.put({ key: key(name, before), value: old[name] });
        meta.delete(name);
      });
      meta.delete("owner");
      if (old.jobs_owner == null) meta.put({ key: "jobs_owner", value: before });
      ["outbox", "photos", "log"].forEach(function (store) {
        tx.objectStore(store).openCursor().onsuccess = function (event) {
          var row = event.target.result;
          if (!row) return;
          if (store === "outbox" && !row.value.mutation) {  // a bare mutation, keyed by its number alone
            row.delete();
            tx.objectStore("outbox").put({ id: key(row.value.id, before), owner: before, mutation: row.value });
          } else if (!row.value.owner) {
            row.update(Object.assign({}, row.value, { owner: before }));
          }
          row.continue();
        };
      });
    });
  }

  // A person's rows in a store's "owner" index (the log's is keyed by owner and time).
  function ownedBy(store, user) {
    return store === "log" ? IDBKeyRange.bound([user], [user, []]) : IDBKeyRange.only(user);
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

  // The signed-in person's install id and sequence; the jobs shown are theirs alone. (Opening the database
  // first may upgrade it: `person` is set before, so an old single-user outbox can be handed to them.)
  function use(user) {
    person = user;
    return transact(["meta", "jobs"], "readwrite", function (s) {
      return Promise.all([request(s.meta.get(key("client_id", user))), request(s.meta.get("jobs_owner"))])
        .then(function (got) {
        if (!got[0]) s.meta.put({ key: key("client_id", user), value: uuid() });
        if (got[1] && got[1].value !== user) {
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

  function mutations(rows) {
    return rows.map(function (row) { return row.mutation; }).sort(function (a, b) { return a.id - b.id; });
  }

  // The signed-in person's rows of a store (outbox entries as the mutations themselves), oldest first.
  function mine(store, user) {
    var owner = user || person;
    if (!owner) return Promise.resolve([]);
    return transact([store], "readonly", function (s) {
      return request(s[store].index("owner").getAll(ownedBy(store, owner)));
    }).then(function (rows) { return store === "outbox" ? mutations(rows) : rows; });
  }

  // The owners found in an index, each once, from the index keys alone (no record is read).
  function owners(index) {
    return new Promise(function (resolve, reject) {
      var found = [];
      var walk = index.openKeyCursor(null, "nextunique");
      walk.onsuccess = function () {
        if (!walk.result) { resolve(found); return; }
        found.push(walk.result.key);
        walk.result.continue();
      };
      walk.onerror = function () { reject(walk.error); };
    });
  }

  // A person's newest `count` messages, newest first.
  function newest(index, user, count) {
    return new Promise(function (resolve, reject) {
      var found = [];
      var walk = index.openCursor(ownedBy("log", user), "prev");
      walk.onsuccess = function () {
        if (walk.result) found.push(walk.result.value);
        if (!walk.result || found.length >= count) { resolve(found); return; }
        walk.result.continue();
      };
      walk.onerror = function () { reject(walk.error); };
    });
  }

  // Who else has work waiting on this phone (their usernames), from the owners of its outbox and its photos.
  function othersOf(lists) {
    var names = lists[0].concat(lists[1]).filter(function (owner) { return owner && owner !== person; });
    return names.filter(function (name, i) { return names.indexOf(name) === i; });
  }

  // What the app's screen shows for a person, read in one transaction: their jobs and queued mutations, how many
  // photos wait (counted in the index: a photo's picture is never read to draw the screen), their last sync,
  // their newest `messages`, who else has work waiting, and a refusal for good of this app version.
  function screen(user, messages) {
    return transact(["jobs", "outbox", "photos", "meta", "log"], "readonly", function (s) {
      return Promise.all([
        request(s.jobs.getAll()), request(s.outbox.index("owner").getAll(ownedBy("outbox", user))),
        request(s.photos.index("owner").count(ownedBy("photos", user))), request(s.meta.get(key("last_sync", user))),
        newest(s.log.index("owner"), user, messages),
        Promise.all([owners(s.outbox.index("owner")), owners(s.photos.index("owner"))]),
        request(s.meta.get(key("refused", user)))
      ]);
    }).then(function (got) {
      return { jobs: got[0], outbox: mutations(got[1]), photos: got[2], lastSync: got[3] ? got[3].value : null,
               log: got[4], others: othersOf(got[5]), refusal: heardByThisVersion(got[6] && got[6].value) };
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

  function wireSize(mutation) {
    return new TextEncoder().encode(JSON.stringify(mutation)).length;
  }

  // What is sent of a mutation: itself, or — when it alone is larger than the server takes — its envelope and its
  // size, which the server answers `rejected` (too_large) like any other: the lineman reads why in the messages,
  // and the mutation's id is used up, so the ones behind it go on.
  function onWire(mutation, limit) {
    var bytes = wireSize(mutation);
    if (bytes <= limit) return { mutation: mutation, bytes: bytes };
    var stub = { id: mutation.id, name: mutation.name, client_time: mutation.client_time, too_large: bytes };
    return { mutation: stub, bytes: wireSize(stub) };
  }

  function batchOf(queue, limits) {
    var batch = [], bytes = 0;
    for (var i = 0; i < queue.length && batch.length < limits.count; i++) {
      var wire = onWire(queue[i], limits.mutation);
      if (batch.length && bytes + wire.bytes > limits.bytes) break;
      batch.push(wire.mutation);
      bytes += wire.bytes;
    }
    return { mutations: batch, bytes: bytes };
  }

  // An answer that will not change however often the same batch is sent (the server says the app is wrong): kept
  // with the version that heard it, shown, and the batch is not sent again by itself — only when the lineman asks
  // (Sync now) or the app is updated. The work stays in the outbox.
  function refuse(owner, status, detail) {
    var refusal = { status: status, detail: detail, version: VERSION, at: new Date().toISOString() };
    return getMeta(key("refused", owner), null).then(function (before) {
      return transact(["meta", "log"], "readwrite", function (s) {
        s.meta.put({ key: key("refused", owner), value: refusal });
        if (!before || before.detail !== detail) s.log.put(logEntry(detail, owner));
      });
    }).then(function () { return "refused"; });
  }

  function refusal(owner) {
    return getMeta(key("refused", owner), null).then(heardByThisVersion);
  }

  function heardByThisVersion(refusal) {
    return refusal && refusal.version === VERSION ? refusal : null;
  }

  function transient(status) {
    return status >= 500 || status === 408 || status === 429;
  }

  // Outcome of a push: "done", "signin" (the session ended: keep everything, ask to sign in), "refused" (the
  // server says the app is wrong: keep everything, say so, do not loop), or a thrown error (network, 5xx: try again
  // later).
  function pushAll(owner, limits) {
    limits = limits || LIMITS;
    return Promise.all([getMeta(key("client_id", owner), null), getMeta("csrf", ""), mine("outbox", owner)])
      .then(function (got) {
      var clientId = got[0], csrf = got[1];
      var queue = got[2];
      if (!queue.length) return "done";
      var batch = batchOf(queue, limits);
      var sent = batch.mutations;
      return postJson("/sync/push", { client_id: clientId, mutations: sent }, csrf).then(function (response) {
        if (response.status === 401 || response.status === 403) return "signin";
        if (transient(response.status)) throw new Error("server " + response.status);
        if (response.status === 413 && (sent.length > 1 || !sent[0].too_large)) {
          // More than the server takes now: send less at a time; one mutation alone goes as its stub.
          return response.json().catch(function () { return {}; }).then(function (body) {
            return pushAll(owner, {
              count: Math.max(1, Math.floor(sent.length / 2)),
              bytes: Math.min(Math.floor(batch.bytes / 2), (body.max_bytes || Infinity) / 2),
              mutation: sent.length > 1 ? Math.min(limits.mutation, body.max_mutation_bytes || Infinity)
                                        : Math.floor(batch.bytes / 2)
            });
          });
        }
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            return refuse(owner, response.status, body.detail || ("HTTP " + response.status));
          });
        }
        return response.json().then(function (body) {
          var finished = body.results.filter(function (a) { return a.status !== "pending"; });
          var byId = {};
          queue.forEach(function (m) { byId[m.id] = m; });
          return transact(["outbox", "photos", "log", "meta"], "readwrite", function (s) {
            s.meta.delete(key("refused", owner));
            finished.forEach(function (answer) {
              var mutation = byId[answer.id];
              s.outbox.delete(key(answer.id, owner));
              // A refused photo mutation: its file would only be refused too.
              if (answer.status === "rejected" && mutation && mutation.name === "photo" && mutation.args) {
                s.photos.delete(mutation.args.photo_id);
              }
              if (answer.status !== "applied") s.log.put(logEntry(answer.message || answer.reason, owner));
            });
          }).then(function () {
            // More than one batch waiting, and this one went through: send the next.
            return finished.length && queue.length > sent.length ? pushAll(owner, limits) : "done";
          });
        });
      });
    });
  }

  // "done", "signin", "refused", or "unheard": the server holds mutations this phone still has queued — it
  // took them but the answer never came back (lost on the way, or heard by the other of the page and the worker).
  // They are not dropped: the next push asks for their answers, which the server gives from its record.
  function pull(owner) {
    return Promise.all([getMeta(key("client_id", owner), null), getMeta(key("cursor", owner), "")])
      .then(function (got) {
      var query = "?client_id=" + encodeURIComponent(got[0]) + (got[1] ? "&cursor=" + encodeURIComponent(got[1]) : "");
      return fetch("/sync/pull" + query, { credentials: "same-origin", headers: { accept: "application/json" } });
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) return "signin";
      if (transient(response.status)) throw new Error("pull " + response.status);
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          return note(body.detail || ("pull: HTTP " + response.status), owner);
        }).then(function () { return "refused"; });
      }
      return response.json().then(function (body) {
        var unheard = 0;
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
          s.outbox.index("owner").openCursor(ownedBy("outbox", owner)).onsuccess = function (event) {
            var cursor = event.target.result;
            if (!cursor) return;
            if (cursor.value.mutation.id <= body.last_mutation_id) unheard += 1;
            cursor.continue();
          };
          s.meta.put({ key: key("cursor", owner), value: body.cursor });
          s.meta.put({ key: key("last_sync", owner), value: new Date().toISOString() });
        }).then(function () { return unheard ? "unheard" : "done"; });
      });
    });
  }

  // Photos travel after the mutations and one at a time: a slow photo never holds back a status change. Each is
  // read from the phone only when its turn comes.
  function uploadPhotos(owner) {
    return Promise.all([getMeta("csrf", ""), transact(["photos"], "readonly", function (s) {
      return request(s.photos.index("owner").getAllKeys(ownedBy("photos", owner)));
    })]).then(function (got) {
      var csrf = got[0];
      return got[1].reduce(function (chain, id) {
        return chain.then(function (state) {
          if (state !== "done") return state;
          return transact(["photos"], "readonly", function (s) { return request(s.photos.get(id)); })
            .then(function (photo) { return photo ? uploadPhoto(owner, photo, csrf) : "done"; });
        });
      }, Promise.resolve("done"));
    });
  }

  function uploadPhoto(owner, photo, csrf) {
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
  }

  var running = null;
  // One sync at a time per page or worker; both may run (the server applies each mutation id once). A batch the
  // server refused for good is not sent again unless `force` (the lineman pressed Sync now); jobs are still
  // pulled and photos still sent. Resolves "done", "signin" or "refused".
  function sync(owner, options) {
    if (running) return running;
    var force = Boolean(options && options.force);
    running = getMeta(key("client_id", owner), null).then(function (clientId) {
      if (!clientId) return "done";  // this person has not opened the app on this phone yet
      return refusal(owner).then(function (held) {
        return held && !force ? "refused" : pushAll(owner);
      }).then(function (pushed) {
        if (pushed === "signin") return pushed;
        return pull(owner).then(function (pulled) {
          if (pulled === "signin") return pulled;
          var heard = pulled === "unheard" && pushed === "done" ? pushAll(owner) : Promise.resolve(pushed);
          return heard.then(function (state) {
            if (state === "signin") return state;
            return uploadPhotos(owner).then(function (photos) { return photos === "done" ? state : photos; });
          });
        });
      });
    }).finally(function () { running = null; });
    return running;
  }

  scope.FaultlineOutbox = {
    open: open, use: use, enqueue: enqueue, savePhoto: savePhoto, sync: sync, screen: screen, mine: mine,
    getMeta: getMeta, setMeta: setMeta, uuid: uuid, note: note, refusal: refusal
  };
})(typeof self !== "undefined" ? self : window);
