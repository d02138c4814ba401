"""Encryption at rest, through the real `exposure` command: `init --encrypt` makes one SQLCipher
file (the log, the projections, the WAL), nothing of a scenario is readable in the store's
folder, a missing or wrong key is one clear error, copies and key rotation keep the audit
head, and the protection settings cannot be downgraded without the key file.

Also: a store kept in clear answers every NIR-free command without its key file (issue 10
§3), and the store file is private from its first byte (§4).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3

from domain import nir as nir_rules
from tests.support import EXPOSURE, PARIS, ledger_size, read_file, spaced, valid_nir

SECRETS = {
    "incident": "incident-wombat-2024",
    "insurer": "insurer-capybara",
    "other insurer": "insurer-tapir",
    "ref": "REF-ZX-8812",
    "roster ref": "REF-ROSTER-5517",
    "recorded ref": "REF-RECORDED-0424",
    "contract": "CONTRACT-MARMOSET",
    "category": "category-ocelot",
    "operator": "Operator Kinkajou",
    "note": "note-about-the-okapi",
}
"""Distinctive values, so that finding one in the file bytes cannot be a coincidence."""
NIRS = (valid_nir("1840175123456"), valid_nir("2911299004321"), valid_nir("1700575055123"))


def exposure(
    store: Path | str, *args: str, key_file: Path | None = None, umask: int = -1
) -> subprocess.CompletedProcess[str]:
    """The real command on `store` (with `--key-file` when given)."""
    keys = ["--key-file", str(key_file)] if key_file is not None else []
    return subprocess.run(
        [str(EXPOSURE), "--store", str(store), *keys, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        umask=umask,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def facts() -> list[dict[str, Any]]:
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
        {"kind": "category-defined", "id": "cat", "category": s["category"], "label": "Ocelot records"},
        {
            "kind": "members-enrolled",
            "id": "roster",
            "insurer": s["insurer"],
            "known_on": "2024-01-01",
            "members": [{"ref": s["ref"], "role": "holder", "contract": s["contract"], "nir": NIRS[0]}],
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
            "categories": ["nir", s["category"]],
            "known_on": "2024-02-01",
        },
    ]


def store_with_facts(store: Path, inputs: Path, *, encrypt: bool) -> Path:
    """A new store (in its own folder) holding `facts()`, imported from a file in `inputs`."""
    store.parent.mkdir(exist_ok=True)
    ok(exposure(store, "init", "--timezone", PARIS, *(["--encrypt"] if encrypt else [])))
    facts_file = inputs / "facts.jsonl"
    facts_file.write_text("".join(json.dumps(f) + "\n" for f in facts()), encoding="utf-8")
    ok(exposure(store, "import", str(facts_file)))
    return store


def scenario(store: Path, inputs: Path, *, encrypt: bool) -> None:
    """Every input path: init, import, record (a member with a NIR too), a roster CSV with NIRs,
    a NIR lookup, queries, the audit and a replay."""
    s = SECRETS
    store_with_facts(store, inputs, encrypt=encrypt)
    member = json.dumps({"ref": s["recorded ref"], "contract": s["contract"], "nir": NIRS[1]})
    ok(exposure(store, "record", "members-enrolled", "--insurer", s["insurer"], "--members", member))
    ok(exposure(store, "record", "insurer-informed", "--incident", s["incident"], "--insurer", s["other insurer"]))
    roster = inputs / "roster.csv"
    roster.write_text(f"ref,role,contract,nir\n{s['roster ref']},holder,{s['contract']},{spaced(NIRS[2])}\n")
    ok(exposure(store, "members", "import", "--insurer", s["other insurer"], str(roster), "--known-on", "2024-01-02"))
    assert s["ref"] in ok(exposure(store, "member", "--nir", NIRS[0], "--json"))
    assert s["incident"] in ok(exposure(store, "summary", "--incident", s["incident"], "--json"))
    ok(exposure(store, "members", "export", "--incident", s["incident"]))
    ok(exposure(store, "audit", "verify"))
    ok(exposure(store, "audit", "replay"))


def tokens(store: Path) -> dict[str, list[bytes]]:
    """Each secret of the scenario in every form a file could hold it: UTF-8, UTF-16 (both byte
    orders); NIRs raw, spaced and as their keyed pseudonym (hex and raw bytes)."""
    key = bytes.fromhex(json.loads(store.with_suffix(".key").read_text(encoding="utf-8"))["nir_key"])
    texts = {name: [value] for name, value in SECRETS.items()}
    for number, nir in enumerate(NIRS):
        pseudonym = nir_rules.pseudonymise(nir, key)
        texts[f"nir {number}"] = [nir, spaced(nir)]
        texts[f"pseudonym {number}"] = [pseudonym]
    found: dict[str, list[bytes]] = {}
    for name, values in texts.items():
        found[name] = [v.encode(codec) for v in values for codec in ("utf-8", "utf-16-le", "utf-16-be")]
        if name.startswith("pseudonym"):
            found[name].append(bytes.fromhex(values[0]))
    return found


def leaks(folder: Path, store: Path) -> dict[str, list[str]]:
    """{file name: the secrets found in its bytes}, for every file of the folder."""
    every = tokens(store)
    return {
        file.name: sorted(name for name, forms in every.items() if any(form in file.read_bytes() for form in forms))
        for file in sorted(folder.iterdir())
        if file.is_file() and file.suffix != ".key"
    }


@contextmanager
def kept_open(store: Path) -> Iterator[None]:
    """An idle connection to the store for the whole block, so that SQLite keeps its -wal and
    -shm files between commands (the last connection to close would checkpoint and delete them)."""
    with read_file(store) as db:
        db.execute("SELECT count(*) FROM sqlite_master").fetchall()
        yield


# -- privacy of the store's folder ------------------------------------------------------------------


@pytest.mark.slow
def test_no_file_in_an_encrypted_stores_folder_holds_any_secret_of_a_scenario(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "inputs").mkdir()
    store = tmp_path / "store" / "ledger.db"
    ok(exposure(store, "init", "--timezone", PARIS, "--encrypt"))

    with kept_open(store):
        scenario(store, tmp_path / "inputs", encrypt=True)
        files = leaks(store.parent, store)

    assert {"ledger.db", "ledger.db-wal", "ledger.db-shm"} <= set(files)
    assert (store.parent / "ledger.db-wal").stat().st_size > 0
    assert files == {name: [] for name in files}


@pytest.mark.slow
def test_the_same_scenario_on_a_store_kept_in_clear_shows_every_secret(tmp_path):
    """The scanner's control: it finds what is there."""
    (tmp_path / "store").mkdir()
    (tmp_path / "inputs").mkdir()
    store = tmp_path / "store" / "ledger.db"
    scenario(store, tmp_path / "inputs", encrypt=False)

    found = set().union(*leaks(store.parent, store).values())

    assert found == {name for name in tokens(store) if not name.startswith("nir ")}  # never a raw NIR


