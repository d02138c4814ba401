"""Rosters: CSV in (streamed, batched, resumable), affected members out (streamed)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, TextIO

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from cli.shell import err
from domain import times
from domain.errors import InvalidFact, LedgerError
from domain.parse import member_from_mapping
from projections import queries
from projections.store import Store

BATCH: Final = 5_000
COLUMNS: Final = ("ref", "role", "contract", "from", "until", "nir")
MAX_FIELD: Final = 10_000


def _open(file: str) -> TextIO:
    if file == "-":
        raise InvalidFact("members import needs a file (it is read twice: once to check, once to append)")
    try:
        return Path(file).open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InvalidFact(f"no such file: {file}") from None
    except OSError as problem:
        raise InvalidFact(f"{file}: {problem.strerror}") from None


def _rows(file: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a roster CSV, checking the header."""
    csv.field_size_limit(MAX_FIELD)
    with _open(file) as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames
        except (csv.Error, UnicodeDecodeError) as problem:
            raise InvalidFact(f"{file}: unreadable CSV header ({problem})") from None
        if not header:
            raise InvalidFact(f"{file}: empty file (expected a header ref,role,contract,from,until,nir)")
        names = [h.strip() for h in header]
        unknown = [h for h in names if h not in COLUMNS]
        if unknown or "ref" not in names or len(set(names)) != len(names):
            raise InvalidFact(f"{file}: header must be columns of ref,role,contract,from,until,nir with ref; got {','.join(names)}")
        reader.fieldnames = names
        try:
            for row in reader:
                if None in row:
                    raise InvalidFact(f"line {reader.line_num}: more values than header columns")
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}
        except csv.Error as problem:
            raise InvalidFact(f"line {reader.line_num}: {problem}") from None
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None


def _check(file: str, nir_key: bytes) -> int:
    """First pass: every row valid, every ref once. Returns the row count."""
    problems: list[str] = []
    seen: set[str] = set()
    count = 0
    for line, row in _rows(file):
        count += 1
        try:
            member = member_from_mapping(row, nir_key, f"line {line}")
        except LedgerError as problem:
            problems.append(str(problem))
            if len(problems) >= 20:
                problems.append("(stopped after 20 problems)")
                break
            continue
        if member["ref"] in seen:
            problems.append(f"line {line}: ref {member['ref']!r} appears twice in the file")
        seen.add(member["ref"])
    if problems:
        raise InvalidFact(*problems)
    if count == 0:
        raise InvalidFact(f"{file}: no members (only a header)")
    return count


def batch_id(insurer: str, known_on: str | None, rows: list[dict[str, str]]) -> str:
    """A name-based id: the same batch of the same roster always gets the same id."""
    digest = hashlib.sha256()
    digest.update(json.dumps([insurer, known_on], ensure_ascii=False).encode())
    for row in rows:
        digest.update(json.dumps([row.get(c, "") for c in COLUMNS], ensure_ascii=False).encode())
    return f"roster-{insurer}-{digest.hexdigest()[:24]}"


async def import_roster(
    store: Store,
    insurer: str,
    file: str,
    *,
    known_on: str | None,
    batch_size: int = BATCH,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Check the whole file, then append it in batches (one fact and one transaction each)."""
    if known_on is not None:
        times.parse_instant(known_on, "--known-on", store.tz)
    total = _check(file, store.keys.nir_key)
    facts = appended = unchanged = 0
    progress = _progress(total) if show_progress else None
    task = progress.add_task("members", total=total) if progress else None
    try:
        batch: list[tuple[int, dict[str, str]]] = []
        for line, row in _rows(file):
            batch.append((line, row))
            if len(batch) >= batch_size:
                facts, appended, unchanged = await _append(store, insurer, known_on, batch, facts, appended, unchanged)
                if progress is not None and task is not None:
                    progress.advance(task, len(batch))
                batch = []
        if batch:
            facts, appended, unchanged = await _append(store, insurer, known_on, batch, facts, appended, unchanged)
            if progress is not None and task is not None:
                progress.advance(task, len(batch))
    finally:
        if progress is not None:
            progress.stop()
    return {"insurer": insurer, "members": total, "facts": facts, "appended": appended, "unchanged": unchanged}


async def _append(
    store: Store,
    insurer: str,
    known_on: str | None,
    batch: list[tuple[int, dict[str, str]]],
    facts: int,
    appended: int,
    unchanged: int,
) -> tuple[int, int, int]:
    rows = [row for _, row in batch]
    obj: dict[str, Any] = {
        "kind": "members-enrolled",
        "id": batch_id(insurer, known_on, rows),
        "insurer": insurer,
        "members": rows,
    }
    if known_on is not None:
        obj["known_on"] = known_on
    label = f"lines {batch[0][0]}-{batch[-1][0]}"
    result = await store.append([(label, obj)])
    return facts + 1, appended + len(result.appended), unchanged + len(result.unchanged)


class _Rate(ProgressColumn):
    """Rows per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="cyan")


def _progress(total: int) -> Progress:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    progress.start()
    return progress


async def export(store: Store, incident: str, h: queries.Horizon, insurer: str | None, fmt: str, sink: TextIO) -> int:
    """Write the affected members as CSV or JSON Lines; return how many."""
    count = 0
    writer = csv.writer(sink, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(queries.EXPORT_COLUMNS)
    async for row in queries.affected_members(store.db, incident, h, insurer):
        count += 1
        if writer is not None:
            writer.writerow([
                ";".join(row[c]) if isinstance(row[c], list) else ("" if row[c] is None else row[c])
                for c in queries.EXPORT_COLUMNS
            ])
        else:
            sink.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    sink.flush()
    return count
