"""The administrator's pages: staff, crews, zones, operator settings, import and export, SMS costs.

All under /admin, for the admin role only. Handlers parse the form, call server.admin.service (or the import
service), and render; the rules are in server.admin.rules and server.imports.rules.
"""
from __future__ import annotations

import shutil
import time
import uuid
from zoneinfo import ZoneInfo
from pathlib import Path

import anyio
from litestar import Controller, Request, Router, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server.admin import rules, service
from server.admin.models import ImportRun
from server.operator import defaults, effective_settings, save_overrides
from server.refusals import Refused
from server.crews.models import Crew
from server.db import DbSession, utcnow
from server.forms import clean_form, whole_number
from server.i18n import N_
from server.imports import export
from server.imports.rules import FORMATS, KIND_LABELS, KINDS
from server.imports.service import ImportOptions, ImportReport, import_file
from server.notify.messages import template_costs
from server.settings import LANGUAGES
from server.staff.guards import roles
from server.staff.models import ROLE_LABELS, Role, Staff
from server.staff.rules import FAILURE_LABELS
from server.staff.service import failure_counts, recent_failures

ADMIN = roles("admin")
# A million customers is about 75 MB of CSV; leave room for more, refuse what no export reaches.
IMPORT_MAX_BYTES = 512 * 1024 * 1024
# A checked file waits this long in the data folder to be applied, then it is cleared away.
KEEP_CHECKED_SECONDS = 24 * 3600


def _id(raw: str) -> int:
    """Path ids are read here, after the role guard: a bad one is a 404 for an admin, never a hint to others."""
    number = whole_number(raw)
    if number is None:
        raise NotFoundException()
    return number


