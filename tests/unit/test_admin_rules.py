"""The administrator's form rules and the operator settings' defaults, as table tests."""
import pytest

from server.admin import rules
from server.operator import combine, defaults, OperatorSettings
from server.settings import Settings


@pytest.mark.parametrize("form, overrides, errors", [
    ({}, {}, set()),
    ({"group_radius_m": ""}, {"group_radius_m": None}, set()),
    ({"group_radius_m": " 450 "}, {"group_radius_m": 450}, set()),
    ({"sla_restore_minutes": "24"}, {"sla_restore_minutes": 1440}, set()),
    ({"sla_danger_on_site_minutes": "0,75"}, {"sla_danger_on_site_minutes": 45}, set()),
    ({"group_window_minutes": "4"}, {}, {"group_window_minutes"}),
    ({"sla_at_risk_percent": "30"}, {"sla_at_risk_percent": 30}, set()),
    ({"sla_at_risk_percent": "80"}, {}, {"sla_at_risk_percent"}),
    ({"sla_at_risk_percent": "0"}, {}, {"sla_at_risk_percent"}),
    ({"geofence_radius_m": "inf"}, {}, {"geofence_radius_m"}),
    ({"geofence_radius_m": "ten"}, {}, {"geofence_radius_m"}),
    ({"sms_sender": "KPLC"}, {"sms_sender": "KPLC"}, set()),
    ({"sms_sender": "+254700000000"}, {"sms_sender": "+254700000000"}, set()),
    ({"sms_sender": "22444"}, {"sms_sender": "22444"}, set()),
    ({"sms_sender": "TWELVE CHARS"}, {}, {"sms_sender"}),
    ({"sms_sender": "KPLC!"}, {}, {"sms_sender"}),
    ({"sla_danger_on_site_minutes": "5", "sla_danger_restore_minutes": "4"},
     {"sla_danger_restore_minutes": 240}, {"sla_danger_on_site_minutes"}),
])
def test_settings_form(form, overrides, errors):
    found, problems = rules.check_settings_form(form)
    assert set(problems) == errors
    assert {k: v for k, v in found.items() if k not in problems} == overrides


def test_settings_fall_back_to_the_environment_and_the_built_in_defaults():
    default = defaults(Settings())
    assert (default.sla_danger_on_site_minutes, default.sla_danger_restore_minutes, default.sla_restore_minutes,
            default.sla_at_risk_percent, default.geofence_radius_m, default.sms_sender) == \
        (60, 240, 1440, 25, 150, "Faultline")
    assert default.group_radius_m == Settings().intake.group_radius_m
    assert combine(default, None) == default
    mixed = combine(default, OperatorSettings(group_radius_m=450, sms_sender="KPLC"))
    assert (mixed.group_radius_m, mixed.sms_sender, mixed.group_window_minutes) == \
        (450, "KPLC", default.group_window_minutes)
    assert mixed.overridden == {"group_radius_m", "sms_sender"}


@pytest.mark.parametrize("form, standing, refused", [
    ({"sla_danger_on_site_minutes": "5"}, {"sla_danger_restore_minutes": 240}, True),   # beyond the target in force
    ({"sla_danger_on_site_minutes": "2"}, {"sla_danger_restore_minutes": 240}, False),
    ({"sla_danger_restore_minutes": "0.5"}, {"sla_danger_on_site_minutes": 60}, True),
    ({"sla_danger_on_site_minutes": "", "sla_danger_restore_minutes": "0.5"}, {"sla_danger_on_site_minutes": 20},
     False),
])
def test_the_on_site_target_comes_before_the_restore_target(form, standing, refused):
    _found, problems = rules.check_settings_form(form, standing)
    assert ("sla_danger_on_site_minutes" in problems) == refused


@pytest.mark.parametrize("field, stored, shown", [
    (rules.SETTING_FIELDS[0], 90, "1.5"), (rules.SETTING_FIELDS[2], 1440, "24"),
    (rules.SETTING_FIELDS[3], 25, "25"), (rules.SETTING_FIELDS[5], 300.0, "300"),
    (rules.SETTING_FIELDS[7], "KPLC", "KPLC"),
])
def test_settings_show_in_the_units_of_the_form(field, stored, shown):
    assert rules.form_value(field, stored) == shown


