"""The dispatcher's console in real Chromium: a report filed through the API appears without reload, the
dispatcher assigns the nearest crew the console suggests (checked against PostGIS), and the queue follows."""
import re

import httpx
import psycopg
import pytest
from playwright.async_api import expect
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from server.db_url import libpq_url
from server.reports.api import create_api_client
from tests.browser.test_offline_map import PAINTED, poll
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

LIVE_WAIT_MS = 5_000  # "within a few seconds": the live feed, not a reload or a poll, brings the change

# Markers the console draws for the live layer are interactive (they open the panel, show a tooltip);
# the base map and the feeders are not. Crews are the solid dots; incidents' colour says their state
# (static/js/dispatch.js colourOf: purple once a crew has it).
LIVE_MARKERS = "#dispatch-map path.leaflet-interactive"
CREW_MARKERS = LIVE_MARKERS + "[fill-opacity='0.9']"
INCIDENT_MARKERS = LIVE_MARKERS + "[fill-opacity='0.45']"
WORKED_ON = INCIDENT_MARKERS + "[fill='#6b21a8']"


@pytest.fixture(scope="module")
async def api_key(database_url):
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        key = await create_api_client(session, "dispatch-console-test")
    await engine.dispose()
    return key


def _query(database_url, sql, params=()):
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(sql, params).fetchall()


def _quiet_spot(database_url):
    """A transformer far from every open incident, so a report there starts an incident of its own."""
    rows = _query(database_url, """
        SELECT ST_Y(t.location::geometry), ST_X(t.location::geometry) FROM transformer t
        WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id
                          AND i.status IN ('reported', 'assigned', 'en_route', 'on_site'))
          AND NOT EXISTS (SELECT 1 FROM incident i WHERE i.status IN ('reported', 'assigned', 'en_route', 'on_site')
                          AND ST_DWithin(i.location, t.location, 1000))
        ORDER BY t.code DESC LIMIT 1""")
    assert rows, "no transformer is free of open incidents"
    return rows[0]


def _on_the_map(database_url) -> tuple[int, int, int]:
    """What the console's map should show: open incidents with a place (and how many of those a crew has
    taken on), and crews on shift with a position."""
    return _query(database_url, """
        SELECT count(*), count(*) FILTER (WHERE status <> 'reported' AND category <> 'danger'),  -- danger stays red
               (SELECT count(*) FROM crew WHERE status <> 'off_shift' AND position IS NOT NULL)
        FROM incident WHERE status IN ('reported', 'assigned', 'en_route', 'on_site') AND location IS NOT NULL
        """)[0]


async def _check_map(page, database_url):
    incidents, worked_on, crews = _on_the_map(database_url)
    assert crews, "the demo city has crews on shift"
    await expect(page.locator(INCIDENT_MARKERS)).to_have_count(incidents, timeout=LIVE_WAIT_MS)
    await expect(page.locator(WORKED_ON)).to_have_count(worked_on, timeout=LIVE_WAIT_MS)
    await expect(page.locator(CREW_MARKERS)).to_have_count(crews, timeout=LIVE_WAIT_MS)
    await expect(page.locator(LIVE_MARKERS)).to_have_count(incidents + crews)


async def _file_report(live_server, api_key, spot, phone: str, joins: bool = False) -> str:
    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await http.post("/api/v1/reports", headers={"x-api-key": api_key}, json={
            "category": "no_power", "phone": phone, "latitude": spot[0], "longitude": spot[1]})
    assert response.status_code == 201, response.text
    filed = response.json()
    assert filed["joined_existing"] is joins and not filed["already_reported"]
    return filed["reference"]


def _is_error(message) -> bool:
    # Signed-in pages name no icon (base.html links one only for customers), so Chromium asks for
    # /favicon.ico and logs its 404: a browser habit, not the console's doing.
    return message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico")


async def _open_console(desk):
    page = await desk.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if _is_error(message) else None)
    await page.goto("/login?next=/dispatch/")
    await page.get_by_label("Username").fill("dispatcher")
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Dispatch")).to_be_visible()
    await expect(page.locator("#console")).to_have_attribute("data-live-state", "open")
    await page.evaluate("window.__marker = 1")  # gone if the page reloads
    return page, errors


