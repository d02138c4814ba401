"""`exposure audit ...`: the log, verification against kept heads, replay, export, keys.

The `audit` group, named in `cli.main.COMMANDS`. Exit 3 (and one `Error: ...` line)
when the ledger fails verification or replay; exit 1 for bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from cli.i18n import _
from cli.render import tables
from cli.render.progress import RosterProgress
from cli.shell import (
    MOMENT,
    emit_json,
    emit_json_line,
    fail,
    force_option,
    json_option,
    output_to,
    run,
    with_store,
    with_stored_bytes,
)
from domain import times
from domain.errors import AuditFailure, InvalidFact, LedgerError
from domain.facts import KINDS
from domain.merkle import Checkpoint, Head, ProofError, parse_checkpoint, parse_head
from ledger import audit as auditing
from ledger import signing
from ledger.store import Store
from projections import queries
from service import access_log, storage

# -- log --------------------------------------------------------------------------------


@click.command("log")
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice(sorted(KINDS)), help="Only facts of this kind (repeatable)."
)
@click.option(
    "--from", "since", metavar="X", type=MOMENT, help="Only facts recorded at or after X (a date means its start)."
)
@click.option(
    "--to", "until", metavar="Y", type=MOMENT, help="Only facts recorded at or before Y (a date means its end)."
)
@click.option("--incident", metavar="ID", help="Only facts about this incident (and their retractions).")
@json_option
def audit_log(
    kinds: tuple[str, ...], since: str | None, until: str | None, incident: str | None, as_json: bool
) -> None:
    """Every fact in append order with its three times, author, source and hash.

    A fact recorded more than 7 days after its known_on is a late entry: marked
    `late` (JSON: "late": true). --from/--to select by recorded_at. Times are shown
    in the ledger's time zone, to the minute (JSON: UTC); the hash is cut to 16
    characters (the full value is in --json); ids are never cut.

    \b
    Examples:
      exposure audit log --kind fact-retracted
      exposure audit log --incident viamedis-2024-01 --from 2024-02-01 --to 2024-02-07
      exposure audit log --from 2024-02-01 --to 2024-02-07 --json
    """

    @with_store
    async def go(store: Store) -> None:
        start = times.parse_instant(since, "--from", store.tz, date_means="start") if since else None
        end = times.parse_instant(until, "--to", store.tz, date_means="end") if until else None
        if incident is not None:
            await store.catch_up()
            await queries.require_incident(store.db, incident)
        rows: list[dict[str, Any]] = []
        async for entry in auditing.log_entries(store, kinds, start, end, incident):
            if as_json:
                emit_json_line(entry)
            else:
                rows.append(entry)
        if not as_json:
            _render_log(rows, store.tz)

    run(go())


def _render_log(rows: list[dict[str, Any]], tz: ZoneInfo) -> None:
    table = Table(show_header=True, title=_("Every fact in append order ({zone})").format(zone=tz.key))
    tables.id_column(table, "#", [str(row["position"]) for row in rows], justify="right")
    for column in (_("recorded at"), _("known on")):
        tables.id_column(table, column, ["2024-01-01 00:00"])
    tables.id_column(table, _("late entry"), [_("late")])
    tables.id_column(table, _("occurred on"), ["2024-01-01 00:00"])
    tables.id_column(table, _("kind"), [row["kind"] for row in rows])
    tables.id_column(table, _("id"), [row["id"] for row in rows])
    table.add_column(_("by"), overflow="fold", max_width=20)
    table.add_column(_("source"), overflow="fold", max_width=40)
    tables.id_column(table, _("hash (cut)"), ["0" * 16])
    for row in rows:
        table.add_row(
            str(row["position"]),
            tables.stamp(row["recorded_at"], tz),
            tables.stamp(row["known_on"], tz),
            f"[bold]{_('late')}[/bold]" if row["late"] else "",
            tables.stamp(row["occurred_on"], tz),
            row["kind"],
            row["id"],
            row.get("by") or "",
            row.get("source") or "",
            row["hash"][:16],
        )
    tables.print_table(table)


# -- verify and head --------------------------------------------------------------------


def _text_of(value: str) -> str:
    """The content of file `value`, else `value` itself."""
    path = Path(value)
    try:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise InvalidFact(f"{value}: unreadable file") from None
    return value


def parse_expected(value: str) -> Head | Checkpoint:
    """A kept head: a checkpoint, `SIZE:ROOT`, a JSON {size, root}, or an export's head line."""
    text = _text_of(value).strip("\ufeff")
    try:
        stripped = text.strip()
        if stripped.startswith("{"):
            return _head_from_json(stripped.splitlines()[-1] if "\n" in stripped else stripped)
        if len(stripped.splitlines()) >= 3:
            return parse_checkpoint(text if text.endswith("\n") else text + "\n")
        return parse_head(stripped)
    except ProofError as problem:
        raise InvalidFact(f"--expect: {problem}") from None


def _head_from_json(text: str) -> Head:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ProofError("not a JSON object with size and root") from None
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if not isinstance(data, dict) or not isinstance(data.get("size"), int) or not isinstance(data.get("root"), str):
        raise ProofError("a JSON head has an integer size and a root")
    return parse_head(f"{data['size']}:{data['root']}")


