"""A roster's facts are written from the members JSON of the check workers, spliced into the
fact as it is (`ledger.roster.importer._spliced`), and the projections read back the JSON
this process just encoded (`ledger.application.JustStored`). The stored facts must be the
canonical JSON of the facts they hold, byte for byte what decoding and encoding again gives,
and bytes edited in the store must be read as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain import facts as fact_codec
from domain.facts import MembersEnrolled
from ledger import roster
from ledger.application import FactMapper
from ledger.compression import inflate
from projections.projector import ENROLLED_TOPIC
from tests.support import opened, valid_nir

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

ROWS = 7_000
"""Two batches of 5,000 rows."""


def odd_roster(folder: Path) -> tuple[Path, list[str]]:
    """Rows with every optional field missing in turn, non-ASCII contracts, repeated refs and a
    blank line; and every ref."""
    lines = ["ref,role,contract,from,until,nir"]
    refs: list[str] = []
    for n in range(ROWS):
        ref = f"r-{n - 3:05d}" if n % 1_000 == 999 else f"r-{n:05d}"  # repeats a ref three rows up
        role = ("holder", "dependant", "")[n % 3]
        contract = ("Cœur-é", "C-01", "")[n % 3]
        start = "" if n % 5 == 0 else f"2019-0{1 + n % 9}-0{1 + n % 7}"
        until = "2024-12-31" if n % 7 == 0 else ""
        nir = valid_nir(f"1840175{n:06d}") if n % 2 else ""
        lines.append(f"{ref},{role},{contract},{start},{until},{nir}")
        if n == 4_321:
            lines.append("")
        refs.append(ref)
    path = folder / "odd.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, refs


async def test_the_stored_roster_facts_are_the_canonical_json_of_their_members(store_path, tmp_path):
    path, refs = odd_roster(tmp_path)
    async with opened(store_path) as store:
        result = await roster.import_roster(store, "ins-a", str(path), known_on="2024-01-01")
        assert result["appended"] == 2

    async with opened(store_path) as store:  # another process: nothing kept from the import
        notes = [n for n in store.ledger.notifications(start=1, limit=100) if n.topic == ENROLLED_TOPIC]
        held: list[str] = []
        for note in notes:
            plain = store.ledger.plain(note.state)
            fact = fact_codec.decode(plain)
            assert isinstance(fact, MembersEnrolled)
            assert fact_codec.encode(fact) == plain  # canonical: what the decoded fact encodes to
            held += [m.ref for m in fact.members]
        assert len(notes) == 2
        assert set(held) == set(refs)
        assert len(held) < ROWS  # repeats within a batch are one member
        counted = await store.db.execute_fetchall("SELECT COUNT(*) FROM member_versions")
        assert [tuple(r) for r in counted] == [(len(held),)]


async def test_the_json_kept_for_the_projections_is_that_of_the_stored_bytes_and_edited_bytes_are_read_as_they_are(
    store_path, tmp_path
):
    path, _ = odd_roster(tmp_path)
    async with opened(store_path) as store:
        await roster.import_roster(store, "ins-a", str(path), known_on="2024-01-01")
        ledger = store.ledger
        just = ledger.mapper.just_stored if isinstance(ledger.mapper, FactMapper) else None
        assert just is not None
        note = next(n for n in ledger.notifications(start=1, limit=100) if n.topic == ENROLLED_TOPIC)
        state = bytes(note.state)
        assert ledger.plain(state) is just.kept[state]  # read back without inflating
        assert ledger.plain(state) == inflate(state)

        edited = state[:-9] + bytes([state[-9] ^ 1]) + state[-8:]  # one bit of the deflated stream
        assert edited not in just.kept
        with pytest.raises(ValueError, match="damaged deflated fact"):
            ledger.plain(edited)
