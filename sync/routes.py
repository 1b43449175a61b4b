"""Sync endpoints (push, pull, poke, photo upload) for crew phones, crew photos for the desk, and the
supervisors' conflict page.

CSRF: push is a cookie-authenticated JSON POST, so it keeps Litestar's double-submit CSRF check like every
other form here. The crew app is served from the same origin and reads the `fl_csrf` cookie (not HttpOnly)
into the `x-csrftoken` header; no exclusion is needed. Pull and poke are GETs and change nothing.
"""
from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, get, post, put
from litestar.enums import RequestEncodingType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import Body, FromPath, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import File, Redirect, ServerSentEvent, Template
from litestar.router import Router
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.exc import DBAPIError

from server.db import DbSession
from server.forms import whole_number
from server.i18n import N_
from server.db_url import libpq_url
from server.labels import MUTATION_LABELS
from server.refusals import Refused
from server.staff.guards import roles
from sync import changes, conflicts, messages, photos, service
from sync.mutations import MAX_MUTATION_BYTES, MAX_PUSH_BYTES, parse_batch, push_refused, read_body
from sync.poke import PokeHub, poke_stream

def _photo_id(request: Request, value: str, status: int = 404) -> uuid.UUID:
    # Ids arrive as str path parameters, so a wrong role hears 403 before a malformed id is looked at.
    try:
        return uuid.UUID(value[:40])
    except ValueError:
        raise Refused(messages.BAD_PHOTO_ID if status == 400 else messages.NO_SUCH_PHOTO, status) from None


def _hub(request: Request) -> PokeHub:
    state = request.app.state
    hub = getattr(state, "sync_pokes", None)
    if hub is None:
        url = state.engine.url.render_as_string(hide_password=False)
        hub = PokeHub(libpq_url(url))
        state.sync_pokes = hub
    return hub


