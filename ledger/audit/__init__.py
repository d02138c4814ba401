"""Audit: verify the stored facts, replay the projections, export a verifiable log.

- `verify` (verifying) reads eventsourcing's events table row by row in append order (on
  SQLite `stored_events` by rowid, through the recorder's notification query,
  never through the version-ordered aggregate read) and checks every row: one sequence, positions 1..N dense, every fact
  decodes, ids unique, `recorded_at` strictly increasing. It recomputes every
  leaf hash from the exact stored bytes (`domain.audit.leaf_hash`), compares them
  with the leaves remembered by earlier verifications (`audit_leaves`) and builds
  the RFC 6962 tree. Given a head kept from earlier (`expect`), it proves with an
  RFC 9162 consistency proof that today's log extends it: the only check that a
  forger who rewrote facts *and* every stored hash cannot pass.
- `replay` (replaying, comparing) rebuilds every projection from the facts alone in a fresh temporary
  SQLite file with the same projector code and compares the answers with the
  stored projections at every knowledge time and every append in the log.
- `export` (exporting) writes the log as CloudEvents 1.0 JSON lines with the exact stored
  bytes, so that an auditor can recompute every leaf and the root without us.
- `log_entries` (log): the facts in append order, with late entries marked.
- stored: the stored rows in append order, decoded, and the ledger's names.
- The append-only guards on the facts and on `audit_leaves` are in `ledger.guards`.

`docs/AUDIT.md` describes the algorithms and the auditor's procedure.
"""

from ledger.audit.comparing import MEMBER_COLUMNS, check_same, check_same_members
from ledger.audit.exporting import FACT_TYPE, HEAD_TYPE, SEQUENCE_DIGITS, export, fact_event, head_event
from ledger.audit.log import LATE_AFTER, log_entries
from ledger.audit.replaying import Answers, Replayed, replay, verify_projections
from ledger.audit.stored import decode_stored, ledger_uuid, origin, short_problem, source, stored_rows
from ledger.audit.verifying import Verified, check_extends, checkpoint, verify

__all__ = [
    "FACT_TYPE",
    "HEAD_TYPE",
    "LATE_AFTER",
    "MEMBER_COLUMNS",
    "SEQUENCE_DIGITS",
    "Answers",
    "Replayed",
    "Verified",
    "check_extends",
    "check_same",
    "check_same_members",
    "checkpoint",
    "decode_stored",
    "export",
    "fact_event",
    "head_event",
    "ledger_uuid",
    "log_entries",
    "origin",
    "replay",
    "short_problem",
    "source",
    "stored_rows",
    "verify",
    "verify_projections",
]
