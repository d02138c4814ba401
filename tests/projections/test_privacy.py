"""SPEC §6: the raw NIR is never stored, in any formatting, in any file of the store folder."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from domain import nir as nir_rules
from projections import queries
from tests.support import (
    INCIDENT,
    NIR_ALICE,
    NIR_BRUNO,
    NIR_CORSE,
    error_lines,
    fact,
    labelled,
    opened,
    opening,
    spaced,
)

NIR_DANIEL = "1" + NIR_ALICE[1:13]
NIR_DANIEL += f"{97 - int(NIR_DANIEL) % 97:02d}"
NIR_EMMA = "2" + NIR_BRUNO[1:13]
NIR_EMMA += f"{97 - int(NIR_EMMA) % 97:02d}"
EVERY_NIR = (NIR_ALICE, NIR_BRUNO, NIR_CORSE, NIR_DANIEL, NIR_EMMA)


def written_forms(number: str) -> set[bytes]:
    """Every way a NIR could have been written down: compact, spaced, dotted, without its key,
    lower case (Corsica), and as UTF-16 text."""
    texts = {
        number,
        number[:13],
        spaced(number),
        spaced(number).replace(" ", "."),
        spaced(number)[:-3],
        number.lower(),
        number[:13].lower(),
        spaced(number).lower(),
    }
    forms = {text.encode("ascii") for text in texts}
    forms |= {text.encode("utf-16-le") for text in (number, number[:13])}
    return forms


def leaks(folder: Path) -> list[str]:
    """(file, form) pairs where a raw NIR appears in a file of `folder`."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            data = path.read_bytes()
            forms = (form for number in EVERY_NIR for form in written_forms(number))
            found += [f"{path.name}: {form!r}" for form in forms if form in data]
    return found


def test_no_raw_nir_reaches_any_file_of_the_store_folder(cli, write_file, store_path):
    cli("import", str(write_file("open.jsonl", json.dumps(opening()) + "\n")))
    # 1. record, spaced
    recorded = cli(
        "record",
        "members-enrolled",
        "--insurer",
        "mh",
        "--known-on",
        "2024-01-01",
        "--members",
        json.dumps({"ref": "m1", "role": "holder", "nir": spaced(NIR_ALICE)}),
    )
    # 2. import, dotted and compact
    imported = cli(
        "import",
        str(
            write_file(
                "roster.jsonl",
                json.dumps(
                    fact(
                        "members-enrolled",
                        insurer="lmg",
                        known_on="2024-01-01",
                        members=[
                            {"ref": "g1", "nir": spaced(NIR_BRUNO).replace(" ", ".")},
                            {"ref": "g2", "nir": NIR_DANIEL},
                        ],
                    )
                )
                + "\n",
            )
        ),
    )
    # 3. members import, compact and lower case
    rows = f"ref,nir\nc1,{NIR_CORSE.lower()}\nc2,{NIR_EMMA}\nc3,{spaced(NIR_ALICE)}\n"
    roster = cli("members", "import", "--insurer", "corsica", str(write_file("roster.csv", rows)))
    # 4. lookups by NIR and a rejected NIR
    cli("record", "insurer-confirmed-affected", "--incident", INCIDENT, "--insurer", "mh")
    looked_up = cli("member", "--nir", spaced(NIR_ALICE), "--json")
    bad_csv = write_file("bad.csv", f"ref,nir\nx,{NIR_BRUNO[:13]}00\n")
    rejected = cli("members", "import", "--insurer", "mh", str(bad_csv))

    assert [r.exit_code for r in (recorded, imported, roster, looked_up)] == [0, 0, 0, 0]
    assert len(json.loads(looked_up.stdout)["memberships"]) == 2
    assert rejected.exit_code == 1
    assert NIR_BRUNO[:13] not in "\n".join(error_lines(rejected))
    assert leaks(store_path.parent) == []


async def test_no_raw_nir_is_in_the_write_ahead_log_of_an_open_store(store_path):
    async with opened(store_path) as store:
        await store.append(
            labelled(
                opening(),
                fact(
                    "members-enrolled",
                    insurer="mh",
                    known_on="2024-01-01",
                    members=[{"ref": f"m{n}", "nir": number} for n, number in enumerate(EVERY_NIR)],
                ),
            )
        )
        h = await store.horizon()
        found = msgspec.to_builtins(
            await queries.member(store.db, h, nir_pseudonym=nir_rules.pseudonymise(NIR_CORSE, store.keys.nir_key))
        )
        files = {path.name for path in store_path.parent.iterdir()}

        assert [(m["insurer"], m["ref"]) for m in found["memberships"]] == [("mh", "m2")]
        assert {"ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.key"} <= files
        assert leaks(store_path.parent) == []

    assert leaks(store_path.parent) == []


def test_the_stored_value_is_the_keyed_pseudonym(cli, store_path):
    cli("record", "members-enrolled", "--insurer", "mh", "--members", json.dumps({"ref": "m1", "nir": NIR_ALICE}))

    logged = json.loads(cli("audit", "log", "--json").stdout)

    key = bytes.fromhex(json.loads(store_path.with_suffix(".key").read_text(encoding="utf-8"))["nir_key"])
    assert logged["members"][0]["nir"] == nir_rules.pseudonymise(NIR_ALICE, key)


def test_the_leak_check_finds_a_nir_written_in_any_form(tmp_path):
    (tmp_path / "a.db").write_bytes(b"\x00header" + spaced(NIR_CORSE).lower().encode() + b"\x00")
    (tmp_path / "b.db-wal").write_bytes(NIR_EMMA[:13].encode("utf-16-le"))

    assert len(leaks(tmp_path)) >= 2