async def test_a_new_report_reaches_the_console_and_gets_the_nearest_crew(desk, live_server, api_key,
                                                                         database_url):
    page, errors = await _open_console(desk)
    queue = page.locator("#dispatch-queue")
    await _check_map(page, database_url)
    assert await poll(page, PAINTED, "#dispatch-map")  # the city's base map, drawn from its vector tiles
    before = await queue.locator("td.code a").all_inner_texts()

    code = await _file_report(live_server, api_key, _quiet_spot(database_url), "0722 300400")
    assert code not in before
    link = queue.get_by_role("link", name=code, exact=True)
    await expect(link).to_be_visible(timeout=LIVE_WAIT_MS)
    await _check_map(page, database_url)  # redrawn too: one more incident on it

    await link.click()
    panel = page.locator("#incident-panel")
    await expect(panel.get_by_role("heading", level=2)).to_contain_text(code)
    # The suggestions are the crews on shift, nearest first, as PostGIS measures them.
    nearest = _query(database_url, """
        SELECT c.code, c.name FROM crew c, incident i
        WHERE i.code = %s AND c.status <> 'off_shift' AND c.position IS NOT NULL
        ORDER BY ST_Distance(c.position, i.location), c.code LIMIT 5""", (code,))
    assert nearest, "the demo city has crews on shift"
    suggested = panel.locator("ol.suggestions button[data-assign]")
    await expect(suggested).to_have_count(len(nearest))
    assert [await b.get_attribute("data-assign") for b in await suggested.all()] == [c for c, _ in nearest]
    crew_code, crew_name = nearest[0]
    first = panel.locator("ol.suggestions li").first
    await expect(first).to_contain_text(crew_name)

    await first.locator(f"button[data-assign='{crew_code}']").click()
    await expect(panel.get_by_role("status")).to_have_text("Crew assigned.")
    await expect(panel.locator("ol.suggestions li").first.locator("em")).to_have_text("assigned")
    row = queue.locator("tr", has=page.get_by_role("link", name=code, exact=True))
    await expect(row.locator("td").last).to_have_text(crew_name, timeout=LIVE_WAIT_MS)
    await expect(row).to_contain_text("A crew has been assigned")
    assert _query(database_url, "SELECT c.code FROM incident i JOIN crew c ON c.id = i.crew_id "
                                "WHERE i.code = %s", (code,)) == [(crew_code,)]
    await _check_map(page, database_url)  # the incident has turned "worked on", the crew still shows
    # The live feed's echo of this very change (incident and crew) does not wipe the confirmation.
    await page.wait_for_timeout(1_000)
    await expect(panel.get_by_role("status")).to_have_text("Crew assigned.", timeout=100)

    # The refreshed queue still opens incidents in the panel (the panel box itself stays).
    await queue.get_by_role("link", name=before[0], exact=True).click()
    await expect(panel.get_by_role("heading", level=2)).to_contain_text(before[0])
    await expect(page.locator("#incident-panel")).to_have_count(1)
    # …and an open panel follows what others do: a caller joins that incident, the count goes up by itself.
    facts = panel.locator("dl.facts")
    reports = int(re.match(r"\d+", await facts.locator("dt:has-text('Reports') + dd").inner_text()).group())
    there = _query(database_url, "SELECT ST_Y(location::geometry), ST_X(location::geometry) FROM incident "
                                 "WHERE code = %s", (before[0],))[0]
    assert await _file_report(live_server, api_key, there, "0722 300409", joins=True) == before[0]
    await expect(facts.locator("dt:has-text('Reports') + dd")).to_have_text(re.compile(rf"^{reports + 1}\b"),
                                                                             timeout=LIVE_WAIT_MS)

    assert await page.evaluate("window.__marker") == 1, "the console reloaded"
    assert errors == []


