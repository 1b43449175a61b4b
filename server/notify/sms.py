"""SMS gateways: the interface, a log gateway for development (and the admin's SMS inbox), a generic HTTP one."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

from server.db import utcnow


@dataclass(frozen=True)
class SmsResult:
    status_code: int | None
    retry_after: str | None = None
    error: str | None = None


class SmsGateway(Protocol):
    def send(self, phone: str, text: str, message_id: int | None = None,
             sender: str | None = None) -> SmsResult: ...


class LogSmsGateway:
    """Writes each SMS as a JSON line to data/sms.log: nothing leaves the machine."""

    def __init__(self, path: Path, sender: str):
        self.path, self.sender = path, sender
        path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, phone: str, text: str, message_id: int | None = None, sender: str | None = None) -> SmsResult:
        # Customers' numbers and messages: readable by the app's own user only (0600), whatever the umask.
        with open(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8") as log:
            log.write(json.dumps({"at": utcnow().isoformat(), "id": message_id, "from": sender or self.sender, "to": phone,
                                  "text": text}, ensure_ascii=False) + "\n")
        return SmsResult(200)


class HttpSmsGateway:
    """POSTs {"from", "to", "text"} as JSON with a bearer token; the gateway's HTTP status is the outcome."""

    def __init__(self, url: str, token: str, sender: str):
        self.url, self.sender = url, sender
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, phone: str, text: str, message_id: int | None = None, sender: str | None = None) -> SmsResult:
        # The outbox id lets a gateway that honours idempotency keys drop a resend after a worker crash.
        headers = {"Idempotency-Key": f"faultline-outbox-{message_id}"} if message_id else {}
        try:
            response = self.session.post(self.url, json={"from": sender or self.sender, "to": phone, "text": text},
                                         headers=headers, timeout=10)
        except requests.RequestException as exc:
            return SmsResult(None, error=str(exc)[:300])
        return SmsResult(response.status_code, response.headers.get("Retry-After"),
                         None if response.ok else response.text[:300])


def gateway_from(settings) -> SmsGateway:
    notify = settings.notify
    if notify.sms_gateway == "http":
        if not notify.sms_url:
            raise RuntimeError("FAULTLINE_SMS_GATEWAY=http needs FAULTLINE_SMS_URL")
        return HttpSmsGateway(notify.sms_url, notify.sms_token, notify.sms_sender)
    return LogSmsGateway(settings.server.data_dir / "sms.log", notify.sms_sender)
