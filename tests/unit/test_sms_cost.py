"""SMS cost: GSM-7 vs UCS-2 segments, and every notification template measured in every language."""
import pytest

from server.notify.messages import ANTI_FRAUD, SAMPLE_VALUES, TEMPLATES, sms_body, template_costs
from server.notify.segments import fold_to_gsm7, is_gsm7, sms_cost
from server.settings import LANGUAGES


@pytest.mark.parametrize("text, expected", [
    ("a" * 160, ("GSM-7", 160, 1)),
    ("a" * 161, ("GSM-7", 161, 2)),
    ("a" * 306, ("GSM-7", 306, 2)),
    ("a" * 307, ("GSM-7", 307, 3)),
    ("€" * 80, ("GSM-7", 160, 1)),          # extension characters count twice
    ("बिजली" * 14, ("UCS-2", 70, 1)),
    ("बिजली" * 15, ("UCS-2", 75, 2)),
    ("Mất điện", ("UCS-2", 8, 1)),
    ("", ("GSM-7", 0, 1)),
])
def test_segments(text, expected):
    assert sms_cost(text) == expected


def test_albanian_folds_to_gsm7_but_vietnamese_is_left_alone():
    assert fold_to_gsm7("Nuk ka drita në lagjen tënde, çdo orë") == "Nuk ka drita ne lagjen tende, cdo ore"
    assert is_gsm7(sms_body("restored", "sq", **SAMPLE_VALUES))
    assert not is_gsm7(sms_body("restored", "vi", **SAMPLE_VALUES))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", TEMPLATES)
def test_every_template_ends_with_the_anti_fraud_line(kind, language):
    from server.i18n import gettext
    from server.notify.segments import sms_text
    assert sms_body(kind, language, **SAMPLE_VALUES).endswith(sms_text(gettext(language, ANTI_FRAUD), language))


@pytest.mark.parametrize("cost", [c for c in template_costs(LANGUAGES) if c.language in ("en", "sw", "sq")],
                         ids=lambda c: f"{c.kind}-{c.language}")
def test_gsm7_languages_fit_one_sms(cost):
    assert (cost.encoding, cost.segments) == ("GSM-7", 1), f"{cost.units} units: {cost.text}"


@pytest.mark.parametrize("cost", [c for c in template_costs(LANGUAGES) if c.language in ("hi", "vi")],
                         ids=lambda c: f"{c.kind}-{c.language}")
def test_ucs2_languages_stay_within_three_sms(cost):
    # 67 characters a part: a tracking link alone takes most of one. Measured and shown, kept short.
    assert cost.encoding == "UCS-2" and cost.segments <= 3, f"{cost.units} units: {cost.text}"