@click.command("verify")
@click.option(
    "--expect",
    metavar="HEAD",
    help="A head kept from earlier: checkpoint file or text (from `audit head`), SIZE:ROOT, or an export's last line.",
)
@click.option(
    "--trusted-key",
    metavar="PUBKEY",
    help="Public key file or text (from `audit keygen`): the --expect checkpoint must be signed by it.",
)
@click.option(
    "--projections",
    is_flag=True,
    help="Also rebuild every projection from the facts and compare each table's digest (names the first"
    " differing table and row).",
)
@json_option
def audit_verify(expect: str | None, trusted_key: str | None, projections: bool, as_json: bool) -> None:
    """Recompute every leaf hash and the Merkle tree; name the first bad position (exit 3).

    Checks that positions are 1..N with no gap, every fact decodes, ids are unique,
    recorded_at strictly increases, facts verified before are unchanged and the
    append-only triggers are in place. With --expect, also proves that the log extends
    that head (nothing rewritten or removed since): the one check a forger who
    recomputed every hash cannot pass. A signed head's signature is checked only
    against --trusted-key. With --projections, also checks that every stored projection
    (caches included) is what the facts give.

    \b
    Examples:
      exposure audit verify
      exposure audit head > head-2024-02-07.txt   # keep it somewhere else
      exposure audit verify --expect head-2024-02-07.txt --trusted-key auditor.key.pub
      exposure audit verify --projections
    """
    expected = _expected_option(expect)
    trusted = _trusted_option(trusted_key, expected)

    @with_stored_bytes
    async def go(store: Store) -> None:
        result = await auditing.verify(store, expected, trusted)
        accesses = await verify_access_log(store)
        tables = await auditing.verify_projections(store) if projections else None
        unchecked = _unchecked_signatures(expected, trusted)
        if unchecked and not as_json:
            click.echo(
                f"Warning: the checkpoint's signature by {unchecked} was NOT checked: give --trusted-key"
                " with the signer's public key (.pub) to check it",
                err=True,
            )
        if as_json:
            emit_json(
                {
                    "ok": True,
                    "access_log": None if accesses is None else {"rows": accesses[0], "head": accesses[1]},
                    "origin": result.origin,
                    "size": result.head.size,
                    "root": result.head.root,
                    "remembered": result.remembered,
                    "expected": {"size": result.expected.size, "root": result.expected.root}
                    if result.expected
                    else None,
                    "signed_by": result.signed_by,
                    "unchecked_signatures": [s.display for s in expected.signatures]
                    if isinstance(expected, Checkpoint) and trusted is None
                    else [],
                    "projections": None if tables is None else [t.__dict__ for t in tables],
                }
            )
            return
        click.echo(f"Verified {result.head.size} fact{'s' if result.head.size != 1 else ''} of {result.origin}")
        if not store.can_decode:
            click.echo("payloads encrypted and no key file: positions and hashes checked, not the facts' contents")
        click.echo(f"size {result.head.size}")
        click.echo(f"root {result.head.root}")
        if result.expected is not None:
            click.echo(f"extends the expected head {result.expected} (consistency proof checked)")
        if result.signed_by is not None:
            click.echo(f"checkpoint signed by {result.signed_by} (signature checked)")
        if tables is not None:
            rows = sum(t.rows for t in tables)
            click.echo(f"projections: {len(tables)} tables ({rows:,} rows) identical to a rebuild from the facts")
        if accesses is not None:
            click.echo(f"access log: {accesses[0]} rows, chain verified (head {accesses[1][:16]})")

    run(go())


def _expected_option(expect: str | None) -> Head | Checkpoint | None:
    """`--expect`, parsed before the store is opened (exit 1 on an unreadable head)."""
    if expect is None:
        return None
    try:
        return parse_expected(expect)
    except LedgerError as problem:
        fail(*problem.problems)
        raise SystemExit(1) from None  # pragma: no cover - fail exits


def _trusted_option(trusted_key: str | None, expected: Head | Checkpoint | None) -> signing.Verifier | None:
    """`--trusted-key`: a usage mistake (exit 2) unless it can check a signed checkpoint."""
    if trusted_key is None:
        return None
    if expected is None:
        raise click.UsageError("--trusted-key checks the signature of a checkpoint: give --expect CHECKPOINT too")
    if not isinstance(expected, Checkpoint):
        raise click.UsageError(
            "--trusted-key checks the signature of a checkpoint, but --expect is a bare SIZE:ROOT head:"
            " give the checkpoint printed by `audit head --sign`"
        )
    try:
        return signing.load_verifier(trusted_key)
    except LedgerError as problem:
        raise click.BadParameter(str(problem), param_hint="--trusted-key") from None


def _unchecked_signatures(expected: Head | Checkpoint | None, trusted: signing.Verifier | None) -> str:
    """The signers of a checkpoint whose signatures nobody checked (no --trusted-key)."""
    if trusted is not None or not isinstance(expected, Checkpoint):
        return ""
    return ", ".join(s.display for s in expected.signatures)


