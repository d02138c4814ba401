"""The two facts the notifications are written from: `measure-taken` and `insurer-described`.

Both follow every rule of SPEC §3 (three times, retraction, idempotent import, rejections)
and appear in `audit log`, `audit export` and `audit replay`, through the real CLI.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support import INCIDENT, Cli, error_lines, fact, ledger_size, opening

pytestmark = pytest.mark.two_backends

NAMED = fact("insurer-informed", id="informed-mh", incident=INCIDENT, insurer="mh", known_on="2024-01-30")
PORTAL_OFFLINE = fact(
    "measure-taken",
    id="portal-offline",
    incident=INCIDENT,
    measure="Portal viamedis.net disconnected",
    measure_kind="containment",
    known_on="2024-01-29T15:00:00+01:00",
    occurred_on="2024-01-29T15:00:00+01:00",
    source="FSPF",
)
CALL_CENTRE = fact(
    "measure-taken",
    id="call-centre",
    incident=INCIDENT,
    insurer="mh",
    measure="Call centre opened for members",
    measure_kind="communication",
    known_on="2024-02-02",
    occurred_on="2024-02-01",
)
DESCRIBED = fact(
    "insurer-described",
    id="mh-described",
    insurer="mh",
    name="Malakoff Humanis",
    dpo_contact="DPO, dpo@mh.example",
    country="FR",
    known_on="2024-01-30",
)


def imported(cli: Cli, write_file, name: str, *facts: dict) -> object:
    path = write_file(name, "".join(json.dumps(f) + "\n" for f in facts))
    return cli("import", str(path))


def logged(cli: Cli) -> dict[str, dict]:
    result = cli("audit", "log", "--json")
    assert result.exit_code == 0, result.stderr
    return {entry["id"]: entry for entry in map(json.loads, result.stdout.splitlines())}


def test_both_facts_are_recorded_with_their_three_times_and_shown_in_the_audit_log(cli, write_file):
    result = imported(cli, write_file, "story.jsonl", opening(), NAMED, PORTAL_OFFLINE, CALL_CENTRE, DESCRIBED)
    assert result.exit_code == 0, result.stderr

    log = logged(cli)

    offline, centre, described = log["portal-offline"], log["call-centre"], log["mh-described"]
    assert offline["kind"] == "measure-taken"
    assert offline["measure"] == "Portal viamedis.net disconnected"
    assert offline["measure_kind"] == "containment"
    assert offline["known_on"] == "2024-01-29T14:00:00Z"
    assert offline["occurred_on"] == "2024-01-29T14:00:00Z"
    assert offline["source"] == "FSPF"
    assert centre["insurer"] == "mh"
    assert centre["occurred_on"] == "2024-01-31T23:00:00Z"
    assert centre["known_on"] == "2024-02-01T23:00:00Z"
    assert centre["recorded_at"] > offline["recorded_at"]
    assert described["kind"] == "insurer-described"
    assert described["dpo_contact"] == "DPO, dpo@mh.example"
    assert described["country"] == "FR"
    assert described["by"] == "tester"


def test_record_takes_the_measure_kind_as_a_flag(cli):
    opened = cli(
        *f"record attack-discovered --incident {INCIDENT} --operator Viamedis --occurred-on 2024-01-22".split()
    )
    assert opened.exit_code == 0, opened.stderr

    result = cli(
        *f"record measure-taken --incident {INCIDENT} --measure-kind mitigation --known-on 2024-02-03".split(),
        "--measure",
        "Member accounts reset",
    )

    assert result.exit_code == 0, result.stderr
    entry = logged(cli)[result.stdout.strip()]
    assert (entry["measure"], entry["measure_kind"]) == ("Member accounts reset", "mitigation")


def test_reimporting_the_same_file_appends_nothing(cli, write_file):
    facts = (opening(), NAMED, PORTAL_OFFLINE, CALL_CENTRE, DESCRIBED)
    assert imported(cli, write_file, "a.jsonl", *facts).exit_code == 0
    size = ledger_size(cli.path)

    again = imported(cli, write_file, "b.jsonl", *facts)

    assert again.exit_code == 0, again.stderr
    assert "Appended 0 facts (5 already recorded)" in again.stdout
    assert ledger_size(cli.path) == size


def test_an_id_reused_with_a_different_measure_is_rejected(cli, write_file):
    assert imported(cli, write_file, "a.jsonl", opening(), PORTAL_OFFLINE).exit_code == 0
    size = ledger_size(cli.path)

    result = imported(cli, write_file, "b.jsonl", {**PORTAL_OFFLINE, "measure": "Portal kept online"})

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: line 1: id 'portal-offline' is already used by a different fact"]
    assert ledger_size(cli.path) == size


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**CALL_CENTRE, "incident": "nowhere"}, "unknown incident 'nowhere'"),
        ({**CALL_CENTRE, "insurer": "stranger"}, "unknown insurer 'stranger'"),
        ({**DESCRIBED, "insurer": "stranger"}, "unknown insurer 'stranger'"),
        (
            {**CALL_CENTRE, "measure_kind": "prayer"},
            "measure_kind: 'prayer' is not one of containment, mitigation, communication, other",
        ),
        ({**CALL_CENTRE, "kind_of_measure": "x"}, "unknown key 'kind_of_measure'"),
        ({**CALL_CENTRE, "measure": "   "}, "measure: expected a non-empty text"),
        ({k: v for k, v in CALL_CENTRE.items() if k != "measure"}, "missing required key 'measure'"),
        ({**DESCRIBED, "country": "France"}, "country: expected"),
        ({**DESCRIBED, "known_on": "2099-01-01"}, "is in the future"),
        ({**CALL_CENTRE, "occurred_on": "2024-02-03"}, "is before occurred_on"),
    ],
    ids=[
        "unknown-incident",
        "unknown-insurer",
        "described-unknown-insurer",
        "bad-measure-kind",
        "unknown-key",
        "blank-measure",
        "no-measure",
        "country-not-iso",
        "future",
        "known-before-occurred",
    ],
)
def test_a_bad_fact_rejects_the_whole_file(cli, write_file, bad, message):
    assert imported(cli, write_file, "a.jsonl", opening(), NAMED).exit_code == 0
    size = ledger_size(cli.path)

    result = imported(cli, write_file, "b.jsonl", PORTAL_OFFLINE, bad)

    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith("Error: line 2: ")
    assert message in lines[0]
    assert ledger_size(cli.path) == size


def test_a_retracted_measure_and_description_stay_in_the_log_and_the_replay_agrees(cli, write_file):
    retractions = (
        fact("fact-retracted", id="undo-centre", fact="call-centre", reason="never opened", known_on="2024-02-05"),
        fact("fact-retracted", id="undo-described", fact="mh-described", known_on="2024-02-05"),
    )
    result = imported(
        cli, write_file, "a.jsonl", opening(), NAMED, PORTAL_OFFLINE, CALL_CENTRE, DESCRIBED, *retractions
    )
    assert result.exit_code == 0, result.stderr

    log = logged(cli)
    replay = cli("audit", "replay")
    verify = cli("audit", "verify")

    assert {"call-centre", "mh-described", "undo-centre", "undo-described"} <= set(log)
    assert log["undo-centre"]["fact"] == "call-centre"
    assert replay.exit_code == 0, replay.stdout + replay.stderr
    assert verify.exit_code == 0, verify.stdout + verify.stderr


def test_the_audit_export_carries_both_kinds_as_cloudevents(cli, write_file, tmp_path):
    assert imported(cli, write_file, "a.jsonl", opening(), NAMED, PORTAL_OFFLINE, DESCRIBED).exit_code == 0
    target = tmp_path / "ledger.jsonl"

    result = cli("audit", "export", str(target))

    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    types = {event["type"] for event in events}
    assert {"org.exposure.fact.measure-taken.v1", "org.exposure.fact.insurer-described.v1"} <= types
    (measure,) = [e for e in events if e["type"] == "org.exposure.fact.measure-taken.v1"]
    assert measure["data"]["measure"] == "Portal viamedis.net disconnected"


def test_the_notifications_are_drafted_alike_on_both_backends(cli, write_file):
    roster = write_file("mh.csv", "ref,role\nm1,holder\nm2,dependant\nm3,holder\n")
    assert cli("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-01").exit_code == 0
    story = (
        opening(),
        NAMED,
        fact("insurer-confirmed-affected", id="mh-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
        fact(
            "field-ruled-in", id="exposed", incident=INCIDENT, categories=["nir", "birth_date"], known_on="2024-02-01"
        ),
        fact("members-ruled-out", id="m3-out", incident=INCIDENT, insurer="mh", refs=["m3"], known_on="2024-02-01"),
        fact(
            "authority-notified",
            id="mh-cnil",
            incident=INCIDENT,
            authority="CNIL",
            insurer="mh",
            known_on="2024-02-01T18:00:00+01:00",
            occurred_on="2024-02-01T18:00:00+01:00",
        ),
        fact(
            "members-notified",
            id="mh-told",
            incident=INCIDENT,
            insurer="mh",
            refs=["m1"],
            known_on="2024-02-02",
            occurred_on="2024-02-02",
        ),
        PORTAL_OFFLINE,
        CALL_CENTRE,
        DESCRIBED,
        fact(
            "field-ruled-in", id="health", incident=INCIDENT, insurer="mh", categories=["health"], known_on="2024-02-05"
        ),
    )
    assert imported(cli, write_file, "story.jsonl", *story).exit_code == 0

    drafted = cli(
        "notify",
        "authority",
        "--incident",
        INCIDENT,
        "--insurer",
        "mh",
        "--format",
        "json",
        "--phase",
        "complementary",
        "--as-known-on",
        "2024-02-06",
    )
    mailing = cli(
        "notify",
        "members",
        "--incident",
        INCIDENT,
        "--insurer",
        "mh",
        "--format",
        "jsonl",
        "--as-known-on",
        "2024-02-06",
    )

    assert drafted.exit_code == 0, drafted.stderr
    found = json.loads(drafted.stdout)
    assert found["data_subjects"]["memberships"] == 2
    assert found["changes"]["categories"] == [
        {"category": "health", "before": "unknown", "after": "exposed", "because": ["health"]}
    ]
    assert found["changes"]["measures"] == ["call-centre"]
    assert found["contact"] == "DPO, dpo@mh.example"
    assert mailing.exit_code == 0, mailing.stderr
    rows = [json.loads(line) for line in mailing.stdout.splitlines()]
    assert [(r["ref"], r["notice"], r["notified_at"]) for r in rows] == [
        ("m1", "complementary", "2024-02-01T23:00:00Z"),
        ("m2", "initial", None),
    ]
    assert rows[0]["fields"] == ["birth_date", "health", "nir"]
    about = ("--incident", INCIDENT, "--insurer", "mh", "--as-known-on", "2024-02-06")
    markdown = cli("notify", "authority", *about, "--lang", "en")
    letter = cli("notify", "letter", *about, "--format", "html")
    assert markdown.exit_code == 0, markdown.stderr
    assert re.search(r"^\| \d+ \| `call-centre` \| measure-taken \| ", markdown.stdout, flags=re.MULTILINE)
    assert "Data protection officer: DPO, dpo@mh.example." in markdown.stdout
    assert letter.exit_code == 0, letter.stderr
    assert "Call centre opened for members" in letter.stdout
