"""`audit export`: CloudEvents 1.0 lines an auditor verifies without this program.

Every line is read back with the CloudEvents SDK; the standard-library verifier
(`tests/support/independent_verifier.py`) runs in an isolated interpreter that cannot
import the project, on the export and on tampered copies of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat

from tests.support import EXPOSURE
from tests.support.audit_story import SIZE, STORY, build, independent_root, rewrite, rows

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

VERIFIER = Path(__file__).parent.parent / "support" / "independent_verifier.py"


@pytest.fixture
def ledger(cli, write_file):
    """The CLI on a store holding the audit story (10 facts)."""
    return build(cli, write_file)


@pytest.fixture
def exported(ledger, tmp_path) -> Path:
    """The ledger exported to a file outside the store's folder."""
    path = tmp_path / "export" / "ledger.jsonl"
    result = ledger("audit", "export", str(path))
    assert result.exit_code == 0, result.stderr
    return path


def independent(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The standard-library verifier in an isolated interpreter: no site-packages, no project on the path."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(VERIFIER), str(path), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
        timeout=60,
    )


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_events(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in lines), encoding="utf-8")
    return path


# -- the format -------------------------------------------------------------------------


def test_every_line_is_a_valid_cloudevent_for_the_sdk(exported, ledger):
    lines = exported.read_text(encoding="utf-8").splitlines()

    parsed = [JSONFormat().read(None, line) for line in lines]

    assert len(parsed) == SIZE + 1
    assert {e.get_specversion() for e in parsed} == {"1.0"}
    assert len({e.get_source() for e in parsed}) == 1
    assert parsed[0].get_source().startswith("urn:exposure:ledger:")
    facts, head = parsed[:-1], parsed[-1]
    assert [e.get_id() for e in facts[1:]] == [f["id"] for f in STORY]
    assert facts[1].get_type() == "org.exposure.fact.attack-discovered.v1"
    assert facts[1].get_time().isoformat() == "2024-01-21T23:00:00+00:00"  # 2024-01-22 in Paris
    assert facts[1].get_datacontenttype() == "application/json"
    assert [e.get_extension("sequence") for e in facts] == [str(n).zfill(20) for n in range(1, SIZE + 1)]
    assert facts[1].get_extension("knownon") == "2024-01-28T23:00:00Z"
    assert facts[1].get_data()["operator"] == "Viamedis"
    assert head.get_type() == "org.exposure.head.v1"
    assert head.get_data()["size"] == SIZE
    assert head.get_data()["root"] == independent_root(ledger.path)


def test_extension_names_are_lowercase_letters_and_digits_of_at_most_20(exported):
    standard = {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}

    names = {key for event in events(exported) for key in event} - standard

    assert names >= {"recordedat", "knownon", "sequence", "leafhash", "storedbytes"}
    assert all(name.isalnum() and name.islower() and len(name) <= 20 for name in names)


def test_the_stored_bytes_are_the_exact_bytes_in_the_store(ledger, exported):
    stored = [state for _, _, _, _, state in rows(ledger.path)]

    assert [base64.b64decode(e["storedbytes"]) for e in events(exported)[:-1]] == stored


def test_exporting_to_standard_output_prints_the_same_lines(ledger, exported):
    result = ledger("audit", "export", "-")

    assert result.exit_code == 0
    assert result.stdout == exported.read_text(encoding="utf-8")


def test_a_tampered_ledger_is_not_exported(ledger, tmp_path):
    rewrite(ledger.path, 4, b'{"kind"', b'["kind"')
    target = tmp_path / "out.jsonl"

    result = ledger("audit", "export", str(target))

    assert result.exit_code == 3
    assert result.stderr.startswith("Error: position 4:")
    assert not target.exists()
    assert list(tmp_path.glob(".out.jsonl.*")) == []


# -- the independent verifier -----------------------------------------------------------


def test_the_independent_verifier_accepts_the_export_and_finds_the_same_root(ledger, exported):
    root = independent_root(ledger.path)

    result = independent(exported)
    against_kept = independent(exported, "--expect", f"{SIZE}:{root}")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"OK: {SIZE} facts, root {root}\n"
    assert against_kept.returncode == 0, against_kept.stderr


