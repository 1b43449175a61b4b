"""Service worker scripts, each with its cache named after the static files it keeps (new files, new cache)."""
from __future__ import annotations

import hashlib
from functools import lru_cache

from server.settings import PROJECT_ROOT

STATIC = PROJECT_ROOT / "static"


@lru_cache
def _static_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache
def worker_source(script: str, release: str = "") -> str:
    """static/js/<script> with its version filled in; `release` forces a new version without new files."""
    version = hashlib.sha256(f"{_static_digest()}:{release}".encode()).hexdigest()[:12]
    return (STATIC / "js" / script).read_text().replace("__VERSION__", version)
