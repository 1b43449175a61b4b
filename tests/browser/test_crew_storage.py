"""The crew phone's database in Chromium: a phone still at IndexedDB version 1 is upgraded in place and loses
nothing, and a redraw counts queued photos in an index instead of reading them."""
from __future__ import annotations

import io
import statistics
import uuid

import pytest
from PIL import Image
from playwright.async_api import expect

from tests.browser.test_crew_app import _crew_with_a_job, _rows, _sign_in

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "service_workers": "block"}


def _jpeg() -> list[int]:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (40, 120, 200)).save(buffer, "JPEG", quality=80)
    return list(buffer.getvalue())


# What the app before version 2 wrote, store by store and row by row (static/js/crew-outbox.js as it was): the
# shared-phone format (every row marked with its owner, meta keys per person), or the older single-user one
# that it converted when someone signed in (one install id, mutations keyed by their number, unmarked rows).
VERSION_1 = """async ([format, user, other, job, otherJob, pulled, photo]) => {
  const clientId = crypto.randomUUID();
  const now = new Date().toISOString();
  const blob = new Blob([new Uint8Array(photo)], { type: 'image/jpeg' });
  const photoId = crypto.randomUUID();
  const rev = pulled.ops[0].value.rev;
  const mutations = [
    { id: 1, name: 'accept_job', args: { incident_id: job }, client_time: now, base_rev: rev },
    { id: 2, name: 'note', args: { incident_id: job, note_id: crypto.randomUUID(), text: 'Kept across the upgrade' },
      client_time: now, base_rev: rev },
    { id: 3, name: 'photo', args: { incident_id: job, photo_id: photoId, caption: '' }, client_time: now,
      base_rev: rev }];
  const db = await new Promise((done, fail) => {
    const open = indexedDB.open('faultline-crew', 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      db.createObjectStore('meta', { keyPath: 'key' });
      db.createObjectStore('jobs', { keyPath: 'id' });
      db.createObjectStore('outbox', { keyPath: 'id' });
      db.createObjectStore('photos', { keyPath: 'id' });
      db.createObjectStore('log', { keyPath: 'at' });
    };
    open.onsuccess = () => done(open.result);
    open.onerror = () => fail(open.error);
  });
  const tx = db.transaction(['meta', 'jobs', 'outbox', 'photos', 'log'], 'readwrite');
  const put = (store, row) => tx.objectStore(store).put(row);
  pulled.ops.forEach((op) => put('jobs', op.value));
  put('meta', { key: 'csrf', value: decodeURIComponent(document.cookie.match(/fl_csrf=([^;]+)/)[1]) });
  put('meta', { key: 'session_user', value: user });
  const at = (n) => now + 'msg' + n;
  if (format === 'shared') {
    for (const [name, value] of [['client_id', clientId], ['next_id', 4], ['cursor', pulled.cursor],
                                 ['last_sync', now]]) put('meta', { key: name + ':' + user, value: value });
    put('meta', { key: 'jobs_owner', value: user });
    mutations.forEach((m) => put('outbox', { id: m.id + ':' + user, owner: user, mutation: m }));
    put('photos', { id: photoId, owner: user, incident_id: job, blob: blob, at: now });
    put('log', { at: at(1), owner: user, text: 'Message from before the upgrade' });
    // Another lineman's work, waiting on this phone for them.
    put('meta', { key: 'client_id:' + other, value: crypto.randomUUID() });
    put('meta', { key: 'next_id:' + other, value: 2 });
    put('outbox', { id: '1:' + other, owner: other, mutation: { id: 1, name: 'accept_job',
                    args: { incident_id: otherJob }, client_time: now } });
    put('photos', { id: crypto.randomUUID(), owner: other, incident_id: otherJob, blob: blob, at: now });
    put('log', { at: at(2), owner: other, text: 'Message for the other lineman' });
  } else {
    for (const [name, value] of [['client_id', clientId], ['next_id', 4], ['cursor', pulled.cursor],
                                 ['last_sync', now], ['owner', user]]) put('meta', { key: name, value: value });
    mutations.forEach((m) => put('outbox', m));
    put('photos', { id: photoId, incident_id: job, blob: blob, at: now });
    put('log', { at: at(1), text: 'Message from before the upgrade' });
  }
  await new Promise((done, fail) => { tx.oncomplete = done; tx.onerror = () => fail(tx.error); });
  db.close();
  return clientId;
}"""

SCHEMA = """() => new Promise((done) => {
  const open = indexedDB.open('faultline-crew');
  open.onsuccess = () => {
    const db = open.result;
    const tx = db.transaction(['outbox', 'photos', 'log'], 'readonly');
    const indexes = {};
    for (const name of ['outbox', 'photos', 'log']) indexes[name] = [...tx.objectStore(name).indexNames];
    db.close();
    done({ version: db.version, indexes: indexes });
  };
})"""


