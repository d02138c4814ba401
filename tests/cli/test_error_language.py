"""Error and usage messages in the language of human output (docs/I18N.md, "Error messages").

Through the installed `exposure` command in real processes: each error in English and in
French (`--lang fr`, or a French `LANG`), with its exit code; JSON output never changes. And
the catalogs are complete: every error message template of the code and every message of
click has a French translation that keeps the message's slots.
"""

from __future__ import annotations

import gettext
import io
import os
import re
import subprocess
from pathlib import Path

import click
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from cli import error_messages, i18n
from cli.i18n import LOCALES
from tests.support import EXPOSURE

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / name for name in ("domain", "ledger", "projections", "usecases", "cli", "service")]
FRENCH = LOCALES / "fr" / "LC_MESSAGES"


def exposure(*args: str, store: Path, lang: str | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`exposure --store STORE [--lang LANG] ARGS...` in a real process, in an English locale."""
    chosen = ["--lang", lang] if lang else []
    return subprocess.run(
        [str(EXPOSURE), "--store", str(store), *chosen, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
        env={**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": "", "EXPOSURE_ACTOR": "tester"},
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("errors") / "exposure.db"
    done = subprocess.run(
        [str(EXPOSURE), "--store", str(path), "init", "--timezone", "Europe/Paris"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return path


CASES = [
    pytest.param(
        ["summary", "--incident", "nope"],
        1,
        "Error: unknown incident 'nope'\n",
        "Erreur : incident inconnu 'nope'\n",
        id="unknown-incident",
    ),
    pytest.param(
        ["record", "attack-discovered", "--incident", "a", "--operator", "B", "--occurred-on", "2024-13-01"],
        1,
        "Error: occurred_on: '2024-13-01' is not a valid date\n",
        "Erreur : occurred_on : '2024-13-01' n'est pas une date valide\n",
        id="invalid-date",
    ),
    pytest.param(
        ["member", "--nir", "1 54 04 73 629 313 77"],
        1,
        "Error: invalid NIR: wrong key",
        "Erreur : NIR invalide : clé erronée",
        id="invalid-nir",
    ),
    pytest.param(
        ["summary"],
        2,
        "Usage: exposure summary [OPTIONS]\nTry 'exposure summary --help' for help.\n\n"
        "Error: Missing option '--incident'.\n",
        "Usage : exposure summary [OPTIONS]\nEssayez 'exposure summary --help' pour de l'aide.\n\n"
        "Erreur : Option manquante '--incident'.\n",
        id="missing-option",
    ),
    pytest.param(
        ["members", "export", "--incident", "x", "--format", "xml"],
        2,
        "Error: Invalid value for '--format': 'xml' is not one of 'csv', 'jsonl'.\n",
        "Erreur : Valeur invalide pour '--format' : 'xml' n'est pas l'un de 'csv', 'jsonl'.\n",
        id="bad-choice",
    ),
    pytest.param(
        ["summry"],
        2,
        "Error: No such command 'summry'.",
        "Erreur : Commande inexistante 'summry'.",
        id="no-such-command",
    ),
    pytest.param(
        ["summary", "--incident", "x", "--bogus"],
        2,
        "Error: No such option '--bogus'.",
        "Erreur : Option inexistante '--bogus'.",
        id="no-such-option",
    ),
    pytest.param(
        ["member", "--ref", "MH-1"],
        2,
        "Error: give --insurer and --ref, or --nir\n",
        "Erreur : donnez --insurer et --ref, ou --nir\n",
        id="our-usage-error",
    ),
    pytest.param(
        ["summary", "--incident", "x", "--as-known-on", "yesterday"],
        1,
        "Error: --as-known-on: 'yesterday' is not an ISO 8601 date or datetime\n",
        "Erreur : --as-known-on : 'yesterday' n'est pas une date ou une date-heure ISO 8601\n",
        id="unreadable-date",
    ),
    pytest.param(
        ["members", "import", "--insurer", "mh", "roster.csv", "--map", "nothing"],
        2,
        "Error: Invalid value for --map: expected NAME=COLUMN, got 'nothing'\n",
        "Erreur : Valeur invalide pour --map : NOM=COLONNE attendu, reçu 'nothing'\n",
        id="our-bad-parameter",
    ),
]


@pytest.mark.parametrize(("args", "code", "english", "french"), CASES)
def test_an_error_reads_in_english_by_default_and_in_french_with_lang_fr(store, args, code, english, french):
    in_english = exposure(*args, store=store)
    in_french = exposure(*args, store=store, lang="fr")

    assert (in_english.returncode, in_french.returncode) == (code, code)
    assert english in in_english.stderr
    assert french in in_french.stderr
    assert "Error:" not in in_french.stderr
    assert in_english.stdout == in_french.stdout == ""


def test_a_french_locale_gives_french_errors_and_lang_en_gives_english_back(store):
    env = {**os.environ, "LANG": "fr_FR.UTF-8", "LANGUAGE": "", "LC_ALL": ""}
    by_locale = subprocess.run(
        [str(EXPOSURE), "--store", str(store), "summary"], capture_output=True, text=True, env=env, check=False
    )
    forced = subprocess.run(
        [str(EXPOSURE), "--store", str(store), "--lang", "en", "summary", "--incident", "nope"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert by_locale.returncode == 2
    assert "Erreur : Option manquante '--incident'." in by_locale.stderr
    assert forced.returncode == 1
    assert forced.stderr == "Error: unknown incident 'nope'\n"


def test_a_usage_error_of_the_root_group_itself_is_in_the_chosen_language(store):
    result = exposure("--max-lag", "soon", "summary", store=store, lang="fr")

    assert result.returncode == 2
    assert "Erreur : Valeur invalide pour '--max-lag'" in result.stderr


def test_every_problem_of_an_import_is_in_french_line_by_line(store):
    facts = (
        '{"kind": "attack-discovered", "incident": "x", "operator": "y", "occurred_on": "2024-01-01", "bogus": 1}\n'
        "{nope\n"
        '{"kind": "field-exposed", "incident": "x", "category": "nir", "occurred_on": "2024-01-01", "role": "z"}\n'
    )

    result = exposure("import", "-", store=store, lang="fr", stdin=facts)

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Erreur : ligne 1 : clé inconnue 'bogus' pour le type 'attack-discovered'"
    assert lines[1].startswith("Erreur : ligne 2 : JSON invalide (")
    assert lines[2].startswith("Erreur : ligne 3 : ")
    assert len(lines) == 3


def test_json_output_is_the_same_in_both_languages(store):
    english = exposure("audit", "verify", "--json", store=store)
    french = exposure("audit", "verify", "--json", store=store, lang="fr")

    assert english.returncode == french.returncode == 0
    assert english.stdout == french.stdout


# The catalogs: complete, and each translation keeps its message's slots.


def _po(name: str):
    with (FRENCH / f"{name}.po").open("rb") as handle:
        return read_po(handle, locale="fr")


def _slots(text: str) -> set[str]:
    return set(re.findall(r"\{([^{}]*)\}", text.replace("{{", "").replace("}}", "")))


def test_every_error_message_of_the_code_has_a_french_translation():
    wanted = error_messages.templates_in(PACKAGES)
    translated = {m.id: m.string for m in _po("errors") if m.id}

    assert len(wanted) > 200  # the extraction finds the code's messages (raise, fail, problems.append)
    missing = sorted(t for t in wanted if not translated.get(t))
    assert missing == [], f"translate these in {FRENCH / 'errors.po'} and compile it (docs/I18N.md)"
    assert sorted(set(translated) - wanted) == [], "the code no longer says these: remove them from errors.po"


def test_each_french_error_uses_only_the_slots_of_its_english_message():
    for message in _po("errors"):
        if message.id:
            assert _slots(message.string) <= _slots(message.id), message.id


def test_the_extraction_sees_messages_built_in_every_way_the_code_builds_them(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        "def f(x, problems):\n"
        "    raise InvalidFact(f'{x}: expected a list, got {type(x).__name__}')\n"
        "    problems.append(f'line {x}: too long' if x else 'nothing')\n"
        "    raise click.UsageError('give --a' + f' or --{x}')\n"
        "    self.fail(f'{x!r} is late')\n"
        "    items.append(f'<li>{x}</li>')\n"
    )

    found = error_messages.templates_in([source]) - set(error_messages.FRAGMENTS)

    assert found == {
        "{x}: expected a list, got {type(x).__name__}",
        "line {x}: too long",
        "nothing",
        "give --a or --{x}",
        "{x} is late",
    }


def test_every_message_of_click_has_a_french_translation():
    wanted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(Path(click.__file__).parent), keywords={"_": None, "ngettext": (1, 2)}
        )
    }
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in _po("click") if m.id}

    assert sorted(m for m in wanted if not translated.get(m)) == []


def test_the_committed_mo_files_are_the_compilation_of_their_po():
    for name in ("errors", "click"):
        compiled = io.BytesIO()
        write_mo(compiled, _po(name))
        with (FRENCH / f"{name}.mo").open("rb") as handle:
            kept = gettext.GNUTranslations(handle)
        fresh = gettext.GNUTranslations(io.BytesIO(compiled.getvalue()))
        assert {k: v for k, v in kept._catalog.items() if k != ""} == {
            k: v for k, v in fresh._catalog.items() if k != ""
        }


def test_a_nested_message_is_translated_part_by_part():
    i18n.choose("fr")
    try:
        said = error_messages.translate("line 3: members[0]: until: expected a date YYYY-MM-DD, got 'x'")
        unknown = error_messages.translate("something no template knows")
    finally:
        i18n.choose("en")

    assert said == "ligne 3 : members[0] : until : date AAAA-MM-JJ attendue, reçu 'x'"
    assert unknown == "something no template knows"
