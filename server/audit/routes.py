"""The supervisor's pages: pending complaints per zone and the SLA watch list, zone/crew/day figures over a
period (charts, CSV, GeoJSON), one incident's timeline, and the check of the tamper-evident log.

Handlers parse, call server/audit/figures.py, render. Only supervisors and administrators may open them.
"""
from __future__ import annotations

import csv
import io
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get

from litestar.params import FromPath, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template

from server.operator import effective_settings
from server.audit import charts, figures, sla
from server.audit.chain import anchors_path, verify_chain
from server.db import DbSession, utcnow
from server.forms import whole_number
from server.labels import CATEGORY_LABELS, EVENT_LABELS, STATUS_LABELS
from server.i18n import N_, format_number, gettext
from server.incidents.service import pending_by_zone
from server.refusals import Refused
from server.staff.guards import roles

SUMMARY_ROWS = 10  # the watch list on the supervisor's first page; the rest at /supervisor/sla
CSV_COLUMNS = ("scope", "key", "name", "responsible", "jobs", "assign_p50_min", "assign_p90_min", "arrive_p50_min",
               "arrive_p90_min", "restore_p50_min", "restore_p90_min", "checkins_outside_geofence", "reopened",
               "sla_breached")
Query = Annotated[str | None, QueryParameter(max_length=200)]


async def _rules(request: Request, db_session: DbSession) -> tuple[sla.Targets, int]:
    operator = await effective_settings(db_session, request.app.state.settings)
    return sla.Targets.from_settings(operator), operator.geofence_radius_m


def _period(request: Request, raw_from: str | None, raw_to: str | None) -> figures.Period:
    timezone = request.app.state.settings.locale.timezone
    today = utcnow().astimezone(ZoneInfo(timezone)).date()
    return figures.parse_period(raw_from, raw_to, today, timezone)


async def _exported_figures(request: Request, db_session: DbSession, raw_from: str | None,
                            raw_to: str | None) -> tuple[figures.Period, figures.Figures]:
    """The period asked for (400 with the reason when it makes no sense) and its figures, for the exports."""
    period = _period(request, raw_from, raw_to)
    targets, radius = await _rules(request, db_session)
    return period, await figures.period_figures(db_session, period, targets, radius, utcnow())


def _hours_text(lang: str, region: str):
    def text(minutes: float) -> str:
        return gettext(lang, N_("%(hours)s h"), hours=format_number(round(minutes / 60, 1), lang, region))
    return text


def _charts(request: Request, found: figures.Figures) -> dict:
    lang, region = request.state.lang, request.app.state.settings.locale.phone_region
    hours = _hours_text(lang, region)
    zones = [(z.name, z.breached) for z in found.zones] + (
        [(gettext(lang, N_("No zone")), found.no_zone.breached)] if found.no_zone else [])
    return {
        "restore_per_day": charts.line_chart(
            "chart-restore", gettext(lang, N_("Time to restore per day (median, hours)")),
            gettext(lang, N_("Median hours from the first report to the restore, for the jobs reported each day "
                             "from %(first)s to %(last)s."), first=found.period.first.isoformat(),
                    last=found.period.last.isoformat()),
            [(d.name, d.restore_p50) for d in found.days], value_text=hours,
            empty_text=gettext(lang, N_("No restored jobs in this period."))),
        "breaches_per_zone": charts.bar_chart(
            "chart-breaches", gettext(lang, N_("SLA breaches per zone")),
            gettext(lang, N_("Jobs reported from %(first)s to %(last)s that missed a target, per zone."),
                    first=found.period.first.isoformat(), last=found.period.last.isoformat()),
            zones, value_text=lambda n: format_number(int(n), lang, region),
            empty_text=gettext(lang, N_("No zones."))),
    }