async def verify_access_log(store: Store) -> tuple[int, str] | None:
    """The lookup service's access log chain (rows, last hash), if the store has one; exit 3 when broken."""
    db = await storage.existing(store.location.text)
    if db is None:
        return None
    try:
        return await access_log.verify(db)
    except access_log.ChainBroken as problem:
        raise AuditFailure(str(problem)) from None
    finally:
        await db.close()


@click.command("head")
@click.option(
    "--sign",
    "key_file",
    metavar="KEYFILE",
    type=click.Path(dir_okay=False),
    help="Sign the checkpoint with this private key (from `audit keygen`).",
)
def audit_head(key_file: str | None) -> None:
    """Verify the log and print its head as a checkpoint (C2SP tlog-checkpoint, signed note).

    Keep the output outside the store (mail it, print it, give it to the auditor):
    `audit verify --expect` later proves that nothing before it was changed.

    \b
    Example:
      exposure audit keygen dpo.key
      exposure audit head --sign dpo.key > head-2024-02-07.txt
    """

    @with_stored_bytes
    async def go(store: Store) -> None:
        signer = signing.load_signer(Path(key_file)) if key_file else None
        current = await auditing.checkpoint(store)
        if signer is not None:
            current = signer.sign(current)
        click.echo(current.text(), nl=False)

    run(go())


@click.command("keygen")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--name", default="exposure-audit", show_default=True, help="Key name shown in signatures (no spaces or '+')."
)
def audit_keygen(file: str, name: str) -> None:
    """Create an Ed25519 key pair: FILE (private, mode 0600) and FILE.pub (public).

    \b
    Example:
      exposure audit keygen dpo.key --name dpo.example.org
    """

    async def go() -> None:
        signer = signing.write_key_pair(Path(file), name)
        click.echo(f"Created {file} (private, mode 0600) and {signing.public_path(Path(file))}: {signer.verifier_key}")

    run(go())


# -- replay and export ------------------------------------------------------------------


@click.command("replay")
@click.option(
    "--answers",
    is_flag=True,
    help="Also compare every answer one by one at every knowledge time and every append (slow).",
)
@json_option
def audit_replay(answers: bool, as_json: bool) -> None:
    """Rebuild every projection from the facts alone and compare, table by table (exit 3 on a difference).

    Every projection table, caches included, is read in one canonical order on both
    sides and compared row by row (with a SHA-256 digest of each table); the first
    difference names its table, its key and its column. Equal tables give equal answers
    at every knowledge time (docs/AUDIT.md). --answers also compares each incident's
    summary, each insurer's answer and each member's status at every knowledge time and
    every append, as the answers were compared before.

    \b
    Examples:
      exposure audit replay
      exposure audit replay --answers
    """

    @with_store
    async def go(store: Store) -> None:
        with RosterProgress() as progress:
            result = await auditing.replay(store, answers=answers, progress=progress)
        if as_json:
            emit_json(
                {
                    "ok": True,
                    "facts": result.facts,
                    "tables": [t.__dict__ for t in result.tables],
                    "answers": None if result.answers is None else result.answers.__dict__,
                }
            )
            return
        rows = sum(t.rows for t in result.tables)
        click.echo(
            f"Replayed {result.facts} facts into a fresh read side: {len(result.tables)} projection tables"
            f" ({rows:,} rows) identical"
        )
        if result.answers is not None:
            a = result.answers
            click.echo(
                f"{a.answers:,} answers identical at {a.knowledge_times} knowledge times and {a.recording_times}"
                f" recording times ({a.incidents} incidents, {a.insurers} insurers, {a.members:,} members)"
            )

    run(go())


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--decrypt",
    is_flag=True,
    help="On an encrypted store, also write each fact in clear (needs the key file; an auditor without"
    " the key cannot check the clear data against the ciphertext).",
)
@force_option
def audit_export(file: str, decrypt: bool, force: bool) -> None:
    """Write the verified log as CloudEvents 1.0 JSON lines, the head last (- for stdout).

    Each line carries the exact stored bytes (base64) and leaf hash, so that an
    auditor recomputes every leaf and the root without this program
    (docs/AUDIT.md). Every field of a line is bound to its leaf hash. An encrypted
    store's facts stay encrypted in the export unless --decrypt. An existing FILE is
    replaced only with --force; never the store or a key file.

    \b
    Examples:
      exposure audit export ledger.jsonl
      exposure audit export ledger-clear.jsonl --decrypt    # encrypted store: facts in clear
    """

    @with_store
    async def go(store: Store) -> None:
        if file == "-":
            head = await auditing.export(store, sys.stdout, decrypt=decrypt)
        else:
            with output_to(file, "audit export", force=force, make_folder=True) as handle:
                head = await auditing.export(store, handle, decrypt=decrypt)
        if file != "-":
            click.echo(f"Exported {head.size} facts to {file}; head {head}", err=False)

    run(go())


@click.group()
def audit() -> None:
    """Inspect and verify the whole history.

    \b
    Example:
      exposure audit log --json
    """


for _command in (audit_log, audit_verify, audit_head, audit_keygen, audit_replay, audit_export):
    audit.add_command(_command)
