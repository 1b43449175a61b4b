"""Benchmark: Lighthouse on the crew page (/crew, signed in as the demo lineman) and, for comparison, on the
customer page (/): the category scores, first and largest contentful paint, the bytes transferred and the
number of requests of a first load (Lighthouse's total-byte-weight, plus what the service workers fetch to
precache, which Lighthouse does not record), against each page's budget. Lighthouse runs the Debian Chromium
(`CHROME_PATH`) headless with its default mobile emulation and throttling; the lineman's session cookie is put
in Chromium's cookie jar first, so the page and its service worker are signed in as on a phone.

    .venv/bin/python -m bench.lighthouse [--customers 10000]

The pinned `lighthouse` npm package is installed into bench/.node (git-ignored) the first time.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import httpx

from bench._common import bench_database, served
from server.demo.city import DEMO_PASSWORD

# Lighthouse 13 needs Node >= 22.19; this machine has Node 20, so the last 12.x. 12+ has no PWA category.
LIGHTHOUSE_VERSION = "12.8.2"
NODE_DIR = Path(__file__).resolve().parent / ".node"
LIGHTHOUSE_PACKAGE = NODE_DIR / "node_modules" / "lighthouse" / "package.json"
CHROME_PATH = "/usr/bin/chromium"
CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-background-networking "
                "--disable-component-update --disable-sync --no-first-run --disable-quic")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo", "pwa")
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
LINEMAN = "lineman"
KB = 1000  # bytes; the budgets are in KB
LIGHTHOUSE_TIMEOUT = 300  # seconds per page


def _fail(message: str) -> None:
    print(f"\nFAILED: {message}", file=sys.stderr)
    sys.exit(1)


def _ensure_lighthouse() -> None:
    """npm-install the pinned Lighthouse into bench/.node unless that very version is already there."""
    package = LIGHTHOUSE_PACKAGE
    if package.exists() and json.loads(package.read_text()).get("version") == LIGHTHOUSE_VERSION:
        print(f"lighthouse {LIGHTHOUSE_VERSION} already installed in {NODE_DIR}")
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _fail(f"`{tool}` is not on PATH; Lighthouse needs Node.js and npm")
    command = ["npm", "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund",
               f"lighthouse@{LIGHTHOUSE_VERSION}"]
    print(f"installing lighthouse {LIGHTHOUSE_VERSION} into {NODE_DIR}: {' '.join(command)}", flush=True)
    NODE_DIR.mkdir(exist_ok=True)
    # Lighthouse drives the Chromium given in CHROME_PATH; nothing it pulls in may fetch a browser.
    env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1", PUPPETEER_SKIP_CHROMIUM_DOWNLOAD="1")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not LIGHTHOUSE_PACKAGE.exists():
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        _fail(f"npm install of lighthouse@{LIGHTHOUSE_VERSION} failed (exit {result.returncode})")
    print(f"installed lighthouse {LIGHTHOUSE_VERSION}")


def _lineman_cookies(base_url: str) -> list[dict]:
    """Sign in as the demo lineman as the login form does; return the cookies it sets (the session among them)."""
    with closing(httpx.Client(base_url=base_url, timeout=30)) as http:
        match = CSRF_INPUT.search(http.get("/login").text)
        if not match:
            _fail("no CSRF token on /login")
        response = http.post("/login", data={"username": LINEMAN, "password": DEMO_PASSWORD,
                                             "_csrf_token": match.group(1)})
        if response.status_code not in (200, 303):
            _fail(f"signing in as {LINEMAN}: {response.status_code}\n{response.text[:2000]}")
        check = http.get("/crew")
        if check.status_code != 200:
            _fail(f"GET /crew signed in as {LINEMAN}: {check.status_code} at {check.url}\n{check.text[:2000]}")
        return [{"name": c.name, "value": c.value, "url": base_url, "path": c.path or "/",
                 "httpOnly": c.has_nonstandard_attr("HttpOnly") or c.has_nonstandard_attr("httponly")}
                for c in http.cookies.jar]


# Lighthouse's own Node API (with the chrome-launcher and puppeteer-core it ships), so that the session cookie
# can go into Chromium's cookie jar before the run, and the service workers' requests can be counted.
# (`--extra-headers` with a Cookie is not enough for this app: requests its service workers make never carry
# extra headers, and once any response has set a cookie, Chromium sends its jar instead of the extra Cookie
# header, so the page's own fetches (/sync/pull) lose the session.) Lighthouse clears the origin's service
# workers and caches before loading the page, never its cookies.
RUNNER = """\
// Written by bench/lighthouse.py on each run; run with node from this folder.
import fs from 'node:fs';
import * as chromeLauncher from 'chrome-launcher';
import puppeteer from 'puppeteer-core';
import lighthouse from 'lighthouse';

