"""`exposure summary`, `insurer` and `member`: the answers as known on a date."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, Final, TextIO

import click
import msgspec

from cli.emit import CSV, emit, output_options
from cli.render import tables
from cli.shell import horizon_at, knowledge_options, run, with_store
from domain.errors import LedgerError
from usecases import questions
from usecases.session import Horizon, Store


@click.command()
@click.option("--incident", required=True, help="Incident id, e.g. viamedis-2024-01.")
@knowledge_options
@output_options(rows=False)
def summary(incident: str, as_known_on: str | None, as_recorded_at: str | None, output: str) -> None:
    """Insurers, member counts and field categories of an incident.

    \b
    Example:
      exposure summary --incident viamedis-2024-01 --as-known-on 2024-02-07 --json
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        data = await questions.summary(store, incident, h)
        emit(data, output, table=lambda: tables.summary(data, store.tz))

    run(go())


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id.")
@knowledge_options
@output_options(rows=False)
def insurer(incident: str, insurer_id: str, as_known_on: str | None, as_recorded_at: str | None, output: str) -> None:
    """One insurer: status, scope, fields, counts, notification dates.

    \b
    Example:
      exposure insurer --incident almerys-2024-02 --insurer mutame-et-plus
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        data = await questions.insurer(store, incident, insurer_id, h)
        emit(data, output, table=lambda: tables.insurer(data, store.tz))

    run(go())


@click.command()
@click.option("--insurer", "insurer_id", help="Insurer id (with --ref).")
@click.option("--ref", help="The insurer's member number (with --insurer).")
@click.option(
    "--nir",
    help="Social security number: every membership of that person. '-': read NIRs from standard input,"
    " one per line, and answer one JSON object per line (NIRs stay out of shell history and process lists).",
)
@knowledge_options
@output_options(rows=True)
def member(
    insurer_id: str | None,
    ref: str | None,
    nir: str | None,
    as_known_on: str | None,
    as_recorded_at: str | None,
    output: str,
) -> None:
    """Every membership found, per incident: status, fields, implied fields and the facts behind.

    \b
    Examples:
      exposure member --insurer malakoff-humanis --ref MH-000042
      exposure member --nir "1 54 04 73 629 313 76" --json
      exposure member --nir - < nirs.txt > answers.jsonl
    """
    if nir is None and (insurer_id is None or ref is None):
        raise click.UsageError("give --insurer and --ref, or --nir")
    if nir is not None and (insurer_id is not None or ref is not None):
        raise click.UsageError("give either --nir or --insurer with --ref, not both")
    if nir == "-" and output == CSV:
        raise click.UsageError("--nir - answers JSON Lines, one object per input line: leave out --csv")

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        if nir == "-":
            await _lookups(store, h, sys.stdin)
            return
        data = await questions.member(store, h, insurer_id=insurer_id, ref=ref, nir=nir)
        emit(data, output, table=lambda: tables.member(data, store.tz), rows=membership_rows, columns=MEMBER_COLUMNS)

    run(go())


MEMBER_COLUMNS: Final = ("insurer", "ref", "incident", "status", "fields", "implied", "because")
"""`member --csv`: one line per membership and incident."""


def membership_rows(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per membership and incident: the member's keys, then the incident's answer."""
    for membership in answer["memberships"]:
        for found in membership["incidents"]:
            yield {"insurer": membership["insurer"], "ref": membership["ref"], **found}


LOOKUP_BATCH = 5_000
"""NIRs answered per batch by `member --nir -` (one statement per batch: `projections.batch`)."""


async def _lookups(store: Store, h: Horizon, lines: TextIO) -> None:
    """`member --nir -`: one JSON object per input line, in order, with the line number; an
    invalid NIR answers `{"line": N, "error": ...}` and the others are still answered."""
    to_pseudonym = questions.pseudonymiser(store)
    encoder = msgspec.json.Encoder()
    pieces = questions.Pieces()
    pending: list[tuple[int, str | None, str | None]] = []  # (line, pseudonym, error)
    out = sys.stdout.buffer

    async def flush() -> None:
        good = [p for _, p, _ in pending if p is not None]
        answers = iter(await questions.members_by_nir(store, h, good, pieces) if good else ())
        chunk = bytearray()
        for number, pseudonym, problem in pending:
            # compact UTF-8 JSON, one object a line, "line" first: what json.dumps(..., separators=(",", ":")) writes
            body = encoder.encode(next(answers)) if pseudonym is not None else encoder.encode({"error": problem})
            chunk += b'{"line":%d,' % number
            chunk += memoryview(body)[1:]
            chunk += b"\n"
        sys.stdout.flush()
        out.write(chunk)
        pending.clear()

    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            pending.append((number, to_pseudonym(text), None))
        except LedgerError as problem:
            pending.append((number, None, str(problem)))
        if len(pending) >= LOOKUP_BATCH:
            await flush()
    if pending:
        await flush()
    out.flush()
