"""Offline maps on the lineman's phone: the job's surroundings are kept by themselves while the job is on
the phone and drawn from the phone with no signal; the zone's map is saved on request, with progress."""
import psycopg
import pytest
from playwright.async_api import expect
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from server.incidents import actions
from server.db_url import libpq_url
from tests.browser.test_crew_app import _crew_with_a_job, _installed, _sign_in, _signal
from tests.integration.test_sync_support import make_staff

pytestmark = pytest.mark.browser

NEAR_CBD = (36.8231, -1.2871)

# Canvas tiles the map has painted something on (transparent where there was nothing to draw).
PAINTED = """(selector) => Array.from(document.querySelectorAll(selector + ' canvas')).filter((canvas) => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) return true;
    return false;
}).length"""


async def poll(page, script, arg=None, until=lambda value: value, seconds=20):
    for _ in range(seconds * 10):
        value = await page.evaluate(script, arg)
        if until(value):
            return value
        await page.wait_for_timeout(100)
    raise AssertionError(f"{script} gave {value!r}")


def _move_job(database_url, job_id, lon, lat):
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("UPDATE incident SET location = ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography "
                     "WHERE id = %s", (lon, lat, job_id))


async def test_a_jobs_map_is_drawn_from_the_phone_with_no_signal(browser, live_server, database_url):
    _, _, username, job_id, _ = await _crew_with_a_job(database_url, offset=711)
    _move_job(database_url, job_id, *NEAR_CBD)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, has_touch=True)
    page = await context.new_page()
    tile_requests = []
    page.on("request", lambda r: tile_requests.append(r.url) if "/tiles/" in r.url else None)
    await _sign_in(page, username)
    await _installed(page)

    # The job arrived: its surroundings are stored without anyone asking.
    kept = await poll(page, "(id) => JSON.parse(localStorage.getItem('faultline-map-jobs') || '{}')[id]", job_id)
    assert any(url.startswith("/tiles/base/16/") for url in kept)
    assert await page.evaluate("caches.open('faultline-map-jobs').then((c) => c.keys()).then((k) => k.length)") \
        == len(kept)

    await _signal(context, False)
    await page.reload()
    tile_requests.clear()
    await page.locator(f"[data-job-id='{job_id}']").click()
    await page.get_by_role("button", name="Show on the map").click()
    holder = "[data-job-map]"
    await expect(page.locator(holder + " .leaflet-tile-container canvas").first).to_be_attached(timeout=10_000)
    painted = await poll(page, PAINTED, holder)
    assert painted >= 1
    assert all("/tiles/base/" in url for url in tile_requests), tile_requests  # the staff's map, not another
    await expect(page.locator(holder)).to_contain_text("Faultline")  # the credit line, offline too

    # The job leaves the phone (cancelled at the desk): its tiles are forgotten at the next sync.
    await _signal(context, True)
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await actions.cancel_incident(session, job_id, "Duplicate call", await make_staff(session, "dispatcher"))
    await engine.dispose()
    await page.reload()
    await poll(page, "(id) => !(id in JSON.parse(localStorage.getItem('faultline-map-jobs') || '{}'))", job_id)
    assert await page.evaluate("caches.open('faultline-map-jobs').then((c) => c.keys()).then((k) => k.length)") == 0
    await context.close()