@pytest.mark.parametrize("acting, target, role, active, new_role, new_active, admins, refused", [
    (1, 2, "agent", True, "agent", False, 1, None),
    (1, 1, "admin", True, "admin", False, 3, "your own account"),
    (1, 1, "admin", True, "supervisor", True, 3, "from yourself"),
    (1, 2, "admin", True, "supervisor", True, 2, None),
    (1, 2, "admin", True, "admin", False, 2, None),
    (1, 2, "admin", True, "agent", True, 1, "last active administrator"),
    (1, 2, "admin", False, "agent", False, 1, None),   # already inactive: not one of the active admins
    (1, 2, "agent", False, "agent", True, 1, None),
])
def test_nobody_locks_the_utility_out(acting, target, role, active, new_role, new_active, admins, refused):
    answer = rules.admin_change_refused(acting_id=acting, target_id=target, target_role=role, target_active=active,
                                        new_role=new_role, new_active=new_active, active_admins=admins)
    assert (answer is None) if refused is None else (refused in answer)


@pytest.mark.parametrize("form, creating, expected", [
    ({"username": " Jane.Doe ", "display_name": " Jane  Doe ", "role": "lineman", "language": "sw", "crew_id": "3"},
     True, rules.StaffInput("jane.doe", "Jane Doe", "lineman", "sw", 3)),
    ({"username": "jane", "display_name": "Jane", "role": "agent", "language": "en", "crew_id": "3"},
     True, rules.StaffInput("jane", "Jane", "agent", "en", None)),   # only linemen belong to crews
    ({"display_name": "Jane", "role": "agent", "language": "en"}, False,
     rules.StaffInput("", "Jane", "agent", "en", None)),
    ({"username": "j", "display_name": "Jane", "role": "agent", "language": "en"}, True, {"username"}),
    ({"username": "jane doe", "display_name": "", "role": "boss", "language": "xx", "crew_id": "x"}, True,
     {"username", "display_name", "role", "language", "crew_id"}),
])
def test_staff_form(form, creating, expected):
    checked = rules.check_staff_form(form, {3}, creating)
    assert (set(checked) if isinstance(checked, dict) else checked) == expected


@pytest.mark.parametrize("form, lists, expected", [
    ({"code": "c11", "name": " Night  crew ", "home_zone_id": "1"}, {"skills": ["meters", "live_line", "meters"],
                                                                    "members": ["7", "7"]},
     rules.CrewInput("C11", "Night crew", 1, ("live_line", "meters"), (7,))),
    ({"code": "C12", "name": "X"}, {}, rules.CrewInput("C12", "X", None, (), ())),
    ({"code": "c 12", "name": "", "home_zone_id": "9"}, {"skills": ["flying"], "members": ["8"]},
     {"code", "name", "home_zone_id", "skills", "members"}),
])
def test_crew_form(form, lists, expected):
    checked = rules.check_crew_form(form, lists, zone_ids={1}, lineman_ids={7}, creating=True)
    assert (set(checked) if isinstance(checked, dict) else checked) == expected


@pytest.mark.parametrize("raw, expected", [("", None), ("4", 4), ("5", "Choose a person from the list."),
                                           ("x", "Choose a person from the list.")])
def test_responsible_person(raw, expected):
    assert rules.check_responsible(raw, {4}) == expected


@pytest.mark.parametrize("raw, number", [
    ("12", 12), (" 7 ", 7), ("0", 0), ("", None), (None, None), ("-1", None), ("1.5", None), ("²", None),
    ("١٢", None), ("9" * 5000, None), ("2000000000", 2_000_000_000), ("2000000001", None),
])
def test_whole_numbers_from_forms_and_paths(raw, number):
    from server.forms import whole_number
    assert whole_number(raw) == number
