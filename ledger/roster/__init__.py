"""Roster import (CSV → batched `members-enrolled` facts) and affected-member export.

Import runs in two passes so that a bad row writes nothing and a huge roster
never sits in memory:

1. check: the CSV is read once, every row validated and its NIR replaced by its
   pseudonym (in worker processes for large files, using both cores); each batch
   of thousands of members is msgspec-encoded into a temporary spool file;
2. append: each batch becomes one `members-enrolled` fact with a name-based id
   (insurer, known_on if given, and the batch's rows), its members the JSON the
   check wrote, appended in its own transaction. Re-running the same file appends nothing; a run interrupted at
   any point (even `kill -9`) is completed by running it again.

A ref that appears twice in a file is a re-enrolment: the later row wins.

csv_layout (the CSV's columns and separator, read in chunks), rows (one chunk checked
into batches), workers (the worker processes), spool (checked batches on disk),
check (pass 1), importer (pass 2: `import_roster`), pipeline (many files in a row:
`import_rosters`), typos (insurer names close to a known one), exporting (affected
members as CSV).
"""

from ledger.roster.check import MAX_PROBLEMS, PARALLEL_ABOVE_BYTES, SCAN_BLOCK, TASK_BATCHES, check_all
from ledger.roster.csv_layout import (
    COLUMNS,
    MAX_FIELD,
    SEPARATORS,
    Layout,
    layout,
    open_roster,
    read_layout,
    roster_chunks,
    separator_of,
)
from ledger.roster.exporting import export
from ledger.roster.importer import APPEND_MEMBERS, BATCH, BESIDE_FACTS, Options, batch_id, import_roster
from ledger.roster.pipeline import import_rosters
from ledger.roster.rows import (
    Batch,
    Checked,
    Repeats,
    check_batch,
    check_range,
    checked_decoder,
    checked_encoder,
    members_decoder,
    members_encoder,
)
from ledger.roster.spool import Progress, Spool, spool_batch, spool_dir, spooled
from ledger.roster.typos import MAX_EDITS, Warn, announce, edits, near
from ledger.roster.workers import (
    PR_SET_PDEATHSIG,
    WATCH_SECONDS,
    WORKER_POOL,
    WORKERS,
    WorkerPool,
    can_fork,
    checked_in_order,
    die_with_parent,
)

__all__ = [
    "APPEND_MEMBERS",
    "BATCH",
    "BESIDE_FACTS",
    "COLUMNS",
    "MAX_EDITS",
    "MAX_FIELD",
    "MAX_PROBLEMS",
    "PARALLEL_ABOVE_BYTES",
    "PR_SET_PDEATHSIG",
    "SCAN_BLOCK",
    "SEPARATORS",
    "TASK_BATCHES",
    "WATCH_SECONDS",
    "WORKERS",
    "WORKER_POOL",
    "Batch",
    "Checked",
    "Layout",
    "Options",
    "Progress",
    "Repeats",
    "Spool",
    "Warn",
    "WorkerPool",
    "announce",
    "batch_id",
    "can_fork",
    "check_all",
    "check_batch",
    "check_range",
    "checked_decoder",
    "checked_encoder",
    "checked_in_order",
    "die_with_parent",
    "edits",
    "export",
    "import_roster",
    "import_rosters",
    "layout",
    "members_decoder",
    "members_encoder",
    "near",
    "open_roster",
    "read_layout",
    "roster_chunks",
    "separator_of",
    "spool_batch",
    "spool_dir",
    "spooled",
]
