"""The dispatcher's console: queue and map, one incident in full, the actions on it, and the live feed.

Routes stay thin: reading is server/dispatch/service.py, every change is server/incidents/actions.py (or
server/crews/service.py for shifts), and a refused action comes back as the incident panel with the reason.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import File, Response, ServerSentEvent, Template

from server.crews import service as crews
from server.db import DbSession, utcnow
from server.dispatch import service
from server.dispatch.live import LiveHub, live_stream, missed_since
from server.forms import local_time, whole_number
from server.i18n import N_
from server.refusals import Refused
from server.incidents import actions
from server.incidents.models import OPEN_STATUSES
from server.labels import CATEGORY_LABELS, EVENT_LABELS, STATUS_LABELS
from server.incidents.service import open_queue
from server.db_url import libpq_url
from server.staff.guards import roles

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _hub(request: Request) -> LiveHub:
    state = request.app.state
    if getattr(state, "live_hub", None) is None:
        state.live_hub = LiveHub(libpq_url(state.engine.url.render_as_string(hide_password=False)))
    return state.live_hub


def _path_id(request: Request, raw: str, message: str) -> int:
    """A number from the path. A str route parameter, so a wrong role hears 403 before a bad number 404."""
    number = whole_number(raw)
    if number is None:
        raise Refused(message, 404, id=raw[:20])
    return number


def _incident_id(request: Request, raw: str) -> int:
    return _path_id(request, raw, N_("There is no incident number %(id)s."))


def _shift_starts(data: dict[str, str]) -> bool:
    """The shift buttons send on=yes or on=no; anything else is a mistake, not an "end"."""
    if data.get("on") not in ("yes", "no"):
        raise Refused(N_("Say whether the shift starts (on=yes) or ends (on=no)."), 422)
    return data["on"] == "yes"


async def _crew_table(db_session: DbSession, zone: str | None, search: str, error: str | None = None) -> Template:
    return Template("dispatch/_crews.html", status_code=422 if error else 200, context={
        "crews": await service.crews_for_console(db_session, whole_number(zone), search),
        "zones": await service.zones(db_session), "error": error})


class DispatchConsole(Controller):
    """Dispatchers act; supervisors watch and may act too."""

    opt = roles("dispatcher", "supervisor")
    path = "/dispatch"

    @get("/")
    async def console(self, request: HTMXRequest, db_session: DbSession,
                      zone: Annotated[str | None, QueryParameter(max_length=10)] = None,
                      status: Annotated[str | None, QueryParameter(max_length=20)] = None) -> Template:
        zone_id, status = whole_number(zone), status if status in OPEN_STATUSES else None
        context = {"queue": await open_queue(db_session, zone_id=zone_id, status=status),
                   "categories": CATEGORY_LABELS, "status_labels": STATUS_LABELS, "statuses": OPEN_STATUSES,
                   "zones": await service.zones(db_session), "zone_id": zone_id, "status": status}
        if request.htmx:
            return Template("dispatch/_queue.html", context=context)
        context |= {"since": await service.latest_live_event(db_session),
                    "crews": await service.crews_for_console(db_session)}
        return Template("dispatch/index.html", context=context)

    @get("/crews")
    async def crew_list(self, db_session: DbSession, zone: Annotated[str | None, QueryParameter(max_length=10)] = None,
                        q: Annotated[str | None, QueryParameter(max_length=200)] = None) -> Template:
        """The crews table, found by home zone and by a piece of the code or name."""
        return await _crew_table(db_session, zone, q or "")

    @get("/map.geojson", media_type="application/geo+json")
    async def live_map(self, db_session: DbSession,
                       zone: Annotated[str | None, QueryParameter(max_length=10)] = None) -> dict:
        return await service.live_map(db_session, whole_number(zone))

    @get("/live")
    async def live(self, request: Request, db_session: DbSession,
                   since: Annotated[str | None, QueryParameter(max_length=20)] = None) -> ServerSentEvent:
        """The live feed (EventSource). A reconnecting browser sends Last-Event-ID and catches up."""
        if "text/event-stream" not in request.headers.get("accept", ""):
            raise Refused(N_("This address is a live event stream: open it with EventSource."), 406)
        last_seen = whole_number(request.headers.get("last-event-id")) or whole_number(since)
        missed = await missed_since(db_session, last_seen)
        return ServerSentEvent(live_stream(_hub(request), missed, last_seen=last_seen),
                               headers={"cache-control": "no-store", "x-accel-buffering": "no"})

    @get("/incidents/{incident_id:str}")
    async def incident(self, request: HTMXRequest, db_session: DbSession, incident_id: FromPath[str]) -> Template:
        incident_id = _incident_id(request, incident_id)
        return await self._panel(request, db_session, incident_id)

    async def _panel(self, request: HTMXRequest, db_session: DbSession, incident_id: int,
                     error: str | None = None, done: str | None = None) -> Template:
        # Read first: the panel then shows at least everything up to this live event, and the console does
        # not fetch it again for those (its own action's echo among them, which would wipe `done`).
        live_seen = await service.latest_live_event(db_session)
        view = await service.incident_view(db_session, incident_id)
        if view is None:
            raise Refused(N_("There is no incident number %(id)s."), 404, id=incident_id)
        name = "dispatch/_incident.html" if request.htmx else "dispatch/incident.html"
        # After a change, the queue and the map refresh at once (the live feed would follow within a second).
        headers = {"HX-Trigger": "dispatch-changed"} if done else {}
        return Template(name, status_code=422 if error else 200, headers=headers, context={
            "view": view, "error": error, "done": done, "categories": CATEGORY_LABELS,
            "event_labels": EVENT_LABELS, "live_seen": live_seen,
            "status_labels": STATUS_LABELS, "open": view.incident.status in OPEN_STATUSES})

    async def _act(self, request: HTMXRequest, db_session: DbSession, incident_id: int, action,
                   done: str) -> Template:
        try:
            await action()
        except Refused as refused:  # shown in the panel, which is drawn again
            await db_session.rollback()
            return await self._panel(request, db_session, incident_id, error=refused.text(request.state.lang))
        return await self._panel(request, db_session, incident_id, done=done)

    @post("/incidents/{incident_id:str}/assign", status_code=200)
    async def assign(self, request: HTMXRequest, db_session: DbSession, incident_id: FromPath[str],
                     data: Form) -> Template:
        incident_id = _incident_id(request, incident_id)
        crew_id, rev = whole_number(data.get("crew_id")), whole_number(data.get("rev"))
        if crew_id is None and data.get("crew_code", "").strip():  # typed on the panel: "C07"
            crew_id = await service.crew_id_by_code(db_session, data["crew_code"])
            if crew_id is None:
                raise Refused(N_("There is no crew with the code %(code)s."), 422, code=data["crew_code"][:20])
        if crew_id is None:
            raise Refused(N_("Choose a crew."), 422)
        return await self._act(request, db_session, incident_id, lambda: actions.assign_crew(
            db_session, incident_id, crew_id, request.user, settings=request.app.state.settings,
            expected_rev=rev), N_("Crew assigned."))

    @post("/incidents/{incident_id:str}/etr", status_code=200)
    async def etr(self, request: HTMXRequest, db_session: DbSession, incident_id: FromPath[str],
                  data: Form) -> Template:
        incident_id = _incident_id(request, incident_id)
        try:  # the browser's datetime-local input: the deployment's local time, without a zone
            etr = local_time(datetime.fromisoformat(data.get("etr", "").strip()),
                             request.app.state.settings.locale.timezone, utcnow())
        except (ValueError, OverflowError):
            raise Refused(N_("Give the ETR as a date and a time."), 422) from None
        return await self._act(request, db_session, incident_id, lambda: actions.set_etr(
            db_session, incident_id, etr, request.user, settings=request.app.state.settings,
            expected_rev=whole_number(data.get("rev"))), N_("ETR saved: customers will be told."))

    @post("/incidents/{incident_id:str}/note", status_code=200)
    async def note(self, request: HTMXRequest, db_session: DbSession, incident_id: FromPath[str],
                   data: Form) -> Template:
        incident_id = _incident_id(request, incident_id)
        return await self._act(request, db_session, incident_id, lambda: actions.add_note(
            db_session, incident_id, data.get("text", ""), request.user), N_("Note added."))

    @post("/incidents/{incident_id:str}/cancel", status_code=200)
    async def cancel(self, request: HTMXRequest, db_session: DbSession, incident_id: FromPath[str],
                     data: Form) -> Template:
        incident_id = _incident_id(request, incident_id)
        return await self._act(request, db_session, incident_id, lambda: actions.cancel_incident(
            db_session, incident_id, data.get("reason", ""), request.user,
            expected_rev=whole_number(data.get("rev"))), N_("Incident cancelled."))

    @post("/incidents/{incident_id:str}/merge", status_code=200)
    async def merge(self, request: HTMXRequest, db_session: DbSession, incident_id: FromPath[str],
                    data: Form) -> Template:
        incident_id = _incident_id(request, incident_id)
        target = await service.incident_by_code(db_session, data.get("into", ""))
        if target is None:
            raise Refused(N_("There is no incident with the code %(code)s."), 422,
                           code=data.get("into", "")[:20])
        return await self._act(request, db_session, incident_id, lambda: actions.merge_incidents(
            db_session, incident_id, target, request.user, expected_rev=whole_number(data.get("rev"))),
            N_("Merged: the reports now follow the other incident."))

    @post("/crews/{crew_id:str}/shift", status_code=200)
    async def shift(self, request: HTMXRequest, db_session: DbSession, crew_id: FromPath[str],
                    data: Form) -> Template:
        crew_id = _path_id(request, crew_id, N_("There is no crew number %(id)s."))
        try:
            await crews.set_shift(db_session, crew_id, request.user, on=_shift_starts(data))
            error = None
        except Refused as refused:  # shown above the crew table, which is drawn again
            error = refused.text(request.state.lang)
        # The table comes back as the dispatcher was looking at it (the filter travels with the button).
        return await _crew_table(db_session, data.get("zone"), data.get("q", ""), error)

    @get("/photos/{name:str}")
    async def report_photo(self, request: Request, db_session: DbSession, name: FromPath[str]) -> File:
        """A customer's photo, only as the file name a report holds (no path can be smuggled in)."""
        if not await service.report_photo_exists(db_session, name):
            raise Refused(N_("There is no such photo."), 404)
        media = Path(request.app.state.settings.server.data_dir) / "media" / "reports" / name
        if not media.is_file():
            raise Refused(N_("There is no such photo."), 404)
        return File(media, content_disposition_type="inline", media_type="image/jpeg")


class CrewShiftButtons(Controller):
    """A lineman starts and ends their own crew's shift from the crew page."""

    opt = roles("lineman")
    path = "/crew/shift"

    @post("/", status_code=303)
    async def toggle(self, request: Request, db_session: DbSession, data: Form) -> Response:
        crew_id = request.user.crew_id
        if crew_id is None:
            raise Refused(N_("You are not in a crew yet. Ask your supervisor."), 422)
        await crews.set_shift(db_session, crew_id, request.user, on=_shift_starts(data))
        return Response(b"", status_code=303, headers={"location": "/crew"})
