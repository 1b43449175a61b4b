"""A lineman saves the map of his zone, with progress, and the tiles still load with no signal."""
import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.browser


async def test_save_the_zone_map_and_use_it_offline(browser, live_server):
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto("/login?next=/crew")
    await page.get_by_label("Username").fill("lineman")
    await page.get_by_label("Password").fill("faultline-demo")
    await page.get_by_role("button", name="Sign in").click()
    await page.evaluate("navigator.serviceWorker.ready")

    area = await (await page.request.get("/maps/offline/zones/1?max_zoom=15")).json()
    assert area["count"] > 50 and 0 < area["bytes"] <= area["max_bytes"]
    await page.evaluate("(url) => document.querySelector('[data-offline-map]').dataset.manifest = url",
                        "/maps/offline/zones/1?max_zoom=15")
    await page.get_by_role("button", name="Save the map for use with no signal").click()
    box = page.locator("[data-offline-map]")
    await expect(box).to_have_attribute("data-state", "done", timeout=30_000)
    await expect(box.locator("progress")).to_have_attribute("value", str(area["count"]))
    await expect(box).to_contain_text("works with no signal")

    await page.reload()  # make sure the service worker controls the page
    await context.set_offline(True)
    tile = area["tiles"][len(area["tiles"]) // 2]
    status = await page.evaluate("(url) => fetch(url).then(r => r.status + ':' + r.headers.get('content-type'))", tile)
    assert status == "200:application/vnd.mapbox-vector-tile"
    await context.close()
