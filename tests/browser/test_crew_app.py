"""The lineman's app in Chromium: offline all shift long, nothing lost, everything reaching the office in order."""
from __future__ import annotations

import asyncio
import io
import re
import shutil

import psycopg
import pytest
from PIL import ExifTags, Image
from playwright.async_api import expect
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from server.incidents import actions
from server.db_url import libpq_url
from server.static_files import StaticTree
from tests.integration.test_sync_support import PASSWORD, make_crew, make_incident, make_staff

pytestmark = pytest.mark.browser


def _photo() -> bytes:
    """A phone camera's photo: 2400×1800 pixels stored sideways (Orientation 6: shown 1800×2400, portrait),
    with the capture time and the GPS position in its EXIF."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.Exif).update({ExifTags.Base.DateTimeOriginal: "2026:11:20 09:14:03",
                                            ExifTags.Base.OffsetTimeOriginal: "+03:00"})
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({
        ExifTags.GPS.GPSLatitudeRef: "S", ExifTags.GPS.GPSLatitude: (1.0, 0.0, 3.6),
        ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (37.0, 36.0, 0.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (2400, 1800), (200, 120, 40)).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


async def _crew_with_a_job(database_url, offset):
    """A crew of one lineman, and one job assigned to it by a dispatcher."""
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        crew = await make_crew(session, "App crew")
        lineman = await make_staff(session, "lineman", crew.id)
        desk = await make_staff(session, "dispatcher")
        job = await make_incident(session, offset=offset)
        await actions.assign_crew(session, job.id, crew.id, desk)
        await actions.add_note(session, job.id, "Transformer behind the school", desk)
        found = (lineman.id, crew.code, lineman.username, job.id, job.code)
    await engine.dispose()
    return found


def _rows(database_url, sql, params):
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(sql, params).fetchall()


async def _sign_in(page, username):
    await page.goto("/login?next=/crew")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/crew")


async def _signal(context, on: bool):
    """No signal for the page and for its service worker (set_offline alone leaves the worker online)."""
    await context.set_offline(not on)
    if on:
        await context.unroute("**/*")
    else:
        await context.route("**/*", lambda route: route.abort("internetdisconnected"))


async def _installed(page):
    """The app's own service worker controls the page: from here on it opens with no signal."""
    await page.evaluate("navigator.serviceWorker.register('/crew/sw.js', {scope: '/crew'})"
                        ".then(() => navigator.serviceWorker.ready)")
    await page.reload()
    await page.wait_for_function("navigator.serviceWorker.controller && "
                                 "navigator.serviceWorker.controller.scriptURL.endsWith('/crew/sw.js')")


