// The crew app's service worker (scope /crew): the app shell opens with no signal, and queued work is
// pushed by Background Sync when the phone is back online even if the app is closed.
// A new version only swaps the cached shell: the outbox lives in IndexedDB and is never touched here.
// The server fills in the shell (server/static_files.py): static URLs carry their content's hash.
"use strict";
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const URLS = __URLS__;
self.FaultlineOutboxVersion = URLS["js/crew-outbox.js"];  // its refusals are held against this version only
importScripts(URLS["js/crew-outbox.js"]);
importScripts(URLS["js/shell-cache.js"]);
const CACHE = "faultline-crew-" + VERSION;

self.addEventListener("install", (event) => {
  event.waitUntil(FaultlineShell.install(CACHE, SHELL).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(FaultlineShell.dropOthers("faultline-crew-", CACHE).then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/crew") {
    // Network first (fresh jobs and sign-in state), the cached shell when there is no signal.
    event.respondWith(fetch(request).then((response) => {
      if (response.ok && !response.redirected) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put("/crew", copy));
      }
      return response;
    }).catch(() => caches.match("/crew")));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  } else if (url.pathname === "/maps/config.json") {
    // Network first: the basemap setting may change; the stored copy keeps the credit line offline.
    event.respondWith(fetch(request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(request, copy));
      }
      return response;
    }).catch(() => caches.match(request)));
  } else if (url.pathname.startsWith("/tiles/base/")) {
    // The zone's and the jobs' saved tiles (offline-map.js), whichever holds it; the network otherwise.
    event.respondWith(caches.match(request, { ignoreSearch: true }).then((hit) => hit || fetch(request)));
  }
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "faultline-outbox") return;
  event.waitUntil(FaultlineOutbox.getMeta("session_user", null).then((user) => user && FaultlineOutbox.sync(user))
    .then((state) => self.clients.matchAll().then((clients) => clients.forEach((c) => c.postMessage({ synced: state })))));
});
