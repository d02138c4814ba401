"""Point-in-time answers, one module per question.

A `Horizon` is (X, P, hidden): knowledge time X in microseconds, the last append
position P recorded at or before Y (the head when Y is not given), and the
positions of facts retracted at that horizon. Every query selects rows with
`known_us <= X AND pos <= P AND pos NOT IN hidden`: indexed, never a replay.

horizons (the horizon and the incidents, insurers and views visible at it), status
(member status in SQL, the scope rule applied), counts (members per insurer and
status, maintained or counted, cached), duplicates (NIRs affected more than once),
incident (summary, insurer), memberships (one member's memberships), export (affected
members in chunks, notices by ref).
"""

from projections.queries.cache import cache_origin, state_key
from projections.queries.counts import counts_of_each, member_counts
from projections.queries.export import (
    EXPORT_CHUNK,
    EXPORT_COLUMNS,
    Chunk,
    affected_chunks,
    affected_members,
    notices_by_ref,
)
from projections.queries.horizons import (
    AFFECTED,
    NAMING_KINDS,
    VISIBLE,
    Horizon,
    all_time,
    enrolled_by,
    horizon,
    horizon_at,
    incident_view,
    incidents,
    insurers_ever,
    known_at,
    known_insurers,
    not_known_yet,
    require_incident,
    require_insurer,
    roster_insurers,
    visible,
)
from projections.queries.incident import insurer, summary
from projections.queries.memberships import VIEWS_KEPT, member
from projections.queries.status import member_status_sql, scopes_json

__all__ = [
    "AFFECTED",
    "EXPORT_CHUNK",
    "EXPORT_COLUMNS",
    "NAMING_KINDS",
    "VIEWS_KEPT",
    "VISIBLE",
    "Chunk",
    "Horizon",
    "affected_chunks",
    "affected_members",
    "all_time",
    "cache_origin",
    "counts_of_each",
    "enrolled_by",
    "horizon",
    "horizon_at",
    "incident_view",
    "incidents",
    "insurer",
    "insurers_ever",
    "known_at",
    "known_insurers",
    "member",
    "member_counts",
    "member_status_sql",
    "not_known_yet",
    "notices_by_ref",
    "require_incident",
    "require_insurer",
    "roster_insurers",
    "scopes_json",
    "state_key",
    "summary",
    "visible",
]