async def test_a_whole_job_offline_then_everything_reaches_the_office_in_order(browser, live_server, database_url):
    lineman_id, crew_code, username, job_id, job_code = await _crew_with_a_job(database_url, offset=300)
    latitude, longitude = _rows(database_url, "SELECT ST_Y(location::geometry), ST_X(location::geometry) "
                                "FROM incident WHERE id = %s", (job_id,))[0]
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, has_touch=True, permissions=["geolocation"],
                                        geolocation={"latitude": latitude, "longitude": longitude, "accuracy": 15})
    page = await context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await _sign_in(page, username)
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    await _installed(page)

    await _signal(context, False)
    await page.reload()  # no signal: the shell and the job come from the phone
    await page.locator(f"[data-job-id='{job_id}']").click()
    job = page.locator("[data-job]")
    await expect(job).to_contain_text("Transformer behind the school")  # the dispatcher's note, offline
    await expect(job).to_contain_text(crew_code)  # the crew's identity code for customers
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    await job.get_by_role("button", name="Show on the map").click()
    await expect(job.locator("[data-job-map] svg path").first).to_be_visible()  # streets and the fault, offline
    await page.get_by_role("button", name="Accept the job").click()
    await page.get_by_role("button", name="Arrived: check in with GPS").click()
    await expect(page.locator("[data-job-id]")).to_contain_text("The crew is working on it")
    await job.get_by_label("Note").fill("Replaced the fuse, checking the line")
    await job.get_by_role("button", name="Add the note").click()
    await job.get_by_label("Add a photo").set_input_files(
        files=[{"name": "fuse.jpg", "mimeType": "image/jpeg", "buffer": _photo()}])
    await job.get_by_role("button", name="Save").first.click()
    await expect(job.locator("[data-said]")).to_contain_text("Saved on this phone")
    await job.get_by_label("Cause of the fault").fill("Blown fuse")
    await job.get_by_role("button", name="Power restored").click()
    await expect(page.locator("[data-pending]")).to_contain_text("6 actions waiting")  # and the photo itself
    queued = await page.evaluate("FaultlineOutbox.mine('outbox').then((rows) => rows.map((m) => m.name))")
    assert queued == ["accept_job", "arrived", "note", "photo", "restored"], queued

    await page.reload()  # still offline: the outbox is intact
    await expect(page.locator("[data-pending]")).to_contain_text("6 actions waiting")
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text("Power restored")

    await _signal(context, True)
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=15_000)
    assert errors == []

    status, = _rows(database_url, "SELECT status FROM incident WHERE id = %s", (job_id,))[0]
    assert status == "restored"
    events = _rows(database_url, "SELECT kind, client_time FROM incident_event WHERE incident_id = %s "
                   "AND actor = %s ORDER BY seq", (job_id, f"staff:{lineman_id}"))
    kinds = [kind for kind, _ in events]
    assert kinds == ["accepted", "on_site", "note", "photo", "restored", "cause_set"], kinds
    times = [at for _, at in events]
    assert all(at is not None for at in times) and times == sorted(times)  # the phone's own times, in order
    assert _rows(database_url, "SELECT count(*) FROM checkin WHERE incident_id = %s", (job_id,))[0][0] == 1
    assert _rows(database_url, "SELECT count(*) FROM photo WHERE incident_id = %s", (job_id,))[0][0] == 1
    # Downscaled on the phone, still upright, and still saying when and where it was taken.
    width, height, taken_at, latitude, longitude = _rows(
        database_url, "SELECT f.width, f.height, f.taken_at, f.latitude, f.longitude FROM photo_file f "
        "JOIN photo p ON p.id = f.id WHERE p.incident_id = %s", (job_id,))[0]
    assert (width, height) == (1200, 1600)
    assert taken_at.isoformat() == "2026-11-20T06:14:03+00:00"
    assert (round(latitude, 4), round(longitude, 4)) == (-1.001, 37.6)

    desk = await browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    console = await desk.new_page()
    await console.goto("/login?next=/dispatch")
    await console.get_by_label("Username").fill("dispatcher")
    await console.get_by_label("Password").fill("faultline-demo")
    await console.get_by_role("button", name="Sign in").click()
    await console.goto(f"/dispatch/incidents/{job_id}")
    timeline = console.locator(".timeline")
    for label in ("Accepted the job", "Arrived (GPS check-in)", "Note", "Photo", "Restored"):
        await expect(timeline).to_contain_text(label)
    text = await timeline.inner_text()
    assert text.index("Accepted the job") < text.index("Arrived") < text.index("Restored")
    await desk.close()
    await context.close()


@pytest.fixture
def deploy(live_app, tmp_path):
    """Deploy changed static files to the running server, as a restart with new files would; undone after."""
    original = live_app.state.static

    def deploy_(additions: dict[str, str]) -> StaticTree:
        root = tmp_path / "static"
        shutil.copytree(original.root, root)
        for name, addition in additions.items():
            (root / name).write_text((root / name).read_text() + addition)
        live_app.state.static = StaticTree(root)
        return live_app.state.static

    yield deploy_
    live_app.state.static = original