@pytest.mark.parametrize("layout", ["shared", "single-user"])
async def test_a_version_1_phone_is_upgraded_in_place_and_everything_on_it_is_kept_and_sent(
        browser, live_server, database_url, layout):
    _, _, username, job_id, job_code = await _crew_with_a_job(database_url, offset=360 + (layout == "shared"))
    _, _, other, other_job, _ = await _crew_with_a_job(database_url, offset=362 + (layout == "shared"))
    context = await browser.new_context(base_url=live_server, **PHONE)
    page = await context.new_page()
    # Signed in, with the app's scripts held back: the phone's database is the old version's, made here.
    await context.route("**/static/js/crew*.js?*", lambda route: route.abort())
    await _sign_in(page, username)
    pulled = await page.evaluate("(id) => fetch('/sync/pull?client_id=' + id).then((r) => r.json())",
                                 str(uuid.uuid4()))
    assert [op["value"]["id"] for op in pulled["ops"]] == [job_id]
    client_id = await page.evaluate(VERSION_1, [layout, username, other, job_id, other_job, pulled, _jpeg()])
    await context.unroute("**/static/js/crew*.js?*")

    # The new app opens it with no signal: upgraded, and the jobs, the work and the messages are all there.
    await context.route("**/sync/**", lambda route: route.abort("internetdisconnected"))
    await page.reload()
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    await expect(page.locator("[data-pending]")).to_contain_text("4 actions waiting")  # 3 mutations and a photo
    await expect(page.locator("[data-last-sync]")).to_contain_text("last sync")
    schema = await page.evaluate(SCHEMA)
    assert schema == {"version": 2, "indexes": {"outbox": ["owner"], "photos": ["owner"], "log": ["owner"]}}
    assert await page.evaluate("(user) => FaultlineOutbox.getMeta('client_id:' + user, null)", username) == client_id
    await page.locator(f"[data-job-id='{job_id}']").click()
    await expect(page.locator("[data-job]")).to_contain_text("Kept across the upgrade ⏳")
    await page.locator("summary").click()
    await expect(page.locator("[data-log]")).to_contain_text("Message from before the upgrade")
    await expect(page.locator("[data-log]")).not_to_contain_text("Message for the other lineman")
    if layout == "shared":
        await expect(page.locator("[data-others]")).to_contain_text(other)

    # Signal: everything goes, under the install id it was queued under, the photo's file too.
    await context.unroute("**/sync/**")
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=15_000)
    sent = _rows(database_url, "SELECT m.client_id::text, m.mutation_id, m.outcome FROM sync_mutation m "
                 "JOIN staff s ON s.id = m.staff_id WHERE s.username = %s ORDER BY m.mutation_id", (username,))
    assert sent == [(client_id, 1, "applied"), (client_id, 2, "applied"), (client_id, 3, "applied")]
    kinds = [kind for kind, in _rows(database_url, "SELECT kind FROM incident_event WHERE incident_id = %s "
                                     "AND actor LIKE 'staff:%%' ORDER BY seq", (job_id,))]
    assert kinds[-3:] == ["accepted", "note", "photo"], kinds
    assert _rows(database_url, "SELECT count(*) FROM photo_file f JOIN photo p ON p.id = f.id "
                 "WHERE p.incident_id = %s", (job_id,)) == [(1,)]
    if layout == "shared":  # the other lineman's work still waits for them, untouched
        waiting = await page.evaluate("(other) => Promise.all([FaultlineOutbox.mine('outbox', other), "
                                      "FaultlineOutbox.mine('photos', other), FaultlineOutbox.mine('log', other)])"
                                      ".then((got) => got.map((rows) => rows.length))", other)
        assert waiting == [1, 1, 1]
        await expect(page.locator("[data-others]")).to_contain_text(other)
    await context.close()


