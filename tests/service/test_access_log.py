"""The access log: every lookup, never a NIR, hash-chained and checked by `audit verify`."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from domain.nir import pseudonymise
from ledger.keys import load
from service.access_log import GENESIS
from tests.support import NIR_ALICE, NIR_CORSE, spaced
from tests.support.service import MALAKOFF, Server, create_token, exposure, make_store, serving, wait_for_token


def _log(store: Path, *args: str) -> list[dict[str, object]]:
    done = exposure(store, "service", "log", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_every_lookup_is_logged_with_its_token_and_the_nirs_pseudonym(service: Server) -> None:
    token = service.token(MALAKOFF, name="call centre")
    fingerprint = service.tokens[token]["fingerprint"]

    with service.client(token) as http:
        http.post(
            "/v1/lookups",
            json={"lookups": [{"nir": spaced(NIR_ALICE)}, {"nir": NIR_CORSE}, {"ref": "MH-2"}, {"nir": "not a NIR"}]},
        )

    rows = _log(service.store, "--token", fingerprint)
    key = load(service.store.with_suffix(".key")).nir_key
    assert [(r["kind"], r["subject"], r["found"]) for r in rows] == [
        ("nir", pseudonymise(NIR_ALICE, key), True),
        ("nir", pseudonymise(NIR_CORSE, key), False),  # Alan's member: nobody, for Malakoff
        ("ref", f"{MALAKOFF}/MH-2", True),
        ("invalid-nir", "", False),
    ]
    assert {r["token"] for r in rows} == {fingerprint}
    assert {r["insurer"] for r in rows} == {MALAKOFF}
    assert _log(service.store, "--token", fingerprint, "--since", "2999-01-01") == []


def test_no_raw_nir_reaches_the_log_the_database_or_the_servers_output(service: Server) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"nir": NIR_ALICE}, {"nir": NIR_CORSE}]})
    human = exposure(service.store, "service", "log")

    files = [p for p in service.store.parent.iterdir() if p.is_file()]
    assert any(p.name.endswith(".service.db") for p in files)
    for path in files:
        data = path.read_bytes()
        for nir in (NIR_ALICE, NIR_CORSE):
            assert nir.encode() not in data, path
            assert spaced(nir).encode() not in data, path
    assert NIR_ALICE not in human.stdout


def _copy(service: Server, tmp_path: Path) -> Path:
    """The store, its key and its service database copied (checkpointed) into `tmp_path`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / "ledger.db"
    for suffix in (".db", ".key", ".service.db"):
        source = service.store.with_name("ledger" + suffix)
        with sqlite3.connect(source) as db:
            if suffix != ".key":
                db.execute("PRAGMA wal_checkpoint(FULL)")
        db.close()
        shutil.copy(source, copy.with_name("ledger" + suffix))
    return copy


def _tamper(store: Path, *statements: str) -> None:
    with sqlite3.connect(store.with_name("ledger.service.db")) as db:
        db.execute("DROP TRIGGER IF EXISTS service_log_no_update")
        db.execute("DROP TRIGGER IF EXISTS service_log_no_delete")
        for statement in statements:
            db.execute(statement)
    db.close()


def _seqs(store: Path, token: str) -> list[int]:
    return [int(str(r["seq"])) for r in _log(store, "--token", token)]


def test_audit_verify_checks_the_access_log_chain(service: Server, tmp_path: Path) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}]})
    copy = _copy(service, tmp_path)
    first, second = _seqs(copy, service.tokens[token]["fingerprint"])

    intact = exposure(copy, "audit", "verify", "--json")
    _tamper(copy, f"UPDATE service_log SET lookups = replace(lookups, 'MH-2', 'MH-9') WHERE first_seq = {first}")
    broken = exposure(copy, "audit", "verify")

    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["access_log"]["rows"] >= 2
    assert broken.returncode == 3
    assert broken.stderr.strip() == (
        f"Error: access log: rows {first}-{second} do not match their hash (edited or reordered)"
    )


def test_a_request_of_many_lookups_is_one_block_sealed_by_one_hash_on_its_last_row(service: Server) -> None:
    token = service.token(MALAKOFF)
    fingerprint = service.tokens[token]["fingerprint"]
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}, {"nir": NIR_ALICE}]})
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})

    rows = _log(service.store, "--token", fingerprint)
    with sqlite3.connect(service.store.with_name("ledger.service.db")) as db:
        blocks = db.execute(
            "SELECT last_seq - first_seq + 1, hash FROM service_log WHERE token = ? ORDER BY first_seq", (fingerprint,)
        ).fetchall()
    db.close()

    assert [bool(r["hash"]) for r in rows] == [False, False, True, True]
    assert rows[2]["hash"] != rows[3]["hash"]
    assert blocks == [(3, rows[2]["hash"]), (1, rows[3]["hash"])]


