"""The lookup service's use cases, independent of the HTTP framework.

`Service` holds what one service process needs: the store (its write connection is used
only to catch the projections up, never to write facts), a pool of read connections
(SQLite: read-only aiosqlite connections to the WAL file, one query at a time each;
PostgreSQL: psycopg's async pool), the service database (tokens, access log), the rate
limits, and the horizon "now" with every incident's view, refreshed when the ledger grows.

Every route calls one method: `lookups`, `summary`, `health`. A refusal is a `Refused`
with its HTTP status, message and, for 429, the seconds to wait (`service.bodies`,
with the request and response bodies; the read connections are `service.read_pool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

import msgspec

from domain import times
from domain.errors import LedgerError, UnknownReference
from domain.times import iso_utc
from ledger import replicas
from ledger.store import Store
from projections import lookups as member_lookups
from projections import queries
from projections.db import Db, PostgresDb, SqliteDb
from projections.lookups import Moment
from projections.queries import Horizon
from service import access_writer, storage, tokens
from service.access_log import ALL_INSURERS, Access
from service.bodies import (
    INVALID_NIR,
    Health,
    LookupRequest,
    LookupResponse,
    LookupResult,
    Refused,
    SummaryResponse,
    every_insurer_summary,
    insurer_summary,
    parse_lookups,
)
from service.limits import Shared
from service.read_pool import ReadPool
from service.tokens import Token

KEPT_HORIZONS: Final = 32
_INVALID: Final = ("invalid-nir", "", 0)


class Config(msgspec.Struct, kw_only=True, frozen=True):
    """How `exposure serve` configures each service process (passed to workers as JSON)."""

    location: str
    key_file: str | None = None
    readers: int = 4
    interval: float = 0.25
    nir_limit: int = 10
    nir_window: float = 60.0
    read_location: str | None = None
    """A hot-standby replica of the PostgreSQL store (`--read-store`): lookups are read there."""
    max_lag: float | None = None
    inline_reads: bool = True
    limits_path: str | None = None
    """The file whose mapping holds the rate limits shared by every worker (`--workers N`, N > 1);
    None: one process, the limits in its own memory."""
    """SQLite: run each request's lookup query in the event loop's thread on the read connection's
    synchronous twin (one indexed query: cheaper than the hop to aiosqlite's thread and back)."""


# -- the service -----------------------------------------------------------------------------


@dataclass
class _Now:
    horizon: Horizon
    moments: dict[str, Moment]
    prepared: member_lookups.Prepared


class Service:
    """One service process (see the module's docstring)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store: Store | None = None
        self.pool: ReadPool | None = None
        self.service_db: Db | None = None
        self.store_lock = asyncio.Lock()
        """The store's own connection: catch-ups and summaries (which keep counts) take turns."""
        self.service_lock = asyncio.Lock()
        self.writer: access_writer.Writer | None = None
        self.appender: access_writer.SqliteAppender | None = None
        self.tokens: dict[str, Token] = {}
        self.limits: Shared | None = None
        self.now: _Now | None = None
        self.kept: dict[tuple[int, int], _Now] = {}
        self.head = 0
        self.failures: dict[str, str] = {}
        """The last failure of each background task still failing (a task's success clears its own only)."""
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open everything, catch up once, start the background tasks."""
        key_file = Path(self.config.key_file) if self.config.key_file else None
        limits = (self.config.nir_limit, self.config.nir_window)
        path = self.config.limits_path
        self.limits = Shared.at(Path(path), *limits) if path else Shared.anonymous(*limits)
        self.store = store = await Store.open(
            self.config.location,
            key_file,
            read_location=self.config.read_location,
            max_lag=replicas.DEFAULT_MAX_LAG if self.config.max_lag is None else self.config.max_lag,
        )
        if store.path is not None:
            if not isinstance(store.db, SqliteDb):  # pragma: no cover - a file store's read side is SQLite
                raise TypeError("a SQLite store without a SQLite read side")
            self.pool = await ReadPool.sqlite(store.path, self.config.readers, store.db.open_reader)
        else:
            self.pool = await ReadPool.postgres(self.config.read_location or store.location.text, self.config.readers)
        self.service_db = await storage.connect(self.config.location)
        if store.path is not None:
            self.appender = access_writer.SqliteAppender(storage.service_path(store.path))
            self.writer = access_writer.Writer(self.appender, self.service_lock)
        else:
            appender = access_writer.PostgresAppender(cast(PostgresDb, self.service_db))  # a URL store's: PostgreSQL
            self.writer = access_writer.Writer(appender, self.service_lock)
        self.writer.start()
        await self._refresh_tokens()
        await self._catch_up()
        self._tasks = [
            asyncio.create_task(self._every(self.config.interval, self._catch_up)),
            asyncio.create_task(self._every(0.5, self._refresh_tokens)),
        ]

    async def stop(self) -> None:
        """Stop the background tasks, write what is pending, close."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.writer is not None:
            await self.writer.stop()
        if self.appender is not None:
            self.appender.close()
        if self.pool is not None:
            await self.pool.close()
        if self.service_db is not None:
            await self.service_db.close()
        if self.store is not None:
            await self.store.close()
        if self.limits is not None:
            self.limits.close()

    async def _every(self, seconds: float, step: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await step()
                self.failures.pop(step.__name__, None)
            except Exception as problem:  # noqa: BLE001 - reported on stderr and by /v1/health; the service goes on
                failure = self.failures[step.__name__] = f"{type(problem).__name__}: {problem}"
                print(f"exposure serve: {failure}", file=sys.stderr)  # noqa: T201

    async def _catch_up(self) -> None:
        """Follow the ledger: project new facts, then refresh the horizon "now"."""
        store = self._store()
        head = store.ledger.last_notification()
        if self.now is not None and head == self.head:
            return
        async with self.store_lock:
            await store.ready_for_reads()  # with a replica: until it has replayed what the primary projected
            h = await queries.horizon(store.db, datetime.now(UTC), None)
            found = await member_lookups.moments(store.db, h)
            now = _Now(h, found, member_lookups.prepare(found))
        self.now, self.head = now, head
        self.kept.clear()

    async def _refresh_tokens(self) -> None:
        db = self._service_db()
        async with self.service_lock:
            found = await tokens.every(db)
        self.tokens = {t.hash: t for t in found if t.revoked_at is None}

    def _store(self) -> Store:
        if self.store is None:  # pragma: no cover - routes run after start()
            raise RuntimeError("the service is not started")
        return self.store

    def _pool(self) -> ReadPool:
        if self.pool is None:  # pragma: no cover - routes run after start()
            raise RuntimeError("the service is not started")
        return self.pool

    def _service_db(self) -> Db:
        if self.service_db is None:  # pragma: no cover - routes run after start()
            raise RuntimeError("the service is not started")
        return self.service_db

    # -- authentication and limits -----------------------------------------------------------

    def authenticate(self, header: str | None) -> Token:
        """The token of an `Authorization: Bearer ...` header; 401 otherwise (revoked included)."""
        scheme, _, secret = (header or "").partition(" ")
        token = self.tokens.get(tokens.digest(secret.strip())) if scheme.lower() == "bearer" else None
        if token is None:
            raise Refused(401, "a valid bearer token is required")
        return token

    def _admit(self, token: Token, cost: int, pseudonyms: list[str]) -> None:
        """Both limits allow the request, or 429 (nothing consumed)."""
        if cost > token.rate.burst:
            raise Refused(400, f"{cost} lookups exceed this token's limit of {int(token.rate.burst)} per request")
        if self.limits is None:  # pragma: no cover - routes run after start()
            raise RuntimeError("the service is not started")
        rate = token.rate
        wait = self.limits.admit(token.fingerprint, rate.per_second, rate.burst, cost, pseudonyms, time.monotonic())
        if wait > 0:
            raise Refused(429, "rate limit exceeded", wait)

    # -- horizons -----------------------------------------------------------------------------

    async def _at(self, db: Db, as_known_on: str | None) -> tuple[_Now, datetime]:
        """The horizon and incident views to answer from, and the `as_known_on` to echo."""
        now = self.now
        if now is None:  # pragma: no cover - start() computed it
            raise RuntimeError("the service is not started")
        if as_known_on is None:
            return now, datetime.now(UTC)
        try:
            moment = times.parse_instant(as_known_on, "as_known_on", self._store().tz, date_means="end")
        except LedgerError as problem:
            raise Refused(400, str(problem)) from None
        key = (times.to_micros(moment), now.horizon.position)
        found = self.kept.get(key)
        if found is None:
            h = await queries.horizon(db, moment, None)
            moments = await member_lookups.moments(db, h)
            found = _Now(h, moments, member_lookups.prepare(moments))
            if len(self.kept) >= KEPT_HORIZONS:
                self.kept.pop(next(iter(self.kept)))
            self.kept[key] = found
        return found, moment

    # -- use cases ----------------------------------------------------------------------------

    async def lookups(self, token: Token, request: LookupRequest) -> LookupResponse:
        """Answer a batch of lookups (see docs/SERVICE.md)."""
        parsed = parse_lookups(request.lookups, token, self._store().keys.nir_key)
        self._admit(token, len(parsed), [x.nir for x in parsed if x is not None and x.nir is not None])
        at_us = times.to_micros(datetime.now(UTC))
        scope = token.insurer or ALL_INSURERS
        async with self._pool().connection() as db:
            now, moment = await self._at(db, request.as_known_on)
            answers = await member_lookups.answer(
                db, parsed, token.insurer, now.moments, now.prepared, now.horizon, inline=self.config.inline_reads
            )
        results: list[LookupResult] = []
        logged: list[tuple[str, str, int]] = []
        for lookup, found in zip(parsed, answers, strict=True):
            if lookup is None or found is None:
                results.append(INVALID_NIR)
                logged.append(_INVALID)
                continue
            results.append(LookupResult(memberships=found))
            if lookup.nir is not None:
                logged.append(("nir", lookup.nir, 1 if found else 0))
            else:
                logged.append(("ref", f"{lookup.insurer or token.insurer}/{lookup.ref}", 1 if found else 0))
        await self._log(Access(at_us, token.fingerprint, scope, logged))
        return LookupResponse(as_known_on=iso_utc(moment), results=results)

    async def summary(self, token: Token, incident: str, as_known_on: str | None) -> SummaryResponse:
        """The incident's summary, restricted to the token's insurer."""
        store = self._store()
        at_us = times.to_micros(datetime.now(UTC))
        scope = token.insurer or ALL_INSURERS
        async with self.store_lock:
            try:
                moment = (
                    times.parse_instant(as_known_on, "as_known_on", store.tz, date_means="end")
                    if as_known_on is not None
                    else datetime.now(UTC)
                )
            except LedgerError as problem:
                raise Refused(400, str(problem)) from None
            h = await queries.horizon(store.db, moment, None)
            try:
                if token.insurer is None:
                    data = await every_insurer_summary(store.db, incident, h)
                else:
                    data = await insurer_summary(store.db, incident, token.insurer, h)
            except UnknownReference:
                await self._log(Access(at_us, token.fingerprint, scope, [("summary", incident, 0)]))
                raise Refused(404, f"unknown incident {incident!r}") from None
        await self._log(Access(at_us, token.fingerprint, scope, [("summary", incident, 1)]))
        return data

    def health(self) -> Health:
        """Where the answers stand."""
        position = self.now.horizon.position if self.now is not None else 0
        status = "failing" if self.failures else "ok"
        return Health(status=status, position=position, lag=max(0, self.head - position))

    async def _log(self, access: Access) -> None:
        if self.writer is None:  # pragma: no cover - routes run after start()
            raise RuntimeError("the service is not started")
        try:
            await self.writer.write(access)
        except Exception as problem:  # noqa: BLE001 - no answer leaves without its log entry
            raise Refused(503, f"the access log could not be written ({type(problem).__name__})") from None