def _minutes(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _csv_rows(found: figures.Figures):
    scoped = [("zone", z) for z in found.zones] + ([("zone", found.no_zone)] if found.no_zone else []) \
        + [("crew", c) for c in found.crews] + [("day", d) for d in found.days]
    for scope, f in scoped:
        yield (scope, "" if f.key is None else f.key, f.name, f.responsible or "", f.jobs,
               *(_minutes(getattr(f, name)) for name in ("assign_p50", "assign_p90", "arrive_p50", "arrive_p90",
                                                          "restore_p50", "restore_p90")),
               f.outside_geofence, f.reopened, f.breached)


def _properties(found: figures.Figures, f: figures.Figure) -> dict:
    return {"zone": f.name or None, "responsible": f.responsible, "from": found.period.first.isoformat(),
            "to": found.period.last.isoformat(), "jobs": f.jobs,
            **{f"{name}_min": None if getattr(f, name) is None else round(getattr(f, name), 1)
               for name in ("assign_p50", "assign_p90", "arrive_p50", "arrive_p90", "restore_p50", "restore_p90")},
            "checkins_outside_geofence": f.outside_geofence, "reopened": f.reopened, "sla_breached": f.breached}


class SupervisorPages(Controller):
    opt = roles("supervisor", "admin")

    @get("/supervisor")
    async def overview(self, request: Request, db_session: DbSession) -> Template:
        targets, _ = await _rules(request, db_session)
        now = utcnow()
        return Template("supervisor/index.html", context={
            "zones": await pending_by_zone(db_session), "watch": await figures.sla_watch(db_session, targets, now),
            "rows": SUMMARY_ROWS, "targets": targets, "now": now, **self._labels()})

    @get("/supervisor/sla")
    async def sla_watch(self, request: HTMXRequest, db_session: DbSession, rows: Query = None) -> Template:
        """Open incidents breached or at risk now. htmx asks for the list alone (the pages refresh it)."""
        targets, _ = await _rules(request, db_session)
        limit = SUMMARY_ROWS if rows == str(SUMMARY_ROWS) else None
        now = utcnow()
        context = {"watch": await figures.sla_watch(db_session, targets, now), "rows": limit,
                   "targets": targets, "now": now, **self._labels()}
        return Template("supervisor/_sla.html" if request.htmx else "supervisor/sla.html", context=context)

    @get("/supervisor/figures")
    async def figures_page(self, request: Request, db_session: DbSession,
                           raw_from: Annotated[str | None, QueryParameter(name="from", max_length=200)] = None,
                           raw_to: Annotated[str | None, QueryParameter(name="to", max_length=200)] = None) -> Template:
        try:
            period = _period(request, raw_from, raw_to)
        except Refused as refused:  # said above the form, drawn again with what was typed
            return Template("supervisor/figures.html", status_code=400, context={
                "error": refused.text(request.state.lang), "found": None,
                "raw_from": (raw_from or "")[:20], "raw_to": (raw_to or "")[:20]})
        targets, radius = await _rules(request, db_session)
        found = await figures.period_figures(db_session, period, targets, radius, utcnow())
        return Template("supervisor/figures.html", context={
            "found": found, "error": None, "raw_from": period.first.isoformat(), "raw_to": period.last.isoformat(),
            "charts": _charts(request, found), **self._labels()})

    @get("/supervisor/figures.csv")
    async def figures_csv(self, request: Request, db_session: DbSession,
                          raw_from: Annotated[str | None, QueryParameter(name="from", max_length=200)] = None,
                          raw_to: Annotated[str | None, QueryParameter(name="to", max_length=200)] = None) -> Response:
        """The same figures for a spreadsheet: one row per zone, crew and day; times in minutes."""
        period, found = await _exported_figures(request, db_session, raw_from, raw_to)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_rows(found))
        name = f"faultline-figures-{period.first.isoformat()}-{period.last.isoformat()}.csv"
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    @get("/supervisor/figures.geojson")
    async def figures_geojson(self, request: Request, db_session: DbSession,
                              raw_from: Annotated[str | None, QueryParameter(name="from", max_length=200)] = None,
                              raw_to: Annotated[str | None, QueryParameter(name="to", max_length=200)] = None
                              ) -> Response:
        """Zones as features with the period's figures as properties (a GIS colours them by any of them)."""
        period, found = await _exported_figures(request, db_session, raw_from, raw_to)
        areas = await figures.zone_areas(db_session)
        features = [{"type": "Feature", "id": z.key, "geometry": areas.get(z.key), "properties": _properties(found, z)}
                    for z in found.zones]
        if found.no_zone is not None:
            features.append({"type": "Feature", "geometry": None, "properties": _properties(found, found.no_zone)})
        name = f"faultline-figures-{period.first.isoformat()}-{period.last.isoformat()}.geojson"
        return Response({"type": "FeatureCollection", "features": features}, media_type="application/geo+json",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    @get("/supervisor/timeline")
    async def find_timeline(self, request: Request, db_session: DbSession, code: Query = None) -> Redirect:
        """The lookup form: an incident's code (FL-000123) or number, to its timeline."""
        raw = (code or "").strip()
        if not raw:
            raise Refused(N_("Type an incident's reference, for example FL-000123."), 400)
        incident_id = whole_number(raw) or await figures.incident_id_by_code(db_session, raw[:20])
        if incident_id is None:
            raise Refused(N_("There is no incident %(code)s."), 404, code=raw[:20])
        return Redirect(f"/supervisor/incidents/{incident_id}/timeline", status_code=303)

    @get("/supervisor/incidents/{incident_id:str}/timeline")
    async def incident_timeline(self, request: Request, db_session: DbSession, incident_id: FromPath[str]) -> Template:
        number = whole_number(incident_id)
        targets, radius = await _rules(request, db_session)
        now = utcnow()
        found = None if number is None else await figures.timeline(db_session, number, targets, radius, now)
        if found is None:
            raise Refused(N_("There is no incident number %(id)s."), 404, id=incident_id[:20])
        return Template("supervisor/timeline.html", context={"t": found, "now": now, "event_labels": EVENT_LABELS,
                                                             **self._labels()})

    @get("/supervisor/audit")
    async def audit(self, request: Request, db_session: DbSession) -> Template:
        """Check the timeline's hash chains now: intact, or the first broken link."""
        check = await verify_chain(db_session, anchors_path(request.app.state.settings.server.data_dir))
        return Template("supervisor/audit.html", context={"check": check})

    @staticmethod
    def _labels() -> dict:
        return {"step_labels": sla.STEP_LABELS, "source_labels": sla.SOURCE_LABELS, "skew_labels": sla.SKEW_LABELS,
                "target_labels": sla.TARGET_LABELS, "verdict_labels": sla.VERDICT_LABELS,
                "status_labels": STATUS_LABELS, "category_labels": CATEGORY_LABELS}
