"""Administration: staff accounts (create, role, language, reset password, deactivate), crews, zones and the
operator settings — each through the pages, as an administrator would."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import psycopg
import pytest
from litestar.testing import AsyncTestClient
from sqlmodel.ext.asyncio.session import AsyncSession

from server.operator import effective_settings
from server.db import make_engine
from server.db_url import libpq_url
from server.reports.service import grouping_from
from tests.conftest import csrf_token, sign_in


def _sql(url, query, *params):
    with psycopg.connect(libpq_url(url)) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


async def _post(client, path, data, page="/admin"):
    token = await csrf_token(client, page)
    return await client.post(path, data={**data, "_csrf_token": token}, headers={"accept": "text/html"},
                             follow_redirects=False)


@pytest.fixture
async def admin(app):
    async with AsyncTestClient(app=app) as client:
        assert (await sign_in(client, "admin")).status_code == 303
        yield client


def _password(page_text: str) -> str:
    return re.search(r'class="code password" lang="en">([^<]+)<', page_text).group(1)


async def _new_account(admin, role="agent", **fields):
    username = f"t-{uuid.uuid4().hex[:8]}"
    response = await _post(admin, "/admin/staff", {"username": username, "display_name": "Test Person",
                                                   "role": role, "language": "sw", **fields})
    assert response.status_code == 201, response.text[:500]
    return username, _password(response.text)


def _staff_id(database_url, username) -> int:
    return _sql(database_url, "SELECT id FROM staff WHERE username = %s", username)[0][0]


# ---------------------------------------------------------------- staff

async def test_an_administrator_creates_an_account_that_signs_in(admin, app, database_url):
    username, password = await _new_account(admin, role="dispatcher")
    assert _sql(database_url, "SELECT role, language, active FROM staff WHERE username = %s",
                username) == [("dispatcher", "sw", True)]
    async with AsyncTestClient(app=app) as person:
        response = await sign_in(person, username, password)
        assert response.status_code == 303 and response.headers["location"] == "/dispatch"
    listing = await admin.get("/admin")
    assert username in listing.text


@pytest.mark.parametrize("fields, field_error", [
    ({"username": "x", "display_name": "A", "role": "agent", "language": "en"}, "A username has 2 to 60"),
    ({"username": "good-name", "display_name": "", "role": "agent", "language": "en"}, "Enter the person"),
    ({"username": "good-name", "display_name": "A", "role": "king", "language": "en"}, "Choose a role"),
    ({"username": "good-name", "display_name": "A", "role": "agent", "language": "tlh"}, "Choose one of the languages"),
    ({"username": "admin", "display_name": "A", "role": "agent", "language": "en"}, "already has this username"),
    ({"username": "good-name", "display_name": "A", "role": "lineman", "language": "en", "crew_id": "99999"},
     "Choose a crew"),
])
async def test_a_wrong_account_form_says_what_to_fix(admin, fields, field_error):
    response = await _post(admin, "/admin/staff", fields)
    assert response.status_code == 422 and field_error in response.text


async def test_deactivating_ends_the_persons_sessions_at_once(admin, app, database_url):
    username, password = await _new_account(admin)
    async with AsyncTestClient(app=app) as person:
        assert (await sign_in(person, username, password)).status_code == 303
        assert (await person.get("/agent")).status_code == 200
        staff_id = _staff_id(database_url, username)
        response = await _post(admin, f"/admin/staff/{staff_id}/deactivate", {})
        assert response.status_code == 303
        assert _sql(database_url, "SELECT count(*) FROM staff_session WHERE staff_id = %s", staff_id) == [(0,)]
        assert (await person.get("/agent", headers={"accept": "text/html"})).status_code == 401
        assert (await sign_in(person, username, password)).status_code == 401
        await _post(admin, f"/admin/staff/{staff_id}/activate", {})
        assert (await sign_in(person, username, password)).status_code == 303


async def test_a_password_reset_ends_sessions_and_only_the_new_password_works(admin, app, database_url):
    username, old_password = await _new_account(admin)
    staff_id = _staff_id(database_url, username)
    async with AsyncTestClient(app=app) as person:
        assert (await sign_in(person, username, old_password)).status_code == 303
        response = await _post(admin, f"/admin/staff/{staff_id}/password", {})
        assert response.status_code == 200
        new_password = _password(response.text)
        assert new_password != old_password
        assert (await person.get("/agent", headers={"accept": "text/html"})).status_code == 401
        assert (await sign_in(person, username, old_password)).status_code == 401
        assert (await sign_in(person, username, new_password)).status_code == 303


async def test_role_language_and_crew_are_changed(admin, database_url):
    username, _ = await _new_account(admin)
    staff_id = _staff_id(database_url, username)
    crew_id = _sql(database_url, "SELECT id FROM crew WHERE code = 'C02'")[0][0]
    response = await _post(admin, f"/admin/staff/{staff_id}", {"display_name": "Now A Lineman", "role": "lineman",
                                                               "language": "hi", "crew_id": str(crew_id)})
    assert response.status_code == 200 and "Saved." in response.text
    assert _sql(database_url, "SELECT display_name, role, language, crew_id FROM staff WHERE id = %s",
                staff_id) == [("Now A Lineman", "lineman", "hi", crew_id)]
    # Not a lineman any more: no crew.
    await _post(admin, f"/admin/staff/{staff_id}", {"display_name": "Back", "role": "agent", "language": "hi",
                                                    "crew_id": str(crew_id)})
    assert _sql(database_url, "SELECT role, crew_id FROM staff WHERE id = %s", staff_id) == [("agent", None)]


async def test_an_administrator_cannot_lock_themselves_out(admin, database_url):
    own_id = _staff_id(database_url, "admin")
    refused = await _post(admin, f"/admin/staff/{own_id}/deactivate", {})
    assert refused.status_code == 409 and "your own account" in refused.text
    demoted = await _post(admin, f"/admin/staff/{own_id}", {"display_name": "Ada Admin", "role": "agent",
                                                            "language": "en"})
    assert demoted.status_code == 409 and "administrator role from yourself" in demoted.text
    assert _sql(database_url, "SELECT role, active FROM staff WHERE id = %s", own_id) == [("admin", True)]


async def test_unknown_accounts_are_not_found(admin):
    assert (await admin.get("/admin/staff/999999", headers={"accept": "text/html"})).status_code == 404
    assert (await _post(admin, "/admin/staff/999999/deactivate", {})).status_code == 404
    assert (await _post(admin, "/admin/staff/abc/password", {})).status_code == 404


# ---------------------------------------------------------------- crews and zones

async def test_a_crew_is_created_with_home_zone_skills_and_members(admin, database_url):
    zone_id = _sql(database_url, "SELECT id FROM zone WHERE name = 'Kasarani'")[0][0]
    code = f"T{uuid.uuid4().hex[:5].upper()}"
    created = await _post(admin, "/admin/crews", {"code": code, "name": "Night crew", "home_zone_id": str(zone_id)})
    assert created.status_code == 303
    crew_id = _sql(database_url, "SELECT id FROM crew WHERE code = %s", code)[0][0]
    username, _ = await _new_account(admin, role="lineman")
    member = _staff_id(database_url, username)
    token = await csrf_token(admin, f"/admin/crews/{crew_id}")
    saved = await admin.post(f"/admin/crews/{crew_id}", content=(
        f"_csrf_token={token}&name=Night+crew&home_zone_id={zone_id}&skills=live_line&skills=transformers"
        f"&members={member}").encode(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert saved.status_code == 200 and "Saved." in saved.text
    assert _sql(database_url, "SELECT skill FROM crew_skill WHERE crew_id = %s ORDER BY skill",
                crew_id) == [("live_line",), ("transformers",)]
    assert _sql(database_url, "SELECT crew_id FROM staff WHERE id = %s", member) == [(crew_id,)]
    listing = await admin.get("/admin/crews")
    assert code in listing.text and "Live-line work" in listing.text and "Test Person" in listing.text
    # Unticking removes the member and the skills.
    await _post(admin, f"/admin/crews/{crew_id}", {"name": "Night crew", "home_zone_id": ""})
    assert _sql(database_url, "SELECT crew_id FROM staff WHERE id = %s", member) == [(None,)]
    assert _sql(database_url, "SELECT count(*) FROM crew_skill WHERE crew_id = %s", crew_id) == [(0,)]


@pytest.mark.parametrize("fields, error", [
    ({"code": "c 1!", "name": "X"}, "A crew code has"),
    ({"code": "C01", "name": "Taken"}, "already has this code"),
    ({"code": "ZZ1", "name": ""}, "Enter the crew"),
    ({"code": "ZZ1", "name": "X", "home_zone_id": "nope"}, "Choose a zone"),
])
async def test_a_wrong_crew_form_says_what_to_fix(admin, fields, error):
    response = await _post(admin, "/admin/crews", fields)
    assert response.status_code == 422 and error in response.text


async def test_a_zone_gets_its_responsible_person(admin, database_url):
    zone_id, before = _sql(database_url, "SELECT id, responsible_staff_id FROM zone WHERE name = 'Embakasi'")[0]
    supervisor = _staff_id(database_url, "supervisor")
    try:
        saved = await _post(admin, f"/admin/zones/{zone_id}", {"responsible_staff_id": str(supervisor)})
        assert saved.status_code == 200 and "Saved." in saved.text
        async with AsyncTestClient(app=admin.app) as other:
            await sign_in(other, "supervisor")
            assert "Sarah Supervisor" in (await other.get("/supervisor")).text
        agent = _staff_id(database_url, "agent")
        refused = await _post(admin, f"/admin/zones/{zone_id}", {"responsible_staff_id": str(agent)})
        assert refused.status_code == 422  # agents do not answer for zones
    finally:
        _sql(database_url, "UPDATE zone SET responsible_staff_id = %s WHERE id = %s", before, zone_id)


# ---------------------------------------------------------------- operator settings

async def test_operator_settings_override_the_defaults_and_grouping_follows(admin, app, database_url):
    settings = app.state.settings
    engine = make_engine(database_url, pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            assert (await grouping_from(session, settings)).radius_m == settings.intake.group_radius_m
            current = await effective_settings(session, settings)
            assert (current.sla_danger_on_site_minutes, current.sla_danger_restore_minutes,
                    current.sla_restore_minutes, current.geofence_radius_m, current.sms_sender) == \
                (60, 240, 1440, 150, "Faultline")
        response = await _post(admin, "/admin/settings", {
            "sla_danger_on_site_minutes": "0.5", "sla_danger_restore_minutes": "3", "sla_restore_minutes": "",
            "sla_at_risk_percent": "40", "geofence_radius_m": "200", "group_radius_m": "450",
            "group_window_minutes": "90", "sms_sender": "KPLC"}, page="/admin/settings")
        assert response.status_code == 200 and "Saved." in response.text
        async with AsyncSession(engine) as session:
            current = await effective_settings(session, settings)
            assert (current.sla_danger_on_site_minutes, current.sla_danger_restore_minutes,
                    current.sla_restore_minutes, current.sla_at_risk_percent, current.geofence_radius_m,
                    current.sms_sender) == (30, 180, 1440, 40, 200, "KPLC")
            assert current.overridden == {"sla_danger_on_site_minutes", "sla_danger_restore_minutes",
                                          "sla_at_risk_percent",
                                          "geofence_radius_m", "group_radius_m", "group_window_minutes", "sms_sender"}
            grouping = await grouping_from(session, settings)
            assert (grouping.radius_m, grouping.window) == (450, timedelta(minutes=90))
        page = await admin.get("/admin/settings")
        assert 'value="450"' in page.text and 'value="0.5"' in page.text
    finally:
        await _post(admin, "/admin/settings", {name: "" for name in (
            "sla_danger_on_site_minutes", "sla_danger_restore_minutes", "sla_restore_minutes", "sla_at_risk_percent",
            "geofence_radius_m", "group_radius_m", "group_window_minutes", "sms_sender")}, page="/admin/settings")
        async with AsyncSession(engine) as session:
            assert (await effective_settings(session, settings)).overridden == frozenset()
        await engine.dispose()


@pytest.mark.parametrize("fields", [
    {"group_radius_m": "-5"}, {"group_radius_m": "lots"}, {"group_window_minutes": "100000"},
    {"sms_sender": "A sender name far too long"}, {"sms_sender": "!!"}, {"geofence_radius_m": "nan"},
    {"sla_danger_on_site_minutes": "5", "sla_danger_restore_minutes": "2"}, {"sla_at_risk_percent": "99"},
])
async def test_wrong_settings_are_refused_and_nothing_is_saved(admin, database_url, fields):
    before = _sql(database_url, "SELECT * FROM operator_settings")
    response = await _post(admin, "/admin/settings", fields, page="/admin/settings")
    assert response.status_code == 422 and 'aria-invalid="true"' in response.text
    assert _sql(database_url, "SELECT * FROM operator_settings") == before


async def test_every_admin_page_opens(admin):
    for path in ("/admin", "/admin/crews", "/admin/zones", "/admin/settings", "/admin/imports", "/admin/sms"):
        response = await admin.get(path)
        assert response.status_code == 200, path
        assert 'href="/admin/imports"' in response.text  # the section's navigation


GARBAGE = [
    (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
    (b'{"role": "admin"}', "application/json"),
    (b"display_name=%00&role=admin&role=agent&language=en%00&crew_id=1e9&username=" + b"x" * 5000,
     "application/x-www-form-urlencoded"),
    (b"skills=%00&members=-1&members=abc&home_zone_id=99999999999999999999&name=x",
     "application/x-www-form-urlencoded"),
    (b"group_radius_m=1e309&sla_restore_minutes=--&sms_sender=%00",
     "application/x-www-form-urlencoded"),
    (b"--nope\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ncustomers\r\n", "multipart/form-data"),
    (b"--b\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ncustomers\r\n--b\r\nContent-Disposition: form-data;"
     b" name=\"file\"; filename=\"x.csv\"\r\n\r\n\x00\x01\x02\r\n--b--\r\n", "multipart/form-data; boundary=b"),
]


@pytest.mark.parametrize("path", ["/admin/staff", "/admin/staff/1", "/admin/crews", "/admin/crews/1",
                                  "/admin/zones/1", "/admin/settings", "/admin/imports", "/admin/imports/1/apply"])
@pytest.mark.parametrize("body, content_type", GARBAGE)
async def test_admin_forms_never_answer_500(admin, database_url, path, body, content_type):
    watched = """SELECT (SELECT array_agg((role, active, crew_id) ORDER BY id) FROM staff),
                        (SELECT array_agg((responsible_staff_id, name) ORDER BY id) FROM zone),
                        (SELECT array_agg((name, home_zone_id) ORDER BY id) FROM crew)"""
    before = _sql(database_url, watched)
    token = await csrf_token(admin, "/admin")
    response = await admin.post(path, content=body, headers={"content-type": content_type, "x-csrftoken": token,
                                                             "accept": "text/html"}, follow_redirects=False)
    assert response.status_code < 500, response.text[:300]
    assert _sql(database_url, watched) == before
