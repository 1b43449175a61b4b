"""The app's static files, addressed by content, and the service workers that keep them.

Every URL a page or a service worker names carries its file's hash (`/static/js/crew.js?v=3f9a…`), so a browser
may keep it for good, and a deploy changes the URL of exactly what changed: no cache — the browser's, a proxy's
or a service worker's — can hand a new app yesterday's file under today's name (Workbox precaches by revision
the same way). An unversioned or outdated URL is still answered, but must be revalidated every time.

The files each service worker precaches are listed once, here (`SHELLS`); the worker's script gets them with
their versions filled in, and its own version is the hash of that list, so a changed file is a new worker.
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from server.settings import PROJECT_ROOT

STATIC = PROJECT_ROOT / "static"
PREFIX = "/static/"
FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # keep it, but ask (ETag) before using it

mimetypes.add_type("application/manifest+json", ".webmanifest")

# What each app needs to open with no signal: its page(s), and static files by their name under static/.
# A page's scripts and styles must all be here (tests/unit/test_static_files.py renders the pages and checks).
SHELLS: dict[str, tuple[str, ...]] = {
    "crew": ("/crew", "/maps/config.json",
             "css/app.css", "vendor/htmx-2.0.11.min.js", "js/problems.js", "js/crew-outbox.js", "js/crew.js",
             "js/offline-map.js", "js/map-base.js", "vendor/leaflet-1.9.4/leaflet.js",
             "vendor/leaflet-1.9.4/leaflet.css", "vendor/protomaps-leaflet-5.1.0/protomaps-leaflet.js",
             "crew.webmanifest", "icons/faultline-192.png"),
    "customer": ("/", "/outages",
                 "css/app.css", "vendor/htmx-2.0.11.min.js", "js/problems.js", "js/public.js", "js/report.js",
                 "js/map-base.js",
                 "manifest.webmanifest", "icons/faultline-192.png"),
}
# What the service workers import besides (importScripts): kept by the browser with the worker itself.
WORKER_IMPORTS = ("js/shell-cache.js", "js/crew-outbox.js")
# The map library that map-base.js loads only when a map is opened (about 80 KB gzipped).
MAP_LIBRARY = {"leaflet": "vendor/leaflet-1.9.4/leaflet.js", "leaflet-css": "vendor/leaflet-1.9.4/leaflet.css",
               "protomaps": "vendor/protomaps-leaflet-5.1.0/protomaps-leaflet.js"}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    digest: str  # the first 12 hex digits of its SHA-256: the `v` of its URL and its ETag


class StaticTree:
    """Every file under one folder, read once when the app starts (a deploy is a restart)."""

    def __init__(self, root: Path = STATIC):
        self.root = root
        self.files: dict[str, StaticFile] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file():
                body = path.read_bytes()
                media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.files[path.relative_to(root).as_posix()] = StaticFile(
                    body, media_type, hashlib.sha256(body).hexdigest()[:12])

    def url(self, name: str) -> str:
        """The URL of static/<name> at its current content; a name that is not there is a bug, said at once."""
        return f"{PREFIX}{name}?v={self.files[name].digest}"

    def shell(self, app: str) -> list[str]:
        return [self.url(entry) if not entry.startswith("/") else entry for entry in SHELLS[app]]

    def worker_source(self, script: str, app: str) -> str:
        """static/js/<script>, a service worker, with its shell (versioned URLs) and its own version filled in."""
        shell = self.shell(app)
        urls = {name: self.url(name) for name in (*SHELLS[app], *WORKER_IMPORTS) if not name.startswith("/")}
        version = hashlib.sha256(json.dumps([shell, urls]).encode()).hexdigest()[:12]
        source = self.files[f"js/{script}"].body.decode()
        return (source.replace('"__VERSION__"', json.dumps(version))
                .replace("__SHELL__", json.dumps(shell)).replace("__URLS__", json.dumps(urls)))

    def answer(self, name: str, version: str | None) -> tuple[StaticFile, str] | None:
        """The file and its Cache-Control: forever only when the URL names this very content."""
        found = self.files.get(name)
        if found is None:
            return None
        return found, FOREVER if version == found.digest else REVALIDATE
