"""The write side of exposure: the fact log and everything that stores, guards or proves it.

- `application`: the eventsourcing Application (`Ledger`) that appends facts to one
  sequence, with a narrow API (append, head, read, notifications, decode).
- `store`: opening a store (its location and key file), appending with validation and
  retries, catching the projections up.
- `backends`, `pg_recorder`: where a store lives (SQLite file or PostgreSQL).
- `guards`: the append-only triggers on the facts and the verified leaves.
- `keys`, `signing`: the key file (NIR pseudonym key, optional encryption key) and the
  Ed25519 signing keys for checkpoints.
- `roster`: importing a roster CSV as `members-enrolled` facts.
- `copying`: copying a store's facts to another location.
- `audit`: verify, replay, export and log of the stored facts.

It may use the read side (`projections`) to bring views up to date; the read side
never imports it.
"""
