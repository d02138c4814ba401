"""The layering holds module by module: no import circle anywhere in the packages.

The folders' direction (cli -> ledger -> projections -> domain) is import-linter's
contract in pyproject.toml, run by .ci/run; a circle inside one folder is checked here.
"""

from __future__ import annotations

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
