"""The lineman's app: an offline-first page whose jobs come from the sync service, and its service worker."""
from __future__ import annotations

from litestar import Controller, Request, get
from litestar.datastructures import CacheControlHeader
from litestar.response import Response, Template

from server.crews.models import Crew
from server.db import DbSession
from server.i18n import gettext, translations
from server.labels import CATEGORY_LABELS, MUTATION_LABELS, STATUS_LABELS
from server.staff.guards import PUBLIC, roles

def app_labels(lang: str) -> dict:
    """The words the app shows while offline, in the lineman's language (the page is cached as rendered)."""
    return {
        "categories": {key: gettext(lang, label) for key, label in CATEGORY_LABELS.items()},
        "statuses": {key: gettext(lang, label) for key, label in STATUS_LABELS.items()},
        "actions": {key: gettext(lang, label) for key, label in MUTATION_LABELS.items()},
        # The app counts for itself: both forms, "{n}" filled in on the phone (1 → "one", else "other").
        "pending": {form: translations(lang).ungettext("%(n)s action waiting to be sent",
                                                       "%(n)s actions waiting to be sent", n).replace("%(n)s", "{n}")
                    for form, n in (("one", 1), ("other", 2))},
    }


class CrewPages(Controller):
    opt = roles("lineman")

    @get("/crew")
    async def app(self, request: Request, db_session: DbSession) -> Template:
        crew_id = request.user.crew_id
        crew = await db_session.get(Crew, crew_id) if crew_id else None
        return Template("crew/index.html", context={
            "crew": crew, "labels": app_labels(request.state.lang)})


class CrewWorker(Controller):
    opt = PUBLIC  # code, not data; it must load while the session is expired so queued work is kept

    @get("/crew/sw.js", media_type="text/javascript", cache_control=CacheControlHeader(no_cache=True))
    async def service_worker(self, request: Request) -> Response:
        return Response(request.app.state.static.worker_source("crew-sw.js", "crew"), media_type="text/javascript",
                        headers={"Service-Worker-Allowed": "/crew"})
