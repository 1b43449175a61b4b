"""Secrets generated on first run into the data folder, never committed, never regenerated."""
from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_vapid_keys() -> dict[str, str]:
    """A P-256 key pair for VAPID (RFC 8292): the private scalar and the public point, base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"vapid_private_key": _b64url(private), "vapid_public_key": _b64url(public)}


def _new_secrets() -> dict[str, str]:
    return {"csrf_secret": secrets.token_urlsafe(32), **new_vapid_keys()}


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """Return the deployment's secrets, creating `secrets.json` (mode 0600) the first time.

    A secret added in a later version is generated and stored once; existing ones are never replaced.
    """
    path = data_dir / "secrets.json"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once cannot both write (and disagree on) the secrets.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        values = json.loads(path.read_text())
        missing = {k: v for k, v in _new_secrets().items() if k not in values and not
                   (k.startswith("vapid_") and "vapid_private_key" in values)}
        if missing:
            values.update(missing)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(values))
            temporary.chmod(0o600)
            temporary.replace(path)
        return values
    values = _new_secrets()
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)
    return values
