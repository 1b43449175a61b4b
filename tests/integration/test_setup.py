"""Setting up: secrets on first run, the local-cluster fallback, compose.yaml, the faultline command."""
import json
import shutil
import stat
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from server.cli import main as faultline
from server.provision import _local_cluster, stop_local_cluster
from server.db_url import libpq_url
from server.secrets import load_or_create_secrets
from server.settings import PROJECT_ROOT, ServerSettings, get_settings


def test_secrets_are_made_once_and_kept_private(tmp_path):
    first = load_or_create_secrets(tmp_path / "data")
    path = tmp_path / "data" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secrets(tmp_path / "data") == first == json.loads(path.read_text())
    assert len(first["csrf_secret"]) >= 40


def test_secrets_are_never_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/secrets.json"], cwd=PROJECT_ROOT)
    assert ignored.returncode == 0


@pytest.mark.skipif(not Path("/usr/lib/postgresql").exists(), reason="no PostgreSQL binaries on this machine")
def test_without_a_server_a_local_cluster_is_made_in_the_data_folder():
    # A folder the postgres user can reach (pytest's own tmp is private to root).
    data_dir = Path(tempfile.mkdtemp(prefix="faultline-cluster-"))
    data_dir.chmod(0o755)
    settings = replace(get_settings(), server=replace(ServerSettings(), data_dir=data_dir))
    try:
        server = _local_cluster(settings, may_install=True, port=5497)
        assert server.origin == "local cluster"
        with psycopg.connect(libpq_url(server.admin_url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3")
        assert (data_dir / "pg" / "PG_VERSION").exists()
        again = _local_cluster(settings, may_install=False, port=5497)  # already running: just reused
        assert again == server
    finally:
        stop_local_cluster(settings)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_compose_file_has_postgis_and_an_app_that_migrates():
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    assert compose["services"]["db"]["image"].startswith("postgis/postgis:")
    app = compose["services"]["app"]
    assert app["command"][:2] == ["faultline", "up"]  # `up` applies migrations before serving
    assert app["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert app["depends_on"]["db"]["condition"] == "service_healthy"


@pytest.mark.skipif(not (shutil.which("docker-compose") or shutil.which("docker")), reason="no docker client")
def test_compose_file_is_valid_for_docker():
    if shutil.which("docker-compose"):
        cmd = ["docker-compose", "-f", "compose.yaml", "config", "-q"]
    else:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("docker has no compose plugin here")
        cmd = ["docker", "compose", "-f", "compose.yaml", "config", "-q"]
    result = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def cli_env(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_housekeeping_runs_once_from_cron(cli_env):
    result = CliRunner().invoke(faultline, ["housekeeping"])
    assert result.exit_code == 0 and "Dropped: live_event" in result.output, result.output


def test_createuser_makes_an_account_that_can_sign_in(cli_env, database_url):
    result = CliRunner().invoke(faultline, ["createuser", "Night-Dispatcher", "--role", "dispatcher",
                                            "--name", "Night shift", "--password", "long-enough-pw"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(libpq_url(database_url)) as conn:
        role, = conn.execute("SELECT role FROM staff WHERE username = 'night-dispatcher'").fetchone()
    assert role == "dispatcher"
    again = CliRunner().invoke(faultline, ["createuser", "night-dispatcher", "--role", "agent",
                                           "--password", "long-enough-pw"])
    assert again.exit_code != 0 and "already exists" in again.output


def test_createuser_refuses_a_short_password(cli_env):
    result = CliRunner().invoke(faultline, ["createuser", "x", "--role", "agent", "--password", "short"])
    assert result.exit_code != 0 and "at least 8" in result.output


def test_demo_grows_to_the_asked_size_and_no_further(cli_env, database_url):
    result = CliRunner().invoke(faultline, ["demo", "--customers", "10500"])
    assert result.exit_code == 0 and "added 500 customers (10500 in all)" in result.output
    result = CliRunner().invoke(faultline, ["demo", "--customers", "10500"])
    assert "added 0 customers" in result.output
    with psycopg.connect(libpq_url(database_url)) as conn:
        assert conn.execute("SELECT count(DISTINCT meter_no) FROM customer").fetchone()[0] == 10500


@pytest.mark.parametrize("trusted, one_by_one", [("127.0.0.1", True), ("10.9.9.9", False)])
def test_customers_behind_a_trusted_proxy_are_counted_one_by_one(database_url, tmp_path, trusted, one_by_one):
    """`faultline serve` believes X-Forwarded-For from FAULTLINE_TRUSTED_PROXIES only: behind the proxy each
    customer has their own rate-limit bucket; from anyone else the header is ignored."""
    import os
    import re
    import secrets
    import socket
    import sys
    import time

    import httpx
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, DATABASE_URL=database_url, FAULTLINE_PORT=str(port), FAULTLINE_DATA_DIR=str(tmp_path),
               FAULTLINE_RATE_PER_IP="2", FAULTLINE_TRUSTED_PROXIES=trusted, FAULTLINE_WORKER="off")
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(150):
                try:
                    if http.get("/outages.geojson").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = re.search(r'name="_csrf_token" value="([^"]+)"', http.get("/").text).group(1)
            prefix = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}."  # fresh customers each run
            answers = [http.post("/report", data={"_csrf_token": token},
                                 headers={"x-forwarded-for": f"{prefix}{n + 1}"}).status_code for n in range(4)]
    finally:
        server.terminate()
        server.wait()
    if one_by_one:
        assert answers == [422] * 4  # each its own bucket: only the empty form is refused
    else:
        assert 429 in answers  # one bucket for all: the third within the minute at the latest


def test_the_data_folder_and_what_is_written_there_are_private(database_url, test_settings, tmp_path):
    """Customers' numbers and messages (sms.log), photos and audit anchors are for the app's own user only: the
    folder 0700 and its files 0600, files left world-readable by an older version included."""
    import os

    from server.app import create_app
    from server.notify.sms import LogSmsGateway
    data = tmp_path / "data"
    (data / "media" / "reports").mkdir(parents=True)
    for name in ("sms.log", "audit-anchors.jsonl", "media/reports/old.jpg"):
        (data / name).write_text("from an older version")
        (data / name).chmod(0o644)
    data.chmod(0o755)
    (data / "media").chmod(0o755)
    settings = replace(test_settings, server=replace(test_settings.server, data_dir=data))
    create_app(database_url, settings)
    mode = lambda path: path.stat().st_mode & 0o777  # noqa: E731
    assert mode(data) == 0o700 and mode(data / "media") == mode(data / "media" / "reports") == 0o700
    for name in ("secrets.json", "sms.log", "audit-anchors.jsonl", "media/reports/old.jpg"):
        assert mode(data / name) == 0o600, name
    previous = os.umask(0o022)  # whatever the umask, the SMS log is made private
    try:
        LogSmsGateway(data / "new-sms.log", "Faultline").send("+254700000000", "test")
    finally:
        os.umask(previous)
    assert mode(data / "new-sms.log") == 0o600