class SyncApi(Controller):
    """Crew phones: push mutations, pull changes, listen for pokes. Crew from the signed-in lineman."""

    opt = roles("lineman")
    path = "/sync"

    @post("/push", status_code=HTTP_200_OK, request_max_body_size=MAX_PUSH_BYTES)
    async def push(self, request: Request, db_session: DbSession) -> dict:
        try:
            raw = await request.body()
        except RequestEntityTooLarge:
            raw = None
        if raw is None or len(raw) > MAX_PUSH_BYTES:
            raise push_refused(messages.TOO_LARGE, 413, limit_kb=MAX_PUSH_BYTES // 1024,
                               mutation_kb=MAX_MUTATION_BYTES // 1024)
        try:
            batch = parse_batch(read_body(raw))
        except ValueError:
            raise push_refused(messages.NOT_JSON) from None
        try:
            result = await service.push_retrying(db_session, request.user, batch,
                                                 settings=request.app.state.settings)
        except DBAPIError:
            await db_session.rollback()
            raise Refused(messages.BUSY, 503) from None
        lang = request.state.lang
        return {"client_id": str(result.client_id), "last_mutation_id": result.last_mutation_id,
                "results": [{**answer.as_json(), "message": messages.answer_message(lang, answer.reason,
                                                                                    answer.details)}
                            for answer in result.answers]}

    @get("/pull")
    async def pull(self, request: Request, db_session: DbSession,
                   cursor: Annotated[str | None, QueryParameter(max_length=2000)] = None,  # unreadable: reset
                   client_id: Annotated[str | None, QueryParameter(max_length=40)] = None) -> dict:
        device = None
        if client_id:
            try:
                device = uuid.UUID(client_id)
            except ValueError:
                raise Refused(messages.BAD_CLIENT_ID, 400) from None
        return (await changes.pull(db_session, request.user, cursor, device)).as_json()

    @put("/photos/{photo_id:str}", status_code=HTTP_200_OK, request_max_body_size=photos.MAX_PHOTO_BYTES)
    async def upload_photo(self, request: Request, db_session: DbSession, photo_id: FromPath[str]) -> Response:
        """The file of a `photo` mutation, as raw bytes; 201 when stored, 200 when it was stored before."""
        photo_uuid = _photo_id(request, photo_id, status=400)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in photos.CONTENT_TYPES:
            raise Refused(messages.PHOTO_TYPE, 415)
        try:
            raw = await request.body()
        except RequestEntityTooLarge:
            raise Refused(messages.PHOTO_TOO_LARGE, 413, limit=photos.MAX_PHOTO_BYTES // (1024 * 1024)) from None
        if not raw:
            raise Refused(photos.NOT_A_PHOTO, 422)
        settings = request.app.state.settings
        try:
            received = await photos.receive(db_session, request.user, photo_uuid, raw,
                                            photos.photo_folder(settings.server.data_dir), settings.locale.timezone)
        except DBAPIError:
            await db_session.rollback()
            raise Refused(messages.PHOTO_BUSY, 503) from None
        return Response(photos.as_json(received), status_code=HTTP_201_CREATED if received.new else HTTP_200_OK)

    @get("/poke")
    async def poke(self, request: Request) -> ServerSentEvent:
        if "text/event-stream" not in request.headers.get("accept", ""):
            raise Refused(messages.NOT_EVENT_STREAM, 406)
        crew_id = request.user.crew_id or 0
        return ServerSentEvent(poke_stream(_hub(request), crew_id),
                               headers={"cache-control": "no-store", "x-accel-buffering": "no"})


class CrewPhotos(Controller):
    """Crew photos as stored (EXIF: time and GPS only) and their thumbnails: the desk sees every one, a
    lineman their own crew's. Anything else is answered as if the photo did not exist."""

    opt = roles("dispatcher", "supervisor", "admin", "lineman")
    path = "/photos"

    async def _file(self, request: Request, db_session: DbSession, photo_id: str, thumb: bool) -> File:
        found = await photos.viewable(db_session, request.user, _photo_id(request, photo_id))
        folder = photos.photo_folder(request.app.state.settings.server.data_dir)
        path = photos.photo_path(folder, found.id, thumb) if found is not None else None
        if path is None or not path.is_file():
            raise Refused(messages.NO_SUCH_PHOTO, 404)
        # A stored photo never changes; only the person who may see it keeps a copy.
        return File(path, content_disposition_type="inline", media_type="image/jpeg",
                    headers={"cache-control": "private, max-age=86400"})

    @get("/{name:str}")
    async def photo(self, request: Request, db_session: DbSession, name: FromPath[str]) -> File:
        if not name.endswith(".jpg"):
            raise Refused(messages.NO_SUCH_PHOTO, 404)
        return await self._file(request, db_session, name.removesuffix(".jpg"), thumb=False)

    @get("/{photo_id:str}/thumb.jpg")
    async def thumbnail(self, request: Request, db_session: DbSession, photo_id: FromPath[str]) -> File:
        return await self._file(request, db_session, photo_id, thumb=True)


class ConflictPages(Controller):
    """Supervisors: offline work that met a dispatcher's decision, with both sides; resolve each."""

    opt = roles("supervisor", "admin")
    path = "/supervisor/conflicts"

    @get("/")
    async def listing(self, request: HTMXRequest, db_session: DbSession) -> Template:
        return await self._page(request, db_session)

    async def _page(self, request: Request, db_session: DbSession, error: str | None = None,
                    status_code: int = 200) -> Template:
        rows = await conflicts.list_conflicts(db_session)
        return Template("sync/conflicts.html", status_code=status_code, context={
            "conflicts": rows, "error": error, "kind_labels": conflicts.KIND_LABELS,
            "resolution_labels": conflicts.RESOLUTION_LABELS, "mutation_labels": MUTATION_LABELS})

    @post("/{conflict_id:str}/resolve", status_code=303)
    async def resolve(self, request: HTMXRequest, db_session: DbSession, conflict_id: FromPath[str],
                      data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
                      ) -> Redirect | Template:
        # A str in the path, so a wrong role hears 403 before a malformed number is looked at.
        number = whole_number(conflict_id)
        if number is None:
            raise Refused(N_("There is no conflict number %(id)s."), 404, id=conflict_id[:20])
        try:
            await conflicts.resolve(db_session, conflict_id=number,
                                    resolution=data.get("resolution", ""), note=data.get("note", ""),
                                    staff=request.user)
        except Refused as refused:  # said on the page, drawn again
            await db_session.rollback()
            return await self._page(request, db_session, refused.text(request.state.lang), status_code=409)
        return Redirect("/supervisor/conflicts", status_code=303)


# One name registered by server/app.py: the crew's endpoints, their photos and the supervisors' page.
SyncEndpoints = Router(path="/", route_handlers=[SyncApi, CrewPhotos, ConflictPages])