def test_the_independent_verifier_runs_on_the_export_of_the_real_entry_point(ledger, tmp_path):
    target = tmp_path / "real.jsonl"
    subprocess.run(
        [str(EXPOSURE), "--store", str(ledger.path), "audit", "export", str(target)],
        check=True,
        capture_output=True,
        timeout=120,
    )

    assert independent(target).returncode == 0


def _flip_stored_byte(lines: list[dict[str, Any]]) -> None:
    stored = bytearray(base64.b64decode(lines[3]["storedbytes"]))
    stored[stored.index(b"mh")] = ord("n")
    lines[3]["storedbytes"] = base64.b64encode(bytes(stored)).decode()


def _reforge(lines: list[dict[str, Any]], index: int, old: bytes, new: bytes) -> None:
    """Edit one fact's stored bytes and rewrite its data, times and leaf hash to match."""
    line = lines[index]
    stored = base64.b64decode(line["storedbytes"])
    assert old in stored
    stored = stored.replace(old, new, 1)
    line["storedbytes"] = base64.b64encode(stored).decode()
    line["data"] = json.loads(stored)
    line["recordedat"] = line["data"]["recorded_at"]
    line["leafhash"] = hashlib.sha256(
        b"\x00" + (index + 1).to_bytes(8, "big") + hashlib.sha256(line["storedtopic"].encode()).digest() + stored
    ).hexdigest()


def _move_recording_back(lines: list[dict[str, Any]]) -> None:
    recorded = lines[5]["data"]["recorded_at"].encode()
    _reforge(lines, 5, recorded, b"2024-01-01T00:00:00Z")


