"""Every surface, rendered in every language, shows no English that should have been translated."""
import re
from html.parser import HTMLParser

import psycopg
import pytest
from babel.messages.pofile import read_po

from server.i18n import LOCALE_DIR
from server.db_url import libpq_url
from tests.conftest import csrf_token, sign_in

OTHER_LANGUAGES = ("sw", "hi", "vi", "sq")
# A sentence left in English nearly always carries a few of these; names and codes never do.
ENGLISH_WORDS = {"the", "a", "an", "to", "of", "is", "are", "your", "we", "and", "for", "in", "on", "with", "this",
                 "it", "be", "not", "you", "no", "yet", "here", "what", "where", "when", "please", "our", "has"}
VISIBLE_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt", "data-msg-locating", "data-msg-located",
                      "data-msg-picked", "data-msg-failed", "data-msg-map-failed", "data-msg-offline",
                      "data-msg-stale", "data-msg-progress", "data-msg-done", "data-msg-too-large",
                      "data-msg-no-signal", "data-msg-request-failed")


class VisibleText(HTMLParser):
    """Text a person reads, leaving out scripts and anything marked as another language (lang="en")."""

    VOID = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self):
        super().__init__()
        self.chunks, self._skip, self._open = [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self.VOID:
            return
        foreign = tag != "html" and "lang" in attrs
        self._open.append((tag, tag in ("script", "style") or foreign))
        self._skip += self._open[-1][1]
        if not self._skip:
            self.chunks += [value for name, value in attrs.items() if name in VISIBLE_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        while self._open:
            opened, skipping = self._open.pop()
            self._skip -= skipping
            if opened == tag:
                break

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.chunks.append(" ".join(data.split()))


def visible(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.chunks


def looks_english(text: str) -> bool:
    # Whole words only: "s7da86a4a" (a test crew's code) is not three English words.
    words = [w for w in re.findall(r"[^\W_]+", text.lower()) if w.isascii() and w.isalpha()]
    return len(words) >= 2 and sum(word in ENGLISH_WORDS for word in words) >= 2


@pytest.fixture(scope="module")
def translated_msgids():
    """English texts whose translation differs, per language: they must never show in that language."""
    found = {}
    for lang in OTHER_LANGUAGES:
        with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        found[lang] = {m.id for m in catalog if isinstance(m.id, str) and m.id and m.string != m.id
                       and "%" not in m.id and len(m.id) > 12}
    return found


@pytest.fixture(scope="module")
def sample(database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        token, = conn.execute("SELECT tracking_token FROM report ORDER BY id LIMIT 1").fetchone()
        incident, lat, lon = conn.execute("SELECT id, ST_Y(location::geometry), ST_X(location::geometry) "
                                          "FROM incident WHERE status = 'reported' ORDER BY id LIMIT 1").fetchone()
    return {"token": token, "lat": lat, "lon": lon, "incident": incident}


def surfaces(sample):
    """(role or None, path): every page and partial a person reads."""
    return [
        (None, "/"), (None, "/outages"), (None, f"/t/{sample['token']}"), (None, "/login"), (None, "/nowhere"),
        (None, f"/report/known?latitude={sample['lat']}&longitude={sample['lon']}"),
        ("agent", "/agent"), ("agent", "/agent?q=14200000005"), ("agent", "/agent?q=0700000000"),
        ("dispatcher", "/dispatch"), ("dispatcher", f"/dispatch/incidents/{sample['incident']}"),
        ("lineman", "/crew"), ("supervisor", "/supervisor"),
        ("admin", "/admin"), ("admin", "/admin/sms"), ("supervisor", "/profile"),
        ("admin", "/admin/crews"), ("admin", "/admin/crews/1"), ("admin", "/admin/staff/1"), ("admin", "/admin/zones"),
        ("admin", "/admin/settings"), ("admin", "/admin/imports"), ("admin", "/admin/sms-inbox"),
        ("dispatcher", "/planned"), ("supervisor", "/broadcasts"), ("dispatcher", "/dispatch/crews?q=a"),
        ("supervisor", "/supervisor/sla"), ("supervisor", "/supervisor/figures"),
        ("supervisor", f"/supervisor/incidents/{sample['incident']}/timeline"), ("supervisor", "/supervisor/audit"),
        ("supervisor", "/supervisor/conflicts"),
    ]


async def _render(client, role, path, lang):
    client.cookies.clear()
    if role:
        await sign_in(client, role)
    client.cookies.set("fl_lang", lang)
    response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code in (200, 404), (role, path, response.status_code)
    return response.text


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
async def test_every_surface_is_translated(client, lang, sample, translated_msgids):
    problems = []
    for role, path in surfaces(sample):
        english = set(visible(await _render(client, role, path, "en")))
        page = await _render(client, role, path, lang)
        if "<html" in page:  # partials carry no <html>
            assert f'<html lang="{lang}">' in page, path
        chunks = visible(page)
        for chunk in chunks:
            if chunk in english and looks_english(chunk) and not chunk.startswith("Faultline"):
                problems.append(f"{path}: {chunk!r}")
        shown = " ".join(chunks)
        problems += [f"{path}: {msgid!r}" for msgid in translated_msgids[lang] if msgid in shown]
    assert not problems, f"English left on {lang} pages:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
async def test_form_errors_and_the_receipt_are_translated(client, lang, sample):
    client.cookies.clear()
    client.cookies.set("fl_lang", lang)
    token = await csrf_token(client, "/")
    errors = await client.post("/report", data={"_csrf_token": token}, headers={"accept": "text/html"})
    assert errors.status_code == 422 and "Choose what is wrong." not in errors.text
    done = await client.post("/report", data={"_csrf_token": token, "category": "no_power", "phone": "0712345999",
                                              "latitude": str(sample["lat"]), "longitude": str(sample["lon"])},
                             headers={"accept": "text/html"})
    assert done.status_code == 201
    assert not [c for c in visible(done.text) if looks_english(c) and not c.startswith("Faultline")]


def test_the_detector_does_catch_english():
    assert looks_english("Tell us what is wrong and where.")
    assert not looks_english("Westlands crew 1") and not looks_english("Daniel Dispatcher")


async def test_staff_choose_their_language_in_their_profile(client):
    from server.i18n import gettext
    client.cookies.clear()
    client.cookies.set("fl_lang", "sw")  # chosen earlier with the sign-in page's switcher
    await sign_in(client, "dispatcher")
    token = await csrf_token(client, "/profile")
    saved = await client.post("/profile", data={"language": "vi", "_csrf_token": token})
    assert saved.status_code == 200 and '<html lang="vi">' in saved.text
    page = await client.get("/dispatch")
    assert '<html lang="vi">' in page.text and gettext("vi", "Dispatch") in page.text
    refused = await client.post("/profile", data={"language": "xx", "_csrf_token": token},
                                headers={"accept": "text/html"})
    assert refused.status_code == 400
    await client.post("/profile", data={"language": "en", "_csrf_token": token})  # as the other tests expect
    client.cookies.clear()


async def test_the_tracking_page_speaks_the_language_the_report_was_made_in(client, database_url):
    """An SMS customer taps their tracking link in a browser set to English: the page is in their language."""
    import psycopg

    from server.db_url import libpq_url
    with psycopg.connect(libpq_url(database_url)) as conn:
        token, language = conn.execute("SELECT tracking_token, language FROM report ORDER BY id LIMIT 1").fetchone()
        conn.execute("UPDATE report SET language = 'sw' WHERE tracking_token = %s", (token,))
    try:
        client.cookies.clear()
        page = await client.get(f"/t/{token}", headers={"accept-language": "en"})
        assert '<html lang="sw">' in page.text
        client.cookies.set("fl_lang", "hi")  # but a language chosen on the page wins
        assert '<html lang="hi">' in (await client.get(f"/t/{token}")).text
    finally:
        client.cookies.clear()
        with psycopg.connect(libpq_url(database_url)) as conn:
            conn.execute("UPDATE report SET language = %s WHERE tracking_token = %s", (language, token))
