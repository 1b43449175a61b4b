"""The USSD menu as a pure state machine: answers in, the next step out; and the screens it words."""
from datetime import UTC, datetime

import pytest

from server.channels.messages import Filed, IncidentView, Refusal, ReplyLocale, meter_number
from server.channels.ussd import (ASK_METER, Action, ActionKind, Prompt, Stage, answers, outcome_screen,
                                  prompt_screen, read)
from server.i18n import gettext
from server.settings import LANGUAGES

EN = ReplyLocale("en", "Africa/Nairobi", "KE")
METER_ERROR = "A meter number has only letters and digits."
CHOOSE = "Please choose one of the numbers."


@pytest.mark.parametrize("text, expected", [
    ("", []),
    ("1", ["1"]),
    ("1*14200000007", ["1", "14200000007"]),
    (" 1 * 1420 ", ["1", "1420"]),
    ("1*", ["1", ""]),
])
def test_text_is_split_into_answers(text, expected):
    assert answers(text) == expected


@pytest.mark.parametrize("text, step", [
    ("", Prompt(Stage.menu)),
    ("1", Prompt(Stage.report_meter)),
    ("1*14200000007", Action(ActionKind.report, meter="14200000007")),
    ("1*abc-12", Action(ActionKind.report, meter="ABC-12")),
    ("1*12.5", Prompt(Stage.report_meter, error=METER_ERROR)),
    ("1*", Prompt(Stage.report_meter, error=METER_ERROR)),
    ("1*12.5*14200000007", Action(ActionKind.report, meter="14200000007")),
    ("1*0", Prompt(Stage.menu)),
    ("1*0*2", Action(ActionKind.my_report)),
    ("2", Action(ActionKind.my_report)),
    ("2*1*1", Action(ActionKind.my_report)),  # answers after the end are ignored
    ("3", Action(ActionKind.area)),  # the phone's own customer, if there is one
    ("3*14200000007", Action(ActionKind.area, meter="14200000007")),
    ("3*?", Prompt(Stage.area_meter, error=METER_ERROR)),
    ("3*0", Prompt(Stage.menu)),
    ("4", Prompt(Stage.language)),
    ("4*2", Prompt(Stage.menu, language="sw", language_chosen_now=True)),
    ("4*5", Prompt(Stage.menu, language="sq", language_chosen_now=True)),
    ("4*6", Prompt(Stage.language, error=CHOOSE)),
    ("4*x", Prompt(Stage.language, error=CHOOSE)),
    ("4*0", Prompt(Stage.menu)),
    ("4*2*1", Prompt(Stage.report_meter, language="sw")),
    ("4*2*1*14200000007", Action(ActionKind.report, meter="14200000007", language="sw")),
    ("4*3*3", Action(ActionKind.area, language="hi")),
    ("4*2*4*4", Prompt(Stage.menu, language="vi", language_chosen_now=True)),
    ("4*2*9", Prompt(Stage.menu, language="sw", error=CHOOSE)),
    ("9", Prompt(Stage.menu, error=CHOOSE)),
    ("0", Prompt(Stage.menu, error=CHOOSE)),
    ("9*1", Prompt(Stage.report_meter)),
    ("**", Prompt(Stage.menu, error=CHOOSE)),
])
def test_the_answers_say_where_the_dialogue_stands(text, step):
    assert read(answers(text)) == step


@pytest.mark.parametrize("raw, meter", [
    ("14200000007", "14200000007"), (" 1420 0000 007 ", "14200000007"), ("ab-12", "AB-12"),
    ("", None), ("-12", None), ("12.5", None), ("1" * 41, None), ("12#", None),
])
def test_meter_numbers(raw, meter):
    assert meter_number(raw) == meter


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("prompt", [
    Prompt(Stage.menu), Prompt(Stage.menu, error=CHOOSE), Prompt(Stage.language, error=CHOOSE),
    Prompt(Stage.report_meter, error=METER_ERROR), Prompt(Stage.area_meter),
])
def test_every_question_continues_and_fits_a_screen(lang, prompt):
    screen = prompt_screen(prompt, ReplyLocale(lang, "Africa/Nairobi", "KE"))
    assert not screen.ends and screen.reply().startswith("CON ")
    assert len(screen.reply()) <= 182


