"""Files written for the user (`audit export FILE`, `report --html FILE`, ...): one rule for all.

- An output never lands on the store, its `-wal`, `-shm` or `-journal`, or its key file, by
  whatever path it is named (relative, through symlinks, a hard link), nor on any other
  SQLite database, NIR key file or signing key: refused even with `--force`.
- An existing file is replaced only with `--force`. Without it, the finished file is linked
  into place only if the name is still free (`os.link` fails on an existing name), so two
  writers racing for one name cannot overwrite each other either.
- The content goes to a temporary file in the target's folder, is flushed to disk, then
  renamed over the target in one step: a reader sees the old file or the new one, never half
  of one, and a failure (a rejected query, a full disk, Ctrl-C) leaves the old file as it was.

Output files are created `0600`: they hold facts, member refs and pseudonyms.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final, TextIO

from domain.errors import InvalidFact

SQLITE_HEADER: Final = b"SQLite format 3\x00"
COMPANIONS: Final = ("-wal", "-shm", "-journal")
_SNIFF: Final = 4096


Protected = Iterable[tuple[Path, str]]
"""Files no output may replace, each with what it is ("the store's key file")."""


def store_files(store: Path | None, key_file: Path | None) -> list[tuple[Path, str]]:
    """The SQLite store with its companions, and its key file."""
    found: list[tuple[Path, str]] = []
    if store is not None:
        found.append((store, "the store"))
        found.extend((Path(f"{store}{suffix}"), f"the store's {suffix[1:].upper()} file") for suffix in COMPANIONS)
    if key_file is not None:
        found.append((key_file, "the store's key file"))
    return found


def checked_target(target: Path, *, force: bool, protected: Protected, what: str) -> Path:
    """The real path `target` names, once it is safe to write there; `InvalidFact` saying why not."""
    real = Path(os.path.realpath(target))
    if not real.parent.is_dir():
        raise InvalidFact(f"{what}: no such folder: {target.parent}")
    for kept, role in protected:
        if _same_file(real, kept):
            raise InvalidFact(f"{what}: {target} is {role}: refusing to overwrite it")
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        return real
    if not stat.S_ISREG(mode):
        raise InvalidFact(f"{what}: {target} exists and is not a regular file")
    head = _head(real)
    if head.startswith(SQLITE_HEADER):
        raise InvalidFact(f"{what}: {target} is a SQLite database: refusing to overwrite it")
    if b'"nir_key"' in head or head.startswith(b"PRIVATE+KEY+"):
        raise InvalidFact(f"{what}: {target} is a key file: refusing to overwrite it")
    if not force:
        raise InvalidFact(f"{what}: {target} already exists (give --force to replace it)")
    return real


@contextlib.contextmanager
def output_file(
    target: Path, *, force: bool, protected: Protected, what: str, make_folder: bool = False
) -> Iterator[TextIO]:
    """A text handle whose content becomes `target` when the block ends without an exception."""
    if make_folder:
        Path(os.path.realpath(target)).parent.mkdir(parents=True, exist_ok=True)
    real = checked_target(target, force=force, protected=list(protected), what=what)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".part", dir=real.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _move_into_place(Path(temporary), real, force=force, shown=target, what=what)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _move_into_place(temporary: Path, real: Path, *, force: bool, shown: Path, what: str) -> None:
    if force:
        temporary.replace(real)  # a rename replaces the name, never writes through a symlink
        return
    try:
        os.link(temporary, real)
    except FileExistsError:
        raise InvalidFact(f"{what}: {shown} already exists (give --force to replace it)") from None
    except OSError as problem:  # a file system without hard links: check, then rename
        if problem.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if real.exists():
            raise InvalidFact(f"{what}: {shown} already exists (give --force to replace it)") from None
        temporary.replace(real)


def _same_file(real: Path, kept: Path) -> bool:
    if real == Path(os.path.realpath(kept)):
        return True
    try:
        return real.samefile(kept)  # a hard link to it
    except OSError:
        return False


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_SNIFF)
    except OSError:
        return b""
