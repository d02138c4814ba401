"""The layering holds module by module: no import circle anywhere in the packages.

The folders' direction (cli -> ledger -> projections -> domain) is import-linter's
contract in pyproject.toml, run by .ci/run; a circle inside one folder is checked here.
"""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGES = ("domain", "ledger", "projections", "usecases", "cli", "service")


def circles() -> list[list[str]]:
    """Every import circle among the project's modules (each found once, from its first module)."""
    graph = grimp.build_graph(*PACKAGES)
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str], on_path: set[str]) -> None:
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported in on_path:
                found.append([*path[path.index(imported) :], imported])
            elif imported not in done:
                on_path.add(imported)
                visit(imported, [*path, imported], on_path)
                on_path.discard(imported)
        done.add(module)

    for module in sorted(graph.modules):
        if module not in done:
            visit(module, [module], {module})
    return found


def test_no_module_imports_itself_through_others() -> None:
    assert circles() == []


def test_the_circle_finder_finds_a_circle(tmp_path, monkeypatch) -> None:
    package = tmp_path / "circular"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circular import b\n")
    (package / "b.py").write_text("from circular import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("tests.test_architecture.PACKAGES", ("circular",))

    assert circles() == [["circular.a", "circular.b", "circular.a"]]


MAX_LINES = 330
"""About 300 lines a module (issue 11): one reason to change, read in one sitting."""

LONGER_FOR_NOW: dict[str, str] = {}
"""Modules allowed to be longer, each with the reason."""


def module_lengths() -> dict[str, int]:
    """Lines of every module of the project's packages, by path."""
    root = Path(__file__).resolve().parent.parent
    return {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    }


def test_no_module_is_longer_than_about_300_lines() -> None:
    lengths = module_lengths()
    too_long = {path: n for path, n in lengths.items() if n > MAX_LINES and path not in LONGER_FOR_NOW}

    assert too_long == {}


def test_every_module_allowed_to_be_longer_still_is() -> None:
    lengths = module_lengths()

    assert {path for path in LONGER_FOR_NOW if lengths.get(path, 0) <= MAX_LINES} == set()
