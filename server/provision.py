"""Find or make a PostGIS database, so a newcomer never edits config.

Order: DATABASE_URL when set; else a server already answering on 127.0.0.1:5432;
else a project-local cluster in the data folder, started with the system's
PostgreSQL binaries. Missing Debian packages are installed when we may (root or
passwordless sudo); otherwise we stop and print the one command to run.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from server.db_url import libpq_url
from server.settings import Settings

# FAULTLINE_LOCAL_PG_PORT: the port of the project-local cluster, when one is needed.
LOCAL_PORT = int(os.environ.get("FAULTLINE_LOCAL_PG_PORT", "5433"))
SHARED_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


class ProvisionError(RuntimeError):
    """Provisioning cannot go on; the message says what the person should do."""


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server we can administer: `admin_url` points at its `postgres` database."""

    admin_url: str
    origin: str  # "DATABASE_URL", "127.0.0.1:5432" or "local cluster"

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path="/" + dbname))


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def _privilege_prefix() -> list[str] | None:
    """How we may run apt-get: directly as root, through passwordless sudo, or not at all."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def apt_install(packages: list[str], why: str, may_install: bool) -> None:
    command = "sudo apt-get install -y " + " ".join(packages)
    prefix = _privilege_prefix() if may_install else None
    if prefix is None:
        raise ProvisionError(f"{why}. Install it with:\n\n    {command}\n\nthen run this again.")
    print(f"Installing {' '.join(packages)} ({why})…", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        _run([*prefix, "apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
        _run([*prefix, "apt-get", "install", "-y", "-qq", *packages], env=env, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        raise ProvisionError(f"Installing {' '.join(packages)} failed ({exc}). Try:\n\n    {command}") from exc


def _server_major(admin_url: str) -> int:
    with psycopg.connect(libpq_url(admin_url)) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def _postgis_available(admin_url: str) -> bool:
    with psycopg.connect(libpq_url(admin_url)) as conn:
        row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
        return row is not None


def _ensure_postgis_package(server: Server, may_install: bool) -> None:
    if _postgis_available(server.admin_url):
        return
    if server.origin == "DATABASE_URL":
        raise ProvisionError(
            "The database in DATABASE_URL has no PostGIS extension available. "
            "Install PostGIS on that server (Debian: postgresql-<major>-postgis-3)."
        )
    major = _server_major(server.admin_url)
    apt_install([f"postgresql-{major}-postgis-3"], f"PostgreSQL {major} has no PostGIS", may_install)


def _pg_bin_dir() -> Path | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name))
    return Path(dirs[-1]) if dirs else None


def _as_cluster_owner(cmd: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root: run them as the postgres user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _cluster_home(data_dir: Path) -> Path:
    """Where the local cluster lives: the data folder, unless the postgres user cannot reach it
    (a checkout under /root, say), then a folder of its own under /var/lib/faultline."""
    if os.geteuid() != 0:
        return data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    reachable = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(data_dir)]).returncode == 0
    if reachable:
        return data_dir
    import hashlib
    return Path("/var/lib/faultline") / hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]


def _local_cluster(settings: Settings, may_install: bool, port: int = LOCAL_PORT) -> Server:
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        apt_install(["postgresql", "postgresql-postgis"], "no PostgreSQL server is installed", may_install)
        bin_dir = _pg_bin_dir()
        if bin_dir is None:
            raise ProvisionError("PostgreSQL was installed but its binaries were not found in /usr/lib/postgresql.")
    major = int(bin_dir.parent.name)
    if not Path(f"/usr/share/postgresql/{major}/extension/postgis.control").exists():
        apt_install([f"postgresql-{major}-postgis-3"], f"PostgreSQL {major} has no PostGIS", may_install)

    home = _cluster_home(settings.server.data_dir)
    cluster, sockets, log = home / "pg", home / "pg-run", home / "pg.log"
    admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    if _answers(admin_url):
        return Server(admin_url, "local cluster")

    for folder in (cluster, sockets):
        folder.mkdir(parents=True, exist_ok=True)
    cluster.chmod(0o700)
    if os.geteuid() == 0:
        _run(["chown", "-R", "postgres:postgres", str(cluster), str(sockets)])
        log.touch()
        _run(["chown", "postgres:postgres", str(log)])
    if not (cluster / "PG_VERSION").exists():
        print(f"Creating a local PostgreSQL {major} cluster in {cluster}…", flush=True)
        _run(_as_cluster_owner([str(bin_dir / "initdb"), "-D", str(cluster), "-U", "postgres",
                                "--auth=trust", "-E", "UTF8"]), stdout=subprocess.DEVNULL)
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
    _run(_as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster), "-l", str(log),
                            "-o", options, "-w", "start"]), stdout=subprocess.DEVNULL)
    for _ in range(30):
        if _answers(admin_url):
            return Server(admin_url, "local cluster")
        time.sleep(0.5)
    raise ProvisionError(f"The local PostgreSQL cluster did not start; see {log}.")


def ensure_server(settings: Settings, may_install: bool = False) -> Server:
    """A PostgreSQL server with PostGIS available, found or provisioned."""
    if settings.db.url:
        if not _answers(settings.db.url):
            raise ProvisionError("DATABASE_URL is set but that database does not answer.")
        server = Server(settings.db.url, "DATABASE_URL")
    elif _answers(SHARED_SERVER):
        server = Server(SHARED_SERVER, "127.0.0.1:5432")
    else:
        return _local_cluster(settings, may_install)
    _ensure_postgis_package(server, may_install)
    return server


def ensure_database(server: Server, dbname: str) -> str:
    """Create `dbname` if missing (not for DATABASE_URL, which names its own); returns its URL."""
    if server.origin == "DATABASE_URL":
        return server.admin_url
    with psycopg.connect(libpq_url(server.admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return server.url_for(dbname)


def drop_database(server: Server, dbname: str) -> None:
    with psycopg.connect(libpq_url(server.admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def stop_local_cluster(settings: Settings) -> None:
    bin_dir = _pg_bin_dir()
    cluster = _cluster_home(settings.server.data_dir) / "pg"
    if bin_dir and (cluster / "postmaster.pid").exists():
        _run(_as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "stop"]),
             stdout=subprocess.DEVNULL)
