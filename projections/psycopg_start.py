"""psycopg imported without `importlib.metadata` (start-up time of every PostgreSQL command).

psycopg, psycopg-binary and psycopg-pool each read their own version at import time with
`importlib.metadata.version`, which imports `importlib.metadata` and the `email` package and
parses each package's METADATA: 30-40 ms of CPU on this machine, a tenth of an `exposure
record` on PostgreSQL. The version is also the name of the package's `.dist-info` folder
installed beside it, so `load_psycopg` gives each of those three `version` modules that
value from one directory listing, before psycopg is first imported. Where the folder is
not found exactly once (another layout), nothing is set and psycopg reads its metadata as
usual; `tests/postgres/test_startup_pg.py` checks the versions equal the metadata's.
"""

from __future__ import annotations

import sys
import types
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Final

PACKAGES: Final = ("psycopg", "psycopg_binary", "psycopg_pool")
"""The packages whose `version` module reads the installed metadata."""


def installed_version(package: str) -> str | None:
    """The version in the name of the package's `<package>-<version>.dist-info` folder beside
    it, or None where there is not exactly one."""
    spec = PathFinder.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))).parent
    prefix = package + "-"
    found = [
        entry.name[len(prefix) : -len(".dist-info")]
        for entry in folder.iterdir()
        if entry.name.startswith(prefix) and entry.name.endswith(".dist-info")
    ]
    return found[0] if len(found) == 1 else None


def load_psycopg() -> None:
    """Set the `version` modules of psycopg and its companions (see above), then import psycopg."""
    if "psycopg" not in sys.modules:
        for package in PACKAGES:
            name = package + ".version"
            version = installed_version(package)
            if version is not None and name not in sys.modules:
                module = types.ModuleType(name, f"{package}'s version, from its .dist-info folder's name")
                module.__version__ = version  # type: ignore[attr-defined]
                sys.modules[name] = module
    import psycopg  # noqa: F401, PLC0415 - the point of this module
