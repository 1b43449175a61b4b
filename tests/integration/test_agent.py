"""The call-centre screen: find the caller, see the known fault, log the call in three inputs."""
import psycopg
import pytest

from server.demo.city import customers
from server.provision import libpq_url
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
