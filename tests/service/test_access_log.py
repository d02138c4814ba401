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
from tests.support import NIR_ALICE, NIR_CORSE, spaced
from tests.support.service import MALAKOFF, Server, exposure


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
        db.execute("DROP TRIGGER service_access_no_update")
        db.execute("DROP TRIGGER service_access_no_delete")
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
    _tamper(copy, f"UPDATE service_access SET subject = 'malakoff-humanis/MH-9' WHERE seq = {second}")
    broken = exposure(copy, "audit", "verify")

    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["access_log"]["rows"] >= 2
    assert broken.returncode == 3
    assert broken.stderr.strip() == (
        f"Error: access log: rows {first}-{second} do not match their hash (edited or reordered)"
    )


def test_a_request_of_many_lookups_is_sealed_by_one_hash_on_its_last_row(service: Server) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}, {"nir": NIR_ALICE}]})
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})

    rows = _log(service.store, "--token", service.tokens[token]["fingerprint"])

    assert [bool(r["hash"]) for r in rows] == [False, False, True, True]
    assert rows[2]["hash"] != rows[3]["hash"]


def test_an_edit_inside_a_sealed_group_or_a_row_cut_from_it_fails_verification(service: Server, tmp_path: Path) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}, {"ref": "MH-3"}]})
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})
    edited, resealed, cut = (_copy(service, tmp_path / name) for name in ("edited", "resealed", "cut"))
    first, _, third, last = _seqs(edited, service.tokens[token]["fingerprint"])

    _tamper(edited, f"UPDATE service_access SET found = 1 - found WHERE seq = {first}")
    _tamper(resealed, f"UPDATE service_access SET hash = '' WHERE seq = {third}")  # two groups passed off as one
    _tamper(cut, f"DELETE FROM service_access WHERE seq = {last}")  # the tail cut: what remains verifies

    assert exposure(edited, "audit", "verify").stderr.strip() == (
        f"Error: access log: rows {first}-{third} do not match their hash (edited or reordered)"
    )
    assert exposure(resealed, "audit", "verify").stderr.strip() == (
        f"Error: access log: rows {first}-{last} do not match their hash (edited or reordered)"
    )
    assert exposure(cut, "audit", "verify").returncode == 0  # as for the fact log: keep the last hash elsewhere


def test_a_log_written_with_one_hash_per_row_still_verifies(service: Server, tmp_path: Path) -> None:
    """Logs written before groups were sealed hash every row: each row is a group of one."""
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}]})
    copy = _copy(service, tmp_path)
    previous, statements = "0" * 64, []
    for row in _log(copy):  # the whole log rewritten as the earlier format: every row hashed, in order
        values = [row["seq"], _micros(copy, row["seq"]), row["token"], row["insurer"], row["kind"], row["subject"]]
        body = json.dumps([*values, 1 if row["found"] else 0], separators=(",", ":"))
        previous = hashlib.sha256(previous.encode() + b"\n" + body.encode()).hexdigest()
        statements.append(f"UPDATE service_access SET hash = '{previous}' WHERE seq = {row['seq']}")
    _tamper(copy, *statements)
    first = _seqs(copy, service.tokens[token]["fingerprint"])[0]

    verified = exposure(copy, "audit", "verify", "--json")
    _tamper(copy, f"UPDATE service_access SET subject = 'malakoff-humanis/MH-9' WHERE seq = {first}")
    broken = exposure(copy, "audit", "verify")

    assert verified.returncode == 0, verified.stderr
    assert all(r["hash"] for r in _log(copy))
    assert broken.stderr.strip() == f"Error: access log: row {first} does not match its hash (edited or reordered)"


def _micros(store: Path, seq: object) -> int:
    with sqlite3.connect(store.with_name("ledger.service.db")) as db:
        (at_us,) = db.execute("SELECT at_us FROM service_access WHERE seq = ?", (seq,)).fetchone()
    db.close()
    return int(at_us)


def test_the_access_log_refuses_updates_and_deletes(service: Server) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})

    with sqlite3.connect(service.store.with_name("ledger.service.db")) as db:
        for statement in ("UPDATE service_access SET found = 0", "DELETE FROM service_access"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    db.close()