def test_an_edit_inside_a_block_or_a_lookup_cut_from_it_fails_verification(service: Server, tmp_path: Path) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}, {"ref": "MH-3"}]})
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})
    names = ("edited", "cut", "hidden", "resealed", "missing", "tail")
    edited, cut, hidden, resealed, missing, tail = (_copy(service, tmp_path / name) for name in names)
    first, _, third, last = _seqs(edited, service.tokens[token]["fingerprint"])
    found, lost = '"malakoff-humanis/MH-1",1', '"malakoff-humanis/MH-1",0'

    _tamper(edited, f"UPDATE service_log SET lookups = replace(lookups, '{found}', '{lost}') WHERE first_seq = {first}")
    _tamper(cut, f"UPDATE service_log SET lookups = json_remove(lookups, '$[2]') WHERE first_seq = {first}")
    _tamper(hidden, f"UPDATE service_log SET token = 'ffffffffffff' WHERE first_seq = {last}")  # out of --token
    _tamper(resealed, f"UPDATE service_log SET hash = '' WHERE first_seq = {first}")
    _tamper(missing, f"DELETE FROM service_log WHERE first_seq = {first}")
    _tamper(tail, f"DELETE FROM service_log WHERE first_seq = {last}")  # the tail cut: what remains verifies

    def error(store: Path) -> str:
        return exposure(store, "audit", "verify").stderr.strip()

    assert error(edited) == f"Error: access log: rows {first}-{third} do not match their hash (edited or reordered)"
    assert error(cut) == f"Error: access log: rows {first}-{third} do not match their hash (edited or reordered)"
    assert error(hidden) == f"Error: access log: row {last} does not match its hash (edited or reordered)"
    assert error(resealed) == f"Error: access log: rows {first}-{third} do not match their hash (edited or reordered)"
    assert error(missing) == f"Error: access log: row {first} is missing (next row is {last})"
    assert exposure(tail, "audit", "verify").returncode == 0  # as for the fact log: keep the last hash elsewhere


_LEGACY = """
    CREATE TABLE service_access (
        seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL, token TEXT NOT NULL, insurer TEXT NOT NULL,
        kind TEXT NOT NULL, subject TEXT NOT NULL, found INTEGER NOT NULL, hash TEXT NOT NULL
    )
"""
"""The access log's table before blocks: one row per lookup."""


def _legacy_rows(token: str) -> list[tuple[object, ...]]:
    """Three rows as logs before blocks held them: a row hashed on its own, then a group of two sealed once."""
    rows = [(1, 1_700_000_000_000_000, token, MALAKOFF, "ref", f"{MALAKOFF}/MH-1", 1)]
    rows += [(n, 1_700_000_001_000_000, token, MALAKOFF, "ref", f"{MALAKOFF}/MH-{n}", 1) for n in (2, 3)]
    first = _sha(GENESIS, rows[0])
    return [(*rows[0], first), (*rows[1], ""), (*rows[2], _sha(first, rows[1:]))]


def _sha(previous: str, value: object) -> str:
    body = json.dumps(value, separators=(",", ":"))
    return hashlib.sha256(previous.encode() + b"\n" + body.encode()).hexdigest()


def test_a_log_written_before_blocks_is_read_and_verified_first_and_the_blocks_chain_after_it(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    created = create_token(store, "--insurer", MALAKOFF, "--name", "earlier")
    fingerprint = created["fingerprint"]
    with sqlite3.connect(store.with_name("ledger.service.db")) as db:
        db.execute(_LEGACY)
        db.executemany("INSERT INTO service_access VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _legacy_rows(fingerprint))
    db.close()
    with serving(store, "--nir-limit", "1000") as server:
        wait_for_token(server.url, created["token"])
        with server.client(created["token"]) as http:
            http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}]})
    rows = _log(store, "--token", fingerprint)
    verified = exposure(store, "audit", "verify", "--json")
    _tamper(store, "UPDATE service_access SET found = 0 WHERE seq = 2")
    broken = exposure(store, "audit", "verify")

    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert [bool(r["hash"]) for r in rows] == [True, False, True, False, True]
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["access_log"] == {"rows": 5, "head": rows[-1]["hash"]}
    assert broken.stderr.strip() == "Error: access log: rows 2-3 do not match their hash (edited or reordered)"


def test_the_access_log_refuses_updates_and_deletes(service: Server) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})

    with sqlite3.connect(service.store.with_name("ledger.service.db")) as db:
        for statement in ("UPDATE service_log SET hash = ''", "DELETE FROM service_log"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    db.close()
