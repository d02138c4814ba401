"""The read side of exposure: projections of the fact log, and the queries on them.

- `schema`: bitemporal view tables; every row carries the knowledge time
  (`known_us`) and append position (`pos`) of the fact that made it true.
- `projector`: the catch-up projector; rows and its position in one transaction.
- `queries`: point-in-time answers (summary, insurer, member, export).
- `keys`: the key file (NIR pseudonym key, optional encryption key).
- `store`: opening a store, appending with validation and retries.
"""
