"""Words for the notifications: the draft to the authority (a `Doc`) and the letter to
members (its parts), in French or English (`cli/render/notify_texts.py`); written out as
Markdown, HTML or text by `cli/render/notify_formats.py`.

A draft is a `Doc`: sections of `Statement`s, each with the ids of the facts behind it,
numbered in order of first citation and listed in an appendix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from cli.render.notify_texts import CATEGORY_LABELS, LETTER, T
from domain import times
from domain.drafts import Categories, Consequence, Counts, Draft, FactCited, MeasureStated

# -- words ------------------------------------------------------------------------------


@dataclass
class Words:
    """Texts, labels and local times in one language."""

    lang: str
    tz: ZoneInfo
    labels: dict[str, str] = field(default_factory=dict)

    def __call__(self, key: str, **values: Any) -> str:
        return T[self.lang][key].format(**values)

    def gap(self, what: str) -> str:
        """A marked gap: what a person must fill in."""
        return self("gap", what=self(f"gap.{what}"))

    def when(self, iso: str | None) -> str:
        """A UTC ISO time as local `YYYY-MM-DD HH:MM` (fr: `DD/MM/YYYY HH:MM`)."""
        if iso is None:
            return "—"
        moment = times.parse_instant(iso, "time", self.tz).astimezone(self.tz)
        return moment.strftime("%d/%m/%Y %H:%M" if self.lang == "fr" else "%Y-%m-%d %H:%M")

    def label(self, category: str) -> str:
        """A category in clear words."""
        return CATEGORY_LABELS[self.lang].get(category) or self.labels.get(category) or category

    def listing(self, categories: Iterable[str]) -> str:
        """Categories in clear words, comma-separated (or "none")."""
        names = [self.label(c) for c in categories]
        return ", ".join(names) if names else self("none")

    def number(self, value: int) -> str:
        """A whole number with a thousands separator (a narrow space in French)."""
        text = f"{value:,}"
        return text.replace(",", "\u202f") if self.lang == "fr" else text

    def measure_kind(self, kind: str | None) -> str:
        """` (containment)`, or nothing."""
        return f" ({self(f'kind.{kind}')})" if kind else ""


# -- the document model: sections of statements, each with the facts behind it ---------------


@dataclass
class Statement:
    """One sentence of a draft and the ids of the facts behind it."""

    text: str
    because: list[str]


@dataclass
class Doc:
    """A draft ready to render: title, introduction, sections and the facts cited."""

    lang: str
    title: str
    intro: list[str]
    sections: list[tuple[str, list[Statement]]]
    facts: dict[str, FactCited]
    appendix_title: str
    appendix_head: str

    def numbers(self) -> dict[str, int]:
        """Each cited fact's number, in order of first citation."""
        found: dict[str, int] = {}
        for _, statements in self.sections:
            for statement in statements:
                for fact_id in statement.because:
                    found.setdefault(fact_id, len(found) + 1)
        return found


def authority_doc(draft: Draft, words: Words, facts: dict[str, FactCited]) -> Doc:
    """The draft's statements in `words`' language."""
    w = words
    name = draft.name or draft.insurer
    intro = [w("intro", as_known_on=w.when(draft.as_known_on), tz=w.tz.key)]
    previous = draft.previous
    if previous is not None:
        reference = previous.reference or w.gap("previous_reference")
        intro.append(
            w(
                "intro.previous",
                notified_at=w.when(previous.notified_at),
                reference=reference,
                known_on=w.when(previous.known_on),
            )
        )
    if draft.phase == "complementary":
        sections = [(w("s.changes"), _changes(draft, w))]
    else:
        sections = _initial_sections(draft, w, name)
    title = w(f"title.{draft.phase}", name=name)
    return Doc(w.lang, title, intro, sections, facts, w("s.appendix"), w("appendix.head"))


def _initial_sections(draft: Draft, w: Words, name: str) -> list[tuple[str, list[Statement]]]:
    nature, timing, subjects = draft.nature, draft.timing, draft.data_subjects
    title = f" — {nature.title}" if nature.title else ""
    nature_part = [
        Statement(w("nature.operator", operator=nature.operator, title=title), nature.because),
        Statement(
            w("nature.times", attack_began=w.when(nature.attack_began), discovered=w.when(nature.discovered)),
            nature.because,
        ),
    ]
    if timing.aware_at is not None:
        nature_part.append(
            Statement(w("nature.aware", name=name, aware_at=w.when(timing.aware_at)), timing.aware_because)
        )
        nature_part.append(Statement(w("deadline", deadline=w.when(timing.deadline)), timing.aware_because))
        reason = timing.delay_reason or w.gap("delay_reason")
        nature_part.append(
            Statement(
                w(
                    f"status.{timing.status}",
                    notified_at=w.when(timing.notified_at),
                    deadline=w.when(timing.deadline),
                    reason=reason,
                ),
                timing.because,
            )
        )
    subject_part = []
    if subjects.memberships:
        subject_part.append(Statement(w("subjects", **_numbers(subjects, w)), subjects.because))
    else:
        subject_part.append(Statement(w.gap("data_subjects"), subjects.because))
    if subjects.estimate is not None:
        estimate = w.number(subjects.estimate)
        subject_part.append(Statement(w("subjects.estimate", estimate=estimate), subjects.because[:1]))
    return [
        (w("s.nature"), nature_part),
        (w("s.subjects"), subject_part),
        (w("s.categories"), _categories(draft.categories, w)),
        (w("s.consequences"), [consequence(c, w) for c in draft.consequences]),
        (w("s.measures"), measures(draft.measures, w) or [Statement(w.gap("measures"), [])]),
        (w("s.contact"), _contact(draft, w)),
    ]


