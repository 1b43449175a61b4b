"""A push service on loopback for tests: it checks each message's VAPID JWT (RFC 8292) and really
decrypts the payload (RFC 8291, aes128gcm) with the subscriber's private key, like a browser would.
It answers 201, or whatever status a test asks for."""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """A browser's side of a subscription: its key pair and auth secret."""

    name: str
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


@dataclass
class Delivery:
    subscriber: str
    message: dict
    headers: dict


class PushService:
    def __init__(self, vapid_public_key: str):
        self.vapid_public_key = vapid_public_key
        self.subscribers: dict[str, Subscriber] = {}
        self.deliveries: list[Delivery] = []
        self.refused: list[str] = []          # why messages were refused (bad VAPID, undecryptable)
        self.answers: dict[str, list[int]] = {}  # name -> statuses to answer next, in order
        self.retry_after: str | None = None
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (the crash test kills it): no request
                    self.close_connection = True
                    return
                name = self.path.rsplit("/", 1)[-1]
                status = service.receive(name, body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                if status == 429 and service.retry_after:
                    self.send_header("Retry-After", service.retry_after)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def subscribe(self, name: str) -> dict:
        subscriber = self.subscribers[name] = Subscriber(name)
        return {"endpoint": f"{self.origin}/push/{name}", "keys": {"p256dh": subscriber.p256dh,
                                                                    "auth": b64url(subscriber.auth)}}

    def check_vapid(self, authorization: str) -> str | None:
        """None when the JWT is right; else why not."""
        if not authorization.startswith("vapid "):
            return "no vapid scheme"
        fields = dict(part.strip().split("=", 1) for part in authorization[6:].split(","))
        token, key = fields.get("t", ""), fields.get("k", "")
        if key != self.vapid_public_key:
            return "unexpected VAPID key"
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            signature = unb64url(signature_b64)
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
            public.verify(encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                               int.from_bytes(signature[32:], "big")),
                          f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature):
            return "bad signature"
        header, claims = json.loads(unb64url(header_b64)), json.loads(unb64url(claims_b64))
        if header.get("alg") != "ES256":
            return "not ES256"
        if claims.get("aud") != self.origin:
            return f"aud {claims.get('aud')!r} is not {self.origin!r}"
        if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
            return "exp missing, past, or more than 24 h ahead"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return "sub is not a mailto: or https: contact"
        return None

    def receive(self, name: str, body: bytes, headers: dict) -> int:
        answers = self.answers.get(name)
        if answers:
            return answers.pop(0)
        problem = self.check_vapid(headers.get("authorization", ""))
        subscriber = self.subscribers.get(name)
        if problem or subscriber is None:
            self.refused.append(problem or "unknown subscriber")
            return 401 if problem else 404
        if headers.get("content-encoding") != "aes128gcm" or not headers.get("ttl"):
            self.refused.append("missing aes128gcm encoding or TTL")
            return 400
        try:
            plain = http_ece.decrypt(body, private_key=subscriber.private_key, auth_secret=subscriber.auth,
                                     version="aes128gcm")
        except Exception as exc:  # noqa: BLE001 - any failure to decrypt is the test's finding
            self.refused.append(f"undecryptable: {exc}")
            return 400
        self.deliveries.append(Delivery(name, json.loads(plain), headers))
        return 201

    def close(self) -> None:
        self.server.shutdown()
