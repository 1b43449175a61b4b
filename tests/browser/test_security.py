"""Data is never markup, and the Content-Security-Policy (no inline script, nothing from elsewhere) holds on
every surface: each role's pages work in Chromium with it on and raise no violation."""
import psycopg
import pytest
from playwright.async_api import expect

from server.db_url import libpq_url
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

HOSTILE = 'Crew Two <img src=x onerror="window.__xss = 1">'
# Every page that runs our scripts, by who opens it.
PAGES = {
    None: ["/", "/outages", "/login"],
    "agent": ["/agent"],
    "dispatcher": ["/dispatch/", "/planned"],
    "lineman": ["/crew"],
    "supervisor": ["/supervisor", "/supervisor/figures", "/broadcasts"],
    "admin": ["/admin", "/admin/crews"],
}
WATCH_VIOLATIONS = """
    window.__violations = [];
    document.addEventListener('securitypolicyviolation',
        (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


async def _sign_in(page, username):
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("role", list(PAGES))
async def test_every_page_works_under_the_content_security_policy(browser, live_server, role):
    context = await browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 768})
    await context.add_init_script(WATCH_VIOLATIONS)
    page = await context.new_page()
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: refused.append(str(error)))
    if role:
        await _sign_in(page, role)
    for path in PAGES[role]:
        response = await page.goto(path)
        assert response.ok, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        await page.wait_for_load_state("networkidle")
        assert await page.evaluate("window.__violations") == [], path
    assert refused == []
    await context.close()


async def test_the_language_switch_still_submits_itself_without_inline_script(browser, live_server):
    context = await browser.new_context(base_url=live_server)
    page = await context.new_page()
    await page.goto("/outages")
    await page.get_by_label("Language").select_option("sq")
    await expect(page.locator("html")).to_have_attribute("lang", "sq")
    await context.close()


async def test_a_crew_name_that_looks_like_markup_stays_text_on_the_console(desk, database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        crew_id, = conn.execute("""
            INSERT INTO crew (code, name, position, position_at)
            SELECT 'XSS1', %s, ST_Centroid(ST_Collect(location::geometry))::geography, now() FROM transformer
            RETURNING id""", (HOSTILE,)).fetchone()
        conn.execute("INSERT INTO crew_shift (crew_id, started_at, started_by) VALUES (%s, now(), 'test')", (crew_id,))
    try:
        page = await desk.new_page()
        await page.goto("/login?next=/dispatch/")
        await page.get_by_label("Username").fill("dispatcher")
        await page.get_by_label("Password").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        crews = page.locator("#dispatch-map path.leaflet-interactive[fill-opacity='0.9']")
        await expect(crews.first).to_be_visible()
        tooltip = page.locator(".leaflet-tooltip")
        found = False
        for marker in await crews.all():  # hover each crew until ours shows its tooltip
            await marker.hover(force=True)
            if "XSS1" in (await tooltip.all_inner_texts() or [""])[-1]:
                found = True
                break
        assert found, "the crew was not on the map"
        assert HOSTILE in (await tooltip.all_inner_texts())[-1]  # its name shown as the text it is
        assert await page.locator(".leaflet-tooltip img").count() == 0  # not parsed into an element
        assert await page.evaluate("window.__xss") is None
    finally:
        with psycopg.connect(libpq_url(database_url)) as conn:
            conn.execute("UPDATE crew_shift SET ended_at = now(), ended_by = 'test' WHERE crew_id = %s", (crew_id,))
            conn.execute("UPDATE crew SET position = NULL WHERE id = %s", (crew_id,))
