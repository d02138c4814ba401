"""eventsourcing's PostgreSQL application recorder, appending without pipeline mode.

eventsourcing 9.5 sends each append (table lock, NOTIFY, one INSERT of every stored
event as an array parameter) through psycopg's pipeline mode. psycopg 3.3's pipeline
stops flushing once its last command is queued and then waits for results: when the
INSERT is larger than what the socket takes at once (a batch of rosters: megabytes),
the client waits for results while the server waits for the rest of the statement,
forever (seen as the server's `ClientRead` wait on an active INSERT). This recorder
runs the same statements, in the same transaction, as ordinary round trips, which
flush everything before they wait. Selected through eventsourcing's
`APPLICATION_RECORDER_TOPIC` (see `backends.ledger_env`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry


class LedgerRecorder(PostgresApplicationRecorder):
    """`PostgresApplicationRecorder` whose `insert_events` does not use pipeline mode."""

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Lock the table, notify, insert and return the notification ids, in one transaction."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
