"""The use cases of exposure: one function each, the only thing the command line should call.

- `usecases.session`: open or create a store; `horizon`, the one rule every read follows:
  **reads catch up first** (the projections reach the ledger's head, and a replica
  catches up with them), then **the horizon is parsed once**, from the one pair of strings
  every question takes (`--as-known-on`, `--as-recorded-at`, as a `When`).
- `usecases.questions`: summary, insurer, member, members export.
- `usecases.history`: diff, changed members, timeline, obligations, VERIS, report data.
- `usecases.writes`: record, roster import.
- `usecases.stores`: store copy, file key rotation, rebuild, following the ledger.
- `usecases.notify`: the notifications' drafts (authority, members' mail-merge rows).
- `usecases.audit`: log, verify, head, keygen, replay, export.

This package's own module is light (the command line imports it at start-up): each
submodule loads only what its use cases need.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.backends import DEFAULT_STORE


@dataclass(frozen=True, slots=True)
class When:
    """The horizon as typed: `--as-known-on X` (default now) and `--as-recorded-at Y`."""

    known_on: str | None = None
    recorded_at: str | None = None


__all__ = ["DEFAULT_STORE"]
