"""The USSD menu as a pure state machine.

A USSD gateway sends the whole dialogue on every step: `text` holds every answer so far joined by `*`
("" at first, then "1", then "1*14200000007"). So nothing is kept between requests: `read()` replays the
answers from the main menu and says where the dialogue stands — a screen to show (`Prompt`), or something
to look up or file (`Action`); the service does that, and `outcome_screen()` words the answer.

    main menu
    ├─ 1 Report no power ── meter number ─────────────── END reference / already known / already reported
    ├─ 2 Status of my report ─────────────────────────── END latest report from this phone
    ├─ 3 Power in my area ── (phone not known: meter) ── END open incident on the transformer, or none
    └─ 4 Language ── 1 English … 5 Shqip ─────────────── main menu again, in that language
    0 on any question goes back to the main menu; a wrong answer asks the same question again.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from server.channels.messages import (Filed, IncidentView, ReplyLocale, Refusal, area_text, filed_text,
                                      meter_number, my_report_text, refusal_text)
from server.i18n import LANGUAGE_NAMES, N_
from server.forms import whole_number
from server.settings import LANGUAGES


class Stage(StrEnum):
    menu = "menu"
    report_meter = "report_meter"      # asked for the meter that has no power
    area_meter = "area_meter"          # asked for a meter whose area to check (the phone is not a customer's)
    language = "language"              # the list of languages


class ActionKind(StrEnum):
    report = "report"
    my_report = "my_report"
    area = "area"


@dataclass(frozen=True)
class Prompt:
    """A question to put on the screen; the dialogue continues."""

    stage: Stage
    language: str | None = None        # chosen earlier in this session
    language_chosen_now: bool = False  # the last answer chose it: time to remember it for the phone
    error: str | None = None           # msgid: what was wrong with the last answer


@dataclass(frozen=True)
class Action:
    """The dialogue is complete: look this up or file it, then end the session."""

    kind: ActionKind
    meter: str | None = None           # for `area`: None means "the phone's own customer, else ask"
    language: str | None = None


@dataclass(frozen=True)
class Screen:
    text: str
    ends: bool

    def reply(self) -> str:
        return ("END " if self.ends else "CON ") + self.text


class AskMeter:
    """Outcome of an area check for a phone no customer has: the meter number is needed."""


ASK_METER = AskMeter()

MENU_ITEMS = (
    ("1", N_("Report no power")),
    ("2", N_("Status of my report")),
    ("3", N_("Power in my area")),
)
CHOOSE_NUMBER = N_("Please choose one of the numbers.")
BAD_METER = N_("A meter number has only letters and digits.")
BACK = "0"


def answers(text: str) -> list[str]:
    return [answer.strip() for answer in text.split("*")] if text else []


def read(history: list[str]) -> Prompt | Action:
    """Replay the answers from the main menu: where does the dialogue stand now?"""
    state = Prompt(Stage.menu)
    for position, answer in enumerate(history):
        language = state.language
        if state.stage is Stage.menu:
            if answer == "1":
                state = Prompt(Stage.report_meter, language)
            elif answer == "2":
                return Action(ActionKind.my_report, language=language)
            elif answer == "3":
                if position == len(history) - 1:
                    return Action(ActionKind.area, language=language)
                # More answers follow: the phone was not a customer's, so a meter number was asked for.
                state = Prompt(Stage.area_meter, language)
            elif answer == "4":
                state = Prompt(Stage.language, language)
            else:
                state = Prompt(Stage.menu, language, error=CHOOSE_NUMBER)
        elif answer == BACK:
            state = Prompt(Stage.menu, language)
        elif state.stage is Stage.language:
            chosen = whole_number(answer, limit=len(LANGUAGES)) or None
            state = Prompt(Stage.menu, LANGUAGES[chosen - 1], language_chosen_now=True) if chosen \
                else Prompt(Stage.language, language, error=CHOOSE_NUMBER)
        else:  # a meter number was asked for
            meter = meter_number(answer)
            if meter is None:
                state = Prompt(state.stage, language, error=BAD_METER)
            else:
                kind = ActionKind.report if state.stage is Stage.report_meter else ActionKind.area
                return Action(kind, meter=meter, language=language)
    return state


def _question(stage: Stage, locale: ReplyLocale) -> str:
    back = f"{BACK}. " + locale.text(N_("Back to the start"))
    if stage is Stage.menu:
        lines = [locale.text(N_("Power cuts: choose a number"))]
        lines += [f"{number}. {locale.text(label)}" for number, label in MENU_ITEMS]
        # Someone who cannot read the current language must still find the way out of it.
        language = locale.text(N_("Language"))
        lines.append("4. " + (language if language == "Language" else f"{language}/Language"))
        return "\n".join(lines)
    if stage is Stage.language:
        lines = [locale.text(N_("Choose your language:"))]
        lines += [f"{number}. {LANGUAGE_NAMES[lang]}" for number, lang in enumerate(LANGUAGES, start=1)]
        return "\n".join([*lines, back])
    return locale.text(N_("Enter your meter number:")) + "\n" + back


def prompt_screen(prompt: Prompt, locale: ReplyLocale) -> Screen:
    question = _question(prompt.stage, locale)
    return Screen(f"{locale.text(prompt.error)}\n{question}" if prompt.error else question, ends=False)


def outcome_screen(action: Action, outcome: Filed | Refusal | IncidentView | AskMeter | None,
                   locale: ReplyLocale) -> Screen:
    """Word what the service found or did for a completed dialogue."""
    if isinstance(outcome, Refusal):
        return Screen(refusal_text(outcome, locale, action.meter), ends=True)
    if isinstance(outcome, Filed):
        return Screen(filed_text(outcome, locale), ends=True)
    if isinstance(outcome, AskMeter):
        return prompt_screen(Prompt(Stage.area_meter, action.language), locale)
    if action.kind is ActionKind.my_report:
        return Screen(my_report_text(outcome, locale), ends=True)
    return Screen(area_text(outcome, locale), ends=True)