async def test_a_new_version_while_work_is_queued_loses_nothing(browser, live_server, database_url, deploy):
    """A deploy changes crew.js while the phone holds unsent work: the new worker stores the new file (not the
    copy in the browser's HTTP cache), the page runs it, and the queued work is still there and then sent.

    Nothing is routed by Playwright here (routing turns the browser's HTTP cache off, and that cache is the trap):
    the sync server is made slow instead, by holding the phone's push lock, as a push stuck on 2G would. The
    phone is one without Background Sync, which sends from the page: Chromium lets a worker's sync event that
    is still waiting hold back the new worker for up to three minutes."""
    _, _, username, job_id, job_code = await _crew_with_a_job(database_url, offset=310)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True)
    await context.add_init_script("Object.defineProperty(ServiceWorkerRegistration.prototype, 'sync', "
                                  "{get: () => undefined})")
    page = await context.new_page()
    await _sign_in(page, username)
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    await _installed(page)
    shells = "caches.keys().then((names) => names.filter((name) => name.startsWith('faultline-crew-')))"
    old_shell = await page.evaluate(shells)
    client_id = await page.evaluate("(user) => FaultlineOutbox.getMeta('client_id:' + user, null)", username)
    held = psycopg.connect(libpq_url(database_url), autocommit=True)
    held.execute("SELECT pg_advisory_lock(5, hashtext(%s))", (client_id,))  # sync/service.py: the push lock
    try:
        await page.locator(f"[data-job-id='{job_id}']").click()
        await page.get_by_role("button", name="Accept the job").click()
        await page.get_by_role("button", name="On my way").click()
        await expect(page.locator("[data-pending]")).to_contain_text("2 actions waiting")

        # Signing out with work waiting asks first; saying no keeps the lineman here.
        asked = []

        async def answer_no(dialog):
            asked.append(dialog.message)
            await dialog.dismiss()

        page.once("dialog", answer_no)
        await page.get_by_role("button", name="Sign out").click()
        assert asked and "2 actions are not sent yet" in asked[0]
        assert page.url.endswith("/crew")

        # Deploy a changed crew.js: the browser's HTTP cache and the old shell both hold yesterday's file.
        static = deploy({"js/crew.js": "\nwindow.faultlineDeployed = 'v2';\n"})
        await page.evaluate("""async () => {
            const registration = await navigator.serviceWorker.getRegistration('/crew');
            await registration.update();
            const worker = registration.installing || registration.waiting || registration.active;
            if (worker.state !== 'activated') {
                await new Promise((done, fail) => worker.addEventListener('statechange', () => {
                    if (worker.state === 'activated') done();
                    if (worker.state === 'redundant') fail(new Error('the new worker did not install'));
                }));
            }
        }""")
        new_shell = await page.evaluate(shells)
        assert len(new_shell) == 1 and new_shell != old_shell  # the new version's shell replaced the old one
        stored = await page.evaluate("""async ([name, url]) => {
            const hit = await (await caches.open(name)).match(url);
            return hit ? hit.text() : null;
        }""", [new_shell[0], static.url("js/crew.js")])
        assert stored is not None and stored.endswith("window.faultlineDeployed = 'v2';\n")  # the new file
        await page.reload()
        assert await page.evaluate("window.faultlineDeployed") == "v2"  # the page runs the new code
        await expect(page.locator("[data-pending]")).to_contain_text("2 actions waiting")  # the outbox is intact
    finally:
        held.close()  # the server may answer the push now
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=15_000)
    status, = _rows(database_url, "SELECT status FROM incident WHERE id = %s", (job_id,))[0]
    assert status == "en_route"  # queued under the old version, sent by the new one

    # The session ends (expired, or ended by an administrator): the work stays until the lineman signs in.
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("DELETE FROM staff_session WHERE staff_id = (SELECT id FROM staff WHERE username = %s)",
                     (username,))
    await page.locator(f"[data-job-id='{job_id}']").click()
    await page.get_by_label("Note").fill("Waiting for the ladder")
    await page.get_by_role("button", name="Add the note").click()
    await expect(page.locator("[data-signin]")).to_be_visible()
    await expect(page.locator("[data-pending]")).to_contain_text("1 action waiting")
    await _sign_in(page, username)
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=15_000)
    notes = _rows(database_url, "SELECT count(*) FROM note WHERE incident_id = %s AND text = %s",
                  (job_id, "Waiting for the ladder"))
    assert notes == [(1,)]
    await context.close()


