"""The input attacks of issue 10 §5, through the real `exposure` command:

- duplicate JSON keys (the last `kind` silently won) are rejected with the line number;
- a line longer than `MAX_LINE` is rejected without being read whole (memory measured);
- refs, contracts and ids starting with `=`, `+`, `-`, `@`, a tab or a carriage return are
  written with a leading `'` in CSV exports (OWASP "CSV injection");
- insurer and incident ids with surrounding spaces or invisible characters are rejected;
- a NIR in a ref, a role or a date is masked in every error, and refused as a ref.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.inputs import MAX_LINE
from tests.cli.test_cli import jsonl
from tests.support import EXPOSURE, INCIDENT, NIR_ALICE, Cli, error_lines, fact, ledger_size, opening, spaced


def assert_rejected(result, *fragments: str) -> list[str]:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert all(line.startswith("Error: ") for line in lines)
    for fragment in fragments:
        assert any(fragment in line for line in lines), (fragment, lines)
    return lines


# -- duplicate keys -------------------------------------------------------------------


def test_a_duplicate_kind_in_an_import_line_is_rejected_with_its_line(cli: Cli, write_file):
    sneaky = '{"kind": "insurer-ruled-out", "incident": "%s", "insurer": "mh", "kind": "insurer-confirmed-affected"}'
    lines = [
        json.dumps(opening()),
        json.dumps(fact("insurer-informed", incident=INCIDENT, insurer="mh")),
        sneaky % INCIDENT,
    ]
    path = write_file("facts.jsonl", "\n".join(lines) + "\n")

    result = cli("import", str(path))

    assert_rejected(result, "line 3: duplicate key 'kind'")
    assert ledger_size(cli.path) == 0


def test_a_duplicate_key_inside_a_member_is_rejected(cli: Cli, write_file):
    line = (
        '{"kind": "members-enrolled", "insurer": "mh", "members": '
        '[{"ref": "m1", "role": "holder", "role": "dependant"}]}'
    )
    result = cli("import", str(write_file("facts.jsonl", line + "\n")))

    assert_rejected(result, "line 1: duplicate key 'role'")


def test_a_duplicate_key_in_a_members_flag_is_rejected(cli: Cli):
    result = cli("record", "members-enrolled", "--insurer", "mh", "--members", '{"ref": "m1", "ref": "m2"}')

    assert_rejected(result, "--members: duplicate key 'ref'")


# -- over-long lines ------------------------------------------------------------------


def peak_rss_mib(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `exposure` in a child of a fresh Python and return its result and peak RSS (MiB)."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(str(done.returncode) + '\\n' + done.stderr)\n"
        "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(EXPOSURE), *args], capture_output=True, text=True, timeout=600, check=False
    )
    code, _, stderr = done.stdout.partition("\n")
    return subprocess.CompletedProcess(args, int(code), "", stderr), int(done.stderr) / 1024


@pytest.mark.slow
def test_a_512_mib_line_is_rejected_with_bounded_memory(store_path, tmp_path: Path):
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as handle:
        handle.write(json.dumps(opening()).encode() + b"\n" + b'{"kind": "insurer-informed", "note": "')
        handle.truncate(512 * 1024 * 1024)  # a sparse file: 512 MiB of NUL bytes on one line, no disk used
        handle.seek(0, 2)
        handle.write(b'"}\n' + json.dumps(opening(id="after")).encode() + b"\n")

    result, peak = peak_rss_mib("--store", str(store_path), "import", str(path))

    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [f"Error: line 2: longer than {MAX_LINE // 2**20} MiB"]
    assert peak < 2 * MAX_LINE / 2**20 + 150, f"peak RSS {peak:.0f} MiB"
    assert ledger_size(store_path) == 0


def test_a_line_just_under_the_limit_is_read_and_one_just_over_is_not(cli: Cli, tmp_path: Path, monkeypatch):
    from cli import inputs  # noqa: PLC0415

    monkeypatch.setattr(inputs, "MAX_LINE", 200)
    fits = json.dumps(opening(note="x" * 10))
    over = json.dumps(opening(id="long", note="y" * 300))
    path = tmp_path / "f.jsonl"
    path.write_text(fits + "\n" + over + "\n", encoding="utf-8")

    result = cli("import", str(path))

    assert_rejected(result, "line 2: longer than")
    assert not any("line 1" in line for line in error_lines(result))


# -- CSV injection --------------------------------------------------------------------

FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)")
RISKY = ("=", "+", "-", "@", "\t", "\r")


def test_csv_exports_write_formula_cells_as_text(cli: Cli, write_file):
    facts = jsonl(
        opening(),
        fact("insurer-informed", incident=INCIDENT, insurer="+mh", known_on="2024-01-30"),
        fact("insurer-confirmed-affected", incident=INCIDENT, insurer="+mh", known_on="2024-02-01"),
        fact("field-ruled-in", incident=INCIDENT, categories=["nir"], known_on="2024-02-01"),
    )
    assert cli("import", str(write_file("facts.jsonl", facts))).exit_code == 0
    table = io.StringIO()
    csv.writer(table, lineterminator="\n").writerows(
        [("ref", "role", "contract"), *((f, "holder", f) for f in FORMULAS)]
    )
    roster = write_file("mh.csv", table.getvalue())
    imported = cli("members", "import", "--insurer", "+mh", str(roster), "--known-on", "2024-01-01")
    assert imported.exit_code == 0, imported.stderr

    exported = cli("members", "export", "--incident", INCIDENT, "--format", "csv")
    changed = cli("diff", "--incident", INCIDENT, "--from", "2024-01-15", "--to", "2024-02-05", "--members")

    for result in (exported, changed):
        assert result.exit_code == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert sorted(row["ref"] for row in rows) == sorted("'" + ref for ref in FORMULAS)
        assert {row["insurer"] for row in rows} == {"'+mh"}
        assert all(not value.startswith(RISKY) for row in rows for value in row.values())
    contracts = {row["contract"] for row in csv.DictReader(io.StringIO(exported.stdout))}
    assert contracts == {"'" + ref for ref in FORMULAS}
    as_json = cli("members", "export", "--incident", INCIDENT, "--format", "jsonl")
    assert sorted(json.loads(line)["ref"] for line in as_json.stdout.splitlines()) == sorted(FORMULAS)  # data kept


# -- ids that look alike --------------------------------------------------------------


@pytest.mark.parametrize(
    "insurer",
    [" mh", "mh ", "mh\u200b", "\u200bmh", "m\u200dh", "mh\ufeff", "mh\u00a0", "m\u2060h"],
    ids=["lead-space", "trail-space", "zwsp", "lead-zwsp", "zwj", "bom", "nbsp", "word-joiner"],
)
def test_an_insurer_id_with_spaces_or_invisible_characters_is_rejected(cli: Cli, write_file, insurer):
    facts = jsonl(opening(), fact("insurer-informed", incident=INCIDENT, insurer=insurer, known_on="2024-01-30"))

    result = cli("import", str(write_file("facts.jsonl", facts)))
    roster = cli("members", "import", "--insurer", insurer, str(write_file("r.csv", "ref\nm1\n")))
    recorded = cli("record", "insurer-informed", "--incident", INCIDENT, "--insurer", insurer)

    for attempt in (result, roster, recorded):
        assert_rejected(attempt, "insurer: ")
    assert ledger_size(cli.path) == 0


@pytest.mark.parametrize("incident", [f" {INCIDENT}", f"{INCIDENT}\u200b", f"{INCIDENT}\u2028"])
def test_an_incident_id_with_spaces_or_invisible_characters_is_rejected(cli: Cli, incident):
    result = cli(
        "record", "attack-discovered", "--incident", incident, "--operator", "Viamedis", "--occurred-on", "2024-01-22"
    )

    assert_rejected(result, "incident: ")
    assert ledger_size(cli.path) == 0


def test_a_roster_ref_with_an_invisible_character_is_rejected(cli: Cli, write_file):
    roster = write_file("r.csv", "ref,contract\nm1,A\nm\u200b1,A\nm2,B\u200e\n")

    result = cli("members", "import", "--insurer", "mh", str(roster))

    assert_rejected(result, "line 3: ref: invisible character U+200B", "line 4: contract: invisible character U+200E")


# -- NIRs where they do not belong ----------------------------------------------------


def test_a_nir_in_a_roster_ref_role_or_date_is_refused_and_never_echoed(cli: Cli, write_file):
    rows = [f"{NIR_ALICE},holder,", f"m2,{spaced(NIR_ALICE)},", f"m3,holder,{NIR_ALICE}"]
    roster = write_file("r.csv", "ref,role,from\n" + "\n".join(rows) + "\n")

    result = cli("members", "import", "--insurer", "mh", str(roster))

    lines = assert_rejected(result, "line 2: ref:", "is a NIR", "line 3: role", "line 4: from")
    assert len(lines) == 3
    assert NIR_ALICE not in result.stderr.replace(" ", "")
    assert "2************" in result.stderr
    assert ledger_size(cli.path) == 0


def test_a_nir_in_a_fact_ref_role_or_date_is_refused_and_never_echoed(cli: Cli, write_file):
    facts = jsonl(
        opening(),
        fact("members-enrolled", insurer="mh", members=[{"ref": spaced(NIR_ALICE)}]),
        fact("members-enrolled", insurer="mh", members=[{"ref": "m1", "role": NIR_ALICE}]),
        fact("members-enrolled", insurer="mh", members=[{"ref": "m1", "from": NIR_ALICE}]),
        fact("members-ruled-out", incident=INCIDENT, insurer="mh", refs=[NIR_ALICE]),
        fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on=NIR_ALICE),
    )

    result = cli("import", str(write_file("facts.jsonl", facts)))

    assert_rejected(result, "line 2:", "line 3:", "line 4:", "line 5:", "line 6:")
    assert NIR_ALICE not in result.stderr.replace(" ", "")
    assert ledger_size(cli.path) == 0
