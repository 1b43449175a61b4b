"""The call-centre screen: find the caller, see the known fault, log the call in three inputs."""
import psycopg
import pytest

from server.demo.city import customers
from server.db_url import libpq_url
from tests.conftest import csrf_token, sign_in


def _customer(index):
    return next(customers(index + 1, start=index))


@pytest.fixture
async def agent(client):
    await sign_in(client, "agent")
    return client


async def test_find_the_caller_by_phone_however_it_is_written(agent):
    caller = _customer(3333)
    national = "0" + caller.phone[4:7] + " " + caller.phone[7:]
    page = await agent.get("/agent", params={"q": national})
    assert caller.meter_no in page.text and caller.name in page.text


async def test_an_unknown_caller_gets_a_clear_message(agent):
    page = await agent.get("/agent", params={"q": "99999999999"}, headers={"hx-request": "true"})
    assert page.status_code == 200 and "No customer has this phone or meter number" in page.text


async def test_a_known_outage_call_is_logged_onto_it(agent, database_url):
    first, neighbour = _customer(4004), _customer(4204)  # same transformer (index mod 200)
    token = await csrf_token(agent, "/agent")
    opened = await agent.post("/agent/calls", data={"meter_no": first.meter_no, "phone": first.phone,
                                                    "category": "no_power", "_csrf_token": token})
    assert opened.status_code == 201 and "New fault logged." in opened.text
    code = opened.text.split('class="code">')[1].split("<")[0]

    # The next caller: one search, the fault shows at once, one click logs the call onto it.
    page = await agent.get("/agent", params={"q": neighbour.meter_no}, headers={"hx-request": "true"})
    assert f"Known fault here: {code}" in page.text
    logged = await agent.post("/agent/calls", data={"meter_no": neighbour.meter_no, "phone": neighbour.phone,
                                                    "category": "no_power", "_csrf_token": token})
    assert "Call added to the known fault." in logged.text and code in logged.text
    with psycopg.connect(libpq_url(database_url)) as conn:
        channel, actor = conn.execute("""
            SELECT r.channel, e.actor FROM report r JOIN incident_event e ON (e.details->>'report_id')::int = r.id
            WHERE r.meter_no = %s""", (neighbour.meter_no,)).fetchone()
    assert channel == "agent" and actor.startswith("staff:")


async def test_logging_a_call_with_bad_input_says_why(agent):
    token = await csrf_token(agent, "/agent")
    response = await agent.post("/agent/calls", data={"meter_no": "00000000000", "phone": "0712345678",
                                                      "category": "no_power", "_csrf_token": token})
    assert response.status_code == 422 and "do not know this meter number" in response.text
    response = await agent.post("/agent/calls", data={"_csrf_token": token})
    assert response.status_code == 422 and "Choose what is wrong" in response.text


async def test_the_fault_shown_is_the_one_the_call_joins(agent, database_url):
    """A fault on another transformer nearby is not this caller's: the screen shows what filing the call
    would join, by the same grouping rule (it showed any open fault within 500 m before)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        found = conn.execute("""
            SELECT c.meter_no, i.code FROM customer c JOIN incident i
              ON i.status IN ('reported', 'assigned', 'en_route', 'on_site')
             AND i.transformer_id IS DISTINCT FROM c.transformer_id AND ST_DWithin(i.location, c.location, 500)
            WHERE c.transformer_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM incident j WHERE j.transformer_id = c.transformer_id
                  AND j.status IN ('reported', 'assigned', 'en_route', 'on_site'))
            LIMIT 1""").fetchone()
    assert found, "the demo city has a customer near someone else's fault"
    meter_no, nearby_code = found
    page = await agent.get("/agent", params={"q": meter_no}, headers={"hx-request": "true"})
    shown = page.text.split("Known fault here")[1].split("</strong>")[0] if "Known fault here" in page.text else None
    token = await csrf_token(agent, "/agent")
    logged = await agent.post("/agent/calls", data={"meter_no": meter_no, "phone": "+254700123987",
                                                    "category": "no_power", "_csrf_token": token})
    assert logged.status_code == 201
    joined = logged.text.split('class="code">')[1].split("<")[0]
    if shown is None:
        assert "New fault logged." in logged.text and joined != nearby_code
    else:
        assert shown.strip(": ") == joined and "Call added to the known fault." in logged.text


async def test_a_caller_found_by_meter_with_no_phone_on_file_is_asked_for_one(agent, database_url):
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        meter_no, phone = conn.execute("SELECT meter_no, phone FROM customer WHERE phone IS NOT NULL "
                                       "ORDER BY id DESC LIMIT 1").fetchone()
        conn.execute("UPDATE customer SET phone = NULL WHERE meter_no = %s", (meter_no,))
        try:
            page = await agent.get("/agent", params={"q": meter_no}, headers={"hx-request": "true"})
            token = await csrf_token(agent, "/agent")
            logged = await agent.post("/agent/calls", data={"meter_no": meter_no, "phone": "0722 555 123",
                                                            "category": "no_power", "_csrf_token": token})
        finally:  # other tests find customers by their phone
            conn.execute("UPDATE customer SET phone = %s WHERE meter_no = %s", (phone, meter_no))
    assert f'id="phone-{meter_no}"' in page.text and "Caller&#39;s phone number" in page.text.replace("'", "&#39;")
    assert logged.status_code == 201
