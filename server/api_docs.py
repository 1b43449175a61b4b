"""How the routes that partners, phones and gateways call describe their answers in OpenAPI (/schema).

Every refusal has one shape, whatever the route (server/app.py renders it): the status, a sentence a person can
act on (in the caller's language), and for a refused form the message of each field. `errors(...)` documents
the statuses a route can answer with that shape, so the schema — and the fuzzer that checks every answer
against it (tests/integration/test_api_contract.py) — knows them all.
"""
from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.datastructures import ResponseSpec


@dataclass
class Problem:
    """Why a request was not done."""

    status_code: int
    detail: str                              # one sentence, translated, saying what to change
    errors: dict[str, str] | None = None     # for a refused form or report: field → what is wrong with it


WHY = {
    400: "The request is malformed: a parameter or body that cannot be read (`detail` says which).",
    401: "Not signed in, or no valid API key (`X-Api-Key`).",
    403: "Signed in, but this is not for this role; or the page's CSRF token has expired.",
    404: "There is no such thing (report, zone, photo, layer).",
    406: "Ask for `text/event-stream` (an EventSource).",
    409: "It conflicts with what is there (this device is registered to someone else; an id used for another photo).",
    413: "Too large (`detail` says the limit).",
    415: "Send the media type this route takes.",
    422: "Read, but refused by a rule: `detail` and `errors` say what to change.",
    429: "Too many requests from here in a short time; try again later.",
    503: "The server is busy: nothing was done, send it again in a moment.",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for a route: the refusals it can answer, each with the one Problem shape."""
    return {status: ResponseSpec(data_container=Problem, description=WHY[status]) for status in statuses}