async def test_a_check_in_far_from_the_fault_is_recorded_and_flagged(browser, live_server, database_url):
    _, _, username, job_id, _ = await _crew_with_a_job(database_url, offset=320)
    latitude, longitude = _rows(database_url, "SELECT ST_Y(p::geometry), ST_X(p::geometry) FROM "
                                "(SELECT ST_Project(location, 400, radians(90)) AS p FROM incident WHERE id = %s) x",
                                (job_id,))[0]
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, permissions=["geolocation"],
                                        geolocation={"latitude": latitude, "longitude": longitude, "accuracy": 20})
    page = await context.new_page()
    await _sign_in(page, username)
    await page.locator(f"[data-job-id='{job_id}']").click()
    await page.get_by_role("button", name="Arrived: check in with GPS").click()
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=10_000)
    await expect(page.locator("[data-checkin]")).to_contain_text("400 m from the fault.")  # recorded, not refused
    await expect(page.locator("[data-checkin]")).to_contain_text("outside the geofence")
    status, = _rows(database_url, "SELECT status FROM incident WHERE id = %s", (job_id,))[0]
    flagged = _rows(database_url, "SELECT round(distance_m), outside_geofence FROM checkin WHERE incident_id = %s",
                    (job_id,))
    assert status == "on_site" and flagged == [(400, True)]
    await context.close()


async def test_the_first_load_fits_the_budget_with_the_map_library(browser, live_server, database_url):
    """Everything the first visit fetches — page, scripts, and what the service worker stores for offline use
    (Leaflet and the city's base map included) — within 150 KB on the wire."""
    _, _, username, _, _ = await _crew_with_a_job(database_url, offset=330)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True)
    page = await context.new_page()
    await _sign_in(page, username)  # signing in is not the app: count from here
    sizes = []

    async def count(request):
        if "/login" not in request.url:
            measured = await request.sizes()
            sizes.append((request.url, measured["responseBodySize"] + measured["responseHeadersSize"]))

    context.on("requestfinished", count)
    await page.goto("/crew", wait_until="networkidle")
    await page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    await page.wait_for_load_state("networkidle")
    urls = " ".join(url for url, _ in sizes)
    assert "leaflet.js" in urls and "protomaps-leaflet.js" in urls, urls  # the offline shell was stored
    total = sum(size for _, size in sizes)
    assert total <= 150 * 1024, f"{total} bytes: {sorted(sizes, key=lambda s: -s[1])[:5]}"
    print(f"\ncrew app first load: {total / 1024:.1f} KB in {len(sizes)} requests")
    await context.close()


async def test_a_job_the_dispatcher_assigns_appears_on_the_open_app(browser, live_server, database_url):
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        crew = await make_crew(session, "Waiting crew")
        lineman = await make_staff(session, "lineman", crew.id)
        desk = await make_staff(session, "dispatcher")
        job = await make_incident(session, offset=340)
        crew_id, username, job_id = crew.id, lineman.username, job.id
        context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                            is_mobile=True)
        page = await context.new_page()
        await _sign_in(page, username)
        await expect(page.locator("[data-jobs]")).to_contain_text("No jobs assigned to your crew.")
        await actions.assign_crew(session, job_id, crew_id, desk)
        await expect(page.locator(f"[data-job-id='{job_id}']")).to_be_visible(timeout=5_000)  # no reload
    await engine.dispose()
    await context.close()


async def _events(database_url, job_id, wait=True):
    """Who accepted the job, once the sync has brought it (up to 10 s)."""
    import asyncio
    for _ in range(100 if wait else 1):
        found = _rows(database_url, "SELECT kind, actor FROM incident_event WHERE incident_id = %s "
                      "AND kind = 'accepted'", (job_id,))
        if found:
            return found
        await asyncio.sleep(0.1)
    return []


