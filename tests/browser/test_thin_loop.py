"""The thin loop in real Chromium on a 360 px phone: report "no power" → the dispatcher's console lists it."""
import re

import pytest
from playwright.async_api import expect
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from tests.browser.test_offline_map import PAINTED, poll

pytestmark = pytest.mark.browser


@pytest.fixture
async def free_transformer(database_url):
    """A demo transformer with no incident yet: where our customer stands."""
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        rows = (await session.exec(text("""
            SELECT ST_Y(t.location::geometry) AS lat, ST_X(t.location::geometry) AS lon FROM transformer t
            WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id) ORDER BY t.code LIMIT 2
        """))).all()
    await engine.dispose()
    return rows


async def _reference(page) -> str:
    await expect(page.get_by_text("Thank you, we have your report.")).to_be_visible()
    return (await page.locator(".done .code").inner_text()).strip()


async def test_report_by_gps_reaches_the_dispatcher_without_reload(phone, desk, free_transformer):
    here, elsewhere = free_transformer
    await phone.set_geolocation({"latitude": here.lat + 0.0003, "longitude": here.lon, "accuracy": 12})
    page = await phone.new_page()
    await page.goto("/")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling

    await page.get_by_role("button", name="Use my location").click()
    await expect(page.locator("#location-status")).to_contain_text("accurate to about 12 m")
    await page.get_by_label("Your phone number").fill("0712 345678")
    await page.get_by_role("button", name="Send report").click()
    code = await _reference(page)
    assert re.fullmatch(r"FL-\d{6}", code)

    console = await desk.new_page()
    await console.goto("/login?next=/dispatch")
    await console.get_by_label("Username").fill("dispatcher")
    await console.get_by_label("Password").fill("faultline-demo")
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.locator("#dispatch-queue")).to_contain_text(code)

    # A neighbour is told before sending that the fault is already known.
    neighbour = await phone.new_page()
    await neighbour.goto("/")
    await neighbour.get_by_role("button", name="Use my location").click()
    await expect(neighbour.locator("#known-fault")).to_contain_text("We already know about a fault here.")
    await neighbour.close()

    # A second report, somewhere else, appears on the open console by itself.
    await phone.set_geolocation({"latitude": elsewhere.lat, "longitude": elsewhere.lon, "accuracy": 30})
    await page.goto("/")
    await page.get_by_role("button", name="Use my location").click()
    await expect(page.locator("#location-status")).to_contain_text("Location set")
    await page.get_by_label("Your phone number").fill("+254 722 000111")
    await page.get_by_label("Sparking or wire down (danger)").check()
    await page.get_by_role("button", name="Send report").click()
    second = await _reference(page)
    await expect(console.locator(f"#dispatch-queue tr:has-text('{second}')")).to_have_class(re.compile("danger"),
                                                                                            timeout=10_000)


async def test_tap_on_the_map_and_fix_a_bad_phone_number(phone):
    page = await phone.new_page()
    await page.goto("/")
    await page.get_by_role("button", name="Pick on the map").click()
    tiles = []
    page.on("request", lambda r: tiles.append(r.url) if "/tiles/" in r.url else None)
    map_box = page.locator("#map")
    await expect(map_box.locator(".leaflet-tile-container canvas").first).to_be_attached(timeout=10_000)
    assert await poll(page, PAINTED, "#map")  # the demo city's streets, drawn from vector tiles
    assert tiles and all("/tiles/streets/" in url for url in tiles), tiles  # never the network's layers
    box = await map_box.bounding_box()
    await map_box.tap(position={"x": box["width"] / 2, "y": box["height"] / 2})
    await expect(page.locator("#location-status")).to_have_text("Location set from the map.")

    await page.get_by_label("Your phone number").fill("12")
    await page.get_by_role("button", name="Send report").click()
    await expect(page.get_by_role("alert")).to_contain_text("This phone number does not look right")
    assert await page.locator("#latitude").input_value()  # what was chosen is kept

    await page.get_by_label("Your phone number").fill("0733 444555")
    await page.get_by_role("button", name="Send report").click()
    await _reference(page)


async def test_the_customer_page_is_light_for_a_2g_phone(phone):
    """First load, everything the page fetches (gzip on the wire): well under the 100 KB budget."""
    page = await phone.new_page()
    cdp = await phone.new_cdp_session(page)
    await cdp.send("Network.enable")
    transferred = []
    cdp.on("Network.loadingFinished", lambda event: transferred.append(event["encodedDataLength"]))
    await page.goto("/", wait_until="networkidle")
    total = sum(transferred)
    assert len(transferred) >= 4  # page, CSS, htmx, report.js
    assert total <= 100 * 1024, f"{total} bytes"


async def test_the_customer_page_is_installable_and_opens_offline(phone, live_server):
    page = await phone.new_page()
    await page.goto("/")
    manifest = await (await page.request.get("/static/manifest.webmanifest")).json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
    await page.evaluate("navigator.serviceWorker.ready")
    await page.reload()  # now controlled by the service worker
    assert await page.evaluate("navigator.serviceWorker.controller !== null")

    await phone.set_offline(True)
    await page.goto("/outages")  # cached on install
    await expect(page.get_by_role("heading", name="Current outages")).to_be_visible()
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Report a power problem")).to_be_visible()
    await phone.set_offline(False)


async def test_a_report_that_cannot_go_says_why_and_keeps_what_was_typed(phone, free_transformer):
    """No signal, a photo over the server's limit, an expired page: each is said next to the form, in words,
    and nothing typed is lost; the next good send clears the message."""
    here, _ = free_transformer
    await phone.set_geolocation({"latitude": here.lat, "longitude": here.lon, "accuracy": 12})
    page = await phone.new_page()
    await page.goto("/")
    await page.get_by_role("button", name="Use my location").click()
    await expect(page.locator("#location-status")).to_contain_text("accurate to about 12 m")
    await page.get_by_label("Your phone number").fill("0712 999888")
    problem = page.locator("[data-request-problem]")

    await phone.set_offline(True)
    await page.get_by_role("button", name="Send report").click()
    await expect(problem).to_contain_text("No connection")
    await phone.set_offline(False)
    assert await page.get_by_label("Your phone number").input_value() == "0712 999888"

    await page.get_by_label("A photo (optional)").set_input_files(
        {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8" + b"0" * (11 * 1024 * 1024)})
    await page.get_by_role("button", name="Send report").click()
    await expect(problem).to_contain_text("too large")
    await page.get_by_label("A photo (optional)").set_input_files([])

    token = await page.evaluate("document.body.getAttribute('hx-headers')")
    await page.evaluate("document.body.setAttribute('hx-headers', JSON.stringify({'x-csrftoken': 'stale'}))")
    await page.get_by_role("button", name="Send report").click()
    await expect(problem).to_contain_text("This page has expired")
    assert await page.get_by_label("Your phone number").input_value() == "0712 999888"
    assert await page.locator("#latitude").input_value()

    await page.evaluate("(token) => document.body.setAttribute('hx-headers', token)", token)
    await page.get_by_role("button", name="Send report").click()
    await _reference(page)
    await expect(problem).to_have_count(0)
