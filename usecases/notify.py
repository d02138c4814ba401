"""The notifications' drafts as data: to the authority (Art. 33(3)), the members' mail-merge
rows and what the letter to members (Art. 34(2)) says."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, cast

from domain import obligations as rules
from domain.drafts import Draft, FactCited
from domain.notify import Phase
from ledger.store import Store
from projections import history
from projections import notify as notices
from projections.history import NOTICE_COLUMNS, notice_row
from projections.queries import Horizon


async def authority(store: Store, incident: str, insurer: str, h: Horizon, rule_id: str, phase: str) -> Draft:
    """The draft of `insurer`'s notification to the authority (`phase`: initial or
    complementary) as known at `h`, under the deadline rule `rule_id`."""
    return await notices.authority(store.db, incident, insurer, h, rules.rule(rule_id), cast(Phase, phase))


async def fact_details(store: Store, ids: list[str]) -> dict[str, FactCited]:
    """The facts a draft cites, by id (kind, known_on, by), for its appendix."""
    return await notices.fact_details(store.db, ids)


async def category_labels(store: Store, h: Horizon) -> dict[str, str]:
    """The labels of the categories defined in the ledger, as known at `h`."""
    return await notices.category_labels(store.db, h)


async def member_rows(
    store: Store, incident: str, insurer: str, h: Horizon, *, since_last: bool
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """The mail-merge rows of `insurer`'s members, in chunks (`NOTICE_COLUMNS`); an unknown
    incident or insurer is refused here, before any row is written."""
    await notices.require_insurer(store.db, incident, insurer, h)
    return history.member_notice_chunks(store.db, incident, insurer, h, since_last=since_last)


__all__ = ["NOTICE_COLUMNS", "authority", "category_labels", "fact_details", "member_rows", "notice_row"]