const [url, optionsPath, outputPath] = process.argv.slice(2);
const options = JSON.parse(fs.readFileSync(optionsPath, 'utf8'));
const chrome = await chromeLauncher.launch({chromePath: process.env.CHROME_PATH, chromeFlags: options.chromeFlags});
let browser;
try {
  browser = await puppeteer.connect({browserURL: `http://127.0.0.1:${chrome.port}`, defaultViewport: null});
  if (options.cookies.length) await browser.setCookie(...options.cookies);
  // Lighthouse records the page's requests only; what service workers fetch (their precache) is counted here:
  // each service worker is attached paused, its network watched, then let run.
  const workers = [];
  const root = await browser.target().createCDPSession();
  root.on('Target.attachedToTarget', async ({sessionId, targetInfo, waitingForDebugger}) => {
    const session = root.connection().session(sessionId);
    const responses = new Map();
    session.on('Network.responseReceived', (e) => responses.set(e.requestId, e.response));
    session.on('Network.loadingFinished', (e) => {
      const response = responses.get(e.requestId) || {};
      workers.push({worker: targetInfo.url, url: response.url, status: response.status,
                    transferSize: e.encodedDataLength});
    });
    try {
      await session.send('Network.enable');
    } catch (error) {
      workers.push({worker: targetInfo.url, error: String(error)});
    }
    if (waitingForDebugger) await session.send('Runtime.runIfWaitingForDebugger').catch(() => {});
  });
  await root.send('Target.setAutoAttach', {autoAttach: true, waitForDebuggerOnStart: true, flatten: true,
                                           filter: [{type: 'service_worker', exclude: false}, {exclude: true}]});
  const result = await lighthouse(url, {port: chrome.port, output: 'json', logLevel: 'error'});
  if (!result) throw new Error('Lighthouse returned no result');
  const report = JSON.parse(result.report);
  report.faultlineServiceWorkerRequests = workers;
  fs.writeFileSync(outputPath, JSON.stringify(report));
} finally {
  if (browser) await browser.disconnect();
  chrome.kill();
}
"""


def _lighthouse(url: str, cookies: list[dict], workdir: Path, name: str) -> dict:
    """Run Lighthouse (default mobile emulation and throttling) on one URL with the cookies in Chromium's jar;
    return its report (the LHR)."""
    runner = NODE_DIR / "faultline-lighthouse.mjs"
    runner.write_text(RUNNER)
    options, output = workdir / f"{name}.options.json", workdir / f"{name}.report.json"
    options.write_text(json.dumps({"chromeFlags": CHROME_FLAGS.split(), "cookies": cookies}))
    command = ["node", str(runner), url, str(options), str(output)]
    env = dict(os.environ, CHROME_PATH=CHROME_PATH)
    started = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=NODE_DIR, env=env, capture_output=True, text=True,
                                timeout=LIGHTHOUSE_TIMEOUT)
    except subprocess.TimeoutExpired as timeout:
        print(f"--- Lighthouse stderr ({url}) ---\n{timeout.stderr or ''}", file=sys.stderr)
        _fail(f"Lighthouse on {url} took longer than {LIGHTHOUSE_TIMEOUT} s")
    if result.returncode != 0 or not output.exists():
        print(f"--- Lighthouse stderr ({url}) ---\n{result.stderr}\n--- stdout ---\n{result.stdout}", file=sys.stderr)
        _fail(f"Lighthouse on {url} exited {result.returncode}")
    report = json.loads(output.read_text())
    if report.get("runtimeError"):
        print(f"--- Lighthouse stderr ({url}) ---\n{result.stderr}", file=sys.stderr)
        _fail(f"Lighthouse on {url}: {report['runtimeError'].get('code')}: {report['runtimeError'].get('message')}")
    final = report.get("finalDisplayedUrl") or report.get("finalUrl") or ""
    if httpx.URL(final).path != httpx.URL(url).path:
        _fail(f"Lighthouse on {url} ended on {final}")
    print(f"  Lighthouse on {url}: {time.perf_counter() - started:.0f} s")
    return report


def _requests(report: dict) -> int | None:
    audits = report["audits"]
    items = (audits.get("diagnostics", {}).get("details") or {}).get("items") or []
    if items and "numRequests" in items[0]:
        return items[0]["numRequests"]
    network = (audits.get("network-requests", {}).get("details") or {}).get("items")
    return len(network) if network is not None else None


def _print(title: str, report: dict, budget_kb: int) -> bool:
    audits = report["audits"]
    final = report.get("finalDisplayedUrl") or report.get("finalUrl")
    print(f"\n{title}  {final}")
    scores = []
    for key in CATEGORIES:
        category = report["categories"].get(key)
        if category is not None:
            score = category.get("score")
            scores.append(f"{key} {'n/a' if score is None else round(score * 100)}")
    print("  scores: " + ", ".join(scores))
    for key, label in (("first-contentful-paint", "first contentful paint"),
                       ("largest-contentful-paint", "largest contentful paint")):
        audit = audits.get(key, {})
        value, score = audit.get("numericValue"), audit.get("score")
        shown = "n/a" if value is None else f"{value / 1000:.2f} s"
        print(f"  {label + ':':<26}{shown}{'' if score is None else f'  (score {round(score * 100)})'}")
    total = audits["total-byte-weight"]["numericValue"]
    requests = _requests(report)
    workers = report.get("faultlineServiceWorkerRequests", [])
    worker_bytes = sum(item.get("transferSize") or 0 for item in workers)
    first_load = total + worker_bytes
    budget = budget_kb * KB
    print(f"  {'transferred (Lighthouse):':<26}{total / KB:.1f} KB ({total:,.0f} bytes) in "
          f"{'?' if requests is None else requests} requests  [total-byte-weight]")
    scripts = " ".join(sorted({httpx.URL(item["worker"]).path for item in workers}))
    print(f"  {'+ service workers:':<26}{worker_bytes / KB:.1f} KB ({worker_bytes:,} bytes) in {len(workers)} "
          f"requests{' by ' + scripts if scripts else ''} (not in Lighthouse's total)")
    print(f"  {'= first load:':<26}{first_load / KB:.1f} KB ({first_load:,.0f} bytes)")
    print(f"  {'budget ' + str(budget_kb) + ' KB:':<26}Lighthouse's total {'within' if total <= budget else 'OVER'} "
          f"({(budget - total) / KB:+.1f} KB to spare); with service workers "
          f"{'within' if first_load <= budget else 'OVER'} ({(budget - first_load) / KB:+.1f} KB to spare)")
    origin = httpx.URL(final).host
    statuses = [(item.get("statusCode"), item["url"])
                for item in (audits.get("network-requests", {}).get("details") or {}).get("items") or []]
    statuses += [(item.get("status"), item["url"]) for item in workers if item.get("url")]
    failed = [f"{status} {httpx.URL(url).raw_path.decode() if httpx.URL(url).host == origin else url}"
              for status, url in statuses if (status or 0) >= 400]
    if failed:
        print(f"  {'requests that failed:':<26}{', '.join(failed)}")
    for item in workers:
        if item.get("error"):
            print(f"  could not watch service worker {item['worker']}: {item['error']}")
    return first_load <= budget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    args = parser.parse_args()
    if not Path(CHROME_PATH).exists():
        _fail(f"{CHROME_PATH} not found (apt-get install -y chromium)")
    _ensure_lighthouse()
    started = time.perf_counter()
    with bench_database(customers=args.customers) as url:
        print(f"demo city with {args.customers:,} customers ready in {time.perf_counter() - started:.0f} s")
        with served(url) as base_url, tempfile.TemporaryDirectory(prefix="faultline-lighthouse-") as tmp:
            workdir = Path(tmp)
            cookies = _lineman_cookies(base_url)
            print(f"signed in as {LINEMAN} (cookies {', '.join(c['name'] for c in cookies)}); running Lighthouse "
                  f"{LIGHTHOUSE_VERSION} with {CHROME_PATH} (mobile emulation, simulated throttling)", flush=True)
            crew = _lighthouse(base_url + "/crew", cookies, workdir, "crew")
            customer = _lighthouse(base_url + "/", [], workdir, "customer")
    print(f"\nLighthouse {crew.get('lighthouseVersion')}, {crew.get('environment', {}).get('hostUserAgent', '')}")
    results = [_print("crew page (lineman, signed in)", crew, 150),
               _print("customer page (no sign-in)", customer, 100)]
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if not all(results):
        print("a page is over its budget (with its service workers' requests)")


if __name__ == "__main__":
    main()