async def test_two_linemen_share_a_phone_and_each_ones_work_goes_under_their_own_name(browser, live_server,
                                                                                        database_url):
    a_id, _, a_name, a_job, a_code = await _crew_with_a_job(database_url, offset=340)
    b_id, _, b_name, b_job, b_code = await _crew_with_a_job(database_url, offset=341)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True)
    page = await context.new_page()
    await _sign_in(page, a_name)
    await expect(page.locator(f"[data-job-id='{a_job}']")).to_contain_text(a_code)

    # A accepts the job with no signal, then hands the phone over (signing out despite the warning).
    await context.route("**/sync/**", lambda route: route.abort())
    await page.locator(f"[data-job-id='{a_job}']").click()
    await page.get_by_role("button", name="Accept the job").click()
    await expect(page.locator("[data-pending]")).to_contain_text("1 action waiting")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Sign out").click()
    await context.unroute("**/sync/**")

    # B sees only B's job, is told A's work waits for A, and B's own work goes at once, under B.
    await _sign_in(page, b_name)
    await expect(page.locator(f"[data-job-id='{b_job}']")).to_contain_text(b_code)
    await expect(page.locator(f"[data-job-id='{a_job}']")).to_have_count(0)
    await expect(page.locator("[data-others]")).to_contain_text(a_name)
    await page.locator(f"[data-job-id='{b_job}']").click()
    await page.get_by_role("button", name="Accept the job").click()
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=10_000)
    assert await _events(database_url, b_job) == [("accepted", f"staff:{b_id}")]
    assert await _events(database_url, a_job, wait=False) == []  # A's work never travels under B's session
    await expect(page.locator("[data-others]")).to_contain_text(a_name)

    # A comes back: A's work is sent under A's own name.
    await page.get_by_role("button", name="Sign out").click()
    await _sign_in(page, a_name)
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=10_000)
    assert await _events(database_url, a_job) == [("accepted", f"staff:{a_id}")]
    await expect(page.locator("[data-others]")).to_be_hidden()
    await context.close()


async def test_work_queued_by_the_previous_app_version_is_sent_by_this_one(browser, live_server, database_url):
    """Before phones were shared the outbox had one install id and unmarked rows: they still go, untouched."""
    a_id, _, a_name, a_job, _ = await _crew_with_a_job(database_url, offset=342)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True)
    page = await context.new_page()
    await page.goto("/login")
    await page.evaluate("""([user, job]) => new Promise((done, fail) => {
        const open = indexedDB.open('faultline-crew', 1);
        open.onupgradeneeded = () => {
            const db = open.result;
            db.createObjectStore('meta', { keyPath: 'key' });
            db.createObjectStore('jobs', { keyPath: 'id' });
            db.createObjectStore('outbox', { keyPath: 'id' });
            db.createObjectStore('photos', { keyPath: 'id' });
            db.createObjectStore('log', { keyPath: 'at' });
        };
        open.onsuccess = () => {
            const tx = open.result.transaction(['meta', 'outbox'], 'readwrite');
            tx.objectStore('meta').put({ key: 'client_id', value: crypto.randomUUID() });
            tx.objectStore('meta').put({ key: 'next_id', value: 2 });
            tx.objectStore('meta').put({ key: 'owner', value: user });
            tx.objectStore('outbox').put({ id: 1, name: 'accept_job', args: { incident_id: job },
                                           client_time: new Date().toISOString() });
            tx.oncomplete = () => { open.result.close(); done(); };
            tx.onerror = () => fail(tx.error);
        };
    })""", [a_name, a_job])
    await _sign_in(page, a_name)
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=10_000)
    assert await _events(database_url, a_job) == [("accepted", f"staff:{a_id}")]
    await context.close()


async def _log(page) -> str:
    return await page.evaluate("(user) => FaultlineOutbox.mine('log', user).then((rows) => rows.map((r) => r.text)"
                               ".join('\\n'))", await page.locator("#crew-app").get_attribute("data-user"))


