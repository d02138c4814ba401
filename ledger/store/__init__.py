"""A store: the fact log (eventsourcing) and its projections, in one SQLite file or
one PostgreSQL database (see `backends`).

`Store.init` creates the store and its key file; `Store.open` opens both and
checks that they belong together (core). `Store.append` validates a batch against the
ledger as of the projections' position and appends it in one transaction,
retrying when another writer got there first (writing). Reads catch up first
(reading). files: the store's files and connections.
"""

from ledger.store.core import Store
from ledger.store.files import (
    BUSY_TIMEOUT_MS,
    CACHE_KIB,
    POINT_READ_CACHE_KIB,
    connect_postgres,
    connect_sqlite,
    default_key_file,
    exists,
    exposed_files,
    open_file,
    open_ledger,
    read_settings,
)
from ledger.store.reading import Reading
from ledger.store.writing import (
    RETRIES,
    STALLED_CONFLICTS,
    WRITING,
    AppendResult,
    Writing,
    actor,
    json_text,
    line_number,
    new_fact_id,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CACHE_KIB",
    "POINT_READ_CACHE_KIB",
    "RETRIES",
    "STALLED_CONFLICTS",
    "WRITING",
    "AppendResult",
    "Reading",
    "Store",
    "Writing",
    "actor",
    "connect_postgres",
    "connect_sqlite",
    "default_key_file",
    "exists",
    "exposed_files",
    "json_text",
    "line_number",
    "new_fact_id",
    "open_file",
    "open_ledger",
    "read_settings",
]
