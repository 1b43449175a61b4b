"""The thinnest real loop: a customer reports "no power" → report and incident stored → dispatcher sees it."""
import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from tests.conftest import csrf_token, sign_in

# A point in the Westlands zone, a few metres from a demo transformer (found in the fixture).


@pytest.fixture(scope="module")
async def near_transformer(database_url):
    """(lat, lon) of a transformer with no open incident, and its id."""
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        row = (await session.exec(text("""
            SELECT t.id, ST_Y(t.location::geometry) AS lat, ST_X(t.location::geometry) AS lon FROM transformer t
            WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id) ORDER BY t.code DESC LIMIT 1
        """))).one()
    await engine.dispose()
    return row


async def _report(client, **fields):
    token = await csrf_token(client, "/")
    form = {"category": "no_power", "phone": "0712 345678", **fields, "_csrf_token": token}
    return await client.post("/report", data=form, headers={"accept": "text/html"})


async def test_a_report_makes_an_incident_the_dispatcher_sees(client, near_transformer, database_url):
    response = await _report(client, latitude=str(near_transformer.lat + 0.0002),
                             longitude=str(near_transformer.lon))
    assert response.status_code == 201
    assert "Thank you, we have your report." in response.text
    code = response.text.split('class="code">')[1].split("<")[0]
    assert code.startswith("FL-") and len(code) == 9

    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        row = (await session.exec(text("""
            SELECT r.phone, r.channel, i.status, i.transformer_id, i.report_count,
                   (SELECT count(*) FROM incident_event e WHERE e.incident_id = i.id) AS events
            FROM report r JOIN incident i ON i.id = r.incident_id WHERE i.code = :code"""), params={"code": code})).one()
    await engine.dispose()
    assert (row.phone, row.channel, row.status, row.transformer_id, row.report_count, row.events) == \
        ("+254712345678", "web", "reported", near_transformer.id, 1, 1)

    client.cookies.clear()
    await sign_in(client, "dispatcher")
    console = await client.get("/dispatch")
    assert console.status_code == 200 and code in console.text


async def test_a_second_report_on_the_same_transformer_joins_the_incident(client, near_transformer):
    first = await _report(client, latitude=str(near_transformer.lat), longitude=str(near_transformer.lon + 0.0003))
    second = await _report(client, latitude=str(near_transformer.lat - 0.0003), longitude=str(near_transformer.lon),
                           phone="0722 000111")
    code_of = lambda r: r.text.split('class="code">')[1].split("<")[0]  # noqa: E731
    assert code_of(first) == code_of(second)
    assert "already know about a fault here" in second.text


async def test_a_meter_number_places_the_report_on_its_transformer(client):
    response = await _report(client, meter_no="14200000007")
    assert response.status_code == 201


@pytest.mark.parametrize("fields, message", [
    ({"latitude": "5.0", "longitude": "36.8"}, "outside the area we serve"),
    ({"latitude": "-1.25", "longitude": "36.75", "phone": "12345"}, "phone number does not look right"),
    ({"meter_no": "99999999999"}, "do not know this meter number"),
    ({"latitude": "north", "longitude": "36.75"}, "location is not valid"),
    ({"latitude": "1e400", "longitude": "36.75"}, "location is not valid"),
])
async def test_bad_input_gets_a_clear_message_on_the_page(client, fields, message):
    response = await _report(client, **fields)
    assert response.status_code == 422
    assert message in response.text
    assert 'id="report-form"' in response.text  # the form comes back with what was typed


async def test_an_empty_form_says_what_is_missing(client):
    token = await csrf_token(client, "/")
    response = await client.post("/report", data={"_csrf_token": token}, headers={"accept": "text/html"})
    assert response.status_code == 422
    for message in ("Choose what is wrong", "Enter your phone number", "Tell us where"):
        assert message in response.text


async def test_htmx_gets_only_the_form_back(client):
    token = await csrf_token(client, "/")
    response = await client.post("/report", data={"_csrf_token": token},
                                 headers={"hx-request": "true", "accept": "text/html"})
    assert response.status_code == 422 and response.text.lstrip().startswith("<form")


async def test_the_tracking_link_shows_only_that_report(client, near_transformer):
    mine = await _report(client, latitude=str(near_transformer.lat), longitude=str(near_transformer.lon),
                         text="my private words")
    link = mine.text.split('href="/t/')[1].split('"')[0]
    page = await client.get(f"/t/{link}")
    assert page.status_code == 200 and "+254712345678" not in page.text and "my private words" not in page.text
    assert len(link) == 22  # 128 random bits
    assert (await client.get("/t/" + link[:-1] + ("A" if link[-1] != "A" else "B"))).status_code == 404


async def test_a_report_page_answers_in_the_browsers_language(client):
    page = await client.get("/", headers={"accept-language": "sw-KE,sw;q=0.9,en;q=0.5"})
    assert '<html lang="sw">' in page.text
