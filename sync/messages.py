"""What each answer to a mutation says to the lineman, in their language.

Answers are stored as a reason code and its details (so a retried batch gets the same answer), and put into
words when they are sent, in the language of whoever asks.
"""
from __future__ import annotations

from server.i18n import N_, gettext

REASONS = {
    # rejected: the mutation itself is wrong; nothing to review
    "unknown_mutation": N_("The server does not know this action (%(name)s). Update the app."),
    "invalid_args": N_("This action has missing or wrong details: %(problems)s."),
    "invalid_time": N_("This action has no valid time. Check the date and time on the phone."),
    "invalid_base_rev": N_("This action refers to a job version the server cannot read. Update the app."),
    "unknown_incident": N_("There is no job number %(incident_id)s."),
    "no_crew": N_("You are not in a crew, so your position was not recorded. Ask your supervisor."),
    "id_taken": N_("This record's id is already used on another job. The app must make a new one."),
    "unstorable": N_("This action holds what the server cannot keep: %(problems)s. It was not recorded: do it "
                     "again (type any text anew), or update the app."),
    "too_large": N_("This action is too large to send (%(size_kb)s KB; one action may be at most %(limit_kb)s KB), "
                    "so it was not recorded. Do it again in shorter parts."),
    "not_crews_job": N_("This job was never given to your crew, so nothing of this action was recorded. If you are "
                        "working on it, call dispatch to have it assigned to your crew."),
    "invalid_value": N_("The server could not store a value in this action. Check what was typed."),
    "server_error": N_("The server could not apply this action. It is recorded; tell your supervisor."),
    "etr_out_of_range": N_("The ETR must be within %(days)s days from now."),
    "not_your_job": N_("This job is not your crew's, so it cannot be handed back from here. Call dispatch."),
    "job_not_open": N_("This job is no longer open, so it cannot be handed back as unable to fix."),
    # conflict: kept, and a supervisor will look at it
    "not_assigned": N_("This job is no longer your crew's. Your work is kept and a supervisor will review it."),
    "cancelled": N_("Dispatch cancelled this job. Your work is kept and a supervisor will review it."),
    "restored_after_cancel": N_("Dispatch had cancelled this job. Your restore counts, and a supervisor will "
                                "review it."),
    # applied, merged with what was already there
    "already_further": N_("The job was already further along. Your step was added to its history."),
    "lost_to_later": N_("A later change from another phone is kept. Yours was added to the history."),
    "already_applied": N_("This action was applied before."),
    # pending: not applied yet
    "out_of_order": N_("An earlier action has not arrived yet. Send again starting from action %(expected)s."),
}
CLOCK = {
    "future": N_("The phone's clock was ahead; the time was set to when the server received the action."),
    "past": N_("The phone's clock was far behind; the time was set to the oldest the server accepts."),
}
# A check-in is never refused for where it was made; the lineman is told it was flagged.
OUTSIDE_GEOFENCE = N_("You checked in %(distance)s m from the fault, outside the check-in area: the check-in "
                      "counts, and dispatch sees the distance.")

# Refusals of a whole request.
TOO_LARGE = N_("This push is too large: send at most %(limit_kb)s KB at a time, and at most %(mutation_kb)s KB "
               "in one action.")
# Said after every refusal of a whole push: the app keeps the work and does not send it again by itself.
KEPT = N_("Your actions stay on this phone and are sent again when you press Sync now or the app is updated.")
BUSY = N_("The server is busy. Send the same batch again in a moment.")
DEVICE_TAKEN = N_("This app install is registered to another person. Sign out and in again to get a new one.")
NOT_JSON = N_("Send the batch as JSON: {\"client_id\": …, \"mutations\": […]}.")
NOT_EVENT_STREAM = N_("This is an event stream: open it with EventSource (Accept: text/event-stream).")
BAD_CLIENT_ID = N_("client_id must be the UUID this app install made for itself.")
BAD_PHOTO_ID = N_("The address must end with the photo's id: the UUID the app made for it.")
PHOTO_TYPE = N_("Send the photo itself as the body, with Content-Type image/jpeg, image/png or image/webp.")
PHOTO_TOO_LARGE = N_("This photo is too large: send at most %(limit)s MB (the app should shrink it first).")
PHOTO_BUSY = N_("The server is busy. Send the photo again in a moment.")
NO_SUCH_PHOTO = N_("There is no such photo.")
PHOTO_NOT_CREWS_JOB = N_("This photo is of a job that was never given to your crew, so it was not kept.")
PHOTO_ID_TAKEN = N_("This photo's id is already used by another crew. The app must make a new one.")


def answer_message(lang: str, reason: str | None, details: dict) -> str | None:
    """The sentence for an answer, or None for a plain "applied"."""
    parts = []
    if reason in REASONS:
        values = dict(details)
        if reason in ("invalid_args", "unstorable"):
            values["problems"] = "; ".join(f"{item['field']} {gettext(lang, item['problem'])}"
                                           for item in details.get("problems", []))
        try:
            parts.append(gettext(lang, REASONS[reason], **values) if "%(" in REASONS[reason]
                         else gettext(lang, REASONS[reason]))
        except (KeyError, ValueError, TypeError):
            parts.append(gettext(lang, REASONS[reason]))
    if details.get("outside_geofence") and isinstance(details.get("distance_m"), (int, float)):
        parts.append(gettext(lang, OUTSIDE_GEOFENCE, distance=round(details["distance_m"])))
    if details.get("clock") in CLOCK:
        parts.append(gettext(lang, CLOCK[details["clock"]]))
    return " ".join(parts) or None