def test_the_sqlite3_command_cannot_read_an_encrypted_store(tmp_path):
    store = tmp_path / "ledger.db"
    ok(exposure(store, "init", "--encrypt"))

    done = subprocess.run(
        ["sqlite3", str(store), "SELECT name FROM sqlite_master"], capture_output=True, text=True, check=False
    )

    assert done.returncode != 0
    assert "file is not a database" in done.stderr
    assert not store.read_bytes().startswith(b"SQLite format 3")


# -- keys -----------------------------------------------------------------------------------------


@pytest.fixture
def encrypted(tmp_path: Path) -> Path:
    """An encrypted store holding the scenario's facts."""
    return store_with_facts(tmp_path / "sealed" / "ledger.db", tmp_path, encrypt=True)


@pytest.mark.parametrize("key", ["missing", "another store's"])
def test_an_encrypted_store_without_its_key_is_one_clear_error_for_every_command(encrypted, tmp_path, key):
    key_file = tmp_path / "other" / "ledger.key"
    if key == "another store's":
        ok(exposure(tmp_path / "other" / "ledger.db", "init", "--encrypt"))
    before = ledger_size(encrypted)
    why = f"{key_file} not found" if key == "missing" else f"key file {key_file} does not open it"

    for command in (
        ["summary", "--incident", SECRETS["incident"]],
        ["member", "--nir", NIRS[0]],
        ["record", "insurer-informed", "--incident", SECRETS["incident"], "--insurer", "x"],
        ["audit", "verify"],
        ["audit", "head"],
        ["audit", "export", str(tmp_path / "log.jsonl")],
        ["store", "copy", "--to", str(tmp_path / "copy.db"), "--decrypt"],
        ["key", "rotate"],
    ):
        done = exposure(encrypted, *command, key_file=key_file)

        assert done.returncode == 1, command
        assert done.stdout == ""
        assert done.stderr.splitlines() == [f"Error: store {encrypted} is encrypted; give its key file ({why})"]
    assert ledger_size(encrypted) == before
    assert not (tmp_path / "copy.db").exists()
    assert not (tmp_path / "log.jsonl").exists()