TAMPERINGS = {
    "a stored byte flipped": (_flip_stored_byte, "line 4: leafhash is not the hash of the stored bytes"),
    "data edited, stored bytes kept": (lambda ls: ls[2]["data"].update(insurer="mg"), "line 3: data differs"),
    "a fact rewritten with its hash": (
        lambda ls: _reforge(ls, 2, b'"insurer":"mh"', b'"insurer":"mg"'),
        f"line {SIZE + 1}: the head's root is not the root",
    ),
    "a fact line removed": (lambda ls: ls.pop(4), "line 5: sequence"),
    "two fact lines swapped": (lambda ls: ls.insert(5, ls.pop(4)), "line 5: sequence"),
    "the head line cut off": (lambda ls: ls.pop(), "the last line is not the head"),
    "the head's root replaced": (lambda ls: ls[-1]["data"].update(root="0" * 64), "the head's root is not the root"),
    "the head's size inflated": (lambda ls: ls[-1]["data"].update(size=SIZE + 1), f"the head counts {SIZE + 1} facts"),
    "a recorded time moved back": (_move_recording_back, "line 6: recordedat is not after"),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_the_independent_verifier_rejects_a_tampered_export(exported, tmp_path, name):
    change, message = TAMPERINGS[name]
    lines = events(exported)
    change(lines)

    result = independent(write_events(tmp_path / "tampered.jsonl", lines))

    assert result.returncode == 3, result.stdout
    assert result.stderr.startswith("FAIL: ")
    assert message in result.stderr


def test_the_independent_verifier_rejects_an_export_that_does_not_extend_a_kept_head(exported, tmp_path):
    result = independent(exported, "--expect", f"{SIZE - 1}:{'ab' * 32}")

    assert result.returncode == 3
    assert f"the first {SIZE - 1} facts do not have the kept head's root" in result.stderr


# -- encrypted stores -------------------------------------------------------------------


@pytest.fixture
def encrypted(new_cli, write_file):
    """The CLI on an encrypted store (`init --encrypt`) holding the audit story."""
    assert new_cli("init", "--encrypt").exit_code == 0
    return build(new_cli, write_file)


def test_an_encrypted_ledger_exports_its_ciphertext_and_nothing_in_clear(encrypted, tmp_path):
    target = tmp_path / "encrypted.jsonl"

    assert encrypted("audit", "export", str(target)).exit_code == 0

    lines = events(target)
    text = target.read_text(encoding="utf-8")
    assert all(line.get("encrypted") is True for line in lines[:-1])
    assert all("data" not in line and "knownon" not in line for line in lines[:-1])
    assert lines[1]["id"] == lines[1]["leafhash"]
    assert "Viamedis" not in text
    assert "informed-mh" not in text
    assert b"Viamedis" not in base64.b64decode(lines[1]["storedbytes"])
    verified = independent(target)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith(f"OK: {SIZE} facts")


def test_decrypt_exports_an_encrypted_ledger_in_clear_and_the_verifier_says_what_it_could_not_check(
    encrypted, tmp_path
):
    target = tmp_path / "clear.jsonl"

    assert encrypted("audit", "export", str(target), "--decrypt").exit_code == 0

    lines = events(target)
    assert lines[1]["data"]["operator"] == "Viamedis"
    assert lines[1]["encrypted"] is True
    verified = independent(target)
    assert verified.returncode == 0, verified.stderr
    assert f"({SIZE} encrypted facts carry decrypted data that cannot be checked without the key)" in verified.stdout


# -- issue 10 §5: every field an auditor reads is bound to the leaf hash -----------------------


def _rewrite_data_under_an_encrypted_flag(lines: list[dict[str, Any]]) -> None:
    """The attack: a plain line claims to be encrypted, so that its data is no longer compared."""
    line = lines[2]
    line["encrypted"] = True
    line["data"].update(kind="insurer-ruled-out", insurer="mgen", known_on="2023-01-01T00:00:00Z")
    line["knownon"] = "2023-01-01T00:00:00Z"


def _number_read_as_boolean(lines: list[dict[str, Any]]) -> None:
    """Bytes that say `"estimate":1`, data that says `"estimate":true`: equal to a careless comparison."""
    _reforge(lines, 3, b'"insurer":"mh"', b'"insurer":"mh","estimate":1')
    lines[3]["data"]["estimate"] = True


BINDING_ATTACKS = {
    "an encrypted flag added to rewrite a plain line's data": (
        _rewrite_data_under_an_encrypted_flag,
        "line 3: the line says encrypted, but the stored bytes are the fact in clear",
    ),
    "an unbound attribute added": (
        lambda ls: ls[2].update(verified="by the DPO"),
        "line 3: attribute 'verified' is not bound to the leaf hash",
    ),
    "a number turned into a boolean (equal for Python's ==)": (
        _number_read_as_boolean,
        "line 4: data differs from the stored bytes",
    ),
    "the head given an unbound key": (
        lambda ls: ls[-1]["data"].update(note="all good"),
        f"line {SIZE + 1}: the head's data key 'note' is not bound to the head",
    ),
    "the head's origin swapped for another ledger's": (
        lambda ls: ls[-1]["data"].update(origin="exposure.ledger/00000000-0000-0000-0000-000000000000"),
        f"line {SIZE + 1}: the head's source is not its origin's",
    ),
}


@pytest.mark.parametrize("name", BINDING_ATTACKS)
def test_the_independent_verifier_refuses_fields_not_bound_to_the_leaf(exported, tmp_path, name):
    change, message = BINDING_ATTACKS[name]
    lines = events(exported)
    change(lines)

    result = independent(write_events(tmp_path / "tampered.jsonl", lines), "--expect", kept_head(exported))

    assert result.returncode == 3, result.stdout
    assert message in result.stderr


def kept_head(exported: Path) -> str:
    head = events(exported)[-1]["data"]
    return f"{head['size']}:{head['root']}"


def test_a_line_with_two_data_keys_is_refused(exported, tmp_path):
    lines = exported.read_text(encoding="utf-8").splitlines()
    second = json.dumps(json.loads(lines[2])["data"], separators=(",", ":")).replace('"mh"', '"mgen"')
    lines[2] = lines[2][:-1] + ',"data":' + second + "}"  # a JSON reader that keeps the last key reads "mgen"
    tampered = tmp_path / "duplicate.jsonl"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = independent(tampered)

    assert result.returncode == 3
    assert "line 3: key 'data' appears twice in one object" in result.stderr


def test_an_encrypted_line_with_a_clear_time_and_no_data_is_refused(encrypted, tmp_path):
    target = tmp_path / "encrypted.jsonl"
    assert encrypted("audit", "export", str(target)).exit_code == 0
    lines = events(target)
    lines[2]["knownon"] = "2024-01-01T00:00:00Z"  # a time no one can check against the ciphertext

    result = independent(write_events(tmp_path / "tampered.jsonl", lines))

    assert result.returncode == 3
    assert "line 3: knownon is given in clear for an encrypted fact without its data" in result.stderr
