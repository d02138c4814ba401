"""`exposure export veris`: a VERIS 1.4 record, validated against the published merged
schema (schema + enumerations, vz-risk/veris `verisc-merged.json`, JSON Schema draft 4)
and against VERIS's own consistency rules (its bin/checkValidity.py).

The schema file is shared data beside the repository (`../shared/veris/`); the schema
tests are skipped when it is absent.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain import veris
from domain.categories import BUILT_IN_NAMES
from domain.veris_vocabulary import VARIETIES, VECTORS
from tests.support import INCIDENT, Cli, error_lines, fact, opening

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PLACES = (
    os.environ.get("EXPOSURE_VERIS_SCHEMA", ""),
    str(REPO.parent / "shared" / "veris" / "verisc-merged.json"),
    "/work/shared/veris/verisc-merged.json",
)

STORY = [
    opening(
        title="Scraping of the viamedis.net portal with a phished health-professional account",
        known_on="2024-01-29T15:00:00+01:00",
        source="FSPF",
        confidence="high",
        action=["hacking.Use of stolen creds", "social.Phishing"],
        vector=["hacking.Web application"],
    ),
    fact(
        "insurer-confirmed-affected",
        id="mh-affected",
        incident=INCIDENT,
        insurer="mh",
        name="Malakoff Humanis",
        known_on="2024-02-01",
        source="Malakoff Humanis e-mail",
    ),
    fact("insurer-confirmed-affected", id="msp-affected", incident=INCIDENT, insurer="msp", known_on="2024-02-06"),
    fact("insurer-ruled-out", id="lmg-out", incident=INCIDENT, insurer="lmg", known_on="2024-02-06"),
    fact(
        "field-ruled-in",
        id="communique",
        incident=INCIDENT,
        categories=["civil_status", "birth_date", "nir"],
        known_on="2024-02-01",
        source="Viamedis communiqué",
    ),
    fact(
        "field-ruled-in",
        id="msp-number",
        incident=INCIDENT,
        insurer="msp",
        categories=["member_number"],
        known_on="2024-02-06",
    ),
    fact(
        "field-ruled-in",
        id="msp-health",
        incident=INCIDENT,
        insurer="msp",
        categories=["health"],
        known_on="2024-02-08",
    ),
    fact("field-ruled-out", id="not-stored", incident=INCIDENT, categories=["bank"], known_on="2024-02-01"),
]


def schema_file() -> Path:
    for place in SCHEMA_PLACES:
        if place and Path(place).is_file():
            return Path(place)
    pytest.skip("the VERIS merged schema (shared/veris/verisc-merged.json) is not beside the repository")


def validate(record: dict[str, Any]) -> list[str]:
    """Every schema violation, as `path: message`."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_file().read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(record)]


def consistency(record: dict[str, Any]) -> list[str]:
    """The rules of VERIS's bin/checkValidity.py that our records can meet."""
    problems = []
    action, attribute = record.get("action", {}), record.get("attribute", {})
    if "social" in action and "Alter behavior" not in attribute.get("integrity", {}).get("variety", []):
        problems.append("social action without integrity 'Alter behavior'")
    if record["security_incident"] == "Confirmed" and "attribute" not in record:
        problems.append("confirmed incident without attribute")
    confidentiality = attribute.get("confidentiality", {})
    amounts = [d.get("amount", 0) for d in confidentiality.get("data", [])]
    if amounts and max(amounts) > confidentiality.get("data_total", 0):
        problems.append("a data amount exceeds data_total")
    secondary = record.get("victim", {}).get("secondary", {})
    if len(secondary.get("victim_id", [])) > secondary.get("amount", 0):
        problems.append("more secondary victims than their amount")
    if "Phishing" in action.get("social", {}).get("variety", []):
        chain = record.get("value_chain", {})
        if "Email" not in chain.get("development", {}).get("variety", []):
            problems.append("phishing without value_chain development 'Email'")
        if "Email addresses" not in chain.get("targeting", {}).get("variety", []):
            problems.append("phishing without value_chain targeting 'Email addresses'")
    varieties = {d["variety"] for d in confidentiality.get("data", [])}
    if varieties & {"Medical", "Sensitive Personal", "Bank", "Payment"} and "Personal" not in varieties:
        problems.append("a child of Personal without Personal")
    return problems


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


