"""`exposure summary`, `insurer` and `member`: the answers as known on a date."""

from __future__ import annotations

import sys
from typing import TextIO

import click
import msgspec

from cli import render
from cli.shell import emit_json, horizon_at, horizon_options, run, with_store
from domain import nir as nir_rules
from domain.errors import LedgerError
from ledger.store import Store
from projections import queries


@click.command()
@click.option("--incident", required=True, help="Incident id, e.g. viamedis-2024-01.")
@horizon_options
def summary(incident: str, as_known_on: str | None, as_recorded_at: str | None, as_json: bool) -> None:
    """Insurers, member counts and field categories of an incident.

    \b
    Example:
      exposure summary --incident viamedis-2024-01 --as-known-on 2024-02-07 --json
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        data = await queries.summary(store.db, incident, h)
        emit_json(data) if as_json else render.summary(data, store.tz)

    run(go())


@click.command()
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="Insurer id.")
@horizon_options
def insurer(incident: str, insurer_id: str, as_known_on: str | None, as_recorded_at: str | None, as_json: bool) -> None:
    """One insurer: status, scope, fields, counts, notification dates.

    \b
    Example:
      exposure insurer --incident almerys-2024-02 --insurer mutame-et-plus
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        data = await queries.insurer(store.db, incident, insurer_id, h)
        emit_json(data) if as_json else render.insurer(data, store.tz)

    run(go())


@click.command()
@click.option("--insurer", "insurer_id", help="Insurer id (with --ref).")
@click.option("--ref", help="The insurer's member number (with --insurer).")
@click.option(
    "--nir",
    help="Social security number: every membership of that person. '-': read NIRs from standard input,"
    " one per line, and answer one JSON object per line (NIRs stay out of shell history and process lists).",
)
@horizon_options
def member(
    insurer_id: str | None,
    ref: str | None,
    nir: str | None,
    as_known_on: str | None,
    as_recorded_at: str | None,
    as_json: bool,
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

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        if nir == "-":
            await _lookups(store, h, sys.stdin)
            return
        if insurer_id is not None:
            await queries.require_insurer(store.db, insurer_id)  # a typo is an error, not "no membership"
        pseudonym = None
        if nir is not None:
            key = store.keys_for("member --nir needs it (a NIR is looked up by its keyed pseudonym)").nir_key
            pseudonym = nir_rules.pseudonymise(nir, key)
        data = await queries.member(store.db, h, insurer_id=insurer_id, ref=ref, nir_pseudonym=pseudonym)
        emit_json(data) if as_json else render.member(data, store.tz)

    run(go())


LOOKUP_BATCH = 5_000
"""NIRs answered per batch by `member --nir -` (one statement per batch: `projections.batch`)."""


async def _lookups(store: Store, h: queries.Horizon, lines: TextIO) -> None:
    """`member --nir -`: one JSON object per input line, in order, with the line number; an
    invalid NIR answers `{"line": N, "error": ...}` and the others are still answered."""
    from usecases import questions  # noqa: PLC0415 - start-up: it loads the roster import (and cryptography)

    key = store.keys.nir_key
    encoder = msgspec.json.Encoder()
    pieces = questions.Pieces(encoder=encoder)
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
            pending.append((number, nir_rules.pseudonymise(text, key), None))
        except LedgerError as problem:
            pending.append((number, None, str(problem)))
        if len(pending) >= LOOKUP_BATCH:
            await flush()
    if pending:
        await flush()
    out.flush()
