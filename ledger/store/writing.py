"""A store's write path: labelled inputs parsed, checked against the projections (all or
nothing, every problem at once) and appended in one transaction, retried on a conflict.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from domain import facts as fact_codec
from domain import times
from domain.categories import BUILT_IN_NAMES
from domain.errors import ConcurrentAppend, InvalidFact, LedgerError, StoreError
from domain.facts import CategoryDefined, Fact
from ledger import keys as key_files
from projections import projector, queries
from projections.db import Db

if TYPE_CHECKING:  # the write side's modules load when a command writes or catches up (start-up time)
    from domain import rules
    from domain.parse import Context, Parsed
    from ledger.application import Ledger, Recorded


RETRIES: Final = 200
STALLED_CONFLICTS: Final = 3
"""Conflicts in a row at the same position with nothing new in the log: not another writer
(whose fact the log would show) but a row outside the sequence, e.g. inserted at row id 0."""
WRITING: Final = "appending facts needs it (it pseudonymises NIRs and authenticates the store's security settings)"


def actor() -> str:
    """Who records: `$EXPOSURE_ACTOR`, else the OS user."""
    name = os.environ.get("EXPOSURE_ACTOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def new_fact_id() -> str:
    """A time-ordered UUID (version 7 layout): ids of later facts sort later."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