@pytest.fixture
def story(cli: Cli, write_file) -> Cli:
    for insurer, rows in (("mh", "m1\nm2\nm3\n"), ("msp", "s1\ns2\n"), ("lmg", "l1\n")):
        roster = write_file(f"{insurer}.csv", "ref\n" + rows)
        assert cli("members", "import", "--insurer", insurer, str(roster), "--known-on", "2024-01-01").exit_code == 0
    assert cli("import", str(write_file("story.jsonl", jsonl(*STORY)))).exit_code == 0
    return cli


def export(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("export", "veris", "--incident", INCIDENT, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_the_export_is_a_valid_veris_record(story):
    record = export(story, "--country", "FR")

    assert validate(record) == []
    assert consistency(record) == []


def test_the_export_counts_members_per_data_variety(story):
    record = export(story, "--country", "FR")

    confidentiality = record["attribute"]["confidentiality"]
    assert confidentiality["data_disclosure"] == "Yes"
    assert confidentiality["data_total"] == 5
    assert confidentiality["data"] == [
        {"variety": "Medical", "amount": 2},
        {"variety": "Personal", "amount": 5},
        {"variety": "Sensitive Personal", "amount": 5},
    ]
    assert confidentiality["data_victim"] == ["Customer"]


def test_the_export_names_the_operator_as_victim_and_the_insurers_as_secondary_victims(story):
    record = export(story, "--country", "FR")

    assert record["schema_version"] == "1.4.0"
    assert record["incident_id"] == INCIDENT
    assert record["source_id"] == "exposure-ledger"
    assert record["victim"]["victim_id"] == "Viamedis"
    assert record["victim"]["country"] == ["FR"]
    assert record["victim"]["secondary"]["amount"] == 2
    assert record["victim"]["secondary"]["victim_id"] == ["Malakoff Humanis;524114", "msp;524114"]
    assert record["confidence"] == "High"
    assert record["reference"] == "FSPF; Malakoff Humanis e-mail; Viamedis communiqué"


def test_the_export_dates_the_attack_in_the_ledgers_zone_and_measures_discovery(story):
    record = export(story)

    # The attack began on 22 January (midnight in Paris, still 21 January in UTC).
    assert record["timeline"]["incident"] == {"year": 2024, "month": 1, "day": 22}
    assert record["timeline"]["discovery"] == {"unit": "Days", "value": 7}


def test_the_export_takes_the_action_and_vector_recorded_on_the_attack(story):
    record = export(story)

    assert record["action"] == {
        "hacking": {"variety": ["Use of stolen creds"], "vector": ["Web application"]},
        "social": {"variety": ["Phishing"], "vector": ["Unknown"], "target": ["Unknown"]},
    }
    assert record["attribute"]["integrity"] == {"variety": ["Alter behavior"]}
    assert record["asset"]["assets"] == [{"variety": "S - Web application"}]


def test_the_export_as_known_on_an_earlier_date_reflects_that_knowledge(story):
    record = export(story, "--as-known-on", "2024-02-01")

    confidentiality = record["attribute"]["confidentiality"]
    assert confidentiality["data_total"] == 3
    assert [d["variety"] for d in confidentiality["data"]] == ["Personal", "Sensitive Personal"]
    assert record["victim"]["secondary"]["victim_id"] == ["Malakoff Humanis;524114"]
    assert validate(record) == []


def test_an_incident_with_no_finding_yet_is_a_valid_unknown_disclosure(cli, write_file):
    assert cli("import", str(write_file("open.jsonl", jsonl(opening())))).exit_code == 0

    record = export(cli)

    assert record["attribute"]["confidentiality"]["data_disclosure"] == "Unknown"
    assert "secondary" not in record["victim"]
    assert record["action"] == {
        "unknown": {"notes": "No action was recorded on the incident's attack-discovered fact."}
    }
    assert validate(record) == []
    assert consistency(record) == []


def test_words_of_the_title_are_never_read_as_an_action(cli, write_file):
    attack = opening(title="Phished account, stolen password, web portal scraped")
    assert cli("import", str(write_file("open.jsonl", jsonl(attack)))).exit_code == 0

    record = export(cli)

    assert list(record["action"]) == ["unknown"]
    assert record["asset"]["assets"] == [{"variety": "Unknown"}]


def test_an_action_outside_the_veris_enumerations_is_rejected(cli):
    result = cli(
        "record",
        "attack-discovered",
        "--incident",
        INCIDENT,
        "--operator",
        "V",
        "--occurred-on",
        "2024-01-22",
        "--action",
        "hacking.Use of stolen creds,hacking.Hacked hard",
        "--vector",
        "web",
    )

    assert result.exit_code == 1
    assert error_lines(result) == [
        (
            "Error: action: 'hacking.Hacked hard' is not a VERIS 1.4 action variety (CATEGORY.VALUE, e.g."
            " hacking.Use of stolen creds; see docs/VERIS.md)"
        )
    ]


def test_the_vocabulary_is_the_veris_schemas_own():
    schema = json.loads(schema_file().read_text(encoding="utf-8"))
    actions = schema["properties"]["action"]["properties"]

    for category, values in VARIETIES.items():
        assert list(values) == actions[category]["properties"]["variety"]["items"]["enum"]
    for category, values in VECTORS.items():
        assert list(values) == actions[category]["properties"]["vector"]["items"]["enum"]


def test_the_export_refuses_a_country_that_is_not_a_code(story):
    result = story("export", "veris", "--incident", INCIDENT, "--country", "France")

    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert line.startswith("Error: --country:")


def test_the_export_of_an_incident_not_yet_known_is_rejected(story):
    result = story("export", "veris", "--incident", INCIDENT, "--as-known-on", "2024-01-28")

    assert result.exit_code == 1
    (line,) = error_lines(result)
    assert "was not known as of" in line


# -- the mapping (pure) ---------------------------------------------------------------


def test_every_built_in_category_has_a_veris_variety():
    assert set(veris.VARIETY) == BUILT_IN_NAMES


def test_a_defined_sensitive_category_is_sensitive_personal():
    assert veris.variety("religion", frozenset({"religion"})) == "Sensitive Personal"
    assert veris.variety("loyalty_card") == "Personal"
    assert veris.varieties(["bank"]) == {"Bank", "Personal"}


def test_disclosure_follows_what_is_known():
    base = veris.Incident(
        incident="i",
        operator="o",
        title=None,
        note=None,
        confidence=None,
        attack_began=datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")),
        discovered=datetime(2024, 1, 2, tzinfo=ZoneInfo("UTC")),
        as_known_on=datetime(2024, 1, 3, tzinfo=ZoneInfo("UTC")),
        tz=ZoneInfo("UTC"),
        insurers=(),
        exposed=(),
        suspected=(),
        ruled_out=(),
        insurers_ruled_out=0,
        insurers_pending=0,
        people=0,
        sources=(),
    )
    insurer = veris.Insurer(id="mh", name=None, memberships=3, exposed=("nir",))

    assert veris.disclosure(base) == "Unknown"
    assert veris.disclosure(replace(base, suspected=("health",))) == "Potentially"
    assert veris.disclosure(replace(base, insurers=(insurer,))) == "Potentially"
    assert veris.disclosure(replace(base, insurers=(insurer,), exposed=("nir",))) == "Yes"
    assert veris.disclosure(replace(base, insurers_ruled_out=2)) == "No"
