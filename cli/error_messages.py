"""Error messages in the language of human output (docs/I18N.md, "Error messages").

Every rejection reaches a user as English text built where the rule lives (the domain, the
ledger, the CLI), usually an f-string such as `f"{key}: {value!r} is not one of {allowed}"`.
The domain stays free of any translation machinery: its messages are plain strings. French
is given at the edge, by the catalog `errors.po` (cli/locales/fr/LC_MESSAGES), whose
message ids are those f-strings written as templates, each `{...}` a slot holding the
expression's source (`"{key}: {value} is not one of {allowed}"`; conversions and format
specifications are left out). `translate` finds the template that a message is an instance
of (the most specific one: the longest fixed text) and writes its French text with the
same slot values; a slot that holds another message (`problem`, `where`, ...) is itself
translated, so "line 3: from: expected a date" becomes "ligne 3 : from : date attendue".

The templates are extracted from the code by `templates_in` (an `ast` walk, the same the
completeness test uses): every string or f-string given to an exception's constructor,
to `fail(...)`, `self.fail(...)` or `problems.append(...)`, plus the message fragments of
`FRAGMENTS`. Values inside the slots (ids, keys, typed values) are never translated: they
are what the user typed or what the JSON holds.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Final

from cli.i18n import LOCALES, language

DOMAIN: Final = "errors"

NESTED_SLOTS: Final = frozenset({"problem", "str(problem)", "where", "reason", "message", "_reword(str(problem), cls)"})
"""Slots whose value is itself a message (translated in turn); every other slot is a value kept as typed."""

FRAGMENTS: Final = ("line {number}", "lines {first}-{last}")
"""Parts of messages built apart from the message they end up in (a `where` slot's value)."""

MAX_DEPTH: Final = 4
"""Messages nest a few levels at most (line, member, key)."""

_SLOT = re.compile(r"\{([^{}]*)\}")

_RAISERS: Final = frozenset({"fail", "BadParameter", "UsageError", "ClickException", "FileError"})


def _raiser(func: ast.expr) -> bool:
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if name == "append":  # problems.append(...): a message of an error that lists every problem
        return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "problems"
    return (
        name in _RAISERS
        or name.endswith(("Error", "Failure"))
        or name.startswith(("Invalid", "Unknown", "Conflicting"))
    )


def _template(node: ast.expr) -> Iterator[str]:
    """The message templates an argument can be (both sides of a conditional)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value.replace("{", "{{").replace("}", "}}")
    elif isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.unparse(value.value).replace("{", "(").replace("}", ")") + "}")
        yield "".join(parts)
    elif isinstance(node, ast.IfExp):
        yield from _template(node.body)
        yield from _template(node.orelse)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        for left in _template(node.left):
            for right in _template(node.right):
                yield left + right


def templates_in(paths: Iterable[Path]) -> set[str]:
    """Every error message template of the Python files under `paths` (see the module docstring)."""
    found: set[str] = set(FRAGMENTS)
    for root in paths:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and _raiser(node.func):
                    for argument in node.args:
                        found.update(t for t in _template(argument) if _fixed(t).strip())
    return found


def _fixed(template: str) -> str:
    """The fixed text of a template (its slots removed)."""
    return _SLOT.sub("", template)


class _Entry:
    def __init__(self, template: str, french: str) -> None:
        self.slots: list[str] = []
        pattern: list[str] = []
        at = 0
        for match in _SLOT.finditer(template):
            pattern.append(re.escape(template[at : match.start()].replace("{{", "{").replace("}}", "}")))
            slot = match.group(1)
            if slot in self.slots:
                pattern.append(f"(?P=s{self.slots.index(slot)})")
            else:
                pattern.append(f"(?P<s{len(self.slots)}>.*?)")
                self.slots.append(slot)
            at = match.end()
        pattern.append(re.escape(template[at:].replace("{{", "{").replace("}}", "}")))
        self.pattern = re.compile("".join(pattern), re.DOTALL)
        self.french = french
        self.weight = len(_fixed(template))

    def render(self, values: dict[str, str]) -> str:
        def fill(match: re.Match[str]) -> str:
            return values.get(match.group(1), match.group(0))

        text = _SLOT.sub(fill, self.french)
        return text.replace("{{", "{").replace("}}", "}")


@cache
def _entries(lang: str) -> tuple[_Entry, ...]:
    import gettext  # noqa: PLC0415 - only a French error pays for reading the catalog

    catalog = gettext.translation(DOMAIN, localedir=LOCALES, languages=[lang], fallback=True)
    kept: dict[str, str] = getattr(catalog, "_catalog", {})
    entries = [_Entry(k, v) for k, v in kept.items() if isinstance(k, str) and k and v and _fixed(k).strip()]
    return tuple(sorted(entries, key=lambda e: -e.weight))


def translate(message: str) -> str:
    """`message` in the current language (unchanged in English or when no template matches)."""
    lang = language()
    return message if lang == "en" else _translate(message, _entries(lang), 0)


def _translate(message: str, entries: tuple[_Entry, ...], depth: int) -> str:
    if depth > MAX_DEPTH:
        return message
    for entry in entries:
        match = entry.pattern.fullmatch(message)
        if match is None:
            continue
        values = {}
        for index, slot in enumerate(entry.slots):
            value = match.group(f"s{index}")
            values[slot] = _translate(value, entries, depth + 1) if slot in NESTED_SLOTS else value
        return entry.render(values)
    return message
