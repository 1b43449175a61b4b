"""The `faultline` command: up, serve, migrate, demo, createuser, import, export."""
from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path

import click

from server.provision import ProvisionError
from server.settings import get_settings


def _database_url(may_install: bool = False) -> str:
    from server.app import resolve_database_url
    try:
        return resolve_database_url(get_settings(), may_install=may_install)
    except ProvisionError as problem:
        click.echo(f"\n{problem}\n", err=True)
        sys.exit(2)


def _say_public_url(settings) -> None:
    """The links customers get by SMS and push must reach this server: say which, and warn when unsure."""
    click.echo(f"Tracking links in SMS and push start with {settings.public_url}/t/")
    if not settings.notify.public_url:
        if settings.public_url != settings.listen_url:
            click.echo(f"Warning: listening on every interface ({settings.listen_url}); links use this machine's "
                       f"name. Set FAULTLINE_PUBLIC_URL to the address customers open.", err=True)
    elif settings.public_url != settings.listen_url:
        click.echo(f"Warning: FAULTLINE_PUBLIC_URL ({settings.public_url}) is not where this server listens "
                   f"({settings.listen_url}); make sure it reaches this server (a reverse proxy, say).", err=True)


def _serve(database_url: str) -> None:
    import uvicorn

    from server.app import create_app
    settings = get_settings()
    _say_public_url(settings)
    uvicorn.run(create_app(database_url), host=settings.server.host, port=settings.server.port,
                proxy_headers=True, forwarded_allow_ips=settings.server.trusted_proxies, log_level="info")


@click.group()
def main() -> None:
    """Faultline: reports, incidents, crews and notifications for an electricity utility."""


@main.command()
@click.option("--demo/--no-demo", default=True, show_default=True, help="Load the demo city (once).")
@click.option("--customers", default=10_000, show_default=True, help="Demo customers to load.")
@click.option("--serve/--no-serve", "serve_after", default=True, show_default=True, help="Start the server at the end.")
def up(demo: bool, customers: int, serve_after: bool) -> None:
    """Everything a newcomer needs: database, migrations, demo city, secrets, then serve."""
    from server import migrate
    from server.demo import city
    from server.demo.load import load_demo
    from server.secrets import load_or_create_secrets

    settings = get_settings()
    url = _database_url(may_install=True)
    click.echo("Database ready; applying migrations…")
    migrate.upgrade(url)
    load_or_create_secrets(settings.server.data_dir)
    if demo:
        summary = load_demo(url, customers=customers)
        if summary.created_city or summary.customers_added:
            click.echo(f"Demo city loaded: {summary.customers_total} customers in {summary.seconds:.1f} s.")
        else:
            click.echo(f"Demo city already loaded ({summary.customers_total} customers).")
    address = settings.listen_url
    click.echo(f"\nFaultline is at {address}/  (customer page: report a power problem)")
    if demo:
        click.echo(f"Staff sign-in at {address}/login — every demo account's password is {city.DEMO_PASSWORD!r}:")
        for username, _name, role in city.DEMO_STAFF:
            click.echo(f"  {role:<11} {username}")
    if not serve_after:
        _say_public_url(settings)
    if serve_after:
        _serve(url)


@main.command()
def serve() -> None:
    """Run the web server (the database must be migrated)."""
    _serve(_database_url())


@main.command()
def worker() -> None:
    """Send queued notifications (push and SMS) and keep house; run beside `serve` with FAULTLINE_WORKER=off."""
    from server import housekeeping
    from server.app import make_courier
    from server.db import make_engine
    from server.notify.worker import run_forever
    from server.secrets import load_or_create_secrets

    settings = get_settings()
    engine = make_engine(_database_url(), pool_size=8)
    courier = make_courier(settings, load_or_create_secrets(settings.server.data_dir))

    async def both():
        await asyncio.gather(run_forever(engine, courier),
                             housekeeping.run_forever(engine, housekeeping.sync_keep(settings)))

    click.echo("Sending notifications; Ctrl-C to stop.")
    try:
        asyncio.run(both())
    except KeyboardInterrupt:
        pass


@main.command("housekeeping")
def housekeeping_once() -> None:
    """Trim old live events, the crews' change log, expired sign-ins and rate-limit windows once (for cron)."""
    from server import housekeeping
    from server.db import make_engine

    async def run():
        engine = make_engine(_database_url(), pool_size=1)
        try:
            return await housekeeping.tidy(engine, housekeeping.sync_keep(get_settings()))
        finally:
            await engine.dispose()

    done = asyncio.run(run())
    if done.skipped:
        click.echo("Another process is keeping house right now; nothing done.")
    else:
        click.echo("Dropped: " + ", ".join(f"{table} {rows}" for table, rows in done.dropped.items()))


@main.group()
def audit() -> None:
    """The tamper-evident incident log."""


@audit.command("verify")
def audit_verify() -> None:
    """Check every incident's hash chain and the last anchor; exit 1 at the first broken link."""
    from sqlmodel.ext.asyncio.session import AsyncSession

    from server.audit.chain import anchors_path, verify_chain
    from server.db import make_engine
    from server.secrets import keep_private

    keep_private(get_settings().server.data_dir)  # the anchors are written there

    async def run():
        engine = make_engine(_database_url(), pool_size=1)
        try:
            async with AsyncSession(engine) as session:
                return await verify_chain(session, anchors_path(get_settings().server.data_dir))
        finally:
            await engine.dispose()

    check = asyncio.run(run())
    if check.intact:
        click.echo(f"Intact: {check.events} events, every chain and the last anchor check out.")
        return
    where = f"incident {check.incident_code}, event #{check.broken_event_id} (step {check.seq}): " \
        if check.broken_event_id else ""
    click.echo(f"BROKEN: {where}{check.english().rstrip('.')}.", err=True)
    sys.exit(1)


