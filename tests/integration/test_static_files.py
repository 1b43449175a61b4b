"""Static files by content: pages and service workers name each file with its hash, a named version is kept for
good, anything else is revalidated, and each worker's shell holds every file its pages load
(server/static_files.py). The browser side — a deploy while work is queued — is in tests/browser/test_crew_app.py."""
import re
import shutil

import pytest

from server.static_files import FOREVER, REVALIDATE, SHELLS, STATIC, StaticTree
from server.settings import PROJECT_ROOT
from tests.conftest import sign_in

# What a page loads (src, href), and what it may load later (the map library, named in data-* attributes).
LOADED = re.compile(r'(?:src|href)="(/static/[^"]+)"')
ON_DEMAND = re.compile(r'data-[a-z-]+="(/static/[^"]+)"')


# Crews need their map with no signal, so their worker keeps the map library too; customers' phones fetch it
# only when they open the map (it would double their first visit).
@pytest.mark.parametrize(("app_name", "pages", "user", "map_offline"), [("crew", ["/crew"], "lineman", True),
                                                                       ("customer", ["/", "/outages"], None, False)])
async def test_every_file_a_shell_page_loads_is_versioned_and_in_its_shell(client, app, app_name, pages, user,
                                                                           map_offline):
    if user:
        await sign_in(client, user)
    tree = app.state.static
    shell = set(tree.shell(app_name))
    for page in pages:
        html = (await client.get(page, headers={"accept": "text/html"})).text
        loaded, on_demand = set(LOADED.findall(html)), set(ON_DEMAND.findall(html))
        assert loaded, page
        for url in loaded | on_demand:
            name, version = re.fullmatch(r"/static/([^?]+)\?v=([0-9a-f]{12})", url).groups()  # always versioned
            assert version == tree.files[name].digest
        for url in loaded | (on_demand if map_offline else set()):
            assert url in shell, f"{page} loads {url}, which its service worker does not keep for offline use"


@pytest.mark.parametrize("page", ["/", "/outages", "/login"])
async def test_pages_name_static_files_only_by_content(client, page):
    html = (await client.get(page, headers={"accept": "text/html"})).text
    assert re.findall(r'"/static/[^"?]+"', html) == []  # never an unversioned file


async def test_a_named_version_is_kept_for_good_anything_else_is_revalidated(client, app):
    tree = app.state.static
    current = tree.url("js/crew.js")
    kept = await client.get(current)
    assert kept.status_code == 200 and kept.headers["cache-control"] == FOREVER
    assert kept.content == (STATIC / "js" / "crew.js").read_bytes()
    assert "javascript" in kept.headers["content-type"]
    for url in ("/static/js/crew.js", "/static/js/crew.js?v=0123456789ab"):  # no version, or another one
        answer = await client.get(url)
        assert answer.status_code == 200 and answer.headers["cache-control"] == REVALIDATE
    again = await client.get("/static/js/crew.js", headers={"if-none-match": kept.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert (await client.get("/static/js/nothing-here.js")).status_code == 404
    assert (await client.get("/static/../server/settings.py")).status_code == 404
    manifest = await client.get(tree.url("crew.webmanifest"))
    assert manifest.headers["content-type"].startswith("application/manifest+json")


@pytest.mark.parametrize(("worker", "app_name"), [("/crew/sw.js", "crew"), ("/sw.js", "customer")])
async def test_each_worker_precaches_its_shell_by_content_past_the_http_cache(client, app, worker, app_name):
    source = (await client.get(worker)).text
    assert "__" not in re.sub(r"__proto__", "", source)  # every placeholder filled in
    tree = app.state.static
    shell = re.search(r"const SHELL = (\[.*?\]);", source).group(1)
    assert [url for url in tree.shell(app_name) if url.startswith("/static/")] == re.findall(r'"(/static/[^"]+)"', shell)
    assert "FaultlineShell.install(CACHE, SHELL)" in source and "dropOthers" in source
    helper = (await client.get(re.search(r'"js/shell-cache.js": "([^"]+)"', source).group(1))).text
    assert 'cache: "reload"' in helper  # fetched past the browser's HTTP cache


def test_a_worker_changes_exactly_when_a_file_of_its_shell_does(tmp_path):
    shutil.copytree(STATIC, tmp_path / "static")
    before = StaticTree(tmp_path / "static")
    (tmp_path / "static" / "js" / "dispatch.js").write_text("// the console changed, not the crew app\n")
    unrelated = StaticTree(tmp_path / "static")
    assert unrelated.worker_source("crew-sw.js", "crew") == before.worker_source("crew-sw.js", "crew")
    (tmp_path / "static" / "js" / "crew.js").write_text("// a new crew app\n")
    changed = StaticTree(tmp_path / "static")
    version = re.compile(r'const VERSION = "([0-9a-f]{12})"')
    old, new = (version.search(tree.worker_source("crew-sw.js", "crew")).group(1) for tree in (before, changed))
    assert old != new
    assert changed.url("js/crew.js") != before.url("js/crew.js")
    assert changed.url("css/app.css") == before.url("css/app.css")


def test_shell_files_exist_and_no_template_or_script_names_a_static_file_by_hand():
    tree = StaticTree()
    for names in SHELLS.values():
        for name in names:
            assert name.startswith("/") or name in tree.files, name
    for template in (PROJECT_ROOT / "web" / "templates").rglob("*.html"):
        assert "/static/" not in template.read_text(), f"{template}: use {{{{ static('…') }}}}"
    for script in (STATIC / "js").glob("*.js"):
        named = re.findall(r'["\']/static/[^"\']+["\']', script.read_text())
        assert named == [], f"{script.name} names {named}: static URLs come from the server, by content"
