// What both service workers do on install and activate (imported by crew-sw.js and customer-sw.js).
// Each shell file is fetched with cache: "reload", past the browser's HTTP cache, so a new worker can never
// store yesterday's file; its URL carries its content's hash as well. On activate, every older shell cache
// of the same app goes (the crew's saved map tiles live in caches of other names and stay).
"use strict";
self.FaultlineShell = {
  install: function (cache, shell) {
    return caches.open(cache).then(function (store) {
      return store.addAll(shell.map(function (url) { return new Request(url, { cache: "reload" }); }));
    });
  },
  dropOthers: function (prefix, keep) {
    return caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) { return name.indexOf(prefix) === 0 && name !== keep; })
        .map(function (name) { return caches.delete(name); }));
    });
  }
};
