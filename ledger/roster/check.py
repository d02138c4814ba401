"""Pass 1: every row of a roster checked (in parallel for large files) and spooled."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Final

from domain.errors import InvalidFact
from ledger.roster.csv_layout import MAX_FIELD, Layout, roster_chunks
from ledger.roster.rows import Repeats, check_batch, check_range, checked_decoder
from ledger.roster.spool import Progress, Spool, spool_batch
from ledger.roster.workers import WORKER_POOL, can_fork, checked_in_order

MAX_PROBLEMS: Final = 20
PARALLEL_ABOVE_BYTES: Final = 2 * 1024 * 1024
TASK_BATCHES: Final = 8
"""Batches per worker task: a task is a byte range of the file that its worker reads itself."""
SCAN_BLOCK: Final = 256 * 1024


def _plan(file: str, batch_size: int, task_batches: int = TASK_BATCHES) -> list[tuple[int, int, int]] | None:
    """The (start, end, first line) byte ranges of `task_batches` batches each,
    for workers to read themselves; None when the file must be read as CSV from the start
    (not a regular file, a quote anywhere, a bare CR, or anything odd about the header)."""
    try:
        handle = Path(file).open("rb")  # noqa: SIM115 - closed below
    except OSError:
        return None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        head = handle.readline(MAX_FIELD)
        if not head.endswith(b"\n") or b'"' in head or b"\r" in head[:-2]:
            return None
        per_task = task_batches * batch_size
        ranges: list[tuple[int, int, int]] = []
        offset = start = len(head)
        line = 2
        wanted = per_task  # newlines until the end of the current range
        while block := handle.read(SCAN_BLOCK):
            if block.endswith(b"\r"):
                block += handle.read(1)
            if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
                return None
            found = block.count(b"\n")
            at = 0
            while found >= wanted:  # the range ends in this block: find its last newline
                for _ in range(wanted):
                    at = block.index(b"\n", at) + 1
                found -= wanted
                ranges.append((start, offset + at, line))
                start, line, wanted = offset + at, line + per_task, per_task
            wanted -= found
            offset += len(block)
        if offset > start:
            ranges.append((start, offset, line))
    return ranges


def check_all(
    file: str,
    key: bytes,
    batch_size: int,
    spool: Spool,
    progress: Progress | None,
    shape: Layout,
    repeats: Repeats,
    *,
    beside: bool = False,
    head: bytes = b"",
) -> tuple[int, int]:
    """Pass 1: validate every row into the spool. Returns (rows, batches). With `head` (the
    start of the facts' JSON before their members), each batch's members are deflated after it
    (`Batch.deflated`).

    A large file is checked by worker processes, and so is every file when `beside` (the
    main process projects earlier rosters meanwhile, or will: the check leaves it the core)."""
    problems: list[str] = []
    rows_seen = batches = 0
    big = Path(file).stat().st_size > PARALLEL_ABOVE_BYTES
    ranges = _plan(file, batch_size, TASK_BATCHES if big else 1)
    parallel = (big or beside) and ranges is not None and can_fork()
    if ranges is not None:
        tasks = [(file, key, shape, start, end, line, batch_size, head) for start, end, line in ranges]
        results = checked_in_order(WORKER_POOL.get(), tasks) if parallel else (check_range(task) for task in tasks)
        with contextlib.closing(results):
            for encoded in results:
                checked = checked_decoder.decode(encoded)
                for batch in checked.batches:
                    repeats.add(batch)
                    rows_seen, batches = spool_batch(batch, spool, problems, rows_seen, batches, progress)
                if checked.fatal is not None:
                    raise InvalidFact(checked.fatal)
    else:
        for lines, rows, same in roster_chunks(file, batch_size, shape):
            batch = check_batch(key, lines, rows, same, head)
            repeats.add(batch)
            rows_seen, batches = spool_batch(batch, spool, problems, rows_seen, batches, progress)
    if problems:
        more = [f"({len(problems) - MAX_PROBLEMS} more problems)"] if len(problems) > MAX_PROBLEMS else []
        shown = problems[:MAX_PROBLEMS] + more
        raise InvalidFact(*shown)
    if rows_seen == 0:
        raise InvalidFact(f"{file}: no members (only a header)")
    return rows_seen, batches