async def _form(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Single fields (cleaned) and repeated ones (check boxes), from a urlencoded or multipart form."""
    form = await request.form()
    single = clean_form({key: value for key, value in form.items() if isinstance(value, str)})
    repeated = {key: [str(v).replace("\x00", "")[:100] for v in form.getall(key) if isinstance(v, str)]
                for key in form.keys()}
    return single, repeated


def _database_url(request: Request) -> str:
    return request.app.state.engine.url.render_as_string(hide_password=False)


# ---------------------------------------------------------------- staff

class StaffAdmin(Controller):
    opt = ADMIN

    async def _page(self, db_session: AsyncSession, status: int = 200, **context) -> Template:
        crews = await service.crew_choices(db_session)
        return Template("admin/index.html", status_code=status, context={
            "staff": await service.staff_accounts(db_session), "crews": crews,
            "crew_codes": {crew.id: crew.code for crew in crews},
            "role_labels": ROLE_LABELS, "roles": list(Role), "errors": {}, "entered": {}, **context})

    @get("/")
    async def staff_list(self, db_session: DbSession) -> Template:
        return await self._page(db_session)

    @post("/staff", status_code=201)
    async def create_staff(self, request: Request, db_session: DbSession) -> Template:
        form, _lists = await _form(request)
        crews = {c.id for c in await service.crew_choices(db_session)}
        checked = rules.check_staff_form(form, crews, creating=True)
        if isinstance(checked, dict):
            return await self._page(db_session, 422, errors=checked, entered=form)
        try:
            staff, password = await service.create_account(db_session, checked)
        except Refused as refused:
            return await self._page(db_session, 422, errors={refused.field: refused.message}, entered=form)
        return Template("admin/password.html", status_code=201,
                        context={"person": staff, "password": password, "created": True})

    async def _staff_page(self, db_session: AsyncSession, staff_id: int, status: int = 200, **context) -> Template:
        person = await db_session.get(Staff, staff_id)
        if person is None:
            raise NotFoundException()
        return Template("admin/staff.html", status_code=status, context={
            "person": person, "crews": await service.crew_choices(db_session), "role_labels": ROLE_LABELS,
            "roles": list(Role), "errors": {}, "saved": False, **context})

    @get("/staff/{staff_id:str}")
    async def staff_page(self, staff_id: FromPath[str], db_session: DbSession) -> Template:
        return await self._staff_page(db_session, _id(staff_id))

    @post("/staff/{staff_id:str}", status_code=200)
    async def save_staff(self, request: Request, staff_id: FromPath[str], db_session: DbSession) -> Template:
        target = _id(staff_id)
        form, _lists = await _form(request)
        crews = {c.id for c in await service.crew_choices(db_session)}
        checked = rules.check_staff_form(form, crews, creating=False)
        if isinstance(checked, dict):
            return await self._staff_page(db_session, target, 422, errors=checked)
        try:
            await service.update_account(db_session, request.user, target, checked)
        except Refused as refused:
            return await self._staff_page(db_session, target, 409, errors={refused.field or "form": refused.message})
        return await self._staff_page(db_session, target, saved=True)

    @post("/staff/{staff_id:str}/password", status_code=200)
    async def reset_password(self, staff_id: FromPath[str], db_session: DbSession) -> Template:
        staff, password = await service.reset_password(db_session, _id(staff_id))
        return Template("admin/password.html", context={"person": staff, "password": password, "created": False})

    async def _set_active(self, request: Request, db_session: AsyncSession, staff_id: int,
                          active: bool) -> Template | Redirect:
        try:
            await service.set_active(db_session, request.user, staff_id, active)
        except Refused as refused:
            return await self._staff_page(db_session, staff_id, 409, errors={"form": refused.message})
        return Redirect(f"/admin/staff/{staff_id}", status_code=303)

    @post("/staff/{staff_id:str}/deactivate", status_code=303)
    async def deactivate(self, request: Request, staff_id: FromPath[str], db_session: DbSession) -> Template | Redirect:
        return await self._set_active(request, db_session, _id(staff_id), False)

    @post("/staff/{staff_id:str}/activate", status_code=303)
    async def activate(self, request: Request, staff_id: FromPath[str], db_session: DbSession) -> Template | Redirect:
        return await self._set_active(request, db_session, _id(staff_id), True)

    @get("/sign-ins")
    async def sign_in_failures(self, request: Request, db_session: DbSession) -> Template:
        """Failed sign-ins, newest first, and which accounts and addresses failed most in the last day."""
        accounts, addresses = await failure_counts(db_session)
        server = request.app.state.settings.server
        return Template("admin/sign_ins.html", context={
            "failures": await recent_failures(db_session), "accounts": accounts, "addresses": addresses,
            "reason_labels": FAILURE_LABELS,
            "limits": {"per_account": server.signin_per_account, "per_address": server.signin_per_address}})

    @get("/sms")
    async def sms_costs(self) -> Template:
        """What each customer SMS costs in each language: one segment where the language allows."""
        return Template("admin/sms.html", context={"costs": template_costs(LANGUAGES)})


# ---------------------------------------------------------------- crews and zones

class NetworkAdmin(Controller):
    opt = ADMIN

    async def _crews_page(self, db_session: AsyncSession, status: int = 200, **context) -> Template:
        return Template("admin/crews.html", status_code=status, context={
            "crews": await service.crew_views(db_session), "zones": await service.zone_views(db_session),
            "skill_labels": rules.SKILL_LABELS, "errors": {}, "entered": {}, **context})

    @get("/crews")
    async def crews(self, db_session: DbSession) -> Template:
        return await self._crews_page(db_session)

    async def _crew_form(self, request: Request, db_session: AsyncSession, creating: bool):
        form, lists = await _form(request)
        zones = {z.id for z in await service.zone_views(db_session)}
        linemen = {s.id for s in await service.linemen(db_session)}
        return form, rules.check_crew_form(form, lists, zones, linemen, creating)

    @post("/crews", status_code=303)
    async def create_crew(self, request: Request, db_session: DbSession) -> Template | Redirect:
        form, checked = await self._crew_form(request, db_session, creating=True)
        if isinstance(checked, dict):
            return await self._crews_page(db_session, 422, errors=checked, entered=form)
        try:
            crew = await service.save_crew(db_session, None, checked)
        except Refused as refused:
            return await self._crews_page(db_session, 422, errors={refused.field: refused.message}, entered=form)
        return Redirect(f"/admin/crews/{crew.id}", status_code=303)

    async def _crew_page(self, db_session: AsyncSession, crew_id: int, status: int = 200, **context) -> Template:
        view = next((v for v in await service.crew_views(db_session) if v.crew.id == crew_id), None)
        if view is None:
            raise NotFoundException()
        return Template("admin/crew.html", status_code=status, context={
            "view": view, "zones": await service.zone_views(db_session), "linemen": await service.linemen(db_session),
            "skill_labels": rules.SKILL_LABELS, "errors": {}, "saved": False, **context})

    @get("/crews/{crew_id:str}")
    async def crew_page(self, crew_id: FromPath[str], db_session: DbSession) -> Template:
        return await self._crew_page(db_session, _id(crew_id))

    @post("/crews/{crew_id:str}", status_code=200)
    async def save_crew(self, request: Request, crew_id: FromPath[str], db_session: DbSession) -> Template:
        target = _id(crew_id)
        if await db_session.get(Crew, target) is None:
            raise NotFoundException()
        _form_fields, checked = await self._crew_form(request, db_session, creating=False)
        if isinstance(checked, dict):
            return await self._crew_page(db_session, target, 422, errors=checked)
        await service.save_crew(db_session, target, checked)
        return await self._crew_page(db_session, target, saved=True)

    async def _zones_page(self, db_session: AsyncSession, status: int = 200, **context) -> Template:
        return Template("admin/zones.html", status_code=status, context={
            "zones": await service.zone_views(db_session), "people": await service.responsible_choices(db_session),
            "errors": {}, "saved": None, **context})

    @get("/zones")
    async def zones(self, db_session: DbSession) -> Template:
        return await self._zones_page(db_session)

    @post("/zones/{zone_id:str}", status_code=200)
    async def set_responsible(self, request: Request, zone_id: FromPath[str], db_session: DbSession) -> Template:
        target = _id(zone_id)
        form, _lists = await _form(request)
        people = {s.id for s in await service.responsible_choices(db_session)}
        # A form without the field is not a choice of "nobody".
        chosen = rules.check_responsible(form["responsible_staff_id"], people) if "responsible_staff_id" in form \
            else N_("Choose a person from the list.")
        if isinstance(chosen, str):
            return await self._zones_page(db_session, 422, errors={target: chosen})
        await service.set_responsible(db_session, target, chosen)
        return await self._zones_page(db_session, saved=target)


# ---------------------------------------------------------------- operator settings

class SettingsAdmin(Controller):
    opt = ADMIN

    async def _page(self, request: Request, db_session: AsyncSession, status: int = 200, **context) -> Template:
        settings = request.app.state.settings
        return Template("admin/settings.html", status_code=status, context={
            "fields": rules.SETTING_FIELDS, "labels": rules.SETTING_LABELS,
            "current": await effective_settings(db_session, settings), "defaults": defaults(settings),
            "form_value": rules.form_value, "errors": {}, "entered": None, "saved": False, **context})

    @get("/settings")
    async def settings_page(self, request: Request, db_session: DbSession) -> Template:
        return await self._page(request, db_session)

    @post("/settings", status_code=200)
    async def save_settings(self, request: Request, db_session: DbSession) -> Template:
        form, _lists = await _form(request)
        settings = request.app.state.settings
        current, fallback = await effective_settings(db_session, settings), defaults(settings)
        # Each target as it stands unless this form sets it: an emptied field means the default.
        standing = {}
        for field in rules.SETTING_FIELDS:
            emptied = field.name in form and not form[field.name].strip()
            standing[field.name] = getattr(fallback if emptied else current, field.name)
        overrides, errors = rules.check_settings_form(form, standing)
        if errors:
            return await self._page(request, db_session, 422, errors=errors, entered=form)
        await save_overrides(db_session, overrides, request.user.id)
        return await self._page(request, db_session, saved=True)


# ---------------------------------------------------------------- import and export

def _imports_folder(request: Request) -> Path:
    folder = request.app.state.settings.server.data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _clear_old_checks(folder: Path) -> None:
    cutoff = time.time() - KEEP_CHECKED_SECONDS
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _keep_upload(upload: UploadFile, folder: Path, kind: str) -> Path:
    _clear_old_checks(folder)
    path = folder / f"{uuid.uuid4().hex}.{FORMATS[kind]}"
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    return path


class DataAdmin(Controller):
    opt = ADMIN

    async def _page(self, db_session: AsyncSession, status: int = 200, **context) -> Template:
        return Template("admin/imports.html", status_code=status, context={
            "kinds": KINDS, "kind_labels": KIND_LABELS, "runs": await service.recent_imports(db_session),
            "export_files": export.FILENAMES, "errors": {}, "entered": {"dry_run": "on"}, **context})

    @get("/imports")
    async def imports(self, db_session: DbSession) -> Template:
        return await self._page(db_session)

    async def _run(self, request: Request, kind: str, path: Path, dry_run: bool, filename: str) -> ImportReport:
        settings = request.app.state.settings
        options = ImportOptions(dry_run=dry_run, region=settings.locale.phone_region,
                                default_language=settings.locale.default_language,
                                actor=f"staff:{request.user.id}", stored_as=path.name if dry_run else None)
        # A worker thread with its own connection: a million rows must not stall everyone else's pages.
        return await anyio.to_thread.run_sync(
            lambda: import_file(_database_url(request), kind, path, options, filename=filename))

    def _report(self, report: ImportReport) -> Template:
        status = 422 if not report.ok else 201 if report.applied else 200
        return Template("admin/import_report.html", status_code=status,
                        context={"report": report, "kind_labels": KIND_LABELS, "just_ran": True})

    @post("/imports", request_max_body_size=IMPORT_MAX_BYTES, status_code=200)
    async def upload(self, request: Request, db_session: DbSession) -> Template:
        form = await request.form()
        kind, upload = form.get("kind"), form.get("file")
        dry_run = form.get("dry_run") == "on"
        errors = {}
        if kind not in KINDS:
            errors["kind"] = N_("Choose what the file holds.")
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["file"] = N_("Choose a file to import.")
        if errors:
            entered = {"kind": kind if kind in KINDS else "", "dry_run": "on" if dry_run else ""}
            return await self._page(db_session, 422, errors=errors, entered=entered)
        folder = _imports_folder(request)
        path = await anyio.to_thread.run_sync(lambda: _keep_upload(upload, folder, kind))
        filename = upload.filename.replace("\x00", "")[:200]
        try:
            report = await self._run(request, kind, path, dry_run, filename)
        finally:
            await upload.close()
        if report.status != "checked":
            path.unlink(missing_ok=True)  # applied, or refused: nothing to keep
        return self._report(report)

    @get("/imports/{run_id:str}")
    async def import_run(self, run_id: FromPath[str], db_session: DbSession) -> Template:
        run = await db_session.get(ImportRun, _id(run_id))
        if run is None:
            raise NotFoundException()
        return Template("admin/import_report.html", context={"report": ImportReport.from_run(run),
                                                            "kind_labels": KIND_LABELS, "just_ran": False,
                                                            "stored": bool(run.stored_as)})

    @post("/imports/{run_id:str}/apply", status_code=201)
    async def apply(self, request: Request, run_id: FromPath[str], db_session: DbSession) -> Template:
        run = await db_session.get(ImportRun, _id(run_id))
        if run is None:
            raise NotFoundException()
        path = _imports_folder(request) / run.stored_as if run.stored_as else None
        if run.status != "checked" or path is None or not path.is_file():
            return await self._page(db_session, 409, errors={"form": N_(
                "This checked file is no longer kept: upload it again.")})
        report = await self._run(request, run.kind, path, dry_run=False, filename=run.filename)
        if report.applied:
            path.unlink(missing_ok=True)
            run.stored_as = None
            db_session.add(run)
            await db_session.commit()
        return self._report(report)

    @get("/export/{kind:str}")
    async def export_file(self, request: Request, kind: FromPath[str]) -> Stream:
        if kind not in KINDS:
            raise NotFoundException()
        today = utcnow().astimezone(ZoneInfo(request.app.state.settings.locale.timezone)).date()  # the utility's day
        name = f"faultline-{today.isoformat()}-{export.FILENAMES[kind]}"
        return Stream(export.export_chunks(_database_url(request), kind), media_type=export.media_type(kind),
                      headers={"content-disposition": f'attachment; filename="{name}"'})


# app.py registers this router: every page above sits under /admin, for administrators only.
AdminPages = Router(path="/admin", opt=ADMIN, route_handlers=[StaffAdmin, NetworkAdmin, SettingsAdmin, DataAdmin])
