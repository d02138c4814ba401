"""The language of human output: English, or French with `--lang fr` or a French locale.

Messages are looked up in gettext catalogs kept in the repository
(`cli/locales/fr/LC_MESSAGES/exposure.po`, compiled to `exposure.mo` by Babel; see
docs/I18N.md). Nothing is read until the first French message is asked for: English
output never opens a catalog, so the command starts as fast as without translations.
JSON keys and values never go through this module.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import gettext

LANGUAGES: Final = ("en", "fr")
DOMAIN: Final = "exposure"
LOCALES: Final = Path(__file__).with_name("locales")

_chosen: list[str] = []


def choose(lang: str | None) -> None:
    """Use `lang` ('en' or 'fr'); None: follow the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG).

    In French, click's own messages (usage errors, "Usage:", "Try ... for help") follow too:
    click asks `gettext.gettext`, that is the process's text domain, which becomes our `click`
    catalog (`cli/locales/fr/LC_MESSAGES/click.po`, docs/I18N.md); `LANGUAGE` names the
    language for it, since `--lang` may differ from the locale."""
    _chosen[:] = [lang] if lang else []
    current = language()
    if current != "en":
        import gettext  # noqa: PLC0415 - only French output pays for gettext

        gettext.bindtextdomain("click", str(LOCALES))
        gettext.textdomain("click")
        os.environ["LANGUAGE"] = current
    elif _click_domain_set():
        import gettext  # noqa: PLC0415

        gettext.textdomain("messages")  # English again (tests run many commands in one process)


def _click_domain_set() -> bool:
    import sys  # noqa: PLC0415

    module = sys.modules.get("gettext")
    return module is not None and module.textdomain() == "click"


def chosen_in(args: list[str]) -> str | None:
    """The value of `--lang` among the root's arguments, if given (read before click parses them,
    so that a usage error of the root group itself is in that language)."""
    for index, arg in enumerate(args):
        if arg.startswith("--lang="):
            value = arg.partition("=")[2]
        elif arg == "--lang" and index + 1 < len(args):
            value = args[index + 1]
        else:
            continue
        return value if value in LANGUAGES else None
    return None


def language() -> str:
    """'fr' or 'en': the chosen language, else the first the environment names."""
    if _chosen:
        return _chosen[0]
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable, "")
        if value:
            first = value.split(":")[0].lower()
            return "fr" if first.startswith("fr") else "en"
    return "en"


@cache
def _catalog(lang: str) -> gettext.NullTranslations:
    import gettext  # noqa: PLC0415 - only French output pays for reading a catalog

    return gettext.translation(DOMAIN, localedir=LOCALES, languages=[lang], fallback=True)


def _(message: str) -> str:
    """`message` in the current language."""
    lang = language()
    return message if lang == "en" else _catalog(lang).gettext(message)


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker
    """Mark `message` for the catalog without translating it (for messages used inside f-strings,
    which the extractor cannot see)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form of a message for `count`, in the current language."""
    lang = language()
    if lang == "en":
        return singular if count == 1 else plural
    return _catalog(lang).ngettext(singular, plural, count)
