"""The typed answers (domain/answers.py): a query's JSON value becomes its Struct and goes
back to the same JSON, key for key and in order; a key the type does not name, a missing
one or a value of another type is refused, so that an answer and its type cannot drift.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from domain.answers import Diff, Insurer, NotKnown, Summary

SUMMARY = {
    "incident": "viamedis-2024-01",
    "as_known_on": "2024-02-07T22:59:59.999999Z",
    "as_recorded_at": "2024-02-10T22:59:59.999999Z",
    "insurers": {"affected": ["mh"], "ruled_out": [], "informed": ["alan"], "unknown": []},
    "members": {"confirmed": 1, "presumed": 2, "ruled_out": 0, "affected": 3, "people": 3},
    "fields": {"exposed": ["nir"], "ruled_out": ["bank"], "suspected": []},
}


def printed(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def test_a_summary_prints_the_same_bytes_as_its_json_value():
    answer = msgspec.convert(SUMMARY, Summary)

    assert answer.members.affected == 3
    assert printed(msgspec.to_builtins(answer)) == printed(SUMMARY)


def test_as_recorded_at_is_no_key_at_all_when_not_asked():
    plain = {k: v for k, v in SUMMARY.items() if k != "as_recorded_at"}

    assert list(msgspec.to_builtins(msgspec.convert(plain, Summary))) == list(plain)


def test_an_incident_not_known_yet_keeps_its_own_keys_in_order():
    asked = {"incident": "x", "insurer": "mh", "as_known_on": "2024-01-01T00:00:00Z", "known": False}

    assert list(msgspec.to_builtins(msgspec.convert(asked, NotKnown))) == list(asked)


def test_diff_keeps_from_and_to_as_its_keys():
    value = {
        "incident": "x",
        "from": "2024-02-01T22:59:59.999999Z",
        "to": "2024-02-07T22:59:59.999999Z",
        "insurers": {"newly_affected": [], "newly_ruled_out": []},
        "fields": {"newly_exposed": ["nir"], "newly_ruled_out": []},
        "members": {"newly_affected": 2, "no_longer_affected": 0, "fields_changed": 1},
    }

    answer = msgspec.convert(value, Diff)

    assert (answer.start, answer.end) == (value["from"], value["to"])
    assert printed(msgspec.to_builtins(answer)) == printed(value)


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"members": {**SUMMARY["members"], "memberships": 4}},
        {"members": {**SUMMARY["members"], "people": "3"}},
    ],
    ids=["unknown-key", "unknown-nested-key", "wrong-type"],
)
def test_an_answer_that_drifted_from_its_type_is_refused(change):
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**SUMMARY, **change}, Summary)


def test_a_missing_key_is_refused():
    value = {k: v for k, v in SUMMARY.items() if k != "fields"}

    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(value, Summary)


def test_answers_are_frozen():
    summary = msgspec.convert(SUMMARY, Summary)

    with pytest.raises(AttributeError):
        summary.incident = "other"  # type: ignore[misc]


def test_an_insurer_answer_is_not_a_summary():
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(SUMMARY, Insurer)
