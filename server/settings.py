"""Settings: one small dataclass per concern, each field read from one environment variable.

Every variable is listed in the README. Nothing here needs hand-editing: the defaults run
the demo on one machine, and secrets are generated into the data folder on first run.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class DatabaseSettings:
    # DATABASE_URL: any PostgreSQL URL with PostGIS available; empty means "provision one".
    url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    # FAULTLINE_DB_POOL_SIZE: connections kept per app process.
    pool_size: int = field(default_factory=lambda: int(_env("FAULTLINE_DB_POOL_SIZE", "10")))


@dataclass(frozen=True)
class ServerSettings:
    # FAULTLINE_HOST / FAULTLINE_PORT: where `faultline serve` listens.
    host: str = field(default_factory=lambda: _env("FAULTLINE_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("FAULTLINE_PORT", "8000")))
    # FAULTLINE_TRUSTED_PROXIES: the reverse proxies (comma-separated addresses, or *) whose
    # X-Forwarded-For names the customer: rate limits count each customer, not the proxy.
    trusted_proxies: str = field(default_factory=lambda: _env("FAULTLINE_TRUSTED_PROXIES", "127.0.0.1"))
    # FAULTLINE_DATA_DIR: secrets, the local database cluster (if provisioned), uploads.
    data_dir: Path = field(
        default_factory=lambda: Path(_env("FAULTLINE_DATA_DIR", str(PROJECT_ROOT / "data"))).resolve()
    )
    # FAULTLINE_SECURE_COOKIES: set true behind HTTPS so cookies never travel in clear.
    secure_cookies: bool = field(default_factory=lambda: _env_bool("FAULTLINE_SECURE_COOKIES", False))
    # FAULTLINE_SESSION_HOURS: how long a staff sign-in lasts without activity.
    session_hours: int = field(default_factory=lambda: int(_env("FAULTLINE_SESSION_HOURS", "12")))
    # FAULTLINE_SIGNIN_PER_ACCOUNT / FAULTLINE_SIGNIN_PER_ADDRESS: failed sign-ins allowed per 15 minutes for one
    # username, and from one address (an office behind one NAT shares it), before sign-in waits for the window.
    signin_per_account: int = field(default_factory=lambda: int(_env("FAULTLINE_SIGNIN_PER_ACCOUNT", "5")))
    signin_per_address: int = field(default_factory=lambda: int(_env("FAULTLINE_SIGNIN_PER_ADDRESS", "20")))
    # FAULTLINE_SYNC_KEEP_DAYS: how long the crew phones' change log is kept; an older cursor gets a full reset.
    sync_keep_days: int = field(default_factory=lambda: int(_env("FAULTLINE_SYNC_KEEP_DAYS", "30")))


@dataclass(frozen=True)
class LocaleSettings:
    # FAULTLINE_DEFAULT_LANGUAGE: used when neither the person nor the browser says (en, sw, hi, vi, sq).
    default_language: str = field(default_factory=lambda: _env("FAULTLINE_DEFAULT_LANGUAGE", "en"))
    # FAULTLINE_TIMEZONE: the deployment's time zone for dates shown to people.
    timezone: str = field(default_factory=lambda: _env("FAULTLINE_TIMEZONE", "Africa/Nairobi"))
    # FAULTLINE_PHONE_REGION: country assumed for phone numbers written without +country code.
    phone_region: str = field(default_factory=lambda: _env("FAULTLINE_PHONE_REGION", "KE"))


@dataclass(frozen=True)
class IntakeSettings:
    # FAULTLINE_GROUP_RADIUS_M: a report with no known transformer joins an open incident this close…
    group_radius_m: float = field(default_factory=lambda: float(_env("FAULTLINE_GROUP_RADIUS_M", "300")))
    # FAULTLINE_GROUP_WINDOW_MINUTES: …reported within this many minutes.
    group_window_minutes: int = field(default_factory=lambda: int(_env("FAULTLINE_GROUP_WINDOW_MINUTES", "180")))
    # FAULTLINE_RATE_PER_PHONE: reports one phone number may file per hour, on all channels together.
    rate_per_phone: int = field(default_factory=lambda: int(_env("FAULTLINE_RATE_PER_PHONE", "10")))
    # FAULTLINE_RATE_PER_IP: public intake requests one address may make per minute (a storm from one
    # office or mobile carrier NAT is normal, so this is generous).
    rate_per_ip: int = field(default_factory=lambda: int(_env("FAULTLINE_RATE_PER_IP", "60")))
    # FAULTLINE_RATE_PER_API_CLIENT: reports one partner system (chatbot, CRM) may file per minute.
    rate_per_api_client: int = field(default_factory=lambda: int(_env("FAULTLINE_RATE_PER_API_CLIENT", "600")))
    # FAULTLINE_GATEWAY_SECRET: when set, USSD/SMS gateway callbacks must carry
    # X-Faultline-Signature: hex HMAC-SHA256 of the raw body with this secret.
    gateway_secret: str = field(default_factory=lambda: _env("FAULTLINE_GATEWAY_SECRET", ""))
    # FAULTLINE_PHOTO_MAX_BYTES: the largest photo a customer may attach.
    photo_max_bytes: int = field(default_factory=lambda: int(_env("FAULTLINE_PHOTO_MAX_BYTES", str(8 * 1024 * 1024))))


@dataclass(frozen=True)
class MapSettings:
    # FAULTLINE_BASEMAP_URL: a utility's own basemap drawn under the network when online: raster tiles
    # (https://…/{z}/{x}/{y}.png), or vector tiles in the Protomaps basemap schema (a .pmtiles file, or
    # …/{z}/{x}/{y}.mvt or .pbf). Empty: the network itself (zones, streets, feeders) is the map.
    basemap_url: str = field(default_factory=lambda: _env("FAULTLINE_BASEMAP_URL", ""))
    # FAULTLINE_BASEMAP_ATTRIBUTION: the credit line that basemap requires.
    basemap_attribution: str = field(default_factory=lambda: _env("FAULTLINE_BASEMAP_ATTRIBUTION", ""))
    # FAULTLINE_OFFLINE_MAP_MAX_BYTES: the most a crew phone stores for one offline map area.
    offline_max_bytes: int = field(default_factory=lambda: int(_env("FAULTLINE_OFFLINE_MAP_MAX_BYTES",
                                                                     str(15 * 1024 * 1024))))

    @property
    def basemap_kind(self) -> str:
        path = self.basemap_url.split("?")[0].lower()
        return "vector" if path.endswith((".pmtiles", ".mvt", ".pbf")) else "raster"


@dataclass(frozen=True)
class NotifySettings:
    # FAULTLINE_VAPID_SUBJECT: how push services reach the operator (mailto: or https:), sent with every push.
    vapid_subject: str = field(default_factory=lambda: _env("FAULTLINE_VAPID_SUBJECT", "mailto:ops@faultline.invalid"))
    # FAULTLINE_PUSH_TTL_SECONDS: how long a push service keeps a message for a phone that is offline.
    push_ttl_seconds: int = field(default_factory=lambda: int(_env("FAULTLINE_PUSH_TTL_SECONDS", "86400")))
    # FAULTLINE_SMS_GATEWAY: "log" (writes to data/sms.log and the admin's SMS inbox) or "http".
    sms_gateway: str = field(default_factory=lambda: _env("FAULTLINE_SMS_GATEWAY", "log"))
    # FAULTLINE_SMS_URL / FAULTLINE_SMS_TOKEN: the HTTP gateway: JSON {to, from, text} POSTed with a bearer token.
    sms_url: str = field(default_factory=lambda: _env("FAULTLINE_SMS_URL", ""))
    sms_token: str = field(default_factory=lambda: _env("FAULTLINE_SMS_TOKEN", ""))
    # FAULTLINE_SMS_SENDER: the sender name or short code customers see.
    sms_sender: str = field(default_factory=lambda: _env("FAULTLINE_SMS_SENDER", "Faultline"))
    # FAULTLINE_PLANNED_NOTICE_HOURS: customers in a planned outage's area are told this long before it starts.
    planned_notice_hours: int = field(default_factory=lambda: int(_env("FAULTLINE_PLANNED_NOTICE_HOURS", "24")))
    # FAULTLINE_PUBLIC_URL: the address customers open (tracking links in SMS and push); empty means where
    # `faultline serve` listens (Settings.public_url).
    public_url: str = field(default_factory=lambda: _env("FAULTLINE_PUBLIC_URL", ""))
    # FAULTLINE_WORKER: "in-process" sends from `faultline serve`; "off" leaves it to `faultline worker`.
    worker: str = field(default_factory=lambda: _env("FAULTLINE_WORKER", "in-process"))


@dataclass(frozen=True)
class Settings:
    db: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    locale: LocaleSettings = field(default_factory=LocaleSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    maps: MapSettings = field(default_factory=MapSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @property
    def listen_url(self) -> str:
        """Where `faultline serve` listens, as a URL."""
        host = self.server.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.server.port}"

    @property
    def public_url(self) -> str:
        """The base of every link customers are sent: FAULTLINE_PUBLIC_URL, else where the server listens.

        Never the request's Host header: anyone can send one, and these links go out by SMS. Listening on
        every interface (0.0.0.0) names no address, so the machine's own name stands in for it."""
        if self.notify.public_url:
            return self.notify.public_url.rstrip("/")
        if self.server.host in ("0.0.0.0", "::", ""):
            return f"http://{socket.gethostname()}:{self.server.port}"
        return self.listen_url


@lru_cache
def get_settings() -> Settings:
    return Settings()


LANGUAGES = ("en", "sw", "hi", "vi", "sq")