async def test_old_work_nobody_is_named_for_waits_for_the_signed_in_lineman_rather_than_a_guess(
        browser, live_server, database_url):
    """The single-user version named its lineman at its first start; should a phone not say, the worker (which
    has nobody signed in) leaves the database as it is, and the lineman who signs in gets it, as before."""
    _, _, username, job_id, job_code = await _crew_with_a_job(database_url, offset=366)
    context = await browser.new_context(base_url=live_server, **PHONE)
    page = await context.new_page()
    await context.route("**/static/js/crew*.js?*", lambda route: route.abort())
    await _sign_in(page, username)
    pulled = await page.evaluate("(id) => fetch('/sync/pull?client_id=' + id).then((r) => r.json())",
                                 str(uuid.uuid4()))
    await page.evaluate(VERSION_1, ["single-user", username, "", job_id, 0, pulled, _jpeg()])
    await page.evaluate("""() => new Promise((done) => {
        const open = indexedDB.open('faultline-crew', 1);
        open.onsuccess = () => {
            const tx = open.result.transaction(['meta'], 'readwrite');
            ['owner', 'session_user'].forEach((name) => tx.objectStore('meta').delete(name));
            tx.oncomplete = () => { open.result.close(); done(); };
        };
    })""")
    await context.unroute("**/static/js/crew*.js?*")
    await context.route("**/static/js/crew.js?*", lambda route: route.abort())  # the outbox alone, as in the worker
    await page.reload()
    refused = await page.evaluate("FaultlineOutbox.getMeta('session_user', null).then(() => 'opened', (e) => e.name)")
    assert refused == "AbortError"
    assert (await page.evaluate(SCHEMA))["version"] == 1
    await context.unroute("**/static/js/crew.js?*")
    await page.reload()
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    await expect(page.locator("[data-pending]")).to_contain_text("Everything is sent", timeout=15_000)
    assert _rows(database_url, "SELECT count(*) FROM sync_mutation m JOIN staff s ON s.id = m.staff_id "
                 "WHERE s.username = %s AND m.outcome = 'applied'", (username,)) == [(3,)]
    assert (await page.evaluate(SCHEMA))["version"] == 2
    await context.close()


# Counts the records each IndexedDB read hands back, per store (a count, a key or an index key is not a record).
COUNT_READS = """(() => {
  const reads = {}; window.recordsRead = reads;
  const wrap = (proto, name, storeOf) => {
    const original = proto[name];
    proto[name] = function (...args) {
      const req = original.apply(this, args);
      const store = storeOf(this);
      req.addEventListener('success', () => {
        const r = req.result;
        const n = name === 'getAll' ? r.length : name === 'openCursor' ? (r ? 1 : 0) : (r === undefined ? 0 : 1);
        reads[store] = (reads[store] || 0) + n;
      });
      return req;
    };
  };
  for (const name of ['get', 'getAll', 'openCursor']) {
    wrap(IDBObjectStore.prototype, name, (store) => store.name);
    wrap(IDBIndex.prototype, name, (index) => index.objectStore.name);
  }
})();"""

# Opens the job, which redraws the app (render() then the job), and times it until the job is drawn.
REDRAW = """async (job) => {
  for (const store of Object.keys(window.recordsRead)) delete window.recordsRead[store];
  const detail = document.querySelector('[data-job]');
  const drawn = new Promise((done) => new MutationObserver((_, seen) => { seen.disconnect(); done(); })
    .observe(detail, { childList: true }));
  const started = performance.now();
  document.querySelector(`[data-job-id='${job}']`).click();
  await drawn;
  return { ms: performance.now() - started, reads: Object.assign({}, window.recordsRead) };
}"""


async def test_a_redraw_counts_200_queued_photos_without_reading_them(browser, live_server, database_url):
    _, _, username, job_id, job_code = await _crew_with_a_job(database_url, offset=364)
    context = await browser.new_context(base_url=live_server, **PHONE)
    await context.add_init_script(COUNT_READS)
    page = await context.new_page()
    await _sign_in(page, username)
    await expect(page.locator(f"[data-job-id='{job_id}']")).to_contain_text(job_code)
    await context.route("**/sync/**", lambda route: route.abort("internetdisconnected"))  # a day with no signal
    await page.evaluate("""async (job) => {
        const picture = new Blob([new Uint8Array(300 * 1024).fill(7)], { type: 'image/jpeg' });
        for (let i = 0; i < 200; i++) {
            const id = FaultlineOutbox.uuid();
            await FaultlineOutbox.savePhoto(id, job, picture);
            await FaultlineOutbox.enqueue('photo', { incident_id: job, photo_id: id, caption: '' }, null);
        }
        for (let i = 0; i < 50; i++) await FaultlineOutbox.note('Message ' + i);
    }""", job_id)
    await page.reload()
    await expect(page.locator("[data-pending]")).to_contain_text("400 actions waiting")
    redraws = [await page.evaluate(REDRAW, job_id) for _ in range(12)]
    assert all(r["reads"].get("photos", 0) == 0 for r in redraws), redraws[0]  # counted, never read
    assert redraws[-1]["reads"].get("log") == 20, redraws[-1]  # the newest messages alone
    assert redraws[-1]["reads"].get("outbox") == 200, redraws[-1]  # the queued mutations, shown on the job
    print(f"\ncrew app redraw with 200 queued photos: {statistics.median(r['ms'] for r in redraws[2:]):.1f} ms "
          f"(median of {len(redraws) - 2}), records read {redraws[-1]['reads']}")
    await expect(page.locator("[data-log] li")).to_have_count(20)
    await expect(page.locator("[data-log] li").first).to_contain_text("Message 49")
    await context.close()
