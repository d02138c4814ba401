"""The French catalog (docs/I18N.md): complete, compiled, and cheap to leave unread.

The compiled `exposure.mo` is kept in the repository beside its `exposure.po`; these tests
are what keeps them honest: every message the code asks for has a French translation, and
the committed `.mo` holds exactly what Babel compiles from the `.po` today.
"""

from __future__ import annotations

import gettext
import io
import subprocess
import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from cli import i18n

CLI = Path(i18n.__file__).parent
PO = CLI / "locales" / "fr" / "LC_MESSAGES" / "exposure.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="fr")


def test_every_message_of_the_code_has_a_french_translation():
    wanted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(str(CLI), keywords=KEYWORDS)
    }
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in catalog() if m.id}

    assert sorted(wanted - set(translated)) == []
    assert [m for m in wanted if not all(translated[m] if isinstance(translated[m], tuple) else [translated[m]])] == []


def test_the_catalog_has_no_message_the_code_no_longer_asks_for():
    wanted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(str(CLI), keywords=KEYWORDS)
    }

    assert sorted({m.id if isinstance(m.id, str) else m.id[0] for m in catalog() if m.id} - wanted) == []


def test_the_committed_mo_is_the_babel_compilation_of_the_po():
    compiled = io.BytesIO()
    write_mo(compiled, catalog())

    with MO.open("rb") as handle:
        kept = gettext.GNUTranslations(handle)
    fresh = gettext.GNUTranslations(io.BytesIO(compiled.getvalue()))
    messages = {k: v for k, v in kept._catalog.items() if k != ""}  # the header holds Babel's dates
    assert messages == {k: v for k, v in fresh._catalog.items() if k != ""}
    assert kept.plural(0) == kept.plural(1) == 0
    assert kept.plural(2) == 1


def test_english_output_never_reads_a_catalog():
    code = (
        "from click.testing import CliRunner; from cli.main import main; from cli import i18n;"
        " CliRunner().invoke(main, ['demo', '--help']); print(i18n._('Legend:'), i18n._catalog.cache_info().currsize)"
    )
    english = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
    )
    french = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"LANG": "fr_FR.UTF-8", "PATH": "/usr/bin:/bin"},
    )

    assert english.stdout.split() == ["Legend:", "0"]
    assert french.stdout.split() == ["Légende", ":", "1"]


def test_a_french_lang_chooses_french_and_lang_en_overrides_it(monkeypatch):
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    i18n.choose(None)
    assert i18n.language() == "fr"
    i18n.choose("en")
    assert i18n.language() == "en"
    i18n.choose(None)
