"""The progress bars of `members import` (the work is in `ledger.roster`), `store rebuild`
and `audit replay`: a bar on stderr when it is a terminal; `force` (`--progress`) writes
plain lines on stderr when it is not (a log, a pipe)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Final

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from cli.i18n import _
from cli.shell import err


class _Rate(ProgressColumn):
    """Units (rows, facts) per second."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", self.unit)
        return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s", style="cyan")


LINE_SECONDS: Final = 5.0
"""Plain progress lines (stderr not a terminal, `--progress`): at most one per phase this often."""


class _Lines:
    """Progress as plain lines on stderr: `phase: done/total unit (percent), elapsed`, each
    phase at its start, at most every `LINE_SECONDS`, and at its end."""

    def __init__(self, unit: str, units: Mapping[str, str]) -> None:
        self.unit = unit
        self.units = units
        self.started = time.monotonic()
        self.said: dict[str, float] = {}
        self.ended: set[str] = set()

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        if phase in self.ended or (phase in self.said and not finished and now - self.said[phase] < LINE_SECONDS):
            return
        self.said[phase] = now
        if finished:
            self.ended.add(phase)
        share = f" ({100 * done / total:.0f}%)" if total else ""
        of = f"/{total:,}" if total else ""
        sys.stderr.write(
            f"{phase}: {done:,}{of} {self.units.get(phase, self.unit)}{share}, {now - self.started:,.0f} s\n"
        )
        sys.stderr.flush()


class RosterProgress:
    """Two bars on stderr: checking every row, then appending batches (rows, rate, ETA);
    with `force` and stderr not a terminal, plain lines instead (see `_Lines`)."""

    def __init__(self, unit: str = "rows", *, force: bool = False, units: Mapping[str, str] | None = None) -> None:
        self._units = dict(units or {})
        """Units of some phases, when not `unit` (the replay's rebuild counts facts)."""
        self._lines = _Lines(unit, self._units) if force and not err.is_terminal else None
        self._bar = Progress(
            TextColumn("[bold]{task.description:<7}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(unit),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
        )
        self._tasks: dict[str, TaskID] = {}
        self._unit = unit

    def __enter__(self) -> RosterProgress:
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.stop()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self._lines is not None:
            self._lines(phase, done, total)
            return
        if phase not in self._tasks:
            words = {"check": _("check"), "append": _("append")}
            self._tasks[phase] = self._bar.add_task(
                words.get(phase, phase), total=total or None, unit=self._units.get(phase, self._unit)
            )
        task = self._tasks[phase]
        self._bar.update(task, completed=done, total=total or None)