def _numbers(counts: Counts, w: Words) -> dict[str, str]:
    """The counts in words, by name (`T[lang]["subjects"]`'s values)."""
    return {
        "people": w.number(counts.people),
        "memberships": w.number(counts.memberships),
        "holders": w.number(counts.holders),
        "dependants": w.number(counts.dependants),
        "confirmed": w.number(counts.confirmed),
        "presumed": w.number(counts.presumed),
    }


def _categories(cats: Categories, w: Words) -> list[Statement]:
    def ids(categories: list[str]) -> list[str]:
        """The ids of the facts behind these categories' statuses."""
        return sorted({cats.rulings[c] for c in categories if c in cats.rulings})

    found = [Statement(w("categories.exposed", list=w.listing(cats.exposed)), ids(cats.exposed))]
    if cats.implied:
        found.append(Statement(w("categories.implied"), ids(["nir"])))
    if cats.suspected:
        found.append(Statement(w("categories.suspected", list=w.listing(cats.suspected)), ids(cats.suspected)))
    if cats.ruled_out:
        found.append(Statement(w("categories.ruled_out", list=w.listing(cats.ruled_out)), ids(cats.ruled_out)))
    return found


def consequence(item: Consequence, w: Words) -> Statement:
    text = item.text_fr if w.lang == "fr" else item.text
    if item.status == "suspected":
        text = w("consequence.suspected", text=text)
    return Statement(text, item.because)


def measures(measures: list[MeasureStated], w: Words, key: str = "measure") -> list[Statement]:
    return [
        Statement(
            w(key, occurred_on=w.when(m.occurred_on), text=m.text.rstrip("."), kind=w.measure_kind(m.kind)),
            [m.id],
        )
        for m in measures
    ]


def _contact(draft: Draft, w: Words) -> list[Statement]:
    if draft.contact is None:
        return [Statement(w.gap("contact"), draft.contact_because)]
    return [Statement(w("contact", contact=draft.contact), draft.contact_because)]


def _changes(draft: Draft, w: Words) -> list[Statement]:
    changes = draft.changes
    if changes is None:
        return [Statement(w("change.none"), [])]
    found = []
    for moved in changes.categories:
        found.append(
            Statement(
                w(
                    "change.category",
                    label=w.label(moved.category).capitalize(),
                    before=w(f"status-word.{moved.before}"),
                    after=w(f"status-word.{moved.after}"),
                ),
                moved.because,
            )
        )
    subjects = changes.data_subjects
    if subjects:
        before, after = subjects.before, subjects.after
        found.append(
            Statement(
                w(
                    "change.subjects",
                    before=w.number(before.people),
                    after=w.number(after.people),
                    mbefore=w.number(before.memberships),
                    mafter=w.number(after.memberships),
                ),
                draft.data_subjects.because,
            )
        )
    members = changes.members
    if members.newly_affected or members.no_longer_affected or members.fields_changed:
        numbers = {
            "newly_affected": w.number(members.newly_affected),
            "no_longer_affected": w.number(members.no_longer_affected),
            "fields_changed": w.number(members.fields_changed),
        }
        found.append(Statement(w("change.members", **numbers), draft.data_subjects.because))
    new_consequences = set(changes.consequences)
    for item in draft.consequences:
        if item.id in new_consequences:
            text = item.text_fr if w.lang == "fr" else item.text
            key = "change.consequence.suspected" if item.status == "suspected" else "change.consequence"
            found.append(Statement(w(key, text=text), item.because))
    new_measures = set(changes.measures)
    found += measures([m for m in draft.measures if m.id in new_measures], w, "change.measure")
    if changes.contact:
        found.append(Statement(w("change.contact", contact=changes.contact), draft.contact_because))
    return found or [Statement(w("change.none"), [])]


# -- notify letter ----------------------------------------------------------------------


def letter_parts(draft: Draft, words: Words) -> tuple[str, list[tuple[str | None, list[str]]]]:
    """The Art. 34(2) letter as (title, [(heading or None, paragraphs or bullet items)])."""
    w, say = words, LETTER[words.lang]
    nature, cats = draft.nature, draft.categories
    name = draft.name or draft.insurer
    contact = draft.contact or w.gap("contact")
    blocks: list[tuple[str | None, list[str]]] = [
        (None, [say["subject"], say["salutation"], say["member"].format()]),
        (
            None,
            [
                say["what"].format(
                    operator=nature.operator,
                    name=name,
                    attack_began=w.when(nature.attack_began)[:10],
                    discovered=w.when(nature.discovered)[:10],
                ),
                say["data"].format(fields=w.listing(cats.exposed)),
                *([say["implied"]] if cats.implied else []),
                *([say["not"].format(list=w.listing(cats.ruled_out))] if cats.ruled_out else []),
            ],
        ),
        (say["consequences"], [consequence(c, w).text for c in draft.consequences if c.status == "exposed"]),
        (say["measures"], [s.text for s in measures(draft.measures, w)] or [w.gap("measures")]),
        (say["advice"], [say[f"advice.{n}"] for n in range(1, 5)]),
        (None, [say["contact"].format(contact=contact), say["cnil"], say["closing"], name]),
    ]
    return say["title"], blocks
