"""The JSON intake API: API keys, the web form's rules, grouping, OpenAPI."""
import psycopg
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from server.db import make_engine
from server.db_url import libpq_url
from server.reports.api import create_api_client


@pytest.fixture(scope="module")
async def api_key(database_url):
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        key = await create_api_client(session, "whatsapp-bot")
    await engine.dispose()
    return key


@pytest.fixture(scope="module")
def spot(database_url):
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute("""
            SELECT ST_Y(t.location::geometry), ST_X(t.location::geometry) FROM transformer t
            WHERE NOT EXISTS (SELECT 1 FROM incident i WHERE i.transformer_id = t.id)
            ORDER BY t.code OFFSET 60 LIMIT 1""").fetchone()


async def test_a_chatbot_files_a_report_and_follows_it(client, api_key, spot):
    body = {"category": "no_power", "phone": "0722 100200", "latitude": spot[0], "longitude": spot[1],
            "language": "sw"}
    response = await client.post("/api/v1/reports", json=body, headers={"x-api-key": api_key})
    assert response.status_code == 201, response.text
    filed = response.json()
    assert filed["reference"].startswith("FL-") and filed["status"] == "reported"
    assert filed["status_text"] != "Reported, waiting for a crew"  # in Kiswahili
    token = filed["tracking_url"].rsplit("/t/", 1)[1]
    # The link the chatbot passes on is the public address, whatever Host the chatbot called.
    assert filed["tracking_url"] == f"{client.app.state.settings.public_url}/t/{token}"
    assert "testserver" not in filed["tracking_url"]
    followed = (await client.get(f"/api/v1/reports/{token}", headers={"x-api-key": api_key})).json()
    assert followed["reference"] == filed["reference"]

    again = (await client.post("/api/v1/reports", json=body, headers={"x-api-key": api_key})).json()
    assert again["already_reported"] and again["reference"] == filed["reference"]
    neighbour = {**body, "phone": "0722 100201", "latitude": spot[0] + 0.0002}
    joined = (await client.post("/api/v1/reports", json=neighbour, headers={"x-api-key": api_key})).json()
    assert joined["joined_existing"] and not joined["already_reported"]


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "fl_wrong"}, {"x-api-key": ""}])
async def test_no_valid_key_no_entry(client, headers):
    response = await client.post("/api/v1/reports", json={"category": "no_power", "phone": "0722100200"},
                                 headers=headers)
    assert response.status_code == 401 and "X-Api-Key" in response.json()["detail"]


@pytest.mark.parametrize("body, field", [
    ({"category": "no_power", "phone": "12", "latitude": -1.28, "longitude": 36.8}, "phone"),
    ({"category": "no_power", "phone": "0722100200"}, "location"),
    ({"category": "no_power", "phone": "0722100200", "latitude": 5.0, "longitude": 36.8}, "location"),
    ({"category": "no_power", "phone": "0722100200", "meter_no": "00000000000"}, "meter_no"),
])
async def test_bad_reports_get_a_message_per_field(client, api_key, body, field):
    response = await client.post("/api/v1/reports", json=body, headers={"x-api-key": api_key})
    assert response.status_code == 422
    assert field in response.json()["errors"] and response.json()["detail"]


@pytest.mark.parametrize("body", [
    {"category": "aliens", "phone": "0722100200"},
    {"phone": "0722100200"},
    {"category": "no_power", "phone": "0722100200", "latitude": "north"},
    [1, 2, 3],
])
async def test_malformed_json_is_a_400_not_a_500(client, api_key, body):
    response = await client.post("/api/v1/reports", json=body, headers={"x-api-key": api_key})
    assert response.status_code == 400


async def test_a_nul_byte_in_a_report_is_dropped_not_a_500(client, api_key, spot):
    body = {"category": "no_power", "phone": "0722 100299", "latitude": spot[0] + 0.01, "longitude": spot[1],
            "text": "pole\u0000 down", "meter_no": None}
    response = await client.post("/api/v1/reports", json=body, headers={"x-api-key": api_key})
    assert response.status_code < 500, response.text


async def test_a_deactivated_client_is_refused(client, database_url):
    engine = make_engine(database_url, pool_size=1)
    async with AsyncSession(engine) as session:
        key = await create_api_client(session, "old-crm")
    await engine.dispose()
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("UPDATE api_client SET active = false WHERE name = 'old-crm'")
    response = await client.post("/api/v1/reports", json={}, headers={"x-api-key": key})
    assert response.status_code == 401


async def test_the_api_is_described_in_openapi_and_pages_are_not(client):
    spec = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/reports" in spec["paths"] and "/outages.geojson" in spec["paths"]
    assert "/login" not in spec["paths"] and "/dispatch" not in spec["paths"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-Api-Key"
