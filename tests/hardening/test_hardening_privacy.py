"""Privacy of a store folder: after the demo and after a scenario through every input path
(on a store kept in clear and on an encrypted one), no raw NIR is in any file of the store
folder; the key file is created 0600 whatever the umask; every command refuses a key file
that group or others may access, with the chmod hint, and writes nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.commands import demo
from cli.commands.demo_roster import roster_rows
from tests.support import (
    EXPOSURE,
    INCIDENT,
    NIR_ALICE,
    NIR_BRUNO,
    NIR_CORSE,
    Cli,
    error_lines,
    ledger_size,
    nir_key,
    opening,
)
from tests.support import spaced as spaced_nir

COMPACT = re.compile(rb"(?<![0-9A-Za-z])[12][0-9]{4}(?:[0-9]{2}|2[ABab])[0-9]{8}(?![0-9A-Za-z])")
SPACED = re.compile(
    rb"(?<![0-9])[12][ .][0-9]{2}[ .][0-9]{2}[ .](?:[0-9]{2}|2[ABab])[ .][0-9]{3}[ .][0-9]{3}[ .]?[0-9]{2}(?![0-9])"
)


def nirs_in(data: bytes) -> set[str]:
    """Every valid NIR written in `data`, compact or spaced (a 1-in-97 key check filters noise)."""
    found = set()
    for match in [*COMPACT.findall(data), *SPACED.findall(data)]:
        text = re.sub(rb"[ .]", b"", match).decode("ascii").upper()
        try:
            if nir_key(text[:13]) == text[13:]:
                found.add(text)
        except ValueError:
            continue
    return found


def raw_nirs_in_folder(folder: Path, known: set[str]) -> list[str]:
    """(file: NIR) for every NIR found in any file under `folder`, by pattern or as a known value."""
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        leaks += [f"{path.name}: {nir}" for nir in sorted(nirs_in(data))]
        leaks += [f"{path.name}: {nir} (known)" for nir in sorted(known) if nir.encode() in data]
    return leaks


def exposure(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXPOSURE), *args], capture_output=True, text=True, check=False, timeout=120, env=env)


def test_the_leak_scanner_finds_valid_nirs_and_ignores_pseudonyms_and_noise():
    pseudonym = b"a3f9" + NIR_ALICE.encode() + b"ff00"
    text = b"x," + NIR_BRUNO.encode() + b"\n" + spaced_nir(NIR_CORSE).encode() + b"; " + pseudonym + b" 123456789012345"

    assert nirs_in(text) == {NIR_BRUNO, NIR_CORSE}


def test_the_demo_leaves_no_raw_nir_in_its_folder(tmp_path):
    folder = tmp_path / "demo"
    insurers = demo.insurers_in(demo.story_facts())
    generated = {
        row["nir"].replace(" ", "")
        for number, insurer in enumerate(insurers)
        for row in roster_rows(
            insurer, 60, seed=number + 1, contracts=demo.CONTRACTS.get(insurer, demo.DEFAULT_CONTRACTS)
        )
        if row.get("nir")
    }

    done = exposure("demo", "--dir", str(folder), "--members", "60", "--json")
    export = exposure("--store", str(folder / "demo.db"), "members", "export", "--incident", "viamedis-2024-01")

    assert done.returncode == 0, done.stderr
    assert export.returncode == 0
    assert len(generated) > 100
    assert sorted(p.name for p in folder.iterdir()) == ["demo.db", "demo.key"]
    assert raw_nirs_in_folder(folder, generated) == []
    assert (folder / "demo.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("encrypt", [False, True], ids=["clear", "encrypted"])
def test_a_scenario_through_every_input_path_leaves_no_raw_nir_in_the_store_folder(tmp_path, encrypt):
    folder, inputs = tmp_path / "store", tmp_path / "inputs"
    inputs.mkdir()
    store = folder / "ledger.db"
    people = [NIR_ALICE, NIR_BRUNO, NIR_CORSE]
    cli = Cli(store)
    (inputs / "facts.jsonl").write_text(
        "".join(
            json.dumps(f) + "\n"
            for f in [
                opening(),
                {
                    "kind": "members-enrolled",
                    "insurer": "mh",
                    "known_on": "2024-01-01",
                    "members": [
                        {"ref": "m1", "nir": spaced_nir(NIR_ALICE)},
                        {"ref": "m2", "nir": NIR_BRUNO.replace("", " ")},
                    ],
                },
                {"kind": "insurer-confirmed-affected", "incident": INCIDENT, "insurer": "mh", "known_on": "2024-02-01"},
                {
                    "kind": "insurer-confirmed-affected",
                    "incident": INCIDENT,
                    "insurer": "lmg",
                    "known_on": "2024-02-01",
                },
                {"kind": "field-ruled-in", "incident": INCIDENT, "categories": ["nir"], "known_on": "2024-02-01"},
            ]
        ),
        encoding="utf-8",
    )
    (inputs / "roster.csv").write_text(
        f"ref,nir\ng1,{NIR_CORSE.lower()}\ng2,{spaced_nir(NIR_ALICE)}\n", encoding="utf-8"
    )
    (inputs / "bad.csv").write_text(f"ref,nir\nx,{NIR_BRUNO[:13]}00\n", encoding="utf-8")

    results = [
        cli("init", *(["--encrypt"] if encrypt else [])),
        cli("import", str(inputs / "facts.jsonl")),
        cli("record", "members-enrolled", "--insurer", "lmg", "--members", json.dumps({"ref": "g0", "nir": NIR_BRUNO})),
        cli("members", "import", "--insurer", "lmg", str(inputs / "roster.csv")),
        cli("member", "--nir", spaced_nir(NIR_ALICE), "--json"),
        cli("members", "export", "--incident", INCIDENT, "--format", "jsonl"),
        cli("audit", "export", str(tmp_path / "export.jsonl")),
        cli("summary", "--incident", INCIDENT, "--json"),
    ]
    rejected = cli("members", "import", "--insurer", "lmg", str(inputs / "bad.csv"))

    assert [r.exit_code for r in results] == [0] * len(results), [r.output for r in results if r.exit_code]
    assert len(json.loads(results[4].stdout)["memberships"]) == 2
    assert json.loads(results[-1].stdout)["members"]["people"] == 3
    assert rejected.exit_code == 1
    assert NIR_BRUNO[:13] not in rejected.output
    assert raw_nirs_in_folder(folder, set(people)) == []
    assert all(nir not in r.output for r in results for nir in people)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_init_creates_the_key_file_0600_whatever_the_umask(tmp_path, umask):
    store = tmp_path / "ledger.db"
    script = f"import os, sys; os.umask({umask}); os.execv({str(EXPOSURE)!r}, sys.argv[1:])"

    done = subprocess.run(
        [sys.executable, "-c", script, str(EXPOSURE), "--store", str(store), "init", "--encrypt"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert store.with_suffix(".key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620, 0o602, 0o610, 0o644])
@pytest.mark.parametrize(
    "command",
    [
        ("summary", "--incident", INCIDENT),
        ("record", "insurer-informed", "--incident", INCIDENT, "--insurer", "mh"),
        ("audit", "log"),
    ],
    ids=["summary", "record", "audit-log"],
)
def test_every_command_refuses_a_key_file_group_or_others_may_access(cli, store_path, mode, command):
    cli("import", "-", input=json.dumps(opening()) + "\n")
    key = store_path.with_suffix(".key")
    before = ledger_size(store_path)
    key.chmod(mode)

    result = cli(*command)

    assert result.exit_code == 1
    assert error_lines(result) == [
        f"Error: key file {key} is accessible by group or others (mode {mode:04o}); run: chmod 600 {key}"
    ]
    assert ledger_size(store_path) == before
    key.chmod(0o600)
    assert cli(*command).exit_code == 0


def test_members_import_refuses_a_readable_key_file_before_reading_the_roster(cli, store_path, write_file):
    roster = write_file("roster.csv", f"ref,nir\nm1,{NIR_ALICE}\n")
    key = store_path.with_suffix(".key")
    key.chmod(0o644)

    result = cli("members", "import", "--insurer", "mh", str(roster))

    assert result.exit_code == 1
    assert error_lines(result)[0].endswith(f"run: chmod 600 {key}")
    assert ledger_size(store_path) == 0
    store_files = {"ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.key"}
    assert {p.name for p in store_path.parent.iterdir()} <= store_files