async def _eventually(read, wanted: str, seconds: float = 15) -> str:
    """What `read()` gives once it contains `wanted` (or at the end of `seconds`)."""
    for _ in range(int(seconds * 10)):
        found = await read()
        if wanted in found:
            return found
        await asyncio.sleep(0.1)
    return found


async def test_a_refused_mutation_whose_answer_was_lost_still_reaches_the_linemans_messages(browser, live_server,
                                                                                           database_url):
    """The server took a mutation and refused it, but its answer never came back; meanwhile the other of two
    windows of the app pulled, which says the server holds that mutation. The phone does not drop it unheard: it
    asks again, hears the refusal from the server's record, and the lineman reads it."""
    _, _, username, job_id, job_code = await _crew_with_a_job(database_url, offset=350)
    _, _, _, other_crews_job, _ = await _crew_with_a_job(database_url, offset=351)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, service_workers="block")
    await context.route("**/sync/poke", lambda route: route.abort())  # each window syncs when told to, here
    first = await context.new_page()
    await _sign_in(first, username)
    await expect(first.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    second = await context.new_page()
    await second.goto("/crew")
    await expect(second.locator("[data-pending]")).to_contain_text("Everything is sent")
    await expect(second.locator("[data-last-sync]")).to_contain_text("last sync")

    pull_waiting, pull_may_go = asyncio.Event(), asyncio.Event()

    async def slow_pull(route):
        pull_waiting.set()
        await pull_may_go.wait()
        await route.continue_()

    async def answer_lost(route):
        if pushed.is_set():
            await route.continue_()
            return
        await route.fetch()  # the server takes the batch and answers; the answer is lost on the way back
        pushed.set()
        await route.abort("connectionreset")

    pushed = asyncio.Event()
    await second.route(re.compile(r"/sync/pull"), slow_pull)
    await second.get_by_role("button", name="Sync now").click()  # nothing to push: it pulls, slowly
    await asyncio.wait_for(pull_waiting.wait(), 10)
    await first.route(re.compile(r"/sync/push"), answer_lost)
    # A note on a job this crew never had (a stale screen, a bug): the server refuses it.
    await first.evaluate("(job) => FaultlineOutbox.enqueue('note', {incident_id: job, note_id: FaultlineOutbox.uuid(),"
                         " text: 'Wrong job'}, null)", other_crews_job)
    await first.get_by_role("button", name="Sync now").click()
    await asyncio.wait_for(pushed.wait(), 10)
    pull_may_go.set()  # the other window's pull now says the server holds mutation 1

    await expect(second.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=15_000)
    assert "never given to your crew" in await _eventually(lambda: _log(second), "never given to your crew")
    await second.locator("summary").click()
    await expect(second.locator("[data-log]")).to_contain_text("never given to your crew")
    stored = _rows(database_url, "SELECT m.outcome, m.reason FROM sync_mutation m JOIN staff s ON s.id = m.staff_id "
                   "WHERE s.username = %s", (username,))
    assert stored == [("rejected", "not_crews_job")]
    assert _rows(database_url, "SELECT count(*) FROM note WHERE text = 'Wrong job' AND incident_id = %s",
                 (other_crews_job,))[0][0] == 0
    await context.close()


async def test_a_batch_refused_for_good_is_shown_kept_and_not_sent_again_by_itself(browser, live_server,
                                                                                   database_url):
    _, _, username, job_id, job_code = await _crew_with_a_job(database_url, offset=352)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, service_workers="block")
    page = await context.new_page()
    pushes = []
    page.on("request", lambda request: pushes.append(request.url) if request.url.endswith("/sync/push") else None)
    await _sign_in(page, username)
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    # An outbox entry the server cannot number (a bug of some app version), then the lineman's own work.
    await page.evaluate("""(user) => FaultlineOutbox.open().then((db) => new Promise((done) => {
        const tx = db.transaction(['outbox'], 'readwrite');
        tx.objectStore('outbox').put({ id: '0:' + user, owner: user,
                                       mutation: { id: 0, name: 'en_route', args: {}, client_time: 'x' } });
        tx.oncomplete = done;
    }))""", username)
    await page.locator(f"[data-job-id='{job_id}']").click()
    await page.get_by_role("button", name="Accept the job").click()

    await expect(page.locator("[data-pending]")).to_contain_text("2 actions waiting")  # the work is kept
    assert "has no id" in await _eventually(lambda: _log(page), "has no id")  # the server's answer, said
    tried = len(pushes)
    # What would send it again by itself: the phone coming back online, a poke from the office, the retry timer.
    for _ in range(3):
        await page.evaluate("window.dispatchEvent(new Event('online'))")
        await page.wait_for_timeout(700)
    await page.wait_for_timeout(5500)
    assert len(pushes) == tried, pushes  # not sent again: the same answer would come back
    assert (await _log(page)).count("has no id") == 1  # said once, not once a try
    refused = page.locator("[data-refused]")  # and in sight until it is sorted out
    await expect(refused).to_be_visible()
    await expect(refused).to_contain_text("has no id")
    await expect(refused).to_contain_text("stay on this phone")

    await page.get_by_role("button", name="Sync now").click()  # the lineman asks: one more try
    for _ in range(100):
        if len(pushes) > tried:
            break
        await page.wait_for_timeout(100)
    await page.wait_for_timeout(500)
    assert len(pushes) == tried + 1, pushes
    await expect(refused).to_be_visible()
    assert (await _log(page)).count("has no id") == 1
    # Once the app no longer sends what the server refuses, the work goes.
    await page.evaluate("""(user) => FaultlineOutbox.open().then((db) => new Promise((done) => {
        const tx = db.transaction(['outbox'], 'readwrite');
        tx.objectStore('outbox').delete('0:' + user);
        tx.oncomplete = done;
    }))""", username)
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent")
    await expect(refused).to_be_hidden()
    assert _rows(database_url, "SELECT count(*) FROM incident_event WHERE incident_id = %s AND kind = 'accepted'",
                 (job_id,))[0][0] == 1
    await context.close()


