"""A roster file's layout: its separator and columns, and its rows read in byte ranges."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from domain.errors import InvalidFact

COLUMNS: Final = ("ref", "role", "contract", "from", "until", "nir")
MAX_FIELD: Final = 10_000


def open_roster(file: str) -> TextIO:
    try:
        return Path(file).open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise InvalidFact(f"no such file: {file}") from None
    except IsADirectoryError:
        raise InvalidFact(f"{file} is a folder, not a CSV file") from None
    except OSError as problem:
        raise InvalidFact(f"{file}: {problem.strerror}") from None


SEPARATORS: Final = (",", ";", "\t")


@dataclass(frozen=True, slots=True)
class Layout:
    """How a roster file is laid out: its separator, where each of COLUMNS is (-1: absent),
    how many columns a row has, and the columns it has beyond COLUMNS (ignored)."""

    separator: str
    positions: list[int]
    width: int
    ignored: list[str]


def separator_of(line: str) -> str:
    """The separator of a header line: the most frequent of `,` `;` and tab (`,` on a tie)."""
    counts = [(line.count(sep), -number, sep) for number, sep in enumerate(SEPARATORS)]
    return max(counts)[2]


def _name(text: str) -> str:
    return " ".join(text.strip().lower().split())


def layout(file: str, header: list[str] | None, separator: str, renames: Mapping[str, str] | None = None) -> Layout:
    """The layout of a header: names in any case with surrounding spaces, renamed by `renames`
    (file name -> roster column; an empty target ignores the column quietly), other names ignored."""
    if not header or not any(h.strip() for h in header):
        raise InvalidFact(f"{file}: empty file (expected a header with at least ref: ref,role,contract,from,until,nir)")
    mapping = {_name(k): _name(v) for k, v in (renames or {}).items()}
    names = [mapping.get(_name(h), _name(h)) for h in header]
    known = [n for n in names if n in COLUMNS]
    twice = sorted({n for n in known if known.count(n) > 1})
    if twice:
        raise InvalidFact(f"{file}: the header names {', '.join(twice)} more than once")
    if "ref" not in known:
        raise InvalidFact(
            f"{file}: the header has no ref column (roster columns: {', '.join(COLUMNS)};"
            f" got {separator.join(h.strip() for h in header)}; rename one with --map NAME=ref)"
        )
    quiet = {_name(k) for k, v in (renames or {}).items() if not v.strip()}
    ignored = [h.strip() for h, n in zip(header, names, strict=True) if n not in COLUMNS and _name(h) not in quiet]
    return Layout(separator, [names.index(c) if c in names else -1 for c in COLUMNS], len(header), ignored)


def read_layout(file: str, renames: Mapping[str, str] | None = None) -> Layout:
    """The layout of a roster file, read from its header line."""
    csv.field_size_limit(MAX_FIELD)
    with open_roster(file) as handle:
        try:
            first = handle.readline(MAX_FIELD)
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None
        separator = separator_of(first)
        handle.seek(0)
        try:
            header = next(csv.reader(handle, delimiter=separator), None)  # a quoted name may hold a line break
        except csv.Error as problem:
            raise InvalidFact(f"line 1: {problem}") from None
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None
    return layout(file, header, separator, renames)


def roster_chunks(file: str, batch_size: int, shape: Layout) -> Iterator[tuple[list[int], list[list[str]], Layout]]:
    """(line numbers, rows, layout) in batches, after the header."""
    csv.field_size_limit(MAX_FIELD)
    with open_roster(file) as handle:
        reader = csv.reader(handle, delimiter=shape.separator)
        try:
            next(reader, None)
            lines: list[int] = []
            rows: list[list[str]] = []
            for row in reader:
                lines.append(reader.line_num)
                rows.append(row)
                if len(rows) >= batch_size:
                    yield lines, rows, shape
                    lines, rows = [], []
            if rows:
                yield lines, rows, shape
        except csv.Error as problem:
            raise InvalidFact(f"line {reader.line_num}: {problem}") from None
        except UnicodeDecodeError as problem:
            raise InvalidFact(f"{file}: not UTF-8 text (byte {problem.start})") from None
