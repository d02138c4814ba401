"""The read side of exposure: projections of the fact log, and the queries on them.

- `db`: the read-side database interface (aiosqlite or psycopg async).
- `schema`: bitemporal view tables; every row carries the knowledge time
  (`known_us`) and append position (`pos`) of the fact that made it true.
- `projector`: the catch-up projector; rows and its position in one transaction. It reads
  the fact log through a small protocol (`projector.Ledger`), never the write side itself.
- `queries`: point-in-time answers (summary, insurer, member, export).
- `history`: knowledge over time (diff, timeline, notices, VERIS).
"""