def head(store: Path, key_file: Path | None = None) -> str:
    return ok(exposure(store, "audit", "head", key_file=key_file))


def answers(store: Path, key_file: Path | None = None) -> list[Any]:
    """The summary, an insurer and a member by NIR, as known on a fixed date."""
    s, when = SECRETS, ["--as-known-on", "2024-02-02", "--json"]
    found = []
    for command in (
        ["summary", "--incident", s["incident"], *when],
        ["insurer", "--incident", s["incident"], "--insurer", s["insurer"], *when],
        ["member", "--nir", NIRS[0], *when],
    ):
        data = json.loads(ok(exposure(store, *command, key_file=key_file)))
        data.pop("as_known_on", None)
        found.append(data)
    return found


def test_store_copy_encrypts_and_decrypts_with_the_same_audit_head_and_answers(tmp_path):
    plain = store_with_facts(tmp_path / "plain" / "ledger.db", tmp_path, encrypt=False)
    sealed, opened_again = tmp_path / "sealed" / "ledger.db", tmp_path / "opened" / "ledger.db"

    copied = ok(exposure(plain, "store", "copy", "--to", str(sealed), "--encrypt", "--json"))
    ok(exposure(sealed, "store", "copy", "--to", str(opened_again), "--decrypt"))

    assert json.loads(copied)["key_file"] == str(sealed.with_suffix(".key"))
    assert head(sealed) == head(plain) == head(opened_again)
    assert answers(sealed) == answers(plain) == answers(opened_again)
    assert not sealed.read_bytes().startswith(b"SQLite format 3")
    assert opened_again.read_bytes().startswith(b"SQLite format 3")
    assert sealed.with_suffix(".key").stat().st_mode & 0o777 == 0o600


def test_an_encrypted_store_and_its_decrypted_copy_have_the_same_head(encrypted, tmp_path):
    decrypted = tmp_path / "decrypted.db"

    ok(exposure(encrypted, "store", "copy", "--to", str(decrypted), "--decrypt"))

    assert head(decrypted) == head(encrypted)
    assert answers(decrypted) == answers(encrypted)
    ok(exposure(decrypted, "audit", "verify"))