@main.command("migrate")
def migrate_command() -> None:
    """Apply database migrations."""
    from server import migrate
    migrate.upgrade(_database_url())
    click.echo("Migrations applied.")


@main.command()
@click.option("--customers", default=10_000, show_default=True, help="How many customers the city should have.")
def demo(customers: int) -> None:
    """Load the demo city once; with a larger --customers, grow it (bulk COPY) for benchmarks."""
    from server.demo.load import load_demo
    summary = load_demo(_database_url(), customers=customers)
    what = "created the city and added" if summary.created_city else "added"
    click.echo(f"Demo: {what} {summary.customers_added} customers ({summary.customers_total} in all) "
               f"in {summary.seconds:.1f} s.")


@main.command()
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["agent", "dispatcher", "lineman", "supervisor", "admin"]))
@click.option("--name", "display_name", default="", help="Name shown to colleagues.")
@click.option("--language", default="en", type=click.Choice(["en", "sw", "hi", "vi", "sq"]))
@click.option("--password", default=None, help="Omit to be asked (not echoed).")
def createuser(username: str, role: str, display_name: str, language: str, password: str | None) -> None:
    """Create a staff account."""
    from sqlalchemy.exc import IntegrityError
    from sqlmodel.ext.asyncio.session import AsyncSession

    from server.db import make_engine
    from server.staff.service import create_staff

    if password is None:
        password = getpass.getpass("Password: ")
    if len(password) < 8:
        raise click.UsageError("The password must have at least 8 characters.")

    async def run() -> None:
        engine = make_engine(_database_url(), pool_size=1)
        try:
            async with AsyncSession(engine) as session:
                await create_staff(session, username=username, password=password, role=role,
                                   display_name=display_name, language=language)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except IntegrityError:
        raise click.UsageError(f"A user named {username!r} already exists.") from None
    click.echo(f"Created {role} {username!r}.")


@main.command("sms-templates")
def sms_templates() -> None:
    """Every customer SMS in every language, with its encoding and how many SMS it costs."""
    from server.notify.messages import template_costs
    from server.settings import LANGUAGES
    click.echo(f"{'template':<12} {'lang':<4} {'encoding':<8} {'units':>5} {'SMS':>3}  text")
    for cost in template_costs(LANGUAGES):
        click.echo(f"{cost.kind:<12} {cost.language:<4} {cost.encoding:<8} {cost.units:>5} {cost.segments:>3}  "
                   f"{cost.text}")


@main.command()
@click.argument("name")
def apikey(name: str) -> None:
    """Create an API key for a partner system or chatbot (shown once; only its hash is kept)."""
    from sqlalchemy.exc import IntegrityError
    from sqlmodel.ext.asyncio.session import AsyncSession

    from server.db import make_engine
    from server.reports.api import create_api_client

    async def run() -> str:
        engine = make_engine(_database_url(), pool_size=1)
        try:
            async with AsyncSession(engine) as session:
                return await create_api_client(session, name)
        finally:
            await engine.dispose()

    try:
        key = asyncio.run(run())
    except IntegrityError:
        raise click.UsageError(f"A client named {name!r} already exists.") from None
    click.echo(f"API key for {name} (store it now, it is not shown again):\n{key}")


@main.command("import")
@click.argument("kind", type=click.Choice(["zones", "feeders", "transformers", "customers"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and say what would change; change nothing.")
def import_command(kind: str, file: Path, dry_run: bool) -> None:
    """Import zones, feeders or transformers (GeoJSON) or customers (CSV); nothing is applied if any line is wrong.

    Load in this order: zones, feeders, transformers, customers. Rows are matched by zone name, feeder code,
    transformer code and meter number, so importing an updated export again changes only what changed.
    Exit status: 0 applied (or a clean dry run), 1 problems found (nothing changed).
    """
    from server.imports.service import ImportOptions, import_file

    settings = get_settings()
    options = ImportOptions(dry_run=dry_run, region=settings.locale.phone_region,
                            default_language=settings.locale.default_language, actor="cli")
    report = import_file(_database_url(), kind, file, options)
    for note in report.notes:
        click.echo(note.english())
    for problem in report.sorted_problems():
        click.echo(problem.english(), err=True)
    if report.problem_count > len(report.problems):
        click.echo(f"… and {report.problem_count - len(report.problems)} more problems.", err=True)
    rate = report.rows / report.seconds if report.seconds else 0
    if not report.ok:
        click.echo(f"{report.problem_count} problem(s) in {report.rows} rows: nothing was changed.", err=True)
        sys.exit(1)
    verb = "Would add" if dry_run else "Added"
    click.echo(f"{verb} {report.inserted}, {'would change' if dry_run else 'changed'} {report.updated}, "
               f"{report.unchanged} unchanged; {report.not_in_file} in the database but not in the file (kept). "
               f"{report.rows} rows in {report.seconds:.1f} s ({rate:,.0f} rows/s)."
               + (" Dry run: nothing was changed." if dry_run else ""))


@main.command("export")
@click.argument("kind", type=click.Choice(["zones", "feeders", "transformers", "customers"]))
@click.argument("output", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-")
def export_command(kind: str, output: str) -> None:
    """Write zones, feeders or transformers as GeoJSON, or customers as CSV, in the form `import` reads.

    OUTPUT is a file name, or - (the default) for standard output.
    """
    from server.imports.export import export_to

    url = _database_url()
    if output == "-":
        export_to(url, kind, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    with open(output, "wb") as handle:
        export_to(url, kind, handle)
    click.echo(f"Wrote {kind} to {output}.", err=True)


if __name__ == "__main__":
    main()
