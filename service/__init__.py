"""The lookup service: a second shell (HTTP) over the same read side as the CLI.

- `storage`: the service's own database (tokens and the access log), beside the store,
  never in the fact log.
- `tokens`: bearer tokens, stored as hashes, scoped to one insurer or to all.
- `access_log`: the hash-chained log of every lookup answered (reading, verifying);
  `access_writer` appends to it (one sealed block per request, in group commits).
- `limits`: a token bucket per token and a window per NIR pseudonym.
- `core`: the use cases the HTTP routes call (lookups, incident summary, health).
- `app`, `server`: the Litestar application and the uvicorn server (imported by
  `exposure serve` only: the CLI never pays for them).

docs/SERVICE.md has the rules and the threat model.
"""