def test_key_rotate_rekeys_the_file_and_keeps_the_pseudonym_and_payload_keys(encrypted, tmp_path):
    key_file = encrypted.with_suffix(".key")
    old_key = tmp_path / "old.key"
    shutil.copy2(key_file, old_key)
    before_head, before_answers = head(encrypted), answers(encrypted)

    said = ok(exposure(encrypted, "key", "rotate"))

    old, new = (json.loads(k.read_text(encoding="utf-8")) for k in (old_key, key_file))
    assert "Re-keyed" in said
    assert new["file_key"] != old["file_key"]
    assert {k: v for k, v in new.items() if k != "file_key"} == {k: v for k, v in old.items() if k != "file_key"}
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert head(encrypted) == before_head
    assert answers(encrypted) == before_answers  # member --nir: the same pseudonyms
    refused = exposure(encrypted, "summary", "--incident", SECRETS["incident"], key_file=old_key)
    assert refused.returncode == 1
    assert f"key file {old_key} does not open it" in refused.stderr
    with pytest.raises(sqlcipher3.DatabaseError):
        read_file(encrypted, old_key).__enter__().execute("SELECT 1 FROM facts").fetchall()


def test_key_rotate_refuses_a_store_that_is_not_a_sqlcipher_file(tmp_path):
    store = tmp_path / "plain.db"
    ok(exposure(store, "init"))

    done = exposure(store, "key", "rotate")

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: store {store} is not a SQLCipher file: there is no file key to rotate (store copy --encrypt makes one)"
    ]


# -- downgrades through the settings ----------------------------------------------------------------


@pytest.fixture
def payload_encrypted(encrypted, tmp_path) -> Path:
    """A SQLite file in clear whose facts' payloads are encrypted (`store copy --decrypt`): its
    settings can be edited with the sqlite3 command, as a PostgreSQL store's can with psql."""
    store = tmp_path / "decrypted" / "ledger.db"
    store.parent.mkdir()
    ok(exposure(encrypted, "store", "copy", "--to", str(store), "--decrypt"))
    return store


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE exposure_settings SET value = 'no' WHERE key = 'encrypted'",
        (
            "UPDATE exposure_settings SET value = 'no' WHERE key = 'encrypted';"
            " DELETE FROM exposure_settings WHERE key = 'settings_mac'"
        ),
        "UPDATE exposure_settings SET value = 'yes' WHERE key = 'file_encrypted'",
    ],
)
def test_a_protection_setting_changed_without_the_key_file_is_refused_not_obeyed(payload_encrypted, edit):
    before = ledger_size(payload_encrypted)
    subprocess.run(["sqlite3", str(payload_encrypted), edit], check=True)

    recorded = exposure(
        payload_encrypted, "record", "insurer-informed", "--incident", SECRETS["incident"], "--insurer", "late-one"
    )
    asked = exposure(payload_encrypted, "summary", "--incident", SECRETS["incident"])

    for done in (recorded, asked):
        assert done.returncode == 1
        assert done.stdout == ""
        assert len(done.stderr.splitlines()) == 1
        assert done.stderr.startswith(f"Error: the security settings of store {payload_encrypted} (")
        assert "were changed without its key file; refusing to use the store" in done.stderr
    assert ledger_size(payload_encrypted) == before


def test_a_store_whose_payloads_are_encrypted_verifies_without_its_key_file(payload_encrypted, tmp_path):
    with_key = head(payload_encrypted)
    payload_encrypted.with_suffix(".key").rename(tmp_path / "away.key")

    verified = exposure(payload_encrypted, "audit", "verify")
    without_key = exposure(payload_encrypted, "audit", "head")
    asked = exposure(payload_encrypted, "summary", "--incident", SECRETS["incident"])

    assert verified.returncode == 0, verified.stderr
    assert "positions and hashes checked, not the facts' contents" in verified.stdout
    assert ok(without_key) == with_key
    assert asked.returncode == 1
    assert asked.stderr.splitlines() == [
        (
            f"Error: store {payload_encrypted} is encrypted; give its key file"
            f" ({payload_encrypted.with_suffix('.key')} not found)"
        )
    ]


# -- the NIR key only where NIRs are (issue 10 §3) -----------------------------------------------------


@pytest.fixture
def plain_without_key(tmp_path) -> Path:
    """A store kept in clear holding the scenario's facts, its key file moved away."""
    store = store_with_facts(tmp_path / "plain" / "ledger.db", tmp_path, encrypt=False)
    store.with_suffix(".key").rename(tmp_path / "away.key")
    return store


