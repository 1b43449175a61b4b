"""A call-centre agent logs a call about a known outage in three inputs (and we print how long it took)."""
import time

import pytest
from playwright.async_api import expect

from server.demo.city import customers

pytestmark = pytest.mark.browser


async def test_a_known_outage_call_takes_three_inputs(desk):
    page = await desk.new_page()
    await page.goto("/login?next=/agent")
    await page.get_by_label("Username").fill("agent")
    await page.get_by_label("Password").fill("faultline-demo")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Call centre")).to_be_visible()

    # The demo city already has a fault on transformer 5: meters 5, 205, 405… are its customers.
    caller = next(customers(606, start=605))
    started = time.perf_counter()
    inputs = 0
    await page.get_by_label("Caller's phone or meter number").fill(caller.meter_no)  # 1: what the caller says
    await page.keyboard.press("Enter")
    inputs += 1
    card = page.locator(f"#caller-{caller.meter_no}")
    await expect(card).to_contain_text("Known fault here")
    # 2: the category is already the known fault's; confirming it is one tap.
    await card.get_by_label("No power").check()
    inputs += 1
    await card.get_by_role("button", name="Log call").click()                      # 3: log it
    inputs += 1
    await expect(card.locator(".done")).to_contain_text("Call added to the known fault.")
    elapsed = time.perf_counter() - started
    print(f"\nagent logged a known-outage call in {inputs} inputs, {elapsed:.2f} s of machine time")
    assert inputs <= 3
