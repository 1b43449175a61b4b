"""A customer switches the report page to Kiswahili, then Hindi, and reports an outage in each."""
import pytest
from playwright.async_api import expect

from server.i18n import gettext

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang, phone", [("sw", "0712 300001"), ("hi", "0712 300002")])
async def test_report_in_the_customers_language(phone_context_factory, lang, phone):
    context = await phone_context_factory(latitude=-1.2400, longitude=36.7600)
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_label("Language").select_option(lang)  # submits itself
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.get_by_role("heading", level=1)).to_have_text(gettext(lang, "Report a power problem"))

    await page.get_by_role("button", name=gettext(lang, "Use my location")).click()
    await expect(page.locator("#location-status")).not_to_have_text(gettext(lang, "No location yet."))
    await page.get_by_label(gettext(lang, "Your phone number")).fill(phone)
    await page.get_by_role("button", name=gettext(lang, "Send report")).click()
    await expect(page.get_by_text(gettext(lang, "Thank you, we have your report."))).to_be_visible()

    # The tracking page speaks the same language.
    await page.get_by_role("link", name=gettext(lang, "Follow the repair")).click()
    await expect(page.get_by_text(gettext(lang, "Reported, waiting for a crew"))).to_be_visible()