async def test_save_the_zone_map_and_use_it_offline(browser, live_server):
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto("/login?next=/crew")
    await page.get_by_label("Username").fill("lineman")
    await page.get_by_label("Password").fill("faultline-demo")
    await page.get_by_role("button", name="Sign in").click()
    await page.evaluate("navigator.serviceWorker.ready")

    box = page.locator("[data-offline-map]")
    area = await (await page.request.get("/maps/offline/zones/1?max_zoom=15")).json()
    assert area["count"] > 50 and 0 < area["bytes"] <= area["max_bytes"]
    await box.evaluate("(box, url) => box.dataset.manifest = url", "/maps/offline/zones/1?max_zoom=15")
    await page.get_by_role("button", name="Save the map for use with no signal").click()
    await expect(box).to_have_attribute("data-state", "done", timeout=30_000)
    await expect(box.locator("progress")).to_have_attribute("value", str(area["count"]))
    await expect(box).to_contain_text("works with no signal")
    assert await page.evaluate("localStorage.getItem('faultline-map-top')") == "15"

    await page.reload()  # make sure the service worker controls the page
    await expect(box).to_contain_text("works with no signal")  # still said after a reload
    await _signal(context, False)
    for tile in (area["tiles"][0], area["tiles"][len(area["tiles"]) // 2], area["tiles"][-1]):
        status = await page.evaluate("(url) => fetch(url).then(r => r.status + ':' + r.headers.get('content-type'))",
                                     tile)
        assert status == "200:application/vnd.mapbox-vector-tile"

    # Saving a smaller area replaces the first: the phone keeps one zone's map, not every one ever saved.
    await _signal(context, True)
    small = await (await page.request.get("/maps/offline/zones/1?max_zoom=12")).json()
    await box.evaluate("(box, url) => box.dataset.manifest = url", "/maps/offline/zones/1?max_zoom=12")
    await page.get_by_role("button", name="Save the map for use with no signal").click()
    await expect(box).to_have_attribute("data-state", "done", timeout=30_000)
    stored = await page.evaluate("caches.open('faultline-map-tiles').then((c) => c.keys())"
                                 ".then((keys) => keys.map((k) => new URL(k.url).pathname))")
    assert sorted(stored) == sorted(small["tiles"])

    # An area that does not fit the cap even at its widest view is said so, and the saved map stays.
    await page.route("**/maps/offline/zones/1?max_zoom=11", lambda route: route.fulfill(json={
        **small, "tiles": [], "count": 0, "bytes": 0, "max_zoom": 10, "capped": True}))
    await box.evaluate("(box, url) => box.dataset.manifest = url", "/maps/offline/zones/1?max_zoom=11")
    await page.get_by_role("button", name="Save the map for use with no signal").click()
    await expect(box).to_have_attribute("data-state", "too-large")
    await expect(box).to_contain_text("larger than this phone may keep")
    assert await page.evaluate("caches.open('faultline-map-tiles').then((c) => c.keys()).then((k) => k.length)") \
        == len(small["tiles"])
    await context.close()


async def test_a_utilitys_raster_basemap_is_drawn_under_the_network_with_its_credit(phone):
    """FAULTLINE_BASEMAP_URL as the map pages receive it (/maps/config.json, here rewritten on its way)."""
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (180, 220, 180)).save(buffer, "PNG")
    png = buffer.getvalue()
    basemap_tiles = []

    async def config(route):
        response = await route.fetch()
        data = await response.json()
        data["basemap"] = {"url": "/utility-basemap/{z}/{x}/{y}.png", "kind": "raster",
                           "attribution": "© Test Utility Basemap"}
        await route.fulfill(response=response, json=data)

    async def tile(route):
        basemap_tiles.append(route.request.url)
        await route.fulfill(body=png, content_type="image/png")

    page = await phone.new_page()
    await page.route("**/maps/config.json", config)
    await page.route("**/utility-basemap/**", tile)
    await page.goto("/")
    await page.get_by_role("button", name="Pick on the map").click()
    await expect(page.locator("#map img.leaflet-tile-loaded").first).to_be_attached(timeout=10_000)
    await expect(page.locator("#map .leaflet-control-attribution")).to_contain_text("© Test Utility Basemap")
    await expect(page.locator("#map .leaflet-control-attribution")).to_contain_text("Faultline")
    assert basemap_tiles and await poll(page, PAINTED, "#map")
    # The utility's picture lies under the network's own tiles, not over them.
    under, over = await page.evaluate("""() => {
        const z = (el) => Number(getComputedStyle(el.closest('.leaflet-layer')).zIndex);
        return [z(document.querySelector('#map img.leaflet-tile')), z(document.querySelector('#map canvas'))];
    }""")
    assert under < over