@dataclass
class AppendResult:
    """What an append did: the facts appended and the ids that were already there."""

    appended: list[Recorded] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class Writing:
    """A store's write path: inputs parsed, checked against the projections, appended."""

    tz: ZoneInfo
    db: Db
    write_db: Db

    if TYPE_CHECKING:

        @property
        def ledger(self) -> Ledger: ...

        def keys_for(self, purpose: str) -> key_files.Keys: ...

    def context(self, by: str | None = None, now: datetime | None = None) -> Context:
        """What parsing needs: zone, clock, actor and the NIR key."""
        from domain.parse import Context  # noqa: PLC0415 - start-up time: see the imports

        return Context(
            tz=self.tz,
            now=now or datetime.now(UTC),
            actor=by or actor(),
            nir_key=self.keys_for(WRITING).nir_key,
            new_id=new_fact_id,
        )

    def parse(self, items: Sequence[tuple[str, object]], ctx: Context) -> list[Parsed]:
        """Parse labelled inputs; `LedgerError` with one line per bad input."""
        parsed, _labels, problems = self._parse_each(items, ctx)
        if problems:
            raise type(problems[0][0])(*(line for _, line in problems))
        return parsed

    def _parse_each(
        self, items: Sequence[tuple[str, object]], ctx: Context
    ) -> tuple[list[Parsed], list[str], list[tuple[LedgerError, str]]]:
        """The inputs that parse (with their labels), and one problem line for each that does not."""
        from domain import parse as fact_parser  # noqa: PLC0415 - start-up time: see the imports

        parsed: list[Parsed] = []
        labels: list[str] = []
        problems: list[tuple[LedgerError, str]] = []
        for label, obj in items:
            try:
                parsed.append(fact_parser.parse_fact(obj, ctx))
                labels.append(label)
            except LedgerError as problem:
                problems.append((problem, f"{label}: {problem}" if label else str(problem)))
        return parsed, labels, problems

    async def append(
        self, items: Sequence[tuple[str, object]], *, by: str | None = None, problems: Sequence[str] = ()
    ) -> AppendResult:
        """Parse, validate and append labelled inputs, all or nothing.

        Every problem is reported at once, in line order: `problems` found before parsing
        (e.g. a line that is not JSON), the inputs that do not parse, and what the ledger's
        rules say about the ones that do (a line that refers to a rejected line is named too).
        """
        ctx = self.context(by)
        parsed, labels, found = self._parse_each(items, ctx)
        if not found and not problems:
            return await self.append_parsed(parsed, labels)
        lines: list[tuple[LedgerError, str]] = [(InvalidFact(p), p) for p in problems] + found
        from domain import rules  # noqa: PLC0415 - start-up time: see the imports

        if parsed:
            await projector.catch_up_facts(self.db, self.ledger)
            if rules.needs(parsed).members:
                await projector.catch_up_members(self.db, self.ledger)
            try:
                rules.check(parsed, await self.state_for(rules.needs(parsed)), labels)
            except LedgerError as problem:
                lines += [(problem, line) for line in problem.problems]
        lines.sort(key=lambda entry: line_number(entry[1]))
        raise type(lines[0][0])(*(line for _, line in lines))

    async def append_parsed(self, parsed: Sequence[Parsed], labels: Sequence[str]) -> AppendResult:
        """Validate parsed facts against the ledger and append them in one transaction."""
        from domain import rules  # noqa: PLC0415 - start-up time: see the imports

        self.keys_for(WRITING)
        needs = rules.needs(parsed)
        stalled = 0
        for attempt in range(RETRIES):
            position = await projector.catch_up_facts(self.write_db, self.ledger)
            if needs.members:
                await projector.catch_up_members(self.write_db, self.ledger)
            state = await self.state_for(needs)
            accepted = rules.check(parsed, state, labels)
            accepted_ids = {f.id for f in accepted}
            unchanged = [p.fact.id for p in parsed if p.fact.id not in accepted_ids]
            if not accepted:
                return AppendResult(unchanged=unchanged)
            now = datetime.now(UTC)
            previous = await self._recorded_at(position)
            if previous is not None and previous > now + times.CLOCK_SKEW:
                raise StoreError(
                    f"the fact at position {position} claims to be recorded at {times.iso_utc(previous)}, in the"
                    " future: the store was edited outside the ledger (run: exposure audit verify)"
                )
            try:
                appended = self.ledger.append(accepted, after=position, now=now, previous=previous)
            except ConcurrentAppend:
                stalled = stalled + 1 if await projector.catch_up_facts(self.write_db, self.ledger) == position else 0
                if stalled >= STALLED_CONFLICTS:
                    raise StoreError(
                        f"position {position + 1} is taken by a row the ledger's log does not show: the event table"
                        " was edited outside the ledger (run: exposure audit verify)"
                    ) from None
                await asyncio.sleep(min(0.001 * (attempt + 1), 0.05) * (1 + secrets.randbelow(100) / 100))
                continue
            await projector.catch_up_facts(self.write_db, self.ledger)
            return AppendResult(appended=appended, unchanged=unchanged)
        raise StoreError("the ledger is too busy: could not append after many retries")

    async def _recorded_at(self, position: int) -> datetime | None:
        async with self.write_db.execute("SELECT recorded_us FROM facts WHERE pos = ?", (position,)) as c:
            row = await c.fetchone()
        return times.from_micros(int(row[0])) if row else None

    async def state_for(self, needs: rules.Needs) -> rules.LedgerState:
        """What `rules.check` must know, read from the projections (caught up)."""
        from domain import rules  # noqa: PLC0415 - start-up time: see the imports

        db = self.write_db
        async with db.execute("SELECT DISTINCT incident FROM facts WHERE kind = 'attack-discovered'") as c:
            incidents = frozenset(str(r[0]) for r in await c.fetchall())
        marks = ", ".join(f"'{k}'" for k in queries.NAMING_KINDS)
        async with db.execute(f"SELECT DISTINCT insurer FROM facts WHERE kind IN ({marks})") as c:
            insurers = frozenset(str(r[0]) for r in await c.fetchall())
        async with db.execute("SELECT body FROM facts WHERE kind = 'category-defined'") as c:
            defined = [fact_codec.decode(bytes(r[0])) for r in await c.fetchall()]
        categories = BUILT_IN_NAMES | {f.category for f in defined if isinstance(f, CategoryDefined)}
        found: dict[str, Fact] = {}
        if needs.fact_ids:
            async with db.execute(
                "SELECT pos FROM facts WHERE id IN (SELECT value FROM json_each(?))",
                (json_text(sorted(needs.fact_ids)),),
            ) as c:
                positions = [int(r[0]) for r in await c.fetchall()]
            for pos in positions:
                for recorded in self.ledger.read(after=pos - 1, upto=pos):
                    found[recorded.fact.id] = recorded.fact
        enrolled: frozenset[tuple[str, str]] = frozenset()
        if needs.members:
            async with db.execute(
                "SELECT DISTINCT v.insurer, v.ref FROM member_versions v JOIN json_each(?) j"
                " ON v.insurer = json_extract(j.value, '$[0]') AND v.ref = json_extract(j.value, '$[1]')",
                (json_text(sorted(needs.members)),),
            ) as c:
                enrolled = frozenset((str(a), str(b)) for a, b in await c.fetchall())
        return rules.LedgerState(
            incidents=incidents,
            insurers=insurers,
            categories=frozenset(categories),
            facts=found,
            enrolled=enrolled,
        )


_LINE = re.compile(r"^line (\d+)\b")


def line_number(problem: str) -> int:
    """The N of a `line N: ...` problem (0 for a problem about the whole input)."""
    found = _LINE.match(problem)
    return int(found.group(1)) if found else 0


def json_text(value: object) -> str:
    return json.dumps(value)
