"""Web Push with pywebpush: one HTTP session per push service, VAPID header cached per push service.

Traps (see shared/TRAPS.md): webpush writes into the claims dict it is given, its default TTL drops
messages to offline phones, and it has no timeout by default — all handled here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from py_vapid import Vapid02, b64urldecode
from pywebpush import WebPusher

VAPID_LIFETIME = 12 * 3600   # RFC 8292 allows up to 24 h
VAPID_REFRESH = 11 * 3600    # sign again an hour before it runs out
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class PushResult:
    status_code: int | None   # None: no answer
    retry_after: str | None = None
    error: str | None = None


class PushSender:
    def __init__(self, private_key_b64: str, subject: str, ttl_seconds: int):
        self._vapid = Vapid02.from_raw(private_key_b64.encode())
        self._subject = subject
        self._ttl = ttl_seconds
        self._sessions: dict[str, requests.Session] = {}
        self._headers: dict[str, tuple[float, str]] = {}

    def _authorization(self, origin: str) -> str:
        cached = self._headers.get(origin)
        if cached is None or time.time() - cached[0] > VAPID_REFRESH:
            claims = {"sub": self._subject, "aud": origin, "exp": int(time.time()) + VAPID_LIFETIME}
            cached = (time.time(), self._vapid.sign(dict(claims))["Authorization"])
            self._headers[origin] = cached
        return cached[1]

    def send(self, endpoint: str, p256dh: str, auth: str, body: str, topic: str | None,
             urgency: str = "normal") -> PushResult:
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        session = self._sessions.setdefault(origin, requests.Session())
        headers = {"Authorization": self._authorization(origin), "Urgency": urgency}
        if topic:
            headers["Topic"] = topic  # a newer message on the same topic replaces an undelivered older one
        subscription = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
        try:
            response = WebPusher(subscription, requests_session=session).send(
                body, headers=headers, ttl=self._ttl, content_encoding="aes128gcm", timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            return PushResult(None, error=str(exc)[:300])
        return PushResult(response.status_code, response.headers.get("Retry-After"),
                          None if response.ok else response.text[:300])

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()


def public_key_is_valid(key_b64: str) -> bool:
    try:
        return len(b64urldecode(key_b64)) == 65
    except (ValueError, TypeError):
        return False
