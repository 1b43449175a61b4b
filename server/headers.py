"""Security headers on every answer, so that data slipping into markup still cannot run.

The Content-Security-Policy allows scripts, styles and connections from our own origin only (no inline script,
no eval): a crew named `<img src=x onerror=…>` that reached the page as markup would still be inert. The only
other origin is the utility's own basemap (FAULTLINE_BASEMAP_URL), for its tiles.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from server.settings import Settings


def content_security_policy(settings: Settings) -> str:
    basemap = urlsplit(settings.maps.basemap_url)
    extra = f" {basemap.scheme}://{basemap.netloc}" if basemap.scheme in ("http", "https") and basemap.netloc else ""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",  # Leaflet places elements through the CSSOM, which this allows
        f"img-src 'self' data: blob:{extra}",
        f"connect-src 'self'{extra}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


# The API reference at /schema is Litestar's Scalar page, which loads its viewer from a CDN; it shows the schema,
# never anyone's data, so only it may.
API_REFERENCE_POLICY = ("default-src 'self'; script-src 'self' https://cdn.jsdelivr.net; "
                        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
                        "font-src 'self' https://cdn.jsdelivr.net https://fonts.scalar.com; connect-src 'self'; "
                        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def security_headers(settings: Settings):
    """A `before_send` hook adding the headers to every response, error pages and static files included."""
    policy = content_security_policy(settings)
    fixed = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",  # frame-ancestors for browsers that predate it
        # Tracking links carry their token in the path: other sites (a basemap's tile server) see our origin only.
        "referrer-policy": "strict-origin-when-cross-origin",
    }

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            if "content-security-policy" not in headers:
                reference = scope.get("path", "").rstrip("/") in ("/schema", "/schema/scalar")
                headers["content-security-policy"] = API_REFERENCE_POLICY if reference else policy
            for name, value in fixed.items():
                if name not in headers:
                    headers[name] = value

    return add_headers
