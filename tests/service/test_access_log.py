"""The access log: every lookup, never a NIR, hash-chained and checked by `audit verify`."""

from __future__ import annotations

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


def test_audit_verify_checks_the_access_log_chain(service: Server, tmp_path: Path) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}, {"ref": "MH-2"}]})
    copy = tmp_path / "ledger.db"
    for suffix in (".db", ".key", ".service.db"):
        source = service.store.with_name("ledger" + suffix)
        with sqlite3.connect(source) as db:
            if suffix != ".key":
                db.execute("PRAGMA wal_checkpoint(FULL)")
        db.close()
        shutil.copy(source, copy.with_name("ledger" + suffix))

    intact = exposure(copy, "audit", "verify", "--json")
    with sqlite3.connect(copy.with_name("ledger.service.db")) as db:
        db.execute("DROP TRIGGER service_access_no_update")
        db.execute("UPDATE service_access SET subject = 'malakoff-humanis/MH-9' WHERE seq = 2")
    db.close()
    broken = exposure(copy, "audit", "verify")

    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["access_log"]["rows"] >= 2
    assert broken.returncode == 3
    assert broken.stderr.strip() == "Error: access log: row 2 does not match its hash (edited or reordered)"


def test_the_access_log_refuses_updates_and_deletes(service: Server) -> None:
    token = service.token(MALAKOFF)
    with service.client(token) as http:
        http.post("/v1/lookups", json={"lookups": [{"ref": "MH-1"}]})

    with sqlite3.connect(service.store.with_name("ledger.service.db")) as db:
        for statement in ("UPDATE service_access SET found = 0", "DELETE FROM service_access"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    db.close()
