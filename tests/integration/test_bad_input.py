"""Garbage in never gets a 500: every public form answers 4xx (or a normal page) whatever it is sent."""
import pytest

from tests.conftest import csrf_token

GARBAGE = [
    {"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b'{"category": "no_power"}', "headers": {"content-type": "application/json"}},
    {"content": b"category=no_power&category=danger&phone=0712345678&latitude=-1.28&longitude=36.8",
     "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"phone=" + b"9" * 5000 + b"&latitude=" + b"1" * 400,
     "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"", "headers": {"content-type": "text/plain"}},
    {"content": b"latitude=-1.28%00&longitude=36.8&phone=%00&username=ad%00min&password=%00&next=/%00",
     "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"category=no_power&phone=0712345678&latitude=-1.28&longitude=36.8&text=hi%00there&meter_no=1%002",
     "headers": {"content-type": "application/x-www-form-urlencoded"}},
]


@pytest.mark.parametrize("path", ["/report", "/login", "/language"])
@pytest.mark.parametrize("body", GARBAGE)
async def test_public_forms_never_answer_500(client, path, body):
    token = await csrf_token(client, "/")
    headers = {**body["headers"], "x-csrftoken": token, "accept": "text/html"}
    response = await client.post(path, content=body["content"], headers=headers, follow_redirects=False)
    assert response.status_code < 500, response.text[:300]


@pytest.mark.parametrize("path", ["/t/" + "a" * 5000, "/t/%00", "/t/..%2F..%2Fetc%2Fpasswd", "/nope",
                                  "/static/../server/settings.py", "/maps/layers/streets.geojson?bbox=nonsense",
                                  "/outages.geojson?zone=%00"])
async def test_odd_paths_never_answer_500(client, path):
    response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code < 500
    if response.status_code == 404:
        assert "Not found" in response.text


@pytest.mark.parametrize("role, path", [
    ("dispatcher", "/dispatch/incidents/%C2%B2"), ("dispatcher", "/dispatch/?zone=%C2%B2"),
    ("supervisor", "/supervisor/incidents/%C2%B2/timeline"),
    ("supervisor", "/supervisor/incidents/" + "9" * 5000 + "/timeline"),
    ("admin", "/admin/staff/%C2%B2"), ("lineman", "/sync/pull?cursor=a.%C2%B2.1"),
])
async def test_a_number_that_is_not_one_is_never_a_500(client, role, path):
    """"²" passes str.isdigit but not int(): every id in a path or query goes through forms.whole_number."""
    from tests.conftest import sign_in
    await sign_in(client, role)
    response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code < 500, (path, response.status_code)

