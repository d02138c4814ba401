"""Knowledge over time: what changed between two dates, the history of an incident's
answers, and each controller's notification obligations.

Everything here compares point-in-time answers (`projections.queries`) at several
horizons: sides (one member-status query bound per horizon, joined in SQL), changes,
timelines, notices (obligations: who was told what, and who must still be), notice_rows
(the mail-merge rows of members to notify) and veris (an incident in VERIS terms).
"""

from projections.history.changes import MEMBER_CHANGES, change_name, changed_members, diff
from projections.history.notice_rows import (
    NOTICE_COLUMNS,
    NoticeQuery,
    affected_notified_chunks,
    has_member_notices,
    member_notice_chunks,
    notice_query,
    notice_row,
)
from projections.history.notices import (
    NOTIFIED_REFS,
    Notice,
    notice_counts,
    notices_of,
    obligations,
    told_by,
    visible_incident_facts,
)
from projections.history.sides import (
    AFFECTED_SQL,
    Side,
    affected_count,
    affected_when,
    bound_sql,
    changes_sql,
    count_rows,
    insurers_to_compare,
    nobody_affected,
    ruled_out_fields,
    side_at,
    statuses_sql,
)
from projections.history.timelines import CLOSED, Answer, FactRow, answer_at, notifications, relevant_facts, timeline
from projections.history.veris import veris_incident

__all__ = [
    "AFFECTED_SQL",
    "CLOSED",
    "MEMBER_CHANGES",
    "NOTICE_COLUMNS",
    "NOTIFIED_REFS",
    "Answer",
    "FactRow",
    "Notice",
    "NoticeQuery",
    "Side",
    "affected_count",
    "affected_notified_chunks",
    "affected_when",
    "answer_at",
    "bound_sql",
    "change_name",
    "changed_members",
    "changes_sql",
    "count_rows",
    "diff",
    "has_member_notices",
    "insurers_to_compare",
    "member_notice_chunks",
    "nobody_affected",
    "notice_counts",
    "notice_query",
    "notice_row",
    "notices_of",
    "notifications",
    "obligations",
    "relevant_facts",
    "ruled_out_fields",
    "side_at",
    "statuses_sql",
    "timeline",
    "told_by",
    "veris_incident",
    "visible_incident_facts",
]
