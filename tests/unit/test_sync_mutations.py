"""What a phone may send: the envelope, each mutation's own schema, cursors and the answers' words."""
import uuid

import pytest
from pydantic import ValidationError

from sync import mutations as m
from sync.changes import Cursor
from sync.messages import answer_message
from sync.service import REGISTRY

CLIENT = "6f1c7d0e-8a43-4a53-9c57-2b0c1d2e3f40"
UID = str(uuid.uuid4())


def test_every_registered_name_has_its_own_schema():
    assert set(REGISTRY) == set(m.SCHEMAS) == {"accept_job", "en_route", "arrived", "note", "photo", "materials",
                                               "restored", "propose_etr", "position", "unable_to_fix"}
    assert all(REGISTRY[name].schema is m.SCHEMAS[name] for name in REGISTRY)


@pytest.mark.parametrize("name, args", [
    ("accept_job", {"incident_id": 1}),
    ("en_route", {"incident_id": 1}),
    ("arrived", {"incident_id": 1, "checkin_id": UID, "latitude": -1.28, "longitude": 36.82}),
    ("arrived", {"incident_id": 1, "checkin_id": UID, "latitude": -1.28, "longitude": 36.82, "accuracy_m": 4.5}),
    ("note", {"incident_id": 1, "note_id": UID, "text": "  Pole leaning  "}),
    ("photo", {"incident_id": 1, "photo_id": UID}),
    ("materials", {"incident_id": 1, "material_id": UID, "item": "Fuse 63 A", "quantity": 2.5, "unit": "pcs"}),
    ("restored", {"incident_id": 1, "cause": "Blown fuse"}),
    ("propose_etr", {"incident_id": 1, "etr": "2026-11-22T18:00:00+03:00"}),
    ("position", {"ping_id": UID, "latitude": 0, "longitude": 0}),
])
def test_good_arguments_pass(name, args):
    m.SCHEMAS[name].model_validate(args)


@pytest.mark.parametrize("name, args, field, problem", [
    ("en_route", {}, "incident_id", "is missing"),
    ("en_route", {"incident_id": "7"}, "incident_id", "is not valid"),        # ids are numbers, not strings
    ("en_route", {"incident_id": True}, "incident_id", "is not valid"),
    ("en_route", {"incident_id": 0}, "incident_id", "is too small"),
    ("en_route", {"incident_id": 1, "speed": 3}, "speed", "is not expected"),
    ("arrived", {"incident_id": 1, "checkin_id": UID, "latitude": 91, "longitude": 0}, "latitude", "is too large"),
    ("arrived", {"incident_id": 1, "checkin_id": "c-1", "latitude": 0, "longitude": 0}, "checkin_id",
     "is not valid"),
    ("note", {"incident_id": 1, "note_id": UID, "text": "   "}, "text", "is empty"),
    ("note", {"incident_id": 1, "note_id": UID, "text": "x" * 2001}, "text", "is too long"),
    ("note", {"incident_id": 1, "note_id": UID, "text": "a\x00b"}, "text", "contains a character that is not allowed"),
    ("materials", {"incident_id": 1, "material_id": UID, "item": "x", "quantity": 0, "unit": "m"}, "quantity",
     "is too small"),
    ("materials", {"incident_id": 1, "material_id": UID, "item": "x", "quantity": "1.0001", "unit": "m"},
     "quantity", "has too many decimals"),
    ("propose_etr", {"incident_id": 1, "etr": "2026-11-22T18:00:00"}, "etr", "needs a time zone"),
    ("restored", {"incident_id": 1}, "cause", "is missing"),
])
def test_bad_arguments_say_which_field_and_what_is_wrong(name, args, field, problem):
    with pytest.raises(ValidationError) as error:
        m.SCHEMAS[name].model_validate(args)
    assert {"field": field, "problem": problem} in m.field_problems(error.value)


def test_a_batch_is_numbered_in_increasing_order():
    batch = m.parse_batch({"client_id": CLIENT, "mutations": [
        {"id": 3, "name": "en_route", "args": {"incident_id": 1}, "client_time": "2026-11-22T09:00:00Z"},
        {"id": 9, "name": 42, "args": "junk"}]})
    assert batch.client_id == uuid.UUID(CLIENT)
    assert [(s.id, s.name) for s in batch.mutations] == [(3, "en_route"), (9, "")]  # judged one by one later


@pytest.mark.parametrize("body, message", [
    ([], "Send a JSON object"),
    ({"mutations": []}, "client_id must be"),
    ({"client_id": "phone-1", "mutations": []}, "client_id must be"),
    ({"client_id": CLIENT}, "mutations must be a list"),
    ({"client_id": CLIENT, "mutations": [{"id": "1"}]}, "has no id"),
    ({"client_id": CLIENT, "mutations": [{"id": True}]}, "has no id"),
    ({"client_id": CLIENT, "mutations": [{"id": 0}]}, "has no id"),
    ({"client_id": CLIENT, "mutations": [{"id": 1}, {"id": 1}]}, "must increase"),
    ({"client_id": CLIENT, "mutations": [{"id": i} for i in range(1, 1002)]}, "at most 1000"),
])
def test_a_batch_that_cannot_be_numbered_is_refused(body, message):
    with pytest.raises(m.BatchRefused, match=message):
        m.parse_batch(body)


@pytest.mark.parametrize("sent, ok", [
    ("2026-11-22T09:00:00+03:00", True),
    ("2026-11-22T06:00:00Z", True),
    ("2026-11-22T09:00:00", False),   # a time with no offset cannot be placed
    ("yesterday", False), (1700000000, False), (None, False), ("9" * 50, False),
])
def test_client_times_need_their_offset(sent, ok):
    assert (m.parse_client_time(sent) is not None) is ok


def test_what_is_stored_of_a_mutation_has_no_nul():
    assert m.storable({"a\x00": ["x\x00y", {"k": "v\x00"}], "n": 1}) == {"a": ["xy", {"k": "v"}], "n": 1}


@pytest.mark.parametrize("value, parsed", [
    ("abc123.7.9001", Cursor("abc123", 7, 9001)),
    ("abc.0.0", Cursor("abc", 0, 0)),
    (None, None), ("", None), ("abc.7", None), ("abc.x.9", None), ("abc.7.-1", None), ("a" * 81, None),
])
def test_cursors_read_back_or_mean_a_reset(value, parsed):
    assert Cursor.parse(value) == parsed
    if parsed:
        assert str(parsed) == value


def test_answers_are_put_into_words_in_the_readers_language():
    assert answer_message("en", None, {}) is None
    assert "action 4" in answer_message("en", "out_of_order", {"expected": 4})
    text = answer_message("en", "invalid_args", {"problems": [{"field": "text", "problem": "is empty"}]})
    assert "text is empty" in text
    assert "clock was ahead" in answer_message("en", None, {"clock": "future"})
    assert answer_message("sw", "unknown_mutation", {"name": "x"})  # untranslated for now: English, never empty
