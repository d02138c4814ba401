"""What a person types (issue 12, "Typing"): rosters as insurers export them, every error of
an import file in one pass, batch lookups by NIR from standard input, errors that list the
allowed values. Every test runs the real `exposure` command group and asserts on the text
a person reads.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.support import (
    EXPOSURE,
    INCIDENT,
    NIR_ALICE,
    NIR_BRUNO,
    Cli,
    error_lines,
    fact,
    ledger_size,
    opening,
    spaced,
)


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


def warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]


@pytest.fixture
def known(cli: Cli, write_file) -> Cli:
    """A ledger that knows the incident and the insurer malakoff-humanis (a roster of one)."""
    assert cli("import", str(write_file("open.jsonl", jsonl(opening())))).exit_code == 0
    first = write_file("first.csv", "ref\nMH-1\n")
    assert cli("members", "import", "--insurer", "malakoff-humanis", str(first), "--new-insurer").exit_code == 0
    return cli


# -- rosters as insurers export them --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        ("Ref;Role;NIR\nm1;holder;{nir}\nm2;dependant;\n", "semicolon"),
        ("ref\trole\tnir\nm1\tholder\t{nir}\nm2\tdependant\t\n", "tab"),
        (" REF , role ,Nir \nm1,holder,{nir}\nm2,dependant,\n", "comma, spaced header"),
    ],
    ids=lambda v: v if " " in v or v in ("semicolon", "tab") else "",
)
def test_a_roster_is_read_with_its_own_separator_and_header_case(known, write_file, text, separator):
    path = write_file("r.csv", text.format(nir=NIR_ALICE))

    result = known("members", "import", "--insurer", "malakoff-humanis", str(path), "--known-on", "2024-01-01")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 rows in 1 fact: 1 appended, 0 already recorded\n"
    found = json.loads(known("member", "--nir", NIR_ALICE, "--json").stdout)
    assert [(m["insurer"], m["ref"]) for m in found["memberships"]] == [("malakoff-humanis", "m1")]


def test_extra_columns_are_ignored_and_named_once(known, write_file):
    path = write_file("r.csv", "ref,Nom,email\nm1,Dupont,a@example.org\nm2,Durand,\n")

    result = known("members", "import", "--insurer", "malakoff-humanis", str(path))

    assert result.exit_code == 0, result.stderr
    assert warnings(result) == ["Warning: ignoring columns Nom, email (not roster columns)"]


def test_map_renames_a_column_and_an_empty_target_ignores_one_quietly(known, write_file):
    path = write_file("r.csv", f"N° adhérent;Numéro SS;email\nm1;{spaced(NIR_BRUNO)};a@example.org\n")

    result = known(
        "members",
        "import",
        "--insurer",
        "malakoff-humanis",
        str(path),
        "--map",
        "n° adhérent=ref",
        "--map",
        "Numéro SS=nir",
        "--map",
        "email=",
    )

    assert result.exit_code == 0, result.stderr
    assert warnings(result) == []
    assert json.loads(known("member", "--nir", NIR_BRUNO, "--json").stdout)["memberships"][0]["ref"] == "m1"


def test_a_map_to_no_roster_column_is_a_usage_error(known, write_file):
    result = known(
        "members",
        "import",
        "--insurer",
        "malakoff-humanis",
        str(write_file("r.csv", "ref\nm1\n")),
        "--map",
        "email=mail",
    )

    assert result.exit_code == 2
    assert "'mail' is not one of ref, role, contract, from, until, nir" in result.stderr


def test_repeated_refs_are_counted_in_a_warning(known, write_file):
    path = write_file("r.csv", "ref,contract\nm1,A\nm2,A\nm1,B\nm2,B\nm1,C\n")

    result = known("members", "import", "--insurer", "malakoff-humanis", str(path), "--batch-size", "2")

    assert result.exit_code == 0, result.stderr
    assert warnings(result) == [
        "Warning: 3 rows repeat a ref of an earlier row of this file: re-enrolments, the later row wins"
    ]
    assert "5 rows in 3 facts: 3 appended" in result.stdout


def test_a_file_imported_again_under_another_known_on_is_announced(known, write_file):
    path = write_file("r.csv", "ref\nm1\nm2\n")
    assert (
        known("members", "import", "--insurer", "malakoff-humanis", str(path), "--known-on", "2024-01-01").exit_code
        == 0
    )

    again = known("members", "import", "--insurer", "malakoff-humanis", str(path), "--known-on", "2024-02-01")
    same = known("members", "import", "--insurer", "malakoff-humanis", str(path), "--known-on", "2024-01-01")

    assert len(warnings(again)) == 1
    assert warnings(again)[0].startswith("Warning: this file was already imported (fact roster-malakoff-humanis-")
    assert "known on 2024-01-01 00:00 Europe/Paris" in warnings(again)[0]
    assert warnings(same) == []
    assert same.stdout == "2 rows in 1 fact: 0 appended, 1 already recorded\n"


def test_a_new_insurer_is_announced_and_a_near_one_suggested(known, write_file):
    path = write_file("r.csv", "ref\nm1\n")

    typo = known("members", "import", "--insurer", "malakof-humanis", str(path))
    new = known("members", "import", "--insurer", "mgen", str(path))
    silenced = known("members", "import", "--insurer", "harmonie", str(path), "--new-insurer")

    assert warnings(typo) == [
        "Warning: new insurer 'malakof-humanis': did you mean malakoff-humanis? (--new-insurer silences this)"
    ]
    assert warnings(new) == ["Warning: new insurer 'mgen'"]
    assert warnings(silenced) == []


def test_systematic_insurer_ids_load_without_did_you_mean(known, write_file):
    path = write_file("r.csv", "ref\nm1\n")
    for number in (1, 2, 3):
        result = known("members", "import", "--insurer", f"ins-{number:02d}", str(path))
        assert warnings(result) == [f"Warning: new insurer 'ins-{number:02d}'"]


def test_roster_facts_take_source_note_and_by(known, write_file):
    path = write_file("r.csv", "ref\nm1\n")

    result = known(
        "members",
        "import",
        "--insurer",
        "malakoff-humanis",
        str(path),
        "--source",
        "MH export 2024-01",
        "--note",
        "sent by e-mail",
        "--by",
        "dpo@mh",
    )

    assert result.exit_code == 0, result.stderr
    entry = [
        json.loads(line) for line in known("audit", "log", "--kind", "members-enrolled", "--json").stdout.splitlines()
    ][-1]
    assert (entry["source"], entry["note"], entry["by"]) == ("MH export 2024-01", "sent by e-mail", "dpo@mh")


def test_a_roster_header_without_ref_names_the_way_out(known, write_file):
    result = known("members", "import", "--insurer", "malakoff-humanis", str(write_file("r.csv", "id;nir\n1;\n")))

    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert error_lines(result)[0].endswith(
        "r.csv: the header has no ref column (roster columns: ref, role, contract, from, until, nir;"
        " got id;nir; rename one with --map NAME=ref)"
    )


def test_a_bad_date_in_a_roster_reads_line_colon_key(known, write_file):
    result = known(
        "members",
        "import",
        "--insurer",
        "malakoff-humanis",
        str(write_file("r.csv", "ref,from\nm1,2024-01-01\nm2,01/02/2024\n")),
    )

    assert error_lines(result) == ["Error: line 3: from: expected a date YYYY-MM-DD, got '01/02/2024'"]


# -- every error of an import file in one pass ----------------------------------------


def test_an_import_reports_every_problem_at_once_in_line_order(cli, write_file):
    lines = [
        json.dumps(opening()),
        json.dumps(fact("insurer-informed", incident="nope-2024", insurer="mh")),
        "{not json",
        json.dumps(fact("field-ruled-in", incident=INCIDENT, categories=["nir"], confidence="sure")),
        json.dumps(fact("field-ruled-in", incident=INCIDENT, categories=["shoe_size"])),
    ]
    path = write_file("f.jsonl", "\n".join(lines) + "\n")

    result = cli("import", str(path))

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: line 2: unknown incident 'nope-2024': record its attack-discovered fact first",
        "Error: line 3: invalid JSON (Expecting property name enclosed in double quotes at column 2)",
        "Error: line 4: confidence: 'sure' is not one of low, medium, high",
        "Error: line 5: unknown category 'shoe_size'",
    ]
    assert ledger_size(cli.path) == 0


def test_an_empty_import_file_is_an_error(cli, write_file):
    result = cli("import", str(write_file("empty.jsonl", "\n\n")))

    assert result.exit_code == 1
    assert error_lines(result)[0].endswith("empty.jsonl: no facts (an empty file)")


def test_an_enum_error_lists_the_allowed_values(cli):
    result = cli(
        "record",
        "attack-discovered",
        "--incident",
        INCIDENT,
        "--operator",
        "V",
        "--occurred-on",
        "2024-01-22",
        "--confidence",
        "sure",
    )

    assert error_lines(result) == ["Error: confidence: 'sure' is not one of low, medium, high"]


def test_a_future_as_known_on_warns_that_it_answers_as_of_now(known):
    result = known("summary", "--incident", INCIDENT, "--as-known-on", "2100-01-01", "--json")

    assert result.exit_code == 0
    assert warnings(result) == ["Warning: --as-known-on 2100-01-01 is in the future: the answer is what is known now"]
    assert json.loads(result.stdout)["incident"] == INCIDENT


# -- lookups without a NIR on the command line ----------------------------------------


def test_member_nir_dash_reads_nirs_from_stdin_and_answers_one_line_each(known, write_file):
    roster = write_file("r.csv", f"ref,nir\nm1,{NIR_ALICE}\nm2,{NIR_BRUNO}\n")
    assert known("members", "import", "--insurer", "malakoff-humanis", str(roster)).exit_code == 0

    result = known("member", "--nir", "-", input=f"{spaced(NIR_ALICE)}\n\n123\n{NIR_BRUNO}\n{NIR_ALICE}\n")

    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["line"] for a in answers] == [1, 3, 4, 5]
    assert answers[1] == {"line": 3, "error": "invalid NIR: expected 15 characters, got 3"}
    for answer, nir in zip([answers[0], answers[2], answers[3]], [NIR_ALICE, NIR_BRUNO, NIR_ALICE], strict=True):
        single = json.loads(known("member", "--nir", nir, "--json").stdout)
        assert {k: v for k, v in answer.items() if k not in ("line", "as_known_on")} == {
            k: v for k, v in single.items() if k != "as_known_on"
        }


def test_member_nir_dash_in_a_real_process_keeps_the_nir_out_of_its_arguments(known, write_file):
    roster = write_file("r.csv", f"ref,nir\nm1,{NIR_ALICE}\n")
    assert known("members", "import", "--insurer", "malakoff-humanis", str(roster)).exit_code == 0

    result = subprocess.run(
        [str(EXPOSURE), "--store", str(known.path), "member", "--nir", "-"],
        input=NIR_ALICE + "\n",
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["memberships"][0]["ref"] == "m1"


def test_member_with_an_unknown_insurer_is_an_error(known):
    result = known("member", "--insurer", "malakof-humanis", "--ref", "MH-1")

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: unknown insurer 'malakof-humanis'"]


# -- the same, in French ---------------------------------------------------------------


def test_a_roster_import_speaks_french(known, write_file):
    path = write_file("r.csv", "ref;Nom\nm1;Dupont\nm1;Dupont\n")

    result = known("--lang", "fr", "members", "import", "--insurer", "malakof-humanis", str(path))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "2 lignes en 1 fait : 1 ajoutés, 0 déjà enregistrés\n"
    assert warnings(result) == []
    assert [line for line in result.stderr.splitlines() if line.startswith("Avertissement : ")] == [
        "Avertissement : colonne Nom ignorée (pas une colonne de liste d'adhérents)",
        (
            "Avertissement : 1 ligne reprend la référence d'une ligne précédente de ce fichier : une réinscription,"
            " la dernière ligne l'emporte"
        ),
        (
            "Avertissement : nouvel assureur 'malakof-humanis' : vouliez-vous dire malakoff-humanis ?"
            " (--new-insurer fait taire cet avertissement)"
        ),
    ]


def test_a_file_imported_again_is_announced_in_french(known, write_file):
    path = write_file("r.csv", "ref\nm1\n")
    assert (
        known("members", "import", "--insurer", "malakoff-humanis", str(path), "--known-on", "2024-01-01").exit_code
        == 0
    )

    again = known("--lang", "fr", "members", "import", "--insurer", "malakoff-humanis", str(path))

    (line,) = [x for x in again.stderr.splitlines() if x.startswith("Avertissement : ")]
    assert line.startswith("Avertissement : ce fichier a déjà été importé (fait roster-malakoff-humanis-")
    assert line.endswith(
        "connu le 2024-01-01 00:00 Europe/Paris) : l'importer à nouveau enregistre ses adhérents une nouvelle fois"
    )


def test_an_import_and_a_future_date_speak_french(known, write_file):
    path = write_file("f.jsonl", jsonl(fact("insurer-informed", incident=INCIDENT, insurer="mgen")))

    imported = known("--lang", "fr", "import", str(path))
    future = known("--lang", "fr", "summary", "--incident", INCIDENT, "--as-known-on", "2100-01-01")

    assert imported.stdout == "1 fait ajouté\n"
    assert future.stderr.splitlines() == [
        "Avertissement : --as-known-on 2100-01-01 est dans le futur : la réponse est ce qui est connu maintenant"
    ]


def test_batch_lookups_answer_the_same_json_in_french(known, write_file):
    roster = write_file("r.csv", f"ref,nir\nm1,{NIR_ALICE}\n")
    assert known("members", "import", "--insurer", "malakoff-humanis", str(roster)).exit_code == 0

    english = known("member", "--nir", "-", "--as-known-on", "2024-02-01", input=NIR_ALICE + "\n")
    french = known("--lang", "fr", "member", "--nir", "-", "--as-known-on", "2024-02-01", input=NIR_ALICE + "\n")

    assert french.stdout == english.stdout
