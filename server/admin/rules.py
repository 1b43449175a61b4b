"""Rules for the administrator's forms, as pure functions: what may be typed, and who may be changed how."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from server.admin.models import SKILLS
from server.i18n import N_
from server.forms import whole_number
from server.settings import LANGUAGES
from server.staff.models import Role

SKILL_LABELS = {
    "hv_lines": N_("High-voltage lines (11/33 kV)"),
    "lv_network": N_("Low-voltage network"),
    "transformers": N_("Transformers"),
    "underground_cable": N_("Underground cable"),
    "live_line": N_("Live-line work"),
    "vegetation": N_("Tree trimming"),
    "meters": N_("Meters and service lines"),
}
assert set(SKILL_LABELS) == set(SKILLS)

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,59}")
_CREW_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,19}")
# Alphanumeric sender IDs hold at most 11 characters (GSM 03.40); a numeric sender is a phone number or short code.
_SENDER_NAME = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 .\-]{1,11}")
_SENDER_NUMBER = re.compile(r"\+?[0-9]{3,15}")


Errors = dict[str, str]  # field name → msgid


# ---------------------------------------------------------------- operator settings

@dataclass(frozen=True)
class SettingField:
    name: str           # column in operator_settings
    unit: str           # "hours", "metres", "minutes", "percent" or "text": how the form shows it
    low: float = 0
    high: float = 0


SETTING_FIELDS = (
    SettingField("sla_danger_on_site_minutes", "hours", 0.25, 72),
    SettingField("sla_danger_restore_minutes", "hours", 0.25, 168),
    SettingField("sla_restore_minutes", "hours", 0.25, 720),
    SettingField("sla_at_risk_percent", "percent", 5, 75),
    SettingField("geofence_radius_m", "metres", 10, 5000),
    SettingField("group_radius_m", "metres", 10, 5000),
    SettingField("group_window_minutes", "minutes", 5, 1440),
    SettingField("sms_sender", "text"),
)
SETTING_LABELS = {
    "sla_danger_on_site_minutes": N_("Danger: crew on site within (hours)"),
    "sla_danger_restore_minutes": N_("Danger: made safe and restored within (hours)"),
    "sla_restore_minutes": N_("Other faults: restored within (hours)"),
    "sla_at_risk_percent": N_("Warn of a job at risk when this share of its target is left (percent)"),
    "geofence_radius_m": N_("Check-in geofence (metres from the fault)"),
    "group_radius_m": N_("Grouping radius (metres)"),
    "group_window_minutes": N_("Grouping window (minutes)"),
    "sms_sender": N_("SMS sender name or number"),
}


def form_value(field: SettingField, stored: int | float | str) -> str:
    """How a stored value shows in the form: SLA minutes as hours."""
    if field.unit == "hours":
        hours = stored / 60
        return f"{hours:g}"
    return f"{stored:g}" if isinstance(stored, float) else str(stored)


def check_settings_form(form: dict[str, str], current: dict[str, object] | None = None
                        ) -> tuple[dict[str, object], Errors]:
    """(overrides, errors). An empty field means "use the default" (None); a field not sent is left alone.

    `current`: the values in force (and the defaults), to judge targets that depend on each other.
    """
    overrides: dict[str, object] = {}
    errors: Errors = {}
    for field in SETTING_FIELDS:
        if field.name not in form:
            continue
        raw = form[field.name].strip()
        if not raw:
            overrides[field.name] = None
            continue
        if field.unit == "text":
            if _SENDER_NAME.fullmatch(raw) or _SENDER_NUMBER.fullmatch(raw):
                overrides[field.name] = raw
            else:
                errors[field.name] = N_("Use up to 11 letters, digits and spaces (with at least one letter), "
                                        "or a phone number or short code.")
            continue
        try:
            number = float(raw.replace(",", "."))
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or not field.low <= number <= field.high:
            errors[field.name] = N_("Enter a number in the range shown.")
            continue
        overrides[field.name] = round(number * 60) if field.unit == "hours" else round(number)
    current = current or {}
    on_site, restore = (overrides[name] if overrides.get(name) is not None else current.get(name)
                        for name in ("sla_danger_on_site_minutes", "sla_danger_restore_minutes"))
    if isinstance(on_site, int) and isinstance(restore, int) and on_site > restore and not errors.keys() & {
            "sla_danger_on_site_minutes", "sla_danger_restore_minutes"}:
        errors["sla_danger_on_site_minutes"] = N_("A crew must be on site before the fault can be restored: make "
                                                  "this no longer than the restore target.")
    return overrides, errors


# ---------------------------------------------------------------- staff

@dataclass(frozen=True)
class StaffInput:
    username: str
    display_name: str
    role: str
    language: str
    crew_id: int | None


def check_staff_form(form: dict[str, str], crew_ids: set[int], creating: bool) -> StaffInput | Errors:
    errors: Errors = {}
    username = form.get("username", "").strip().lower()
    if creating and not _USERNAME.fullmatch(username):
        errors["username"] = N_("A username has 2 to 60 small letters, digits, dots, dashes or underscores.")
    display_name = " ".join(form.get("display_name", "").split())
    if not display_name or len(display_name) > 120:
        errors["display_name"] = N_("Enter the person's name (at most 120 characters).")
    role = form.get("role", "")
    if role not in Role.__members__:
        errors["role"] = N_("Choose a role from the list.")
    language = form.get("language", "")
    if language not in LANGUAGES:
        errors["language"] = N_("Choose one of the languages in the list.")
    crew_id = None
    raw_crew = form.get("crew_id", "").strip()
    if raw_crew:
        crew_id = whole_number(raw_crew)
        if crew_id not in crew_ids:
            errors["crew_id"] = N_("Choose a crew from the list.")
    if errors:
        return errors
    return StaffInput(username, display_name, role, language, crew_id if role == Role.lineman else None)


def admin_change_refused(*, acting_id: int, target_id: int, target_role: str, target_active: bool,
                         new_role: str, new_active: bool, active_admins: int) -> str | None:
    """Why this change to a staff account is refused (a msgid), or None. Nobody locks the utility out."""
    if acting_id == target_id and not new_active:
        return N_("You cannot deactivate your own account.")
    if acting_id == target_id and new_role != Role.admin:
        return N_("You cannot take the administrator role from yourself.")
    was_admin = target_role == Role.admin and target_active
    stays_admin = new_role == Role.admin and new_active
    if was_admin and not stays_admin and active_admins <= 1:
        return N_("This is the last active administrator: make someone else administrator first.")
    return None


# ---------------------------------------------------------------- crews and zones

@dataclass(frozen=True)
class CrewInput:
    code: str
    name: str
    home_zone_id: int | None
    skills: tuple[str, ...]
    member_ids: tuple[int, ...]


def _chosen_ids(values: list[str], allowed: set[int]) -> tuple[int, ...] | None:
    ids = []
    for value in values:
        chosen = whole_number(value)
        if chosen not in allowed:
            return None
        ids.append(chosen)
    return tuple(sorted(set(ids)))


def check_crew_form(form: dict[str, str], lists: dict[str, list[str]], zone_ids: set[int], lineman_ids: set[int],
                    creating: bool) -> CrewInput | Errors:
    """`form` has the single fields, `lists` the repeated ones (skills, members)."""
    errors: Errors = {}
    code = form.get("code", "").strip().upper()
    if creating and not _CREW_CODE.fullmatch(code):
        errors["code"] = N_("A crew code has 1 to 20 capital letters, digits or dashes, like C11.")
    name = " ".join(form.get("name", "").split())
    if not name or len(name) > 120:
        errors["name"] = N_("Enter the crew's name (at most 120 characters).")
    home_zone_id = None
    raw_zone = form.get("home_zone_id", "").strip()
    if raw_zone:
        home_zone_id = whole_number(raw_zone)
        if home_zone_id not in zone_ids:
            errors["home_zone_id"] = N_("Choose a zone from the list.")
    skills = tuple(sorted(set(lists.get("skills", []))))
    if any(skill not in SKILLS for skill in skills):
        errors["skills"] = N_("Choose skills from the list.")
    members = _chosen_ids(lists.get("members", []), lineman_ids)
    if members is None:
        errors["members"] = N_("Choose members from the list of linemen.")
    if errors:
        return errors
    return CrewInput(code, name, home_zone_id, skills, members or ())


def check_responsible(raw: str, candidate_ids: set[int]) -> int | None | str:
    """The chosen staff id, None for nobody, or a msgid when the choice is not in the list."""
    raw = raw.strip()
    if not raw:
        return None
    chosen = whole_number(raw)
    if chosen in candidate_ids:
        return chosen
    return N_("Choose a person from the list.")
