"""`exposure notify`: the notification to the authority (Art. 33(3)), the members' mail-merge
file and the letter to members (Art. 34(2)). Loaded on first use through `COMMANDS` in cli/main.py.

The drafts are data (`usecases.notify` over `projections.notify`, `domain.notify`); `cli/render/notify.py` words
them as Markdown, HTML or text. Every statement of a Markdown or HTML draft ends with the
numbers of the facts behind it, listed in the appendix.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TextIO

import click
from msgspec.structs import replace

from cli.emit import builtins
from cli.render.notify import Words, authority_doc, letter_parts
from cli.render.notify_formats import html_page, letter_html, letter_text, markdown
from cli.render.notify_texts import LANGS
from cli.shell import horizon_at, knowledge_options, rules_option, run, with_store
from domain import obligations as rules
from domain.errors import InvalidFact
from domain.notify import PHASES
from usecases import notify as notices
from usecases.session import Store

FORMATS: Final = ("md", "html", "json")


@click.group()
def notify() -> None:
    """Draft the notifications: to the authority, to members (mail-merge file and letter).

    \b
    Example:
      exposure notify authority --incident viamedis-2024-01 --insurer malakoff-humanis --as-known-on 2024-02-01
    """


def lang_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--lang fr|en`: French unless asked otherwise, here or by the root `exposure --lang`
    (the CNIL's language, whatever the locale of the machine drafting it)."""
    return click.option(
        "--lang",
        type=click.Choice(LANGS),
        callback=_draft_language,
        help="Language of the draft (default: fr, or the language given by `exposure --lang`).",
    )(fn)


def _draft_language(ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    """The option's value, else the root `--lang` when given, else French."""
    if value is not None:
        return value
    root = ctx.find_root().params.get("lang")
    return root if isinstance(root, str) and root in LANGS else "fr"


def out_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--out FILE` (default: standard output)."""
    return click.option("--out", "out_file", metavar="FILE", help="Write to FILE instead of standard output.")(fn)


def _write(text: str, out_file: str | None) -> None:
    """The whole text to FILE or stdout (written only once everything is ready)."""
    if out_file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        Path(out_file).write_text(text, encoding="utf-8")
    except OSError as problem:
        raise InvalidFact(f"{out_file}: {problem.strerror}") from None


# -- notify authority -------------------------------------------------------------------


@notify.command("authority")
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="The controller (insurer) id.")
@click.option(
    "--phase",
    type=click.Choice(PHASES),
    default="initial",
    show_default=True,
    help="complementary: only what changed since the insurer's previous authority-notified fact.",
)
@lang_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@out_option
@rules_option("Which deadline rule to apply.")
@knowledge_options
def authority(
    incident: str,
    insurer_id: str,
    phase: str,
    lang: str,
    fmt: str,
    out_file: str | None,
    rule_id: str,
    as_known_on: str | None,
    as_recorded_at: str | None,
) -> None:
    """Draft the GDPR Art. 33(3) notification of one controller to the authority (the CNIL).

    Nature, data subjects, categories, likely consequences, measures and contact point as
    known on X, every statement with the facts behind it; marked gaps for what a person
    must fill in. French by default; JSON does not depend on --lang.

    \b
    Examples:
      exposure notify authority --incident viamedis-2024-01 --insurer malakoff-humanis --as-known-on 2024-02-01
      exposure notify authority --incident viamedis-2024-01 --insurer malakoff-humanis \\
        --phase complementary --as-known-on 2024-02-08 --lang en --format html --out complement.html
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        draft = await notices.authority(store, incident, insurer_id, h, rule_id, phase)
        if fmt == "json":
            _write(json.dumps(builtins(draft), ensure_ascii=False, indent=2) + "\n", out_file)
            return
        facts = await notices.fact_details(store, draft.because)
        words = Words(lang, store.tz, await notices.category_labels(store, h))
        local = {k: replace(v, known_on=words.when(v.known_on)) for k, v in facts.items()}
        doc = authority_doc(draft, words, local)
        _write(markdown(doc) if fmt == "md" else html_page(doc), out_file)

    run(go())


# -- notify members ---------------------------------------------------------------------


@contextlib.contextmanager
def _output(out_file: str | None) -> Iterator[TextIO]:
    """Standard output, or FILE written through a temporary file renamed at the end (an
    error leaves nothing behind)."""
    if out_file is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(out_file)
    partial = target.with_name(f".{target.name}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline="")
    except OSError as problem:
        raise InvalidFact(f"{out_file}: {problem.strerror}") from None
    try:
        with handle:
            yield handle
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


@notify.command("members")
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="The insurer whose members are written to.")
@click.option(
    "--since-last", is_flag=True, help="Only the members to write to (again): notice initial or complementary."
)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@out_option
@knowledge_options
def members(
    incident: str,
    insurer_id: str,
    since_last: bool,
    fmt: str,
    out_file: str | None,
    as_known_on: str | None,
    as_recorded_at: str | None,
) -> None:
    """Stream the mail-merge file of an insurer's members (GDPR Art. 34).

    One row per member affected as known on X, and per member told before who no longer
    is: ref, role, contract, status, fields, implied, notified_at (their last notice) and
    notice: initial (never told), complementary (told before their answer changed) or none.

    \b
    Example:
      exposure notify members --incident viamedis-2024-01 --insurer malakoff-humanis --since-last --out mailing.csv
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        # before any output: an error writes nothing
        chunks = await notices.member_rows(store, incident, insurer_id, h, since_last=since_last)
        with _output(out_file) as handle:
            writer = csv.writer(handle, lineterminator="\n") if fmt == "csv" else None
            if writer is not None:
                writer.writerow(notices.NOTICE_COLUMNS)
            async with contextlib.aclosing(chunks):  # closed before the store, even when the reader goes away
                async for rows in chunks:
                    if writer is not None:  # csv writes None as an empty cell
                        writer.writerows(rows)
                        continue
                    handle.write(
                        "".join(
                            json.dumps(notices.notice_row(row), ensure_ascii=False, separators=(",", ":")) + "\n"
                            for row in rows
                        )
                    )

    run(go())


# -- notify letter ----------------------------------------------------------------------


@notify.command("letter")
@click.option("--incident", required=True, help="Incident id.")
@click.option("--insurer", "insurer_id", required=True, help="The insurer writing to its members.")
@lang_option
@click.option("--format", "fmt", type=click.Choice(["text", "html"]), default="text", show_default=True)
@out_option
@knowledge_options
def letter(
    incident: str,
    insurer_id: str,
    lang: str,
    fmt: str,
    out_file: str | None,
    as_known_on: str | None,
    as_recorded_at: str | None,
) -> None:
    """Render the GDPR Art. 34(2) letter to members, in clear language, as a mail-merge template.

    What happened, the data concerned, what could happen, what was done, what to do, and
    the contact point, as known on X; {{ref}}, {{role}} and {{contract}} are the columns of
    `notify members` for the mailing system to fill in.

    \b
    Example:
      exposure notify letter --incident viamedis-2024-01 --insurer malakoff-humanis --format html --out letter.html
    """

    @with_store
    async def go(store: Store) -> None:
        h = await horizon_at(store, as_known_on, "--as-known-on", as_recorded_at)
        draft = await notices.authority(store, incident, insurer_id, h, rules.DEFAULT_RULE, "initial")
        words = Words(lang, store.tz, await notices.category_labels(store, h))
        title, blocks = letter_parts(draft, words)
        _write(letter_html(lang, title, blocks) if fmt == "html" else letter_text(title, blocks), out_file)

    run(go())


__all__ = ["notify"]
