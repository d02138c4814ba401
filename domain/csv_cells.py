"""CSV cells that a spreadsheet will not run (OWASP "CSV injection").

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (`=HYPERLINK(...)`, `@SUM(...)`, DDE calls). The
ledger's CSV exports (`members export`, `diff --members`) write such a cell with a leading
`'`, the quote every spreadsheet shows as text: `-12` is written `'-12`. JSON Lines output
is never changed. docs/SECURITY.md names the test.
"""

from __future__ import annotations

from typing import Final

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str | None) -> str | None:
    """`value`, with a leading `'` when a spreadsheet would run it as a formula."""
    return "'" + value if value and value.startswith(FORMULA_STARTS) else value
