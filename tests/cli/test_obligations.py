"""`exposure obligations`: each controller's clock, in UTC, on real SQLite files
(ledger zone Europe/Paris), and the pure rule table of `domain.obligations`.

72 hours are real hours: when the clocks of Paris move forward on 31 March 2024, an
insurer informed on Friday 29 March at 12:00 (11:00 UTC) must notify by Monday 1 April
at 11:00 UTC, which Paris clocks show as 13:00.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain import obligations
from domain.errors import UnknownReference
from tests.support import INCIDENT, Cli, error_lines, fact, opening

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

PARIS = ZoneInfo("Europe/Paris")


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


def load(cli: Cli, write_file, *facts: dict[str, Any], name: str = "facts.jsonl") -> None:
    result = cli("import", str(write_file(name, jsonl(*facts))))
    assert result.exit_code == 0, result.stderr


def duties(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("obligations", "--incident", INCIDENT, *args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def by_insurer(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["insurer"]: entry for entry in data["insurers"]}


def informed(insurer: str, at: str, fact_id: str | None = None) -> dict[str, Any]:
    return fact(
        "insurer-informed",
        id=fact_id or f"{insurer}-told",
        incident=INCIDENT,
        insurer=insurer,
        occurred_on=at,
        known_on=at,
    )


def cnil(insurer: str | None, at: str, fact_id: str) -> dict[str, Any]:
    keys = {"insurer": insurer} if insurer else {}
    return fact(
        "authority-notified", id=fact_id, incident=INCIDENT, authority="CNIL", occurred_on=at, known_on=at, **keys
    )


SPRING = [opening(occurred_on="2024-03-20", known_on="2024-03-28"), informed("mh", "2024-03-29T12:00:00+01:00")]


# -- the deadline ---------------------------------------------------------------------


def test_deadline_is_72_real_hours_across_the_spring_dst_change(cli, write_file):
    load(cli, write_file, *SPRING)

    (mh,) = duties(cli, "--as-known-on", "2024-03-30")["insurers"]

    assert mh["aware_at"] == "2024-03-29T11:00:00Z"
    assert mh["deadline"] == "2024-04-01T11:00:00Z"
    deadline = datetime.fromisoformat(mh["deadline"])
    assert deadline - datetime.fromisoformat(mh["aware_at"]) == timedelta(hours=72)
    assert deadline.astimezone(PARIS).isoformat() == "2024-04-01T13:00:00+02:00"  # not 12:00: one hour was skipped


def test_deadline_is_72_real_hours_across_the_autumn_dst_change(cli, write_file):
    load(
        cli,
        write_file,
        opening(occurred_on="2024-10-20", known_on="2024-10-24"),
        informed("mh", "2024-10-25T12:00:00+02:00"),
    )

    (mh,) = duties(cli, "--as-known-on", "2024-10-26")["insurers"]

    assert mh["deadline"] == "2024-10-28T10:00:00Z"
    assert datetime.fromisoformat(mh["deadline"]).astimezone(PARIS).hour == 11  # one hour was repeated


def test_the_96_hour_proposal_can_be_chosen(cli, write_file):
    load(cli, write_file, *SPRING, cnil("mh", "2024-04-02T09:00:00+02:00", "mh-cnil"))

    gdpr = duties(cli)
    proposal = duties(cli, "--rules", "proposal-96h")

    assert gdpr["rules"] == "gdpr-72h"
    assert by_insurer(gdpr)["mh"]["status"] == "late"
    assert proposal["rules"] == "proposal-96h"
    assert proposal["rule"]["hours"] == 96
    assert proposal["rule"]["valid_from"] is None
    assert by_insurer(proposal)["mh"]["deadline"] == "2024-04-02T11:00:00Z"
    assert by_insurer(proposal)["mh"]["status"] == "on-time"


def test_an_unknown_rule_is_a_usage_error(cli, write_file):
    load(cli, write_file, *SPRING)

    result = cli("obligations", "--incident", INCIDENT, "--rules", "gdpr-48h")

    assert result.exit_code == 2
    assert "gdpr-48h" in result.stderr


# -- the status -----------------------------------------------------------------------


def test_status_is_pending_before_the_deadline_and_overdue_after_it(cli, write_file):
    load(cli, write_file, *SPRING)

    before = by_insurer(duties(cli, "--as-known-on", "2024-04-01T10:59:59Z"))["mh"]
    at = by_insurer(duties(cli, "--as-known-on", "2024-04-01T11:00:00Z"))["mh"]
    after = by_insurer(duties(cli, "--as-known-on", "2024-04-01T11:00:01Z"))["mh"]

    assert (before["status"], at["status"], after["status"]) == ("pending", "pending", "overdue")
    assert before["authority_notified_at"] is None


def test_status_is_on_time_when_the_authority_was_notified_by_the_deadline(cli, write_file):
    load(cli, write_file, *SPRING, cnil("mh", "2024-04-01T13:00:00+02:00", "mh-cnil"))

    mh = by_insurer(duties(cli))["mh"]

    assert mh["authority_notified_at"] == "2024-04-01T11:00:00Z"
    assert mh["status"] == "on-time"


def test_status_is_late_when_the_authority_was_notified_after_the_deadline(cli, write_file):
    load(cli, write_file, *SPRING, cnil("mh", "2024-04-01T13:00:01+02:00", "mh-cnil"))

    assert by_insurer(duties(cli))["mh"]["status"] == "late"


def test_the_operators_own_notice_does_not_count_for_an_insurer(cli, write_file):
    load(cli, write_file, *SPRING, cnil(None, "2024-03-29T18:00:00+01:00", "operator-cnil"))

    mh = by_insurer(duties(cli))["mh"]

    assert mh["authority_notified_at"] is None
    assert mh["status"] == "overdue"


def test_the_first_authority_notice_counts(cli, write_file):
    load(
        cli,
        write_file,
        *SPRING,
        cnil("mh", "2024-04-03T10:00:00+02:00", "mh-cnil-2"),
        cnil("mh", "2024-03-30T10:00:00+01:00", "mh-cnil-1"),
    )

    assert by_insurer(duties(cli))["mh"]["authority_notified_at"] == "2024-03-30T09:00:00Z"


# -- awareness ------------------------------------------------------------------------


def test_without_insurer_informed_awareness_is_the_insurers_first_fact(cli, write_file):
    load(
        cli,
        write_file,
        opening(),
        fact(
            "insurer-confirmed-affected",
            id="lmg-affected",
            incident=INCIDENT,
            insurer="lmg",
            occurred_on="2024-02-08T10:00:00+01:00",
            known_on="2024-02-08T10:00:00+01:00",
        ),
    )

    lmg = by_insurer(duties(cli))["lmg"]

    assert (lmg["aware_at"], lmg["aware_because"], lmg["deadline"]) == (
        "2024-02-08T09:00:00Z",
        "lmg-affected",
        "2024-02-11T09:00:00Z",
    )


def test_awareness_is_the_earliest_insurer_informed(cli, write_file):
    load(
        cli,
        write_file,
        opening(),
        informed("mh", "2024-02-02T09:00:00+01:00", "second"),
        informed("mh", "2024-01-30T10:00:00+01:00", "first"),
    )

    mh = by_insurer(duties(cli))["mh"]

    assert (mh["aware_at"], mh["aware_because"]) == ("2024-01-30T09:00:00Z", "first")


def test_an_insurer_ruled_out_without_notice_has_nothing_to_notify(cli, write_file):
    load(
        cli,
        write_file,
        opening(),
        informed("mh", "2024-01-30T10:00:00+01:00"),
        fact("insurer-ruled-out", id="mh-out", incident=INCIDENT, insurer="mh", known_on="2024-01-31"),
    )

    data = duties(cli)

    assert data["insurers"] == []
    assert data["ruled_out"] == ["mh"]


def test_obligations_as_known_on_an_earlier_date_ignore_later_facts(cli, write_file):
    load(cli, write_file, *SPRING, cnil("mh", "2024-04-03T10:00:00+02:00", "mh-cnil"))

    mh = by_insurer(duties(cli, "--as-known-on", "2024-03-31"))["mh"]

    assert (mh["authority_notified_at"], mh["status"]) == (None, "pending")


# -- members told ---------------------------------------------------------------------


def enrol(cli: Cli, write_file, insurer: str, known_on: str, *rows: str) -> None:
    roster = write_file(f"{insurer}-{known_on}.csv", "\n".join(["ref,role,contract", *rows]) + "\n")
    result = cli("members", "import", "--insurer", insurer, str(roster), "--known-on", known_on)
    assert result.exit_code == 0, result.stderr


def told(insurer: str, day: str, fact_id: str, refs: list[str] | None = None) -> dict[str, Any]:
    keys = {"refs": refs} if refs is not None else {}
    return fact("members-notified", id=fact_id, incident=INCIDENT, insurer=insurer, known_on=day, **keys)


@pytest.fixture
def notified(cli: Cli, write_file) -> Cli:
    """mh: m1 m2 (contract A), m3 (B) told on 5 February; m3 ruled out of scope on 8 February, the member
    number exposed on 10 February, m4 enrolled on 9 February. lmg: l1 told by name, l2 never."""
    enrol(cli, write_file, "mh", "2024-01-01", "m1,holder,A", "m2,dependant,A", "m3,holder,B")
    enrol(cli, write_file, "lmg", "2024-01-01", "l1,holder,X", "l2,holder,X")
    load(
        cli,
        write_file,
        opening(),
        fact("insurer-confirmed-affected", id="mh-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
        fact("insurer-confirmed-affected", id="lmg-affected", incident=INCIDENT, insurer="lmg", known_on="2024-02-01"),
        fact("field-ruled-in", id="communique", incident=INCIDENT, categories=["nir"], known_on="2024-02-01"),
        told("mh", "2024-02-05", "mh-told-all"),
        told("lmg", "2024-02-05", "lmg-told-l1", ["l1"]),
        fact("scope-defined", id="mh-scope", incident=INCIDENT, insurer="mh", contracts=["A"], known_on="2024-02-08"),
        fact(
            "field-ruled-in",
            id="mh-number",
            incident=INCIDENT,
            insurer="mh",
            categories=["member_number"],
            known_on="2024-02-10",
        ),
    )
    enrol(cli, write_file, "mh", "2024-02-09", "m4,holder,A")
    return cli


def test_members_never_notified_are_the_affected_members_no_notice_covered(notified):
    data = duties(notified)

    assert by_insurer(data)["mh"]["members_never_notified"] == 1  # m4, enrolled after the notice
    assert by_insurer(data)["lmg"]["members_never_notified"] == 1  # l2, not named
    assert data["members_never_notified"] == 2


def test_members_notified_before_a_change_need_a_complementary_notice(notified):
    data = duties(notified)

    # m3 is no longer affected; m1 and m2 were told before their member number was exposed.
    assert by_insurer(data)["mh"]["members_notified_before_change"] == 3
    assert by_insurer(data)["lmg"]["members_notified_before_change"] == 0
    assert by_insurer(data)["mh"]["members_notified_at"] == "2024-02-04T23:00:00Z"


def test_a_later_notice_brings_the_members_it_covers_up_to_date(notified, write_file):
    load(notified, write_file, told("mh", "2024-02-11", "mh-told-again"), name="again.jsonl")

    mh = by_insurer(duties(notified))["mh"]

    assert mh["members_never_notified"] == 0
    assert mh["members_notified_before_change"] == 1  # m3: last told it was affected
    assert mh["members_notified_at"] == "2024-02-04T23:00:00Z"


def test_before_the_changes_nobody_told_needs_a_complementary_notice(notified):
    mh = by_insurer(duties(notified, "--as-known-on", "2024-02-07"))["mh"]

    assert (mh["members_never_notified"], mh["members_notified_before_change"]) == (0, 0)


def test_obligations_for_people_is_a_table(notified):
    result = notified("obligations", "--incident", INCIDENT, "--as-known-on", "2024-02-12")

    assert result.exit_code == 0, result.stderr
    assert "overdue" in result.stdout
    assert "GDPR Art. 33(1), 72 hours" in result.stdout


def test_obligations_of_an_unknown_incident_are_rejected(cli):
    result = cli("obligations", "--incident", "nope", "--json")

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: unknown incident 'nope'"]


# -- the rule table (pure) ------------------------------------------------------------


def test_rules_are_versioned_data_with_unique_ids():
    ids = [rule.id for rule in obligations.RULES]

    assert len(ids) == len(set(ids))
    assert obligations.rule("gdpr-72h").valid_from == date(2018, 5, 25)
    assert obligations.rule("gdpr-72h").hours == 72
    assert obligations.DEFAULT_RULE in ids


def test_an_unknown_rule_id_names_the_known_ones():
    with pytest.raises(UnknownReference, match="gdpr-72h, proposal-96h"):
        obligations.rule("gdpr-24h")


def test_a_deadline_is_computed_in_utc_from_any_offset():
    aware = datetime(2024, 3, 29, 12, tzinfo=PARIS)

    deadline = obligations.rule("gdpr-72h").deadline(aware)

    assert deadline == datetime(2024, 4, 1, 11, tzinfo=UTC)
    assert deadline.tzinfo is UTC


@pytest.mark.parametrize(
    ("notified_hours", "now_hours", "expected"),
    [(71, 100, "on-time"), (72, 100, "on-time"), (73, 100, "late"), (None, 72, "pending"), (None, 72.5, "overdue")],
)
def test_status_of_a_clock(notified_hours, now_hours, expected):
    start = datetime(2024, 2, 1, tzinfo=UTC)
    deadline = start + timedelta(hours=72)
    notified = start + timedelta(hours=notified_hours) if notified_hours is not None else None

    assert obligations.status(deadline, notified, start + timedelta(hours=now_hours)) == expected


def test_obligations_as_recorded_at_ignore_a_notice_recorded_later(cli, write_file):
    load(cli, write_file, *SPRING)
    before = json.loads(cli("audit", "log", "--json").stdout.splitlines()[-1])["recorded_at"]
    load(cli, write_file, cnil("mh", "2024-03-30T10:00:00+01:00", "mh-cnil"), name="late.jsonl")

    then = by_insurer(duties(cli, "--as-known-on", "2024-04-02", "--as-recorded-at", before))["mh"]
    now = by_insurer(duties(cli, "--as-known-on", "2024-04-02"))["mh"]

    assert (then["authority_notified_at"], then["status"]) == (None, "overdue")
    assert (now["authority_notified_at"], now["status"]) == ("2024-03-30T09:00:00Z", "on-time")