def test_every_command_that_involves_no_nir_works_without_the_key_file(plain_without_key, tmp_path):
    s, store = SECRETS, plain_without_key
    incident = ["--incident", s["incident"]]

    for command in (
        ["summary", *incident],
        ["insurer", *incident, "--insurer", s["insurer"]],
        ["member", "--insurer", s["insurer"], "--ref", s["ref"]],
        ["members", "export", *incident],
        ["diff", *incident, "--from", "2024-01-30", "--to", "2024-02-02"],
        ["timeline", *incident],
        ["obligations", *incident],
        ["report", *incident, "--html", str(tmp_path / "report.html")],
        ["export", "veris", *incident],
        ["audit", "log"],
        ["audit", "verify"],
        ["audit", "head"],
        ["audit", "replay"],
        ["audit", "export", str(tmp_path / "log.jsonl")],
    ):
        done = exposure(store, *command)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stderr == "", command
    assert s["ref"] in ok(exposure(store, "members", "export", *incident))


def test_input_with_nirs_and_a_nir_lookup_say_why_they_need_the_key_file(plain_without_key, tmp_path):
    store, key_file = plain_without_key, plain_without_key.with_suffix(".key")
    roster = tmp_path / "roster.csv"
    roster.write_text(f"ref,nir\nR-1,{NIRS[1]}\n", encoding="utf-8")
    member = json.dumps({"ref": "R-2", "nir": NIRS[2]})
    before = ledger_size(store)
    appending = (
        f"Error: key file {key_file} not found: appending facts needs it (it pseudonymises NIRs and"
        " authenticates the store's security settings); give --key-file or set EXPOSURE_KEY_FILE"
    )

    imported = exposure(store, "members", "import", "--insurer", SECRETS["insurer"], str(roster))
    recorded = exposure(store, "record", "members-enrolled", "--insurer", SECRETS["insurer"], "--members", member)
    looked_up = exposure(store, "member", "--nir", NIRS[0])

    assert [imported.returncode, recorded.returncode, looked_up.returncode] == [1, 1, 1]
    assert imported.stderr.splitlines() == recorded.stderr.splitlines() == [appending]
    assert looked_up.stderr.splitlines() == [
        (
            f"Error: key file {key_file} not found: member --nir needs it (a NIR is looked up by its keyed"
            " pseudonym); give --key-file or set EXPOSURE_KEY_FILE"
        )
    ]
    assert ledger_size(store) == before


def test_another_stores_key_file_is_refused_even_where_no_key_is_needed(plain_without_key, tmp_path):
    other = tmp_path / "other.db"
    ok(exposure(other, "init"))

    for command in (["summary", "--incident", SECRETS["incident"]], ["audit", "verify"]):
        done = exposure(plain_without_key, *command, key_file=other.with_suffix(".key"))

        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            f"Error: key file {other.with_suffix('.key')} does not belong to store {plain_without_key}"
        ]


# -- a store private from its first byte (issue 10 §4) ---------------------------------------------------


@pytest.mark.parametrize(("umask", "encrypt"), [(0o000, False), (0o022, False), (0o077, False), (0o000, True)])
def test_the_store_and_its_wal_and_shm_are_created_0600_whatever_the_umask(tmp_path, umask, encrypt):
    store = tmp_path / "ledger.db"
    ok(exposure(store, "init", *(["--encrypt"] if encrypt else []), umask=umask))

    with kept_open(store):
        ok(
            exposure(
                store,
                "record",
                "attack-discovered",
                "--incident",
                "i",
                "--operator",
                "o",
                "--occurred-on",
                "2024-01-01",
                umask=umask,
            )
        )
        modes = {f.name: f.stat().st_mode & 0o777 for f in tmp_path.iterdir()}

    assert modes == {"ledger.db": 0o600, "ledger.db-wal": 0o600, "ledger.db-shm": 0o600, "ledger.key": 0o600}


