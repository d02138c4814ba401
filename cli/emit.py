"""One output option set and one `emit()` for every query.

A query answers as a table for people (the default), or for machines:
- `--json`: the whole answer, one indented JSON document (SPEC §7 keys);
- `--jsonl`: one compact JSON object per row of the answer (per timeline entry, per
  insurer of `obligations`, per membership and incident of `member`); an answer without
  rows (`summary`, `insurer`, `diff`) is one compact line;
- `--csv` (only where the answer has rows): a header, then one line per row; nested
  objects become `outer_inner` columns, lists are joined with `;`, null is empty, and a
  cell a spreadsheet would run as a formula gets a leading `'` (`domain.csv_cells`).

The answers are frozen msgspec Structs or plain JSON values; `emit` turns a Struct into
JSON values with `msgspec.to_builtins` (its fields in declaration order), so the JSON is
the same bytes as the dict it replaced.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, ParamSpec, TypeVar

import click

from cli.shell import emit_json, emit_json_line
from domain.csv_cells import cell

P = ParamSpec("P")
T = TypeVar("T")

TABLE: Final = "table"
JSON: Final = "json"
JSONL: Final = "jsonl"
CSV: Final = "csv"

Rows = Callable[[Any], Iterable[Mapping[str, Any]]]
"""The rows of an answer (its JSON value), as JSON objects."""


def output_options(
    *,
    rows: bool,
    default: str = TABLE,
    whole: bool = True,
    json_help: str = "Print JSON (only JSON) on standard output.",
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """`--json`, `--jsonl` and, when the answer has rows, `--csv` (the command's `output`
    parameter: `default` unless one is given; the last one given wins). `whole=False`: no
    `--json` (an export streamed row by row is never one document)."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        if rows:
            fn = click.option("--csv", "output", flag_value=CSV, help="Print CSV: a header, then one line per row.")(fn)
        jsonl_help = "Print JSON Lines: one compact object per row" + ("." if rows else " (the answer is one row).")
        if whole:
            fn = click.option("--jsonl", "output", flag_value=JSONL, help=jsonl_help)(fn)
        else:
            fn = click.option("--jsonl", "output", flag_value=JSONL, default=default, help=jsonl_help)(fn)
        if not whole:
            return fn
        return click.option("--json", "output", flag_value=JSON, default=default, help=json_help)(fn)

    return decorate


def builtins(answer: Any) -> Any:
    """The answer as JSON values (a msgspec Struct by its fields, in order)."""
    import msgspec  # noqa: PLC0415 - start-up time: see cli/lazy.py

    return msgspec.to_builtins(answer)


def emit(
    answer: Any,
    output: str,
    *,
    table: Callable[[], None],
    rows: Rows | None = None,
    columns: Sequence[str] = (),
) -> None:
    """Print `answer` as `output` asks: `table()` for people, else JSON, JSON Lines (one
    object per row of `rows`, or the answer on one line) or CSV (`columns` of each row)."""
    if output == TABLE:
        table()
        return
    data = builtins(answer)
    if output == JSON:
        emit_json(data)
    elif output == JSONL:
        for row in rows(data) if rows is not None else [data]:
            emit_json_line(row)
    elif output == CSV and rows is not None:
        write_csv(rows(data), columns)
    else:  # pragma: no cover - output_options offers --csv only with rows
        raise click.UsageError(f"--{output} does not apply to this answer")


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """A header of `columns`, then one line per row, its nested objects flattened."""
    writer = csv_writer(columns)
    for row in rows:
        writer.writerow(csv_row(row, columns))
    sys.stdout.flush()


def csv_writer(columns: Sequence[str]) -> Any:
    """A CSV writer on standard output, its header written."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    return writer


def csv_row(row: Mapping[str, Any], columns: Sequence[str]) -> list[str | None]:
    """The cells of one row under `columns` (a formula-like cell gets a leading `'`)."""
    flat = flatten(row)
    return [cell(text(flat.get(column))) for column in columns]


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"before": {"status": x}}` -> `{"before_status": x}`."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}_"))
        else:
            flat[prefix + key] = value
    return flat


def text(value: Any) -> str:
    """A JSON value as one CSV cell: lists joined with `;`, null empty, booleans lower case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(text(item) for item in value)
    return str(value)