async def test_batches_are_split_by_size_and_an_action_too_large_is_refused_visibly(browser, live_server,
                                                                                   database_url):
    _, _, username, job_id, job_code = await _crew_with_a_job(database_url, offset=353)
    context = await browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740},
                                        is_mobile=True, service_workers="block")
    page = await context.new_page()
    sizes = []
    page.on("request", lambda request: sizes.append(len(request.post_data_buffer or b""))
            if request.url.endswith("/sync/push") else None)
    await _sign_in(page, username)
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    await context.route("**/sync/**", lambda route: route.abort("internetdisconnected"))  # offline a while
    await page.evaluate("""async (job) => {
        const note = (text) => FaultlineOutbox.enqueue('note', {incident_id: job, note_id: FaultlineOutbox.uuid(),
                                                                text: text}, null);
        await note('x'.repeat(5 * 1024 * 1024));  // pasted by mistake: 5 MB
        for (let i = 0; i < 6; i++) await note('y'.repeat(60 * 1024));
        await FaultlineOutbox.enqueue('accept_job', {incident_id: job}, null);
    }""", job_id)
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.locator("[data-pending]")).to_contain_text("8 actions waiting")
    await context.unroute("**/sync/**")
    sizes.clear()
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=15_000)
    assert len(sizes) >= 2 and max(sizes) <= 256 * 1024, sizes  # in batches a 2G link carries, never 5 MB
    log = await _log(page)
    assert "too large to send (5121 KB" in log and "at most 64 KB" in log, log
    outcomes = _rows(database_url, "SELECT m.mutation_id, m.outcome, m.reason FROM sync_mutation m JOIN staff s "
                     "ON s.id = m.staff_id WHERE s.username = %s ORDER BY m.mutation_id", (username,))
    assert outcomes[0] == (1, "rejected", "too_large") and outcomes[-1] == (8, "applied", None), outcomes
    await context.close()
