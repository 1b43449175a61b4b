"""Secrets generated on first run into the data folder, never committed, never regenerated; and the data folder
itself kept private: it holds customers' numbers and messages (sms.log), photos and the audit anchors."""
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


# The project-local PostgreSQL cluster, when one was made (server/provision.py): owned by its own user.
CLUSTER_FOLDERS = ("pg", "pg-run", "pg.log")


def keep_private(data_dir: Path) -> None:
    """Folders 0700 and files 0600 in the data folder, and so for everything this process writes from now on
    (umask 077). When a local cluster owned by the postgres user lives inside, the folder itself stays
    traversable (0711) so that user can reach it; nobody else can list it or read what is in it."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True)
    cluster_inside = any((data_dir / name).exists() and (data_dir / name).stat().st_uid != os.geteuid()
                         for name in CLUSTER_FOLDERS)
    wanted = 0o711 if cluster_inside else 0o700
    if data_dir.stat().st_mode & 0o777 == wanted:
        return  # private already, and so is all this program has written since
    data_dir.chmod(wanted)
    for path in data_dir.iterdir():
        if path.name in CLUSTER_FOLDERS:
            continue  # the cluster keeps its own modes (PostgreSQL insists on 0700 and checks them)
        for found in [path, *(path.rglob("*") if path.is_dir() and not path.is_symlink() else [])]:
            if found.is_symlink() or found.stat().st_uid != os.geteuid():
                continue
            found.chmod(0o700 if found.is_dir() else 0o600)


def load_or_create_secrets(data_dir: Path) -> dict[str, str]:
    """Return the deployment's secrets, creating `secrets.json` (mode 0600) the first time.

    A secret added in a later version is generated and stored once; existing ones are never replaced.
    """
    path = data_dir / "secrets.json"
    keep_private(data_dir)
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
