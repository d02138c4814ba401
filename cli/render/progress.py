"""The progress bars of `members import` (the work is in `ledger.roster`) and `store rebuild`."""

from __future__ import annotations

from types import TracebackType

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
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s", style="cyan")


class RosterProgress:
    """Two bars on stderr: checking every row, then appending batches (rows, rate, ETA)."""

    def __init__(self, unit: str = "rows") -> None:
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

    def __enter__(self) -> RosterProgress:
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.stop()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self._tasks:
            words = {"check": _("check"), "append": _("append")}
            self._tasks[phase] = self._bar.add_task(words.get(phase, phase), total=total or None)
        task = self._tasks[phase]
        self._bar.update(task, completed=done, total=total or None)
