"""What ships is what runs: a fresh virtualenv holding only the runtime packages of uv.lock (no test group) sets
up a fresh database with the README's first command and serves the customer page.

The test suite's own virtualenv has Playwright, which brings greenlet; SQLAlchemy's asyncio needs greenlet too.
A hole like that shows only in an install without the test group, so CI builds one on every run."""
import os
import shutil
import socket
import subprocess
import time
import uuid

import httpx
import psycopg

from server.provision import drop_database
from server.db_url import libpq_url
from server.settings import PROJECT_ROOT

TEST_ONLY = ("pytest", "playwright", "hypothesis", "time_machine", "shapely")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_environment(**values: str) -> dict[str, str]:
    """The caller's environment without any trace of the test virtualenv (an activated one, say)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "FAULTLINE_GROUPS")
           and not key.startswith(("FAULTLINE_", "UV_PROJECT"))}
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep)
                                  if not part.startswith(str(PROJECT_ROOT / ".venv")))
    return {**env, **values}


def test_the_runtime_install_alone_sets_up_and_serves_faultline(db_server, tmp_path):
    name = f"faultline_runtime_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(db_server.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    venv, port = tmp_path / "venv", _free_port()
    env = _clean_environment(DATABASE_URL=db_server.url_for(name), FAULTLINE_VENV=str(venv),
                             FAULTLINE_DATA_DIR=str(tmp_path / "data"), FAULTLINE_PORT=str(port))
    server = None
    try:
        setup = subprocess.run(["./run.sh", "--no-serve"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                               text=True, timeout=600)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        assert "Demo city loaded" in setup.stdout
        data = tmp_path / "data"
        assert data.stat().st_mode & 0o777 == 0o700 and (data / "secrets.json").stat().st_mode & 0o777 == 0o600
        # The links customers are sent follow the port actually served.
        assert f"Tracking links in SMS and push start with http://127.0.0.1:{port}/t/" in setup.stdout

        python = venv / "bin" / "python"
        for module in TEST_ONLY:
            probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True)
            assert probe.returncode != 0, f"{module} is installed without the test group"

        server = subprocess.Popen([venv / "bin" / "faultline", "serve"], cwd=tmp_path, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None, server.stdout.read() if server.poll() is not None else "no answer in 60 s"
        assert answer.status_code == 200 and 'action="/report"' in answer.text
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        drop_database(db_server, name)
        shutil.rmtree(venv, ignore_errors=True)
