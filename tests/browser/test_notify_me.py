"""'Notify me' on the tracking page: the browser's subscription reaches the server. Chromium cannot reach
a push service here, so pushManager.subscribe is stubbed with a real P-256 key and auth secret."""
import psycopg
import pytest
from playwright.async_api import expect

from server.db_url import libpq_url
from tests.support.push_service import Subscriber, b64url

pytestmark = pytest.mark.browser


async def test_notify_me_stores_the_subscription(phone, database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        # An English report: the tracking page speaks the report's language, and the test looks for English words.
        report_id, token = conn.execute("SELECT id, tracking_token FROM report WHERE language = 'en' "
                                        "ORDER BY id LIMIT 1").fetchone()
    subscriber = Subscriber("browser")
    endpoint = "https://push.example.net/wpush/v2/browser-test-endpoint"
    await phone.grant_permissions(["notifications"])
    await phone.add_init_script(f"""
        PushManager.prototype.subscribe = async function () {{
            return {{ toJSON: () => ({{ endpoint: "{endpoint}",
                                       keys: {{ p256dh: "{subscriber.p256dh}", auth: "{b64url(subscriber.auth)}" }} }}) }};
        }};
    """)
    page = await phone.new_page()
    await page.goto(f"/t/{token}")
    await page.evaluate("navigator.serviceWorker.ready")
    box = page.locator("[data-notify]")
    await box.get_by_role("button", name="Notify me on this phone").click()
    await expect(box).to_have_attribute("data-state", "subscribed")
    await expect(box).to_contain_text("this phone will be told")
    with psycopg.connect(libpq_url(database_url)) as conn:
        stored = conn.execute("SELECT report_id, p256dh FROM push_subscription WHERE endpoint = %s",
                              (endpoint,)).fetchone()
    assert stored == (report_id, subscriber.p256dh)


async def test_the_service_worker_shows_a_push_and_a_newer_one_replaces_it(phone, database_url, live_server):
    """A message as the outbox worker sends it (server/notify/worker.py), delivered to the page's service
    worker through Chromium's DevTools protocol: it is shown, and the same tag replaces, never piles up."""
    import json
    with psycopg.connect(libpq_url(database_url)) as conn:
        token, = conn.execute("SELECT tracking_token FROM report WHERE language = 'en' ORDER BY id LIMIT 1").fetchone()
    await phone.grant_permissions(["notifications"])
    page = await phone.new_page()
    await page.goto(f"/t/{token}")
    await page.evaluate("navigator.serviceWorker.ready")
    cdp = await phone.new_cdp_session(page)
    await cdp.send("ServiceWorker.enable")
    registration = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registration.update({r["scopeURL"]: r["registrationId"] for r in event["registrations"]}))
    await page.wait_for_function("navigator.serviceWorker.controller !== null")
    for _ in range(100):  # DevTools reports the registration shortly after the worker takes control
        if live_server + "/" in registration:
            break
        await page.wait_for_timeout(100)
    registration_id = registration[live_server + "/"]
    # Playwright's wait_for_function does not await a promise (a pending promise counts as true), so the
    # notifications are polled here; what is shown is read in the same call that sees it.
    read_shown = ("navigator.serviceWorker.ready.then((r) => r.getNotifications())"
                  ".then((all) => all.map((n) => [n.title, n.body, n.tag, n.data.url]))")
    for body in ("FL-000001: the crew is on the way.", "FL-000001: power is restored."):
        message = {"id": 1, "title": "Faultline", "body": body, "url": f"/t/{token}", "tag": "incident-1"}
        await cdp.send("ServiceWorker.deliverPushMessage", {"origin": live_server, "registrationId": registration_id,
                                                            "data": json.dumps(message)})
        for _ in range(100):
            shown = await page.evaluate(read_shown)
            if any(notification[1] == body for notification in shown):
                break
            await page.wait_for_timeout(100)
        assert shown == [["Faultline", body, "incident-1", f"/t/{token}"]]