def test_the_main_menu_reads_in_order_and_shows_the_way_back_to_english():
    assert prompt_screen(Prompt(Stage.menu), EN).text.split("\n") == [
        "Power cuts: choose a number", "1. Report no power", "2. Status of my report", "3. Power in my area",
        "4. Language"]
    sw = prompt_screen(Prompt(Stage.menu), ReplyLocale("sw", "Africa/Nairobi", "KE")).text
    assert sw.endswith(f"4. {gettext('sw', 'Language')}/Language")


def test_the_language_list_names_each_language_in_itself():
    assert prompt_screen(Prompt(Stage.language), EN).text.split("\n")[1:] == [
        "1. English", "2. Kiswahili", "3. हिन्दी", "4. Tiếng Việt", "5. Shqip", "0. Back to the start"]


def test_a_wrong_answer_is_said_before_the_question_again():
    assert prompt_screen(Prompt(Stage.report_meter, error=METER_ERROR), EN).text == \
        f"{METER_ERROR}\nEnter your meter number:\n0. Back to the start"


ETR = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)  # 14:30 in Nairobi


@pytest.mark.parametrize("action, outcome, reply", [
    (Action(ActionKind.report, meter="1"), Filed(IncidentView("FL-000042", "reported", None), False, False),
     "END Thank you, we have your report. Your reference is FL-000042."),
    (Action(ActionKind.report, meter="1"), Filed(IncidentView("FL-000042", "assigned", ETR), True, False),
     "END We already know about this fault and added your report. FL-000042: A crew has been assigned. "
     "Expected back: 22/11/2026, 14:30"),
    (Action(ActionKind.report, meter="1"), Filed(IncidentView("FL-000042", "on_site", None), True, True),
     "END You have already reported this fault. FL-000042: The crew is working on it."),
    (Action(ActionKind.report, meter="777"), Refusal.unknown_meter,
     "END We do not know the meter number 777. Check it and try again."),
    (Action(ActionKind.report, meter="777"), Refusal.outside_area,
     "END We cannot place this meter on our network. Please call our customer line."),
    (Action(ActionKind.report, meter="777"), Refusal.too_many,
     "END Too many reports from here in a short time. Please wait a little and try again; if it is dangerous, "
     "call the emergency line."),
    (Action(ActionKind.my_report), None, "END We have no report from this phone number."),
    (Action(ActionKind.my_report), IncidentView("FL-000042", "en_route", ETR),
     "END FL-000042: The crew is on the way. Expected back: 22/11/2026, 14:30"),
    # Once the power is back an old estimate means nothing.
    (Action(ActionKind.my_report), IncidentView("FL-000042", "restored", ETR), "END FL-000042: Power restored."),
    (Action(ActionKind.area), ASK_METER, "CON Enter your meter number:\n0. Back to the start"),
    (Action(ActionKind.area), None,
     "END No fault is known in your area. If your power is off, please report it."),
    (Action(ActionKind.area, meter="1"), IncidentView("FL-000042", "reported", None),
     "END There is a known fault in your area. FL-000042: Reported, waiting for a crew."),
    (Action(ActionKind.area, meter="777"), Refusal.unknown_meter,
     "END We do not know the meter number 777. Check it and try again."),
])
def test_outcomes_are_worded_and_end_the_session(action, outcome, reply):
    screen = outcome_screen(action, outcome, EN)
    assert screen.reply() == reply
    assert len(screen.reply()) <= 182


def test_outcomes_use_the_status_words_of_the_customer_page():
    sw = ReplyLocale("sw", "Africa/Nairobi", "KE")
    screen = outcome_screen(Action(ActionKind.my_report), IncidentView("FL-000042", "en_route", None), sw)
    assert gettext("sw", "The crew is on the way") in screen.text and "Mafundi" in screen.text