def test_a_store_readable_by_others_gets_a_warning_naming_chmod_600(tmp_path):
    store = tmp_path / "ledger.db"
    ok(exposure(store, "init"))
    store.chmod(0o644)

    done = exposure(store, "audit", "verify", "--json")

    assert done.returncode == 0
    assert json.loads(done.stdout)["ok"] is True
    assert done.stderr.splitlines() == [
        f"Warning: {store} is accessible by group or others (mode 0644); run: chmod 600 {store}"
    ]


def test_an_encrypted_store_is_a_sqlcipher_file_even_for_python_s_sqlite3(encrypted):
    with pytest.raises(sqlite3.DatabaseError, match="file is not a database"):
        sqlite3.connect(encrypted).execute("SELECT count(*) FROM sqlite_master").fetchall()
    assert encrypted.stat().st_size % 4096 == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_postgresql_store_downgraded_in_its_settings_is_refused_and_verifies_without_its_key(new_location):
    import psycopg  # noqa: PLC0415 - PostgreSQL tests only

    url = str(new_location)
    ok(exposure(url, "init", "--encrypt"))
    ok(
        exposure(
            url, "record", "attack-discovered", "--incident", "i", "--operator", "o", "--occurred-on", "2024-01-01"
        )
    )
    kept_head = ok(exposure(url, "audit", "head"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE exposure_settings SET value = 'no' WHERE key = 'encrypted'")

    refused = exposure(url, "record", "insurer-informed", "--incident", "i", "--insurer", "late-one")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE exposure_settings SET value = 'yes' WHERE key = 'encrypted'")
    Path("exposure.key").rename("away.key")
    verified = exposure(url, "audit", "head")

    assert refused.returncode == 1
    assert "were changed without its key file; refusing to use the store" in refused.stderr
    assert ledger_size(url) == 1
    assert ok(verified) == kept_head


def dumped_tables(url: str) -> dict[str, bytes]:
    """`pg_dump` of the database, as {table: the bytes of its rows} (bytea columns decoded)."""
    (pg_dump,) = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))[-1:]
    dump = subprocess.run([str(pg_dump), "--data-only", "-d", url], capture_output=True, check=True).stdout
    tables: dict[str, bytes] = {}
    table = None
    for line in dump.splitlines():
        if line.startswith(b"COPY public."):
            table = line.split(b" ")[1].removeprefix(b"public.").decode()
            tables[table] = b""
        elif line == b"\\.":
            table = None
        elif table is not None:
            cells = [bytes.fromhex(c[3:].decode()) if c.startswith(b"\\\\x") else c for c in line.split(b"\t")]
            tables[table] += b"\t".join(cells) + b"\n"
    return tables


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("encrypt", [False, True])
def test_what_a_postgresql_dump_reveals_in_each_mode(new_location, tmp_path, encrypt):
    url = str(new_location)
    ok(exposure(url, "init", "--timezone", PARIS, *(["--encrypt"] if encrypt else [])))
    facts_file = tmp_path / "facts.jsonl"
    facts_file.write_text("".join(json.dumps(f) + "\n" for f in facts()), encoding="utf-8")
    ok(exposure(url, "import", str(facts_file)))
    ok(exposure(url, "summary", "--incident", SECRETS["incident"]))
    secrets = {name: SECRETS[name].encode() for name in ("incident", "insurer", "ref", "contract", "operator", "note")}

    tables = dumped_tables(url)

    events = tables["exposure_events"]
    projections = b"".join(rows for name, rows in tables.items() if name != "exposure_events")
    in_events = sorted(name for name, value in secrets.items() if value in events)
    assert in_events == ([] if encrypt else sorted(secrets))
    assert b"exposure:members-enrolled" in events  # each fact's kind, in both modes
    assert sorted(name for name, value in secrets.items() if value in projections) == sorted(secrets)
