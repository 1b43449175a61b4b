"""Tracking links in SMS and push start at the address customers open: FAULTLINE_PUBLIC_URL, else where we listen."""
import socket

import pytest

from server.settings import NotifySettings, ServerSettings, Settings

CASES = [
    # (FAULTLINE_HOST, FAULTLINE_PORT, FAULTLINE_PUBLIC_URL, expected public URL)
    ("127.0.0.1", "8000", "", "http://127.0.0.1:8000"),
    ("127.0.0.1", "8101", "", "http://127.0.0.1:8101"),           # the port actually served, not 8000
    ("10.1.2.3", "9000", "", "http://10.1.2.3:9000"),
    ("::1", "8101", "", "http://[::1]:8101"),
    ("0.0.0.0", "8101", "", f"http://{socket.gethostname()}:8101"),  # every interface: the machine's name
    ("127.0.0.1", "8101", "https://power.example.co.ke/", "https://power.example.co.ke"),  # set: used as is
]


@pytest.mark.parametrize(("host", "port", "public", "expected"), CASES)
def test_links_follow_the_address_served_unless_one_is_set(monkeypatch, host, port, public, expected):
    monkeypatch.setenv("FAULTLINE_HOST", host)
    monkeypatch.setenv("FAULTLINE_PORT", port)
    monkeypatch.setenv("FAULTLINE_PUBLIC_URL", public)
    settings = Settings(server=ServerSettings(), notify=NotifySettings())
    assert settings.public_url == expected
