"""Large facts are stored deflated (`ledger/compression.py`): a roster batch takes about a
quarter of its JSON; small facts stay JSON; stores written before read as they did, and the
audit (verify, export, the independent verifier) reads both forms."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ledger import roster
from ledger.compression import DEFLATE_ABOVE
from ledger.store import Store
from tests.support import Location, key_path, valid_nir
from tests.support.audit_story import assert_fails_at, rows, tamper

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

VERIFIER = Path(__file__).parent.parent / "support" / "independent_verifier.py"
MEMBERS = 300


def roster_text(count: int = MEMBERS) -> str:
    lines = ["ref,role,contract,from,until,nir"]
    for n in range(count):
        nir = valid_nir(f"1840175{n:06d}") if n % 2 else ""
        lines.append(f"m{n:05d},holder,C{n // 3:04d},2020-01-{1 + n % 28:02d},,{nir}")
    return "\n".join(lines) + "\n"


def states(location) -> dict[str, bytes]:
    """The stored bytes of each fact, by topic (the last of each)."""
    return {topic.removeprefix("exposure:"): state for _, _, _, topic, state in rows(location)}


def enrolled(cli, ref: str) -> bool:
    """Whether `member --insurer mh --ref REF` finds the member."""
    answer = cli("member", "--insurer", "mh", "--ref", ref, "--json")
    assert answer.exit_code == 0, answer.stderr
    return [m["ref"] for m in json.loads(answer.stdout)["memberships"]] == [ref]


def test_a_large_roster_is_stored_deflated_and_a_small_fact_as_its_json(cli, write_file):
    file = write_file("roster.csv", roster_text())
    assert cli("members", "import", "--insurer", "mh", str(file), "--known-on", "2024-01-02").exit_code == 0
    recorded = cli(
        "record", "attack-discovered", "--incident", "vi-1", "--operator", "Viamedis", "--occurred-on", "2024-01-22"
    )
    assert recorded.exit_code == 0, recorded.stderr

    stored = states(cli.path)

    deflated = stored["members-enrolled"]
    plain = zlib.decompress(deflated)
    assert deflated[:1] == b"\x78"
    assert len(plain) > DEFLATE_ABOVE
    assert len(deflated) < len(plain) / 3
    assert json.loads(plain)["members"][1]["ref"] == "m00001"
    assert stored["attack-discovered"][:1] == b"{"
    assert enrolled(cli, "m00299")
    assert cli("audit", "verify").exit_code == 0


def test_the_export_of_a_deflated_roster_verifies_without_this_program(cli, write_file, tmp_path):
    file = write_file("roster.csv", roster_text())
    assert cli("members", "import", "--insurer", "mh", str(file), "--known-on", "2024-01-02").exit_code == 0
    export = tmp_path / "out" / "ledger.jsonl"

    assert cli("audit", "export", str(export)).exit_code == 0

    line = next(json.loads(x) for x in export.read_text().splitlines() if "members-enrolled" in x)
    assert line["data"] == json.loads(zlib.decompress(base64.b64decode(line["storedbytes"])))
    checked = subprocess.run(
        [sys.executable, "-I", "-S", str(VERIFIER), str(export)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_damaged_deflated_roster_fails_verification_without_a_traceback(cli, write_file):
    file = write_file("roster.csv", roster_text())
    assert cli("members", "import", "--insurer", "mh", str(file), "--known-on", "2024-01-02").exit_code == 0
    deflated = states(cli.path)["members-enrolled"]
    broken = deflated[:40] + bytes(b ^ 0xFF for b in deflated[40:48]) + deflated[48:]

    tamper(cli.path, ("UPDATE stored_events SET state = ? WHERE originator_version = ?", (broken, 1)))

    assert_fails_at(cli("audit", "verify"), "position 1: the stored fact does not decode")


async def import_as_json(location: Location, file: Path) -> None:
    """Import a roster through a mapper that stores JSON only (as before facts were deflated)."""
    store = await Store.open(str(location), key_path(location))
    store.ledger.mapper.compressor = None
    try:
        await roster.import_roster(store, "mh", str(file), known_on="2024-01-02")
    finally:
        await store.close()


def test_a_store_whose_rosters_were_stored_as_json_reads_as_before(cli, write_file):
    """Stores written before facts were deflated hold every fact as JSON."""
    asyncio.run(import_as_json(cli.path, write_file("roster.csv", roster_text())))
    assert states(cli.path)["members-enrolled"][:1] == b"{"

    assert enrolled(cli, "m00299")
    assert cli("audit", "verify").exit_code == 0
    assert cli("store", "rebuild").exit_code == 0
    assert enrolled(cli, "m00001")
