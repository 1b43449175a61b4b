// Customer service worker: the report page, the outages page and their assets open with no signal.
// Pages: network first (fresh status), cached copy when offline. Assets: cache first (versioned).
// Staff pages are never cached here: they go straight to the network. Base-map tiles that a crew
// stored for offline use are served from their cache.
"use strict";
const VERSION = "__VERSION__";
const SHELL = __SHELL__;  // filled in by the server (server/static_files.py), static URLs by content
const URLS = __URLS__;
importScripts(URLS["js/shell-cache.js"]);
const CACHE = "faultline-customer-" + VERSION;
const CUSTOMER_PAGES = /^\/($|outages$|t\/)/;

self.addEventListener("install", (event) => {
  event.waitUntil(FaultlineShell.install(CACHE, SHELL).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(FaultlineShell.dropOthers("faultline-customer-", CACHE).then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/tiles/base/")) {
    // Base-map tiles a crew stored for offline use (static/js/offline-map.js): the stored copy first.
    event.respondWith(caches.match(request)
      .then((hit) => hit || fetch(request)));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  } else if (request.mode === "navigate" && CUSTOMER_PAGES.test(url.pathname)) {
    event.respondWith(fetch(request).then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(request, copy));
      }
      return response;
    }).catch(() => caches.match(request).then((hit) => hit || caches.match("/"))));
  }
});

// Notifications about the customer's report. The tag makes a repeated message replace, not add.
self.addEventListener("push", (event) => {
  let message = {};
  try { message = event.data ? event.data.json() : {}; } catch (error) { message = { body: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(message.title || "Faultline", {
    body: message.body || "", tag: message.tag, renotify: Boolean(message.tag),
    icon: URLS["icons/faultline-192.png"], data: { url: message.url || "/" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil(self.clients.matchAll({ type: "window" }).then((open) => {
    const same = open.find((client) => new URL(client.url).pathname === url);
    return same ? same.focus() : self.clients.openWindow(url);
  }));
});
