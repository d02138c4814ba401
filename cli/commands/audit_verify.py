"""`exposure audit verify`, `head` and `keygen`: is the log intact, and does it extend a
head kept outside the store (signed by a trusted key)? Exit 3 when it is not."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.shell import emit_json, fail, json_option, run, with_stored_bytes
from domain.errors import AuditFailure, InvalidFact, LedgerError
from domain.merkle import Checkpoint, Head, ProofError, parse_checkpoint, parse_head
from service import access_log, storage
from usecases import audit
from usecases.session import Store


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
        result = await audit.verify(store, expected, trusted)
        accesses = await verify_access_log(store)
        tables = await audit.verify_projections(store) if projections else None
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


def _trusted_option(trusted_key: str | None, expected: Head | Checkpoint | None) -> audit.Verifier | None:
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
        return audit.load_verifier(trusted_key)
    except LedgerError as problem:
        raise click.BadParameter(str(problem), param_hint="--trusted-key") from None


def _unchecked_signatures(expected: Head | Checkpoint | None, trusted: audit.Verifier | None) -> str:
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
        current = await audit.checkpoint(store, key_file)
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
        public, verifier_key = audit.keygen(file, name)
        click.echo(f"Created {file} (private, mode 0600) and {public}: {verifier_key}")

    run(go())
