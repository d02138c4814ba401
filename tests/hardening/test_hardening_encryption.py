"""`init --encrypt`: every fact's payload is stored AES-GCM encrypted (inside a SQLCipher file
on SQLite: see test_encryption_at_rest.py), a missing or wrong key file is one clear `Error:`
line (never garbage, a traceback or a hang), and an encrypted store answers exactly like a
store kept in clear.

What the event table of an encrypted store shows to whoever holds the file key, or a
copy of the log alone (by design, documented in docs/SECURITY.md): each fact's kind
(`topic`), position and size.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cli.commands import demo
from ledger.store import Store
from projections import queries
from tests.support import EXPOSURE, PARIS, Cli, error_lines, ledger_size, opened, read_file, valid_nir

SECRETS = {
    "incident": "incident-okapi-2024",
    "insurer": "insurer-pangolin",
    "ref": "REF-QX-4711",
    "contract": "CONTRACT-NARWHAL",
    "category": "category-lynx",
    "label": "Lynx records",
    "operator": "Operator Axolotl",
    "note": "note-about-the-quokka",
}
"""Distinctive values, so that finding one in the file bytes cannot be a coincidence."""
BUILT_IN = ("birth_date", "civil_status", "contract_guarantees")
NIR = valid_nir("1840175123456")


def facts_with_secrets() -> list[dict[str, Any]]:
    s = SECRETS
    return [
        {
            "kind": "attack-discovered",
            "id": "open",
            "incident": s["incident"],
            "operator": s["operator"],
            "occurred_on": "2024-01-22",
            "known_on": "2024-01-29",
            "note": s["note"],
        },
        {"kind": "category-defined", "id": "cat", "category": s["category"], "label": s["label"], "risk": "high"},
        {
            "kind": "members-enrolled",
            "id": "roster",
            "insurer": s["insurer"],
            "known_on": "2024-01-01",
            "members": [{"ref": s["ref"], "role": "holder", "contract": s["contract"], "nir": NIR}],
        },
        {
            "kind": "insurer-confirmed-affected",
            "id": "affected",
            "incident": s["incident"],
            "insurer": s["insurer"],
            "known_on": "2024-02-01",
        },
        {
            "kind": "field-ruled-in",
            "id": "fields",
            "incident": s["incident"],
            "categories": [*BUILT_IN, s["category"]],
            "known_on": "2024-02-01",
        },
        {
            "kind": "members-confirmed-affected",
            "id": "found",
            "incident": s["incident"],
            "insurer": s["insurer"],
            "refs": [s["ref"]],
            "known_on": "2024-02-02",
        },
    ]


def tokens() -> list[bytes]:
    return [value.encode() for value in (*SECRETS.values(), *BUILT_IN)]


def exposure(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXPOSURE), *args], capture_output=True, text=True, check=False, timeout=60)


def make_store(folder: Path, *, encrypt: bool) -> Path:
    path = folder / "ledger.db"
    cli = Cli(path)
    assert cli("init", "--timezone", PARIS, *(["--encrypt"] if encrypt else [])).exit_code == 0
    source = folder.parent / f"{folder.name}.jsonl"
    source.write_text("".join(json.dumps(f) + "\n" for f in facts_with_secrets()), encoding="utf-8")
    imported = cli("import", str(source))
    assert imported.exit_code == 0, imported.output
    assert cli("summary", "--incident", SECRETS["incident"]).exit_code == 0  # the projections catch up
    return path


def payloads(path: Path) -> list[bytes]:
    """The `stored_events.state` values, exactly as stored (read with the file key)."""
    with read_file(path) as db:
        return [bytes(state) for (state,) in db.execute("SELECT state FROM stored_events ORDER BY rowid")]


def event_table_alone(path: Path, folder: Path) -> bytes:
    """The raw bytes of a plain SQLite file holding only the store's event table, rows as
    stored (what a copy of the log alone, e.g. a PostgreSQL dump of the events, reveals)."""
    folder.mkdir()
    copy = folder / "events-only.db"
    with read_file(path) as source:
        rows = source.execute("SELECT * FROM stored_events ORDER BY rowid").fetchall()
    with sqlite3.connect(copy, isolation_level=None) as db:
        db.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB)"
        )
        db.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)", [tuple(row) for row in rows])
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute("VACUUM")
    db.close()
    return copy.read_bytes()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("encryption")
    (base / "clear").mkdir()
    (base / "encrypted").mkdir()
    return {
        "clear": make_store(base / "clear", encrypt=False),
        "encrypted": make_store(base / "encrypted", encrypt=True),
    }


# -- what is stored -----------------------------------------------------------------------------


def test_encrypted_payloads_hold_no_incident_insurer_ref_or_category_in_clear(stores):
    encrypted, clear = payloads(stores["encrypted"]), payloads(stores["clear"])

    assert len(encrypted) == len(clear) == len(facts_with_secrets())
    assert [t for t in tokens() if any(t in state for state in encrypted)] == []
    assert [t for t in tokens() if not any(t in state for state in clear)] == []  # the check can fail


def test_the_event_table_of_an_encrypted_store_alone_reveals_none_of_them(stores, tmp_path):
    encrypted = event_table_alone(stores["encrypted"], tmp_path / "encrypted")
    clear = event_table_alone(stores["clear"], tmp_path / "clear")

    assert [t for t in tokens() if t in encrypted] == []
    assert [t for t in tokens() if t not in clear] == []
    assert b"exposure:members-enrolled" in encrypted  # the kind of each fact is its topic, in clear


def test_the_projections_hold_ids_readable_only_with_the_file_key(stores):
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(f"file:{stores['encrypted']}?mode=ro", uri=True).execute("SELECT * FROM facts").fetchall()

    with read_file(stores["encrypted"]) as db:
        insurers = {row[0] for row in db.execute("SELECT insurer FROM facts WHERE insurer IS NOT NULL")}
        refs = {row[0] for row in db.execute("SELECT ref FROM member_versions")}
        nirs = {row[0] for row in db.execute("SELECT nir FROM member_versions")}
        bodies = b"".join(bytes(row[0]) for row in db.execute("SELECT body FROM facts"))

    assert insurers == {SECRETS["insurer"]}
    assert refs == {SECRETS["ref"]}
    assert len(nirs) == 1
    assert NIR not in nirs  # a keyed pseudonym, never the NIR
    assert SECRETS["note"].encode() in bodies
    assert SECRETS["operator"].encode() in bodies


def test_the_key_file_of_an_encrypted_store_is_owner_only_and_holds_its_three_keys(stores):
    key_file = stores["encrypted"].with_suffix(".key")

    keys = json.loads(key_file.read_text(encoding="utf-8"))

    assert key_file.stat().st_mode & 0o777 == 0o600
    assert set(keys) == {"version", "nir_key", "cipher_key", "file_key"}
    assert len(base64.b64decode(keys["cipher_key"])) == 32
    assert len(bytes.fromhex(keys["file_key"])) == 32


# -- wrong and missing keys ------------------------------------------------------------------


def key_variant(source: Path, target: Path, **changes: Any) -> Path:
    keys = json.loads(source.read_text(encoding="utf-8"))
    keys.update(changes)
    keys = {k: v for k, v in keys.items() if v is not None}
    target.write_text(json.dumps(keys), encoding="utf-8")
    target.chmod(0o600)
    return target


@pytest.fixture
def encrypted_copy(stores, tmp_path) -> Path:
    folder = tmp_path / "copy"
    folder.mkdir()
    for file in stores["encrypted"].parent.iterdir():
        shutil.copy2(file, folder / file.name)
    return folder / stores["encrypted"].name


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("missing", "store {store} is encrypted; give its key file ({key} not found)"),
        ("another store's", "store {store} is encrypted; give its key file (key file {key} does not open it)"),
        ("another encryption key", "key file {key} cannot decrypt store {store} (wrong encryption key)"),
        ("no encryption key", "store {store} is encrypted but key file {key} has no encryption key"),
        ("malformed encryption key", "key file {key} holds a malformed encryption key"),
        ("not a key file", "key file {key} is unreadable or malformed"),
    ],
)
def test_a_missing_or_wrong_key_file_is_one_clear_error_and_writes_nothing(
    encrypted_copy, stores, tmp_path, variant, message
):
    right = encrypted_copy.with_suffix(".key")
    key = tmp_path / "other.key"
    match variant:
        case "another store's":
            shutil.copy2(stores["clear"].with_suffix(".key"), key)
        case "another encryption key":
            key_variant(right, key, cipher_key=base64.b64encode(os.urandom(32)).decode())
        case "no encryption key":
            key_variant(right, key, cipher_key=None)
        case "malformed encryption key":
            key_variant(right, key, cipher_key="not base64!")
        case "not a key file":
            key.write_bytes(b"\x00\xffgarbage")
            key.chmod(0o600)
    cli = Cli(encrypted_copy)
    before = ledger_size(encrypted_copy)

    results = [
        cli("--key-file", str(key), "summary", "--incident", SECRETS["incident"]),
        cli("--key-file", str(key), "record", "insurer-informed", "--incident", SECRETS["incident"], "--insurer", "x"),
        cli("--key-file", str(key), "audit", "log"),
    ]

    expected = "Error: " + message.format(key=key, store=encrypted_copy)
    for result in results:
        assert result.exit_code == 1
        assert error_lines(result) == [expected]
        assert result.stdout == ""
    assert ledger_size(encrypted_copy) == before


def test_a_wrong_encryption_key_fails_fast_in_a_real_process(encrypted_copy, tmp_path):
    wrong = key_variant(
        encrypted_copy.with_suffix(".key"), tmp_path / "wrong.key", cipher_key=base64.b64encode(os.urandom(16)).decode()
    )

    done = exposure("--store", str(encrypted_copy), "--key-file", str(wrong), "audit", "log", "--json")

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"Error: key file {wrong} cannot decrypt store {encrypted_copy} (wrong encryption key)"
    ]


# -- same answers --------------------------------------------------------------------------------


async def everything(path: Path) -> dict[str, Any]:
    """Every incident's summary and insurers, members by ref and by NIR, at the demo's dates."""
    found: dict[str, Any] = {}
    async with opened(path) as store:
        incidents = await queries.incidents(store.db)
        async with store.db.execute("SELECT DISTINCT insurer, ref FROM member_versions ORDER BY 1, 2 LIMIT 40") as c:
            members = [(str(a), str(b)) for a, b in await c.fetchall()]
        for day in (*demo.DATES, "2024-12-31"):
            h = await store.horizon(day)
            for incident in incidents:
                found[f"summary {incident} {day}"] = msgspec.to_builtins(await queries.summary(store.db, incident, h))
                for insurer in await queries.known_insurers(store.db, h):
                    found[f"insurer {incident} {insurer} {day}"] = msgspec.to_builtins(
                        await queries.insurer(store.db, incident, insurer, h)
                    )
            for insurer, ref in members:
                found[f"member {insurer} {ref} {day}"] = msgspec.to_builtins(
                    await queries.member(store.db, h, insurer_id=insurer, ref=ref)
                )
    return found


async def load_demo(folder: Path, *, encrypt: bool) -> Path:
    path = folder / "demo.db"
    store, _ = await Store.init(str(path), folder / "demo.key", timezone=PARIS, encrypt=encrypt)
    try:
        await demo.load(store, folder.parent, 40)
    finally:
        await store.close()
    return path


async def test_an_encrypted_store_answers_exactly_like_a_store_kept_in_clear(tmp_path):
    (tmp_path / "clear").mkdir()
    (tmp_path / "encrypted").mkdir()
    clear = await load_demo(tmp_path / "clear", encrypt=False)
    encrypted = await load_demo(tmp_path / "encrypted", encrypt=True)

    in_clear, decrypted = await everything(clear), await everything(encrypted)

    assert len(in_clear) > 100
    assert decrypted == in_clear
    keep = ("position", "id", "kind", "known_on", "occurred_on", "by", "source")
    logs = [
        [
            {k: entry[k] for k in keep}
            for entry in map(json.loads, exposure("--store", str(path), "audit", "log", "--json").stdout.splitlines())
        ]
        for path in (clear, encrypted)
    ]
    assert logs[1] == logs[0]
    assert len(logs[0]) > 50
