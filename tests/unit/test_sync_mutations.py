"""What a phone may send: the envelope, each mutation's own schema, cursors and the answers' words."""
import json
import uuid

import pytest
from pydantic import ValidationError

from server.refusals import Refused
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
    with pytest.raises(Refused, match=message):
        m.parse_batch(body)


@pytest.mark.parametrize("sent, ok", [
    ("2026-11-22T09:00:00+03:00", True),
    ("2026-11-22T06:00:00Z", True),
    ("2026-11-22T09:00:00", False),   # a time with no offset cannot be placed
    ("yesterday", False), (1700000000, False), (None, False), ("9" * 50, False),
])
def test_client_times_need_their_offset(sent, ok):
    assert (m.parse_client_time(sent) is not None) is ok


def test_what_is_stored_of_a_mutation_is_what_postgresql_can_keep():
    cleaned, problems, _ = m.clean_mutation({"name": "no\x00te", "args": {"a\x00": ["x\x00y", {"k": "\ud83d"}],
                                                                          "n": 1, "f": float("inf"), "big": 2**64},
                                             "client_time": "\udc00"})
    assert cleaned == {"name": "no\ufffdte", "args": {"a\ufffd": ["x\ufffdy", {"k": "\ufffd"}], "n": 1, "f": None,
                                                     "big": None}, "client_time": "\ufffd"}
    assert problems == [{"field": "name", "problem": m.NUL_CHARACTER},
                        {"field": "a\ufffd", "problem": m.NUL_CHARACTER},
                        {"field": "a\ufffd.0", "problem": m.NUL_CHARACTER},
                        {"field": "a\ufffd.1.k", "problem": m.BROKEN_CHARACTER},
                        {"field": "f", "problem": m.NOT_FINITE}]  # at most five are named (not big, client_time)


@pytest.mark.parametrize("raw, field, problem", [
    (b'{"text": "\\ud83d"}', "text", "has a broken character (part of an emoji)"),
    (b'{"text": "caf\xe9"}', "text", "has a broken character (part of an emoji)"),  # not UTF-8
    (b'{"latitude": 1e999}', "latitude", "is not a finite number"),
    (b'{"n": 9223372036854775808}', "n", "is a number too large to keep"),
    (b'{"n": -9223372036854775809}', "n", "is a number too large to keep"),
    (b'{"n": ' + b"1" * 5000 + b"}", "n", "is a number too large to keep"),
    (b'{"deep": ' + b"[" * 20 + b"]" * 20 + b"}", "deep." + ".".join(["0"] * 14), "is nested too deeply"),
    (b'{"deep": ' + b'{"a": ' * 4000 + b"1" + b"}" * 4000 + b"}", "deep." + ".".join(["a"] * 14),
     "is nested too deeply"),
])
def test_a_mutation_holding_what_cannot_be_kept_is_refused_alone(raw, field, problem):
    body = m.read_body(b'{"client_id": "%s", "mutations": [{"id": 1, "name": "note", "args": %s}, {"id": 2}]}'
                       % (CLIENT.encode(), raw))
    bad, good = m.parse_batch(body).mutations
    assert bad.refusal == ("unstorable", {"problems": [{"field": field, "problem": problem}]})
    assert good.refusal is None
    json.dumps(bad.raw, allow_nan=False).encode("utf-8")  # the cleaned copy can be stored


def test_nine_digits_past_bigint_and_the_edges_of_bigint():
    ok, problems, _ = m.clean_mutation({"args": {"low": -2**63, "high": 2**63 - 1}})
    assert problems == [] and ok["args"] == {"low": -2**63, "high": 2**63 - 1}


@pytest.mark.parametrize("raw", [b"NaN", b'{"a": Infinity}', b"[" * 5000 + b"]" * 5000, b'{"a": ' + b"[" * 5000,
                                 b"not json"])
def test_what_is_not_json_is_not_read(raw):
    with pytest.raises(ValueError):
        m.read_body(raw)


def test_a_mutation_too_large_keeps_only_its_envelope():
    sent = m.parse_batch({"client_id": CLIENT, "mutations": [
        {"id": 1, "name": "note", "args": {"text": "x" * 70_000}, "client_time": "2026-11-22T09:00:00Z"},
        {"id": 2, "name": "note", "too_large": 5_000_000}]}).mutations
    assert sent[0].refusal == ("too_large", {"size_kb": 69, "limit_kb": 64})
    assert sent[0].raw == {"id": 1, "name": "note", "too_large": sent[0].raw["too_large"],
                           "client_time": "2026-11-22T09:00:00Z"}
    assert sent[1].refusal == ("too_large", {"size_kb": 4883, "limit_kb": 64})


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
