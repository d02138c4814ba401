"""The notifications written out: the authority draft as Markdown or an HTML page, the
letter to members as text or HTML. Text from the facts is escaped in HTML; gaps
(`[À COMPLÉTER : …]`) are highlighted.
"""

from __future__ import annotations

import html
import re
from typing import Final

from cli.render.notify import Doc

# -- Markdown and HTML ------------------------------------------------------------------

GAP: Final = re.compile(r"\[(?:À COMPLÉTER :|TO FILL IN:) [^\]]*\]")
"""A gap as `T[lang]["gap"]` writes it."""


def markdown(doc: Doc) -> str:
    """The draft as Markdown, statements numbered to the appendix."""
    numbers = doc.numbers()
    lines = [f"# {doc.title}", "", *(f"_{line}_" for line in doc.intro), ""]
    for title, statements in doc.sections:
        lines += [f"## {title}", ""]
        for statement in statements:
            refs = "".join(f"[^{numbers[i]}]" for i in statement.because)
            text = " ".join(statement.text.split())  # one line per statement, whatever the facts hold
            lines.append(f"- {text}{' ' + refs if refs else ''}")
        lines.append("")
    lines += [f"## {doc.appendix_title}", "", doc.appendix_head, "|---|---|---|---|---|"]
    for fact_id, number in numbers.items():
        info = doc.facts.get(fact_id)
        kind, known_on, source = (info.kind, info.known_on, info.source) if info else ("", "", None)
        source_cell = str(source or "—").replace("|", "\\|")
        lines.append(f"| {number} | `{fact_id}` | {kind} | {known_on} | {source_cell} |")
    lines.append("")
    lines += [f"[^{n}]: `{i}`" for i, n in numbers.items()]
    return "\n".join(lines) + "\n"


STYLE: Final = """
body { font-family: "DejaVu Sans", Arial, sans-serif; max-width: 52em; margin: 2em auto; color: #1a1a1a;
       line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.45em; border-bottom: 2px solid #1f3a68; padding-bottom: .3em; color: #1f3a68; }
h2 { font-size: 1.1em; color: #1f3a68; margin-top: 1.6em; }
.intro { color: #444; font-style: italic; }
mark.gap { background: #ffe08a; padding: 0 .2em; font-weight: bold; }
sup a { text-decoration: none; color: #1f3a68; }
table { border-collapse: collapse; font-size: .85em; width: 100%; }
th, td { border: 1px solid #bbb; padding: .25em .4em; text-align: left; vertical-align: top; }
code { font-size: .9em; }
"""


def _html_text(text: str) -> str:
    """Escaped text with its gaps marked."""
    escaped = html.escape(text)
    return GAP.sub(lambda m: f'<mark class="gap">{m.group(0)}</mark>', escaped)


def html_page(doc: Doc) -> str:
    """The draft as one self-contained HTML page."""
    numbers = doc.numbers()
    parts = [
        f'<!DOCTYPE html>\n<html lang="{doc.lang}"><head><meta charset="utf-8">',
        f"<title>{html.escape(doc.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
        *(f'<p class="intro">{_html_text(line)}</p>' for line in doc.intro),
    ]
    for title, statements in doc.sections:
        parts.append(f"<h2>{html.escape(title)}</h2><ul>")
        for statement in statements:
            refs = ",".join(f'<a href="#fact-{numbers[i]}">{numbers[i]}</a>' for i in statement.because)
            parts.append(f"<li>{_html_text(statement.text)}{f' <sup>{refs}</sup>' if refs else ''}</li>")
        parts.append("</ul>")
    head = [cell.strip() for cell in doc.appendix_head.strip("|").split("|")]
    parts.append(f"<h2>{html.escape(doc.appendix_title)}</h2><table><tr>")
    parts += [f"<th>{html.escape(cell)}</th>" for cell in head]
    parts.append("</tr>")
    for fact_id, number in numbers.items():
        info = doc.facts.get(fact_id)
        kind, known_on, source = (info.kind, info.known_on, info.source) if info else ("", "", None)
        cells = [
            str(number),
            f"<code>{html.escape(fact_id)}</code>",
            html.escape(kind),
            html.escape(known_on),
            html.escape(str(source or "—")),
        ]
        parts.append(f'<tr id="fact-{number}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table></body></html>\n")
    return "\n".join(parts)


def letter_text(title: str, blocks: list[tuple[str | None, list[str]]]) -> str:
    """The letter as plain text (headed lists as `- ` items)."""
    lines = [title.upper(), ""]
    for heading, items in blocks:
        if heading:
            lines.append(heading)
            lines += [f"- {item}" for item in items]
        else:
            for item in items:
                lines += [item, ""]
            continue
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


LETTER_STYLE: Final = """
body { font-family: "DejaVu Serif", Georgia, serif; max-width: 40em; margin: 3em auto; line-height: 1.5;
       color: #111; padding: 0 1em; }
h1 { font-size: 1.2em; color: #1f3a68; }
h2 { font-size: 1em; margin-bottom: .2em; }
.placeholder { background: #e3ecfa; font-family: monospace; }
mark.gap { background: #ffe08a; font-weight: bold; }
"""


def letter_html(lang: str, title: str, blocks: list[tuple[str | None, list[str]]]) -> str:
    """The letter as one self-contained HTML page (placeholders kept as `{{column}}`)."""

    def text(item: str) -> str:
        marked = _html_text(item)
        return re.sub(r"\{\{(\w+)\}\}", r'<span class="placeholder">{{\1}}</span>', marked)

    parts = [
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        f"<style>{LETTER_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    for heading, items in blocks:
        if heading:
            parts.append(f"<h2>{html.escape(heading)}</h2><ul>{''.join(f'<li>{text(i)}</li>' for i in items)}</ul>")
        else:
            parts += [f"<p>{text(item)}</p>" for item in items]
    parts.append("</body></html>\n")
    return "\n".join(parts)