async def test_the_live_feed_catches_up_after_a_lost_connection(desk, live_server, api_key, database_url):
    """The stream drops (here: its database listener is cut) while the desk is offline; a report filed
    meanwhile reaches the console once EventSource reconnects with Last-Event-ID, without a reload."""
    page, errors = await _open_console(desk)
    queue = page.locator("#dispatch-queue")
    streams = []
    page.on("request", lambda request: streams.append(request) if "/dispatch/live" in request.url else None)
    seen = await _file_report(live_server, api_key, _quiet_spot(database_url), "0722 300401")
    await expect(queue.get_by_role("link", name=seen, exact=True)).to_be_visible(timeout=LIVE_WAIT_MS)

    await desk.set_offline(True)  # an open stream survives this in Chromium: cut it from the server's side
    async with page.expect_event("requestfailed", lambda request: "/dispatch/live" in request.url,
                                 timeout=LIVE_WAIT_MS):  # the browser tries again (after `retry`), and fails
        cut = _query(database_url, """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND query ILIKE 'LISTEN faultline_live%%'""")
        assert cut == [(True,)], "the live feed listens on one connection"
        await expect(page.locator("#console")).to_have_attribute("data-live-state", "reconnecting")
        missed = await _file_report(live_server, api_key, _quiet_spot(database_url), "0722 300402")
    await expect(queue).not_to_contain_text(missed)

    await desk.set_offline(False)
    await expect(queue.get_by_role("link", name=missed, exact=True)).to_be_visible(timeout=LIVE_WAIT_MS)
    await expect(page.locator("#console")).to_have_attribute("data-live-state", "open")
    # The browser kept trying while offline; the attempt that got through said where the page had got to
    # (Last-Event-ID), and the server told it at once that something had happened since.
    reached = [request for request in streams if request.failure is None]
    assert len(reached) == 1 and len(streams) >= 2, [(request.url, request.failure) for request in streams]
    last_id = (await reached[0].all_headers()).get("last-event-id", "")
    assert last_id.isdigit() and int(last_id) > int(reached[0].url.rsplit("since=", 1)[1])
    assert await page.evaluate("window.__marker") == 1, "the console reloaded"
    # While offline the browser's reconnection attempts fail, and it says so; nothing else may go wrong.
    assert [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e] == []


async def test_the_crew_table_narrows_as_the_dispatcher_types(desk, database_url):
    (code, name), = _query(database_url, "SELECT code, name FROM crew ORDER BY code DESC LIMIT 1")
    page, errors = await _open_console(desk)
    await page.get_by_text("Crews and shifts").click()
    rows = page.locator("#crew-shifts tbody tr")
    assert await rows.count() > 1
    await page.get_by_label("Crew code or name").fill(code)
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"{code} · {name}")
    await page.get_by_label("Crew code or name").fill("no crew is called this")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#crew-shifts")).to_contain_text("No crew matches.")
    assert errors == []


@pytest.mark.parametrize(("username", "paths"), [
    ("dispatcher", ["/dispatch", "/dispatch/incidents/1"]),
    ("supervisor", ["/supervisor", "/supervisor/sla", "/supervisor/figures", "/supervisor/incidents/1/timeline"]),
    ("agent", ["/agent", "/outages"]),
])
async def test_desk_pages_work_on_a_360_px_screen(phone, username, paths):
    page = await phone.new_page()
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()
    for path in paths:
        response = await page.goto(path)
        assert response.status == 200, path
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360, path  # wide tables scroll inside


async def test_crew_pings_redraw_the_map_sparingly_and_leave_the_queue_alone(desk, database_url):
    """Every crew pings its position every few minutes: a storm of them is one map redraw, not one each,
    and the queue (which no ping changes) is not fetched at all; the crew still moves on the map."""
    page, errors = await _open_console(desk)
    await page.evaluate("document.getElementById('console').dataset.crewRefreshMs = '1500'")
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    crews = _query(database_url, "SELECT id FROM crew WHERE position IS NOT NULL ORDER BY id LIMIT 10")
    assert len(crews) >= 5
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for (crew_id,) in crews:  # a ping every 300 ms, each committed on its own as the sync service does
            conn.execute("UPDATE crew SET position = ST_Project(position, 50, 0), position_at = now() "
                         "WHERE id = %s", (crew_id,))
            await page.wait_for_timeout(300)
    await page.wait_for_timeout(2000)
    map_fetches = [url for url in fetched if "/dispatch/map.geojson" in url]
    queue_fetches = [url for url in fetched if re.search(r"/dispatch/(\?|$)", url)]
    assert 1 <= len(map_fetches) <= 4, map_fetches  # one per 1.5 s at most, not one per ping
    assert queue_fetches == []
    assert errors == []
