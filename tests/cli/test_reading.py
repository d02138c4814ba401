"""What a person reads (issue 12, "Reading"): one clock, the horizon in every header,
"not known yet", ruled-out categories, ids never cut, a complete timeline.

Every test runs the real `exposure` command group (click's runner on `cli.main:main`, or
the installed script) and asserts on the text a person reads.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cli.commands.demo import shown_nir, spaced
from tests.support import EXPOSURE, INCIDENT, NIR_ALICE, Cli, error_lines, fact, ledger_size, opening

LONG_ID = "retraction-of-the-preliminary-list-" + "x" * 90
"""A fact id longer than any column a terminal would give it."""

FACTS = [
    opening(known_on="2024-01-29T15:00:00+01:00"),
    fact(
        "insurer-informed",
        id="mh-told",
        incident=INCIDENT,
        insurer="mh",
        known_on="2024-02-01T09:30:00+01:00",
        occurred_on="2024-02-01T09:30:00+01:00",
    ),
    fact("insurer-confirmed-affected", id="mh-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    fact("field-ruled-in", id="communique", incident=INCIDENT, categories=["nir", "birth_date"], known_on="2024-02-01"),
    fact("field-ruled-out", id="not-stored", incident=INCIDENT, categories=["bank", "health"], known_on="2024-02-01"),
    fact(
        "authority-notified",
        id="mh-cnil",
        incident=INCIDENT,
        authority="CNIL",
        insurer="mh",
        phase="initial",
        known_on="2024-02-02T10:00:00+01:00",
        occurred_on="2024-02-02T10:00:00+01:00",
    ),
    fact(
        "members-notified",
        id="mh-told-members",
        incident=INCIDENT,
        insurer="mh",
        channel="e-mail",
        known_on="2024-02-03",
    ),
    fact("field-suspected", id=LONG_ID, incident=INCIDENT, categories=["email"], known_on="2024-02-05"),
]


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


@pytest.fixture
def ledger(cli: Cli, write_file) -> Cli:
    """A Paris-time ledger: the story above and a roster of two mh members known on 2024-01-01."""
    assert cli("import", str(write_file("facts.jsonl", jsonl(*FACTS)))).exit_code == 0
    roster = write_file("mh.csv", f"ref,role,nir\nm1,holder,{NIR_ALICE}\nm2,dependant,\n")
    assert cli("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-01").exit_code == 0
    return cli


BOTH = pytest.mark.parametrize("lang", ["en", "fr"])
"""A test of what a person reads, in English and in French (`--lang`)."""


def said(lang: str, english: str, french: str) -> str:
    """The text a person reads in `lang`."""
    return english if lang == "en" else french


UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z")


# -- one clock ------------------------------------------------------------------------


@BOTH
def test_summary_names_its_date_in_the_ledgers_zone_to_the_minute(ledger, lang):
    result = ledger("--lang", lang, "summary", "--incident", INCIDENT, "--as-known-on", "2024-02-01")

    assert result.stdout.splitlines()[0] == INCIDENT + said(
        lang, " as known on 1 Feb 2024 23:59 (Europe/Paris)", " tel que connu le 1 févr. 2024 23:59 (Europe/Paris)"
    )
    assert not UTC_STAMP.search(result.stdout)


@BOTH
def test_insurer_shows_its_dates_in_paris_time(ledger, lang):
    result = ledger("--lang", lang, "insurer", "--incident", INCIDENT, "--insurer", "mh", "--as-known-on", "2024-02-07")

    assert said(lang, "as known on 7 Feb 2024 23:59", "tel que connu le 7 févr. 2024 23:59") in result.stdout
    assert said(lang, "informed at: 2024-02-01 09:30", "informé le : 2024-02-01 09:30") in result.stdout
    assert (
        said(lang, "authority notified at: 2024-02-02 10:00", "autorité notifiée le : 2024-02-02 10:00")
        in result.stdout
    )
    assert not UTC_STAMP.search(result.stdout)


@BOTH
def test_member_and_audit_log_speak_paris_time_too(ledger, lang):
    member = ledger("--lang", lang, "member", "--insurer", "mh", "--ref", "m1", "--as-known-on", "2024-02-07T12:00:00Z")
    log = ledger("--lang", lang, "audit", "log")

    assert member.stdout.startswith(
        said(lang, "As known on 7 Feb 2024 13:00 (Europe/Paris)", "Tel que connu le 7 févr. 2024 13:00 (Europe/Paris)")
    )
    assert "(Europe/Paris)" in log.stdout.splitlines()[0]
    opened = next(line for line in log.stdout.splitlines() if f"open-{INCIDENT}" in line)
    assert "2024-01-29 15:00" in opened  # known_on, typed as 15:00+01:00
    assert not UTC_STAMP.search(log.stdout)


def test_the_json_answers_stay_in_utc_whatever_the_language(ledger):
    english = ledger("summary", "--incident", INCIDENT, "--as-known-on", "2024-02-01", "--json").stdout
    french = ledger("--lang", "fr", "summary", "--incident", INCIDENT, "--as-known-on", "2024-02-01", "--json").stdout

    assert json.loads(english)["as_known_on"] == "2024-02-01T22:59:59.999999Z"
    assert french == english


def test_an_error_about_a_paris_date_answers_in_paris_time(ledger):
    result = ledger(
        "record",
        "insurer-informed",
        "--incident",
        INCIDENT,
        "--insurer",
        "mh",
        "--known-on",
        "2024-02-01",
        "--occurred-on",
        "2024-02-02T00:30:00+01:00",
    )

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: known_on 2024-02-01 00:00 is before occurred_on 2024-02-02 00:30 (Europe/Paris)"
    ]


# -- the recording horizon ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["summary", "--incident", INCIDENT],
        ["insurer", "--incident", INCIDENT, "--insurer", "mh"],
        ["member", "--insurer", "mh", "--ref", "m1"],
        ["timeline", "--incident", INCIDENT],
        ["obligations", "--incident", INCIDENT],
        ["diff", "--incident", INCIDENT, "--from", "2024-02-01"],
    ],
    ids=lambda c: c[0],
)
@BOTH
def test_every_header_says_as_recorded_at_when_asked(ledger, command, lang):
    result = ledger("--lang", lang, *command, "--as-recorded-at", "2100-01-01T12:00:00+01:00")

    assert result.exit_code == 0, result.stderr
    assert (
        said(lang, "as recorded at 1 Jan 2100 12:00", "tel qu'enregistré le 1 janv. 2100 12:00")
        in result.stdout.splitlines()[0]
    )
    assert result.stdout.count("(Europe/Paris)") == 1


# -- not known yet --------------------------------------------------------------------


@BOTH
def test_an_incident_asked_before_its_facts_is_not_known_rather_than_zeros(ledger, lang):
    human = ledger("--lang", lang, "summary", "--incident", INCIDENT, "--as-known-on", "2024-01-28")
    machine = ledger("summary", "--incident", INCIDENT, "--as-known-on", "2024-01-28", "--json")

    assert human.stdout == INCIDENT + said(
        lang,
        " was not known as of 28 Jan 2024 23:59 (Europe/Paris).\n",
        " n'était pas connu le 28 janv. 2024 23:59 (Europe/Paris).\n",
    )
    assert json.loads(machine.stdout) == {
        "incident": INCIDENT,
        "as_known_on": "2024-01-28T22:59:59.999999Z",
        "known": False,
    }


def test_an_insurer_asked_before_the_incident_was_recorded_is_not_known(ledger):
    result = ledger("insurer", "--incident", INCIDENT, "--insurer", "mh", "--as-recorded-at", "2000-01-01")

    assert result.exit_code == 0
    assert result.stdout.startswith(f"{INCIDENT} was not known as of ")
    assert "as recorded at 1 Jan 2000 23:59 (Europe/Paris)." in result.stdout


# -- ruled out ------------------------------------------------------------------------


@BOTH
def test_summary_and_insurer_show_what_was_ruled_out(ledger, lang):
    summary = ledger("--lang", lang, "summary", "--incident", INCIDENT, "--as-known-on", "2024-02-07")
    insurer = ledger(
        "--lang", lang, "insurer", "--incident", INCIDENT, "--insurer", "mh", "--as-known-on", "2024-02-07"
    )

    assert re.search(said(lang, "ruled out", "écarté") + r"\s+│\s+bank, health", summary.stdout)
    assert said(lang, "ruled out: bank, health", "écartées : bank, health") in insurer.stdout


@BOTH
def test_insurer_labels_its_field_categories_from_the_category_table(ledger, lang):
    insurer = ledger(
        "--lang", lang, "insurer", "--incident", INCIDENT, "--insurer", "mh", "--as-known-on", "2024-02-07"
    )

    nir = next(line for line in insurer.stdout.splitlines() if "│ nir " in line)
    assert said(lang, "Social security number (NIR)", "NIR (numéro de sécurité sociale)") in nir
    assert said(lang, "exposed", "exposé") in nir


# -- ids ------------------------------------------------------------------------------


def test_a_long_fact_id_is_never_cut_in_the_audit_log(ledger):
    result = ledger("audit", "log")

    assert LONG_ID in result.stdout
    assert "…" not in result.stdout


def test_a_long_fact_id_is_never_cut_in_a_narrow_terminal(ledger, tmp_path):
    result = ledger("audit", "log", "--kind", "field-suspected")
    assert LONG_ID in result.stdout
    # and in a real process with an 80-column terminal width
    real = subprocess.run(
        [str(EXPOSURE), "--store", str(ledger.path), "audit", "log", "--kind", "field-suspected"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
    )
    assert real.returncode == 0, real.stderr
    assert LONG_ID in real.stdout


def test_member_lists_the_facts_behind_the_answer_whole(ledger):
    result = ledger("member", "--insurer", "mh", "--ref", "m1", "--as-known-on", "2024-02-07")

    assert "because: communique, mh-affected, roster-mh-" in result.stdout
    assert "mh m1 in viamedis-2024-01: presumed" in result.stdout


# -- a complete timeline --------------------------------------------------------------


@BOTH
def test_the_timeline_shows_notifications_as_rows(ledger, lang):
    result = ledger("--lang", lang, "timeline", "--incident", INCIDENT, "--as-known-on", "2024-02-07")

    cnil = next(line for line in result.stdout.splitlines() if "mh-cnil" in line)
    members = next(line for line in result.stdout.splitlines() if "mh-told-members" in line)
    assert "2024-02-02 10:00" in cnil
    assert said(lang, "CNIL notified (initial) for mh", "CNIL notifiée (initiale) pour mh") in cnil
    assert "2024-02-03 00:00" in members
    assert (
        said(
            lang,
            "members of mh notified (every affected member), e-mail",
            "adhérents de mh informés (tous les adhérents touchés), e-mail",
        )
        in members
    )


def test_the_timeline_json_is_unchanged_by_notifications(ledger):
    entries = json.loads(ledger("timeline", "--incident", INCIDENT, "--as-known-on", "2024-02-07", "--json").stdout)

    assert all("mh-cnil" not in e["facts"] for e in entries)


def test_members_export_says_when_each_member_was_notified(ledger):
    result = ledger("members", "export", "--incident", INCIDENT, "--as-known-on", "2024-02-07")

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["ref"], r["notified_at"]) for r in rows] == [
        ("m1", "2024-02-02T23:00:00Z"),
        ("m2", "2024-02-02T23:00:00Z"),
    ]


def test_members_export_before_the_notice_has_no_notified_at(ledger):
    result = ledger("members", "export", "--incident", INCIDENT, "--as-known-on", "2024-02-02", "--format", "jsonl")

    assert [json.loads(line)["notified_at"] for line in result.stdout.splitlines()] == [None, None]


def test_audit_log_takes_an_incident_and_names_its_columns(ledger, write_file):
    other = [
        opening("almerys-2024-02", id="open-almerys"),
        fact("fact-retracted", id="oops", fact="not-stored", known_on="2024-02-06"),
    ]
    assert ledger("import", str(write_file("more.jsonl", jsonl(*other)))).exit_code == 0

    result = ledger("audit", "log", "--incident", INCIDENT)
    machine = ledger("audit", "log", "--incident", INCIDENT, "--json")

    ids = [json.loads(line)["id"] for line in machine.stdout.splitlines()]
    assert "open-almerys" not in ids
    assert ids[0] == f"open-{INCIDENT}"
    assert ids[-1] == "oops"  # a retraction of one of its facts is about it
    header = next(line for line in result.stdout.splitlines() if "kind" in line)
    for column in ("recorded at", "known on", "late entry", "occurred on", "kind", "id", "by", "source", "hash"):
        assert column in header
    french = ledger("--lang", "fr", "audit", "log", "--incident", INCIDENT)
    header = next(line for line in french.stdout.splitlines() if "type" in line)
    for column in ("enregistré le", "connu le", "saisie tardive", "survenu le", "type", "id", "par", "source"):
        assert column in header


def test_audit_log_of_an_unknown_incident_is_an_error(ledger):
    result = ledger("audit", "log", "--incident", "nope")

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: unknown incident 'nope'"]


# -- the demo -------------------------------------------------------------------------


def test_the_demo_means_members_in_all_and_counts_the_ledgers_facts(tmp_path):
    result = subprocess.run(
        [str(EXPOSURE), "demo", "--members", "500", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8"},
    )

    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    facts = ledger_size(tmp_path / "demo" / "demo.db")
    assert first.startswith(f"exposure demo: {facts:,} facts, 24 insurers, 500 synthetic members in ")
    text = result.stdout
    assert text.index("viamedis-2024-01: what was known") < text.index("almerys-2024-02: what was known")
    assert "insurers ruled out" in text
    assert "Legend:" in text
    assert "  people: members affected counted once per person" in text
    nir = re.search(r'member --nir "([0-9AB ]+)"', text)
    assert nir is not None
    found = subprocess.run(
        [str(EXPOSURE), "--store", str(tmp_path / "demo" / "demo.db"), "member", "--nir", nir.group(1), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert len(json.loads(found.stdout)["memberships"]) > 1  # a person in several rosters


def test_the_readmes_member_example_uses_the_demos_nir():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    nir = shown_nir(5_000, 24)
    assert nir is not None
    assert f'member --nir "{spaced(nir)}"' in readme


def test_the_demo_speaks_french_with_a_french_lang(tmp_path):
    result = subprocess.run(
        [str(EXPOSURE), "demo", "--members", "100", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LANG": "fr_FR.UTF-8"},
    )

    assert result.returncode == 0, result.stderr
    assert " faits, 24 assureurs, 100 adhérents fictifs dans " in result.stdout.splitlines()[0]
    assert "viamedis-2024-01 : ce qui était connu, date par date (Europe/Paris)" in result.stdout
    assert "Légende :" in result.stdout
    assert "  personnes : adhérents touchés comptés une fois par personne" in result.stdout


@BOTH
def test_the_html_report_is_written_in_the_chosen_language(ledger, lang, tmp_path):
    page = tmp_path / "report.html"

    result = ledger(
        "--lang", lang, "report", "--incident", INCIDENT, "--html", str(page), "--as-known-on", "2024-02-07"
    )

    assert result.exit_code == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    assert f'<html lang="{lang}">' in text
    assert said(lang, "<h2>Summary</h2>", "<h2>Synthèse</h2>") in text
    assert said(lang, "Notification obligations", "Obligations de notification") in text
    assert said(lang, "title='Social security number (NIR)'", "title='NIR (numéro de sécurité sociale)'") in text


def test_demo_members_are_n_in_all_spread_evenly_over_the_insurers():
    from cli.commands.demo import PROGRESS_ABOVE, shares  # noqa: PLC0415 - the demo's own arithmetic

    split = shares(100_000, 24)

    assert sum(split) == 100_000
    assert max(split) - min(split) <= 1
    assert PROGRESS_ABOVE < 100_000  # `demo --members 100000` shows its progress bar on a terminal
