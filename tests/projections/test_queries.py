"""SPEC §5 through the Store and queries API, on a real SQLite file and a real PostgreSQL database.

Each test tells a small part of the Viamedis story date by date (February 2024,
ledger zone Europe/Paris) and asks what was known on each date.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from domain import nir
from domain.times import iso_utc
from projections import queries
from projections.queries import counts
from tests.support import INCIDENT, NIR_ALICE, NIR_BRUNO, NIR_CORSE, append, fact, opened, opening, spaced

pytestmark = pytest.mark.two_backends

ALMERYS = "almerys-2024-02"


async def summary_on(path, day, recorded=None, incident=INCIDENT) -> dict[str, Any]:
    async with opened(path) as store:
        return msgspec.to_builtins(await queries.summary(store.db, incident, await store.horizon(day, recorded)))


async def insurer_on(path, insurer, day, recorded=None) -> dict[str, Any]:
    async with opened(path) as store:
        return msgspec.to_builtins(
            await queries.insurer(store.db, INCIDENT, insurer, await store.horizon(day, recorded))
        )


async def member_on(path, day, *, insurer=None, ref=None, nir_text=None, recorded=None) -> dict[str, Any]:
    async with opened(path) as store:
        h = await store.horizon(day, recorded)
        pseudonym = nir.pseudonymise(nir_text, store.keys.nir_key) if nir_text else None
        return msgspec.to_builtins(
            await queries.member(store.db, h, insurer_id=insurer, ref=ref, nir_pseudonym=pseudonym)
        )


async def affected_on(path, day, insurer=None) -> list[dict[str, Any]]:
    async with opened(path) as store:
        h = await store.horizon(day)
        return [row async for row in queries.affected_members(store.db, INCIDENT, h, insurer)]


async def status_of(path, insurer, ref, day, incident=INCIDENT, recorded=None) -> str:
    answer = await member_on(path, day, insurer=insurer, ref=ref, recorded=recorded)
    (membership,) = answer["memberships"]
    return next(found["status"] for found in membership["incidents"] if found["incident"] == incident)


def roster(insurer: str, *members: dict[str, Any], known_on: str = "2024-01-01", fact_id: str | None = None):
    return fact(
        "members-enrolled", id=fact_id or f"roster-{insurer}", insurer=insurer, known_on=known_on, members=list(members)
    )


def confirmed(insurer: str, day: str, fact_id: str | None = None, incident: str = INCIDENT):
    return fact(
        "insurer-confirmed-affected",
        id=fact_id or f"{insurer}-affected",
        incident=incident,
        insurer=insurer,
        known_on=day,
    )


def exposed(day: str, *categories: str, fact_id: str, insurer: str | None = None):
    keys = {"insurer": insurer} if insurer else {}
    return fact("field-ruled-in", id=fact_id, incident=INCIDENT, categories=list(categories), known_on=day, **keys)


# -- retractions ----------------------------------------------------------------------


async def test_retraction_restores_the_earlier_ruling_from_its_known_date(store_path):
    await append(
        store_path,
        opening(),
        fact("field-ruled-out", id="no-health", incident=INCIDENT, categories=["health"], known_on="2024-02-01"),
        exposed("2024-02-08", "health", fact_id="health-in"),
        fact("fact-retracted", id="health-in-wrong", fact="health-in", known_on="2024-02-12", reason="one invoice"),
    )

    before = await summary_on(store_path, "2024-02-11")
    after = await summary_on(store_path, "2024-02-12")

    assert before["fields"]["exposed"] == ["health"]
    assert after["fields"]["exposed"] == []
    assert after["fields"]["ruled_out"] == ["health"]


async def test_a_retracted_insurer_ruling_gives_back_the_previous_status(store_path):
    await append(
        store_path,
        opening(),
        confirmed("mh", "2024-02-01"),
        fact("insurer-ruled-out", id="mh-out", incident=INCIDENT, insurer="mh", known_on="2024-02-05"),
        fact("fact-retracted", id="mh-out-wrong", fact="mh-out", known_on="2024-02-09"),
    )

    statuses = [(await summary_on(store_path, day))["insurers"] for day in ("2024-02-04", "2024-02-06", "2024-02-09")]

    assert [s["affected"] for s in statuses] == [["mh"], [], ["mh"]]
    assert [s["ruled_out"] for s in statuses] == [[], ["mh"], []]


async def test_a_retracted_roster_stops_counting_from_the_retraction(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "m1"}, {"ref": "m2"}),
        confirmed("mh", "2024-02-01"),
        fact("fact-retracted", id="wrong-roster", fact="roster-mh", known_on="2024-02-10"),
    )

    assert (await summary_on(store_path, "2024-02-09"))["members"]["presumed"] == 2
    assert (await summary_on(store_path, "2024-02-10"))["members"]["presumed"] == 0


# -- fields per insurer ---------------------------------------------------------------


async def test_an_insurer_scoped_field_overrides_the_incident_wide_one(store_path):
    await append(
        store_path,
        opening(),
        confirmed("mh", "2024-02-01"),
        confirmed("msp", "2024-02-01"),
        exposed("2024-02-01", "nir", "civil_status", fact_id="communique"),
        fact(
            "field-ruled-out",
            id="not-member-number",
            incident=INCIDENT,
            categories=["member_number"],
            known_on="2024-02-01",
        ),
        exposed("2024-02-06", "member_number", insurer="msp", fact_id="msp-member-number"),
    )

    msp = await insurer_on(store_path, "msp", "2024-02-07")
    mh = await insurer_on(store_path, "mh", "2024-02-07")

    assert msp["fields"]["member_number"] == "exposed"
    assert msp["exposed"] == ["civil_status", "member_number", "nir"]
    assert msp["implied"] == ["birth_month", "birth_year", "birthplace", "sex"]
    assert mh["fields"]["member_number"] == "ruled-out"
    assert mh["exposed"] == ["civil_status", "nir"]


# -- scopes ---------------------------------------------------------------------------


async def test_a_scope_by_contract_narrows_the_presumed_members(store_path):
    await append(
        store_path,
        opening(),
        roster(
            "mutame",
            {"ref": "p1", "contract": "MP-SANTE-PRO"},
            {"ref": "p2", "contract": "MP-ESSENTIEL"},
            {"ref": "p3"},
        ),
        confirmed("mutame", "2024-02-01"),
        fact(
            "scope-defined",
            id="mutame-scope",
            incident=INCIDENT,
            insurer="mutame",
            contracts=["MP-SANTE-PRO"],
            known_on="2024-02-08",
        ),
    )

    before_scope = await affected_on(store_path, "2024-02-07")
    after_scope = await affected_on(store_path, "2024-02-08")

    assert [row["ref"] for row in before_scope] == ["p1", "p2", "p3"]
    assert [row["ref"] for row in after_scope] == ["p1"]


async def test_a_scope_by_role_keeps_only_that_role(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "h1", "role": "holder"}, {"ref": "d1", "role": "dependant"}, {"ref": "x1"}),
        confirmed("mh", "2024-02-01"),
        fact("scope-defined", incident=INCIDENT, insurer="mh", roles=["dependant"], known_on="2024-02-02"),
    )

    assert [row["ref"] for row in await affected_on(store_path, "2024-02-02")] == ["d1"]


async def test_a_scope_by_period_keeps_the_memberships_that_overlap_it(store_path):
    await append(
        store_path,
        opening(),
        roster(
            "lmg",
            {"ref": "ended-2023", "from": "2015-01-01", "until": "2023-12-31"},
            {"ref": "ends-first-day", "from": "2015-01-01", "until": "2024-01-01"},
            {"ref": "open-ended", "from": "2015-01-01"},
            {"ref": "starts-last-day", "from": "2024-01-26"},
            {"ref": "starts-after", "from": "2024-01-27"},
            {"ref": "no-period"},
            {"ref": "open-start-ended", "until": "2023-06-30"},
        ),
        confirmed("lmg", "2024-02-01"),
        fact(
            "scope-defined",
            incident=INCIDENT,
            insurer="lmg",
            enrolled_from="2024-01-01",
            enrolled_until="2024-01-26",
            known_on="2024-02-08",
        ),
    )

    refs = [row["ref"] for row in await affected_on(store_path, "2024-02-08")]

    assert refs == ["ends-first-day", "no-period", "open-ended", "starts-last-day"]


async def test_an_open_ended_scope_period_keeps_every_later_membership(store_path):
    await append(
        store_path,
        opening(),
        roster("lmg", {"ref": "old", "until": "2023-12-31"}, {"ref": "new", "from": "2024-01-01"}, {"ref": "always"}),
        confirmed("lmg", "2024-02-01"),
        fact("scope-defined", incident=INCIDENT, insurer="lmg", enrolled_from="2024-01-01", known_on="2024-02-08"),
    )

    assert [row["ref"] for row in await affected_on(store_path, "2024-02-08")] == ["always", "new"]


async def test_a_scope_requires_every_criterion(store_path):
    await append(
        store_path,
        opening(),
        roster(
            "mh",
            {"ref": "a-holder", "contract": "A", "role": "holder"},
            {"ref": "a-dependant", "contract": "A", "role": "dependant"},
            {"ref": "b-holder", "contract": "B", "role": "holder"},
        ),
        confirmed("mh", "2024-02-01"),
        fact(
            "scope-defined", incident=INCIDENT, insurer="mh", contracts=["A"], roles=["holder"], known_on="2024-02-01"
        ),
    )

    assert [row["ref"] for row in await affected_on(store_path, "2024-02-01")] == ["a-holder"]


async def test_members_of_an_insurer_not_affected_are_not_presumed(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "m1"}),
        fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    )

    assert await status_of(store_path, "mh", "m1", "2024-02-07") == "not-affected"
    assert (await summary_on(store_path, "2024-02-07"))["insurers"]["informed"] == ["mh"]


# -- member-level findings ------------------------------------------------------------


async def test_member_level_findings_override_the_presumption(store_path):
    await append(
        store_path,
        opening(),
        roster("alan", {"ref": "a1"}, {"ref": "a2"}, {"ref": "a3"}),
        roster("mh", {"ref": "m1"}),
        confirmed("alan", "2024-02-05"),
        exposed("2024-02-05", "nir", fact_id="nir-in"),
        fact("members-ruled-out", id="a2-out", incident=INCIDENT, insurer="alan", refs=["a2"], known_on="2024-02-16"),
        fact(
            "members-confirmed-affected",
            id="m1-in",
            incident=INCIDENT,
            insurer="mh",
            refs=["m1"],
            known_on="2024-02-16",
        ),
    )

    summary = await summary_on(store_path, "2024-02-16")

    assert summary["members"] == {"confirmed": 1, "presumed": 2, "ruled_out": 1, "affected": 3, "people": 3}
    assert await status_of(store_path, "alan", "a2", "2024-02-15") == "presumed"
    assert await status_of(store_path, "alan", "a2", "2024-02-16") == "ruled-out"
    assert await status_of(store_path, "mh", "m1", "2024-02-16") == "confirmed"


async def test_a_confirmed_member_gets_the_insurer_fields_and_a_ruled_out_one_none(store_path):
    await append(
        store_path,
        opening(),
        roster("alan", {"ref": "a1"}, {"ref": "a2"}),
        confirmed("alan", "2024-02-05"),
        exposed("2024-02-05", "nir", "birth_date", fact_id="almerys-fields"),
        fact("members-confirmed-affected", incident=INCIDENT, insurer="alan", refs=["a1"], known_on="2024-02-16"),
        fact("members-ruled-out", incident=INCIDENT, insurer="alan", refs=["a2"], known_on="2024-02-16"),
    )

    (a1,) = (await member_on(store_path, "2024-02-16", insurer="alan", ref="a1"))["memberships"]
    (a2,) = (await member_on(store_path, "2024-02-16", insurer="alan", ref="a2"))["memberships"]

    assert a1["incidents"][0]["fields"] == ["birth_date", "nir"]
    assert a1["incidents"][0]["implied"] == ["birth_month", "birth_year", "birthplace", "sex"]
    assert a2["incidents"][0]["fields"] == []
    assert a2["incidents"][0]["implied"] == []


async def test_the_latest_finding_wins_and_ties_go_to_the_later_append(store_path):
    await append(
        store_path,
        opening(),
        roster("alan", {"ref": "a1"}, {"ref": "a2"}),
        confirmed("alan", "2024-02-05"),
        fact("members-ruled-out", incident=INCIDENT, insurer="alan", refs=["a1"], known_on="2024-02-10"),
        fact("members-confirmed-affected", incident=INCIDENT, insurer="alan", refs=["a1"], known_on="2024-02-16"),
        fact("members-confirmed-affected", incident=INCIDENT, insurer="alan", refs=["a2"], known_on="2024-02-16"),
        fact("members-ruled-out", incident=INCIDENT, insurer="alan", refs=["a2"], known_on="2024-02-16"),
    )

    assert await status_of(store_path, "alan", "a1", "2024-02-12") == "ruled-out"
    assert await status_of(store_path, "alan", "a1", "2024-02-16") == "confirmed"
    assert await status_of(store_path, "alan", "a2", "2024-02-16") == "ruled-out"


async def test_ties_on_known_on_between_insurer_rulings_go_to_the_later_append(store_path):
    await append(
        store_path,
        opening(),
        fact("insurer-ruled-out", incident=INCIDENT, insurer="mh", known_on="2024-02-05"),
        confirmed("mh", "2024-02-05"),
        confirmed("alan", "2024-02-05"),
        fact("insurer-ruled-out", incident=INCIDENT, insurer="alan", known_on="2024-02-05"),
    )

    insurers = (await summary_on(store_path, "2024-02-05"))["insurers"]

    assert (insurers["affected"], insurers["ruled_out"]) == (["mh"], ["alan"])


# -- late entries and "as recorded at" ------------------------------------------------


async def test_a_late_entry_changes_as_known_on_but_not_as_recorded_before_it(store_path):
    await append(store_path, opening(), confirmed("mh", "2024-02-01"), exposed("2024-02-01", "nir", fact_id="nir-in"))
    async with opened(store_path) as store:
        recorded_before = iso_utc(store.ledger.head().timestamp)
    await append(
        store_path,
        fact("insurer-ruled-out", id="mh-out-late", incident=INCIDENT, insurer="mh", known_on="2024-02-03"),
    )

    today = await summary_on(store_path, "2024-02-05")
    back_then = await summary_on(store_path, "2024-02-05", recorded=recorded_before)
    before_it_was_known = await summary_on(store_path, "2024-02-02")

    assert today["insurers"]["ruled_out"] == ["mh"]
    assert back_then["insurers"]["affected"] == ["mh"]
    assert back_then["as_recorded_at"] == recorded_before
    assert before_it_was_known["insurers"]["affected"] == ["mh"]


async def test_as_recorded_at_also_ignores_later_retractions_and_rosters(store_path):
    await append(store_path, opening(), roster("mh", {"ref": "m1"}), confirmed("mh", "2024-02-01"))
    async with opened(store_path) as store:
        recorded_before = iso_utc(store.ledger.head().timestamp)
    await append(
        store_path,
        roster("mh", {"ref": "m2"}, known_on="2024-01-15", fact_id="roster-mh-2"),
        fact("fact-retracted", fact="mh-affected", known_on="2024-02-04"),
    )

    now = await summary_on(store_path, "2024-02-05")
    then = await summary_on(store_path, "2024-02-05", recorded=recorded_before)

    assert now["insurers"]["affected"] == []
    assert now["members"]["presumed"] == 0
    assert then["insurers"]["affected"] == ["mh"]
    assert then["members"]["presumed"] == 1


# -- rosters --------------------------------------------------------------------------


async def test_re_enrolling_a_ref_replaces_its_attributes(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "m1", "contract": "A", "role": "holder"}),
        confirmed("mh", "2024-02-01"),
        fact("scope-defined", incident=INCIDENT, insurer="mh", contracts=["B"], known_on="2024-02-01"),
        roster("mh", {"ref": "m1", "contract": "B"}, known_on="2024-02-10", fact_id="roster-mh-feb"),
    )

    before = await affected_on(store_path, "2024-02-09")
    after = await affected_on(store_path, "2024-02-10")

    assert before == []
    assert [(row["ref"], row["contract"], row["role"]) for row in after] == [("m1", "B", None)]


async def test_a_back_dated_re_enrolment_does_not_replace_a_later_known_one(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "m1", "contract": "B"}, known_on="2024-02-10", fact_id="roster-feb"),
        roster("mh", {"ref": "m1", "contract": "A"}, known_on="2024-01-15", fact_id="roster-jan-late"),
        confirmed("mh", "2024-02-01"),
    )

    january = await affected_on(store_path, "2024-02-09")
    february = await affected_on(store_path, "2024-02-10")

    assert [row["contract"] for row in january] == ["A"]
    assert [row["contract"] for row in february] == ["B"]


async def test_people_are_distinct_nirs_across_insurers(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "m1", "nir": NIR_ALICE}, {"ref": "m2", "nir": NIR_BRUNO}, {"ref": "m3"}),
        roster("lmg", {"ref": "g1", "nir": spaced(NIR_ALICE)}, {"ref": "g2"}),
        confirmed("mh", "2024-02-01"),
        confirmed("lmg", "2024-02-01"),
    )

    summary = await summary_on(store_path, "2024-02-01")
    mh = await insurer_on(store_path, "mh", "2024-02-01")

    assert summary["members"]["affected"] == 5
    assert summary["members"]["people"] == 4  # Alice twice, Bruno, and two members without NIR
    assert mh["members"]["memberships"] == 3
    assert mh["members"]["people"] == 3


async def test_people_count_only_affected_members(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "m1", "nir": NIR_ALICE}),
        roster("lmg", {"ref": "g1", "nir": NIR_ALICE}, {"ref": "g2", "nir": NIR_BRUNO}),
        confirmed("mh", "2024-02-01"),
    )

    assert (await summary_on(store_path, "2024-02-01"))["members"]["people"] == 1


async def test_a_member_lookup_by_nir_finds_every_membership_across_insurers_and_incidents(store_path):
    await append(
        store_path,
        opening(),
        opening(ALMERYS, operator="Almerys", occurred_on="2024-01-26", known_on="2024-02-02"),
        roster("lmg", {"ref": "g1", "nir": NIR_CORSE}),
        roster("alan", {"ref": "a7", "nir": spaced(NIR_CORSE)}, {"ref": "a8", "nir": NIR_ALICE}),
        confirmed("lmg", "2024-02-01"),
        confirmed("alan", "2024-02-05", fact_id="alan-affected", incident=ALMERYS),
    )

    answer = await member_on(store_path, "2024-02-08", nir_text=NIR_CORSE.lower())

    found = {
        (m["insurer"], m["ref"]): {i["incident"]: i["status"] for i in m["incidents"]} for m in answer["memberships"]
    }
    assert found == {
        ("alan", "a7"): {ALMERYS: "presumed", INCIDENT: "not-affected"},
        ("lmg", "g1"): {ALMERYS: "not-affected", INCIDENT: "presumed"},
    }


async def test_a_member_known_before_any_incident_has_a_membership_without_incidents(store_path):
    await append(store_path, roster("mh", {"ref": "m1", "nir": NIR_ALICE}))

    answer = await member_on(store_path, "2024-02-01", nir_text=NIR_ALICE)

    assert answer["memberships"] == [{"insurer": "mh", "ref": "m1", "incidents": []}]


async def test_an_unknown_nir_finds_nothing(store_path):
    await append(store_path, opening(), roster("mh", {"ref": "m1", "nir": NIR_ALICE}))

    assert (await member_on(store_path, "2024-02-01", nir_text=NIR_BRUNO))["memberships"] == []


# -- because --------------------------------------------------------------------------


async def test_because_lists_the_facts_behind_a_presumed_member(store_path):
    await append(
        store_path,
        opening(),
        roster("mh", {"ref": "m1", "contract": "A"}),
        confirmed("mh", "2024-02-01"),
        exposed("2024-02-01", "nir", fact_id="communique"),
        exposed("2024-02-06", "member_number", insurer="mh", fact_id="mh-notice"),
        fact("scope-defined", id="mh-scope", incident=INCIDENT, insurer="mh", contracts=["A"], known_on="2024-02-06"),
        fact("field-suspected", id="unrelated", incident=INCIDENT, categories=["email"], known_on="2024-02-06"),
    )

    (membership,) = (await member_on(store_path, "2024-02-07", insurer="mh", ref="m1"))["memberships"]

    assert membership["incidents"][0]["because"] == sorted(
        ["roster-mh", "mh-affected", "communique", "mh-notice", "mh-scope"]
    )


async def test_because_lists_the_finding_behind_a_confirmed_or_ruled_out_member(store_path):
    await append(
        store_path,
        opening(),
        roster("alan", {"ref": "a1"}, {"ref": "a2"}),
        exposed("2024-02-05", "nir", fact_id="almerys-fields"),
        fact(
            "members-confirmed-affected",
            id="list-in",
            incident=INCIDENT,
            insurer="alan",
            refs=["a1"],
            known_on="2024-02-16",
        ),
        fact("members-ruled-out", id="list-out", incident=INCIDENT, insurer="alan", refs=["a2"], known_on="2024-02-16"),
    )

    (a1,) = (await member_on(store_path, "2024-02-16", insurer="alan", ref="a1"))["memberships"]
    (a2,) = (await member_on(store_path, "2024-02-16", insurer="alan", ref="a2"))["memberships"]

    assert a1["incidents"][0]["because"] == sorted(["roster-alan", "list-in", "almerys-fields"])
    assert a2["incidents"][0]["because"] == sorted(["roster-alan", "list-out"])


async def test_the_insurer_answer_names_its_ruling_scope_and_notification_dates(store_path):
    await append(
        store_path,
        opening(),
        fact(
            "insurer-informed",
            id="mh-told",
            incident=INCIDENT,
            insurer="mh",
            name="Malakoff Humanis",
            occurred_on="2024-01-31",
            known_on="2024-02-01",
        ),
        confirmed("mh", "2024-02-01"),
        fact(
            "scope-defined",
            id="mh-scope",
            incident=INCIDENT,
            insurer="mh",
            roles=["holder", "dependant"],
            enrolled_until="2024-01-26",
            known_on="2024-02-02",
        ),
        fact(
            "authority-notified",
            incident=INCIDENT,
            authority="CNIL",
            insurer="mh",
            phase="initial",
            occurred_on="2024-02-02T10:00:00+01:00",
            known_on="2024-02-02T10:00:00+01:00",
        ),
        fact("members-notified", incident=INCIDENT, insurer="mh", channel="e-mail", known_on="2024-02-06"),
    )

    answer = await insurer_on(store_path, "mh", "2024-02-07")

    assert answer["status"] == "affected"
    assert answer["name"] == "Malakoff Humanis"
    assert answer["because"] == ["mh-affected"]
    assert answer["scope"] == {
        "contracts": None,
        "roles": ["dependant", "holder"],
        "enrolled_from": None,
        "enrolled_until": "2024-01-26",
        "fact": "mh-scope",
    }
    assert answer["informed_at"] == "2024-01-30T23:00:00Z"
    assert answer["authority_notified_at"] == "2024-02-02T09:00:00Z"
    assert answer["members_notified_at"] == "2024-02-05T23:00:00Z"


# -- maintained counts ------------------------------------------------------------------


async def test_maintained_counts_equal_a_count_of_every_member_row_at_every_date(store_path):
    """Tallies (per roster and scope) plus the few re-enrolled members and findings give the
    same counts as evaluating every member row, before and after each fact."""
    member = lambda ref, role, contract, start=None: {  # noqa: E731
        "ref": ref,
        "role": role,
        "contract": contract,
        **({"from": start} if start else {}),
    }
    await append(
        store_path,
        opening(),
        roster(
            "mh",
            member("m1", "holder", "A"),
            member("m2", "dependant", "A"),
            member("m3", "holder", "B", "2012-01-01"),
            known_on="2024-01-01",
            fact_id="r1",
        ),
        confirmed("mh", "2024-02-01"),
        fact("scope-defined", id="scope-1", incident=INCIDENT, insurer="mh", roles=["holder"], known_on="2024-02-03"),
        roster("mh", member("m2", "holder", "A"), member("m4", "holder", "C"), known_on="2024-02-04", fact_id="r2"),
        fact("members-ruled-out", id="out-m1", incident=INCIDENT, insurer="mh", refs=["m1"], known_on="2024-02-05"),
        fact(
            "scope-defined",
            id="scope-2",
            incident=INCIDENT,
            insurer="mh",
            contracts=["A", "C"],
            enrolled_from="2013-01-01",
            known_on="2024-02-06",
        ),
        roster("mh", member("m5", "dependant", "A"), known_on="2024-01-15", fact_id="r3-late"),
        fact("fact-retracted", id="r2-wrong", fact="r2", known_on="2024-02-08", reason="wrong file"),
    )

    async with opened(store_path) as store:
        for day in (
            "2024-01-10",
            "2024-01-20",
            "2024-02-02",
            "2024-02-03",
            "2024-02-04",
            "2024-02-05",
            "2024-02-06",
            "2024-02-07",
            "2024-02-09",
        ):
            h = await store.horizon(day)
            view = await queries.incident_view(store.db, INCIDENT, h)
            maintained = await counts._maintained_counts(store.db, view, "mh", h)
            scanned = await counts._status_counts(store.db, view, "mh", h, "v.insurer = :insurer")
            del scanned["found_matched"]
            assert maintained == scanned, day


async def test_people_counts_the_current_versions_nir_not_a_superseded_one(store_path):
    """Two refs once enrolled with one NIR are one person; once a later-known roster
    re-enrols them without a NIR, they are two people again."""
    await append(
        store_path,
        opening(),
        confirmed("mh", "2024-01-10"),
        roster("mh", {"ref": "m1"}, {"ref": "m2"}, known_on="2024-02-01", fact_id="r-new"),
        roster(
            "mh",
            {"ref": "m1", "nir": NIR_ALICE},
            {"ref": "m2", "nir": NIR_ALICE},
            known_on="2024-01-15",
            fact_id="r-old-recorded-late",
        ),
    )

    before = await summary_on(store_path, "2024-01-20")
    after = await summary_on(store_path, "2024-02-02")

    assert (before["members"]["affected"], before["members"]["people"]) == (2, 1)
    assert (after["members"]["affected"], after["members"]["people"]) == (2, 2)
