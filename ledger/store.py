"""A store: the fact log (eventsourcing) and its projections, in one SQLite file or
one PostgreSQL database (see `backends`).

`Store.init` creates the store and its key file; `Store.open` opens both and
checks that they belong together. `Store.append` validates a batch against the
ledger as of the projections' position and appends it in one transaction,
retrying when another writer got there first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import hmac
import json
import os
import re
import secrets
import sqlite3
import stat
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import aiosqlite

from domain import facts as fact_codec
from domain import times
from domain.categories import BUILT_IN_NAMES
from domain.errors import ConcurrentAppend, InvalidFact, LedgerError, StoreError
from domain.facts import CategoryDefined, Fact
from ledger import backends, guards, replicas, sqlcipher
from ledger import keys as key_files
from ledger.replicas import Replica
from projections import projector, queries
from projections.db import READ_TIMEOUT_S, SQLITE, Db, PostgresDb, SqliteDb
from projections.schema import SETTINGS

if TYPE_CHECKING:  # the write side's modules load when a command writes or catches up (start-up time)
    from domain import rules
    from domain.parse import Context, Parsed
    from ledger.application import Ledger, Recorded

RETRIES: Final = 200
STALLED_CONFLICTS: Final = 3
"""Conflicts in a row at the same position with nothing new in the log: not another writer
(whose fact the log would show) but a row outside the sequence, e.g. inserted at row id 0."""
BUSY_TIMEOUT_MS: Final = 60_000
CACHE_KIB: Final = 256 * 1024
"""SQLite page cache of the read side: keeps roster indexes in memory while importing."""
POINT_READ_CACHE_KIB: Final = 64 * 1024
"""Page cache of the point-read connection to a SQLCipher file: a page found there is already
decrypted and authenticated; one read from the OS costs an AES decryption and an HMAC."""
WRITING: Final = "appending facts needs it (it pseudonymises NIRs and authenticates the store's security settings)"


def default_key_file(location: str) -> Path:
    """The store's path with `.key` (SQLite), else `./exposure.key`."""
    if location.startswith(("postgresql://", "postgres://")):
        return Path("exposure.key")
    return Path(location.removeprefix("sqlite:///")).with_suffix(".key")


def exists(location: str) -> bool:
    """Whether a store (or, for SQLite, any file) is already at `location`."""
    loc = backends.parse_location(location)
    return bool(backends.postgres_settings(loc)) if loc.path is None else loc.path.exists()


def actor() -> str:
    """Who records: `$EXPOSURE_ACTOR`, else the OS user."""
    name = os.environ.get("EXPOSURE_ACTOR")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def new_fact_id() -> str:
    """A time-ordered UUID (version 7 layout): ids of later facts sort later."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))


@dataclass
class AppendResult:
    """What an append did: the facts appended and the ids that were already there."""

    appended: list[Recorded] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class Store:
    """An opened ledger store."""

    def __init__(
        self,
        location: backends.Location,
        keys: key_files.Keys | None,
        ledger: Ledger | None,
        db: Db,
        tz: ZoneInfo,
        *,
        key_path: Path,
        settings: dict[str, str],
        replica: Replica | None = None,
    ) -> None:
        self.location = location
        self.path = location.path
        """The SQLite file (None for a PostgreSQL store)."""
        self._keys = keys
        self.key_path = key_path
        self._ledger = ledger
        self.write_db = db
        """The primary: appends, catch-ups and every other write."""
        self.replica = replica
        self._aside_db: Db | None = None
        """The members projection's own connection (`catch_up_members_aside`)."""
        self.db: Db = replica.db if replica else db
        """The read side: a hot-standby replica when one is given (`--read-store`), else the primary."""
        self.tz = tz
        self.settings = settings
        self.warnings: list[str] = []
        """What the user should hear about on opening (e.g. a store readable by others)."""

    @property
    def ledger(self) -> Ledger:
        """The fact log (eventsourcing), opened on first use: a query on projections that
        are already current never needs it (see `catch_up`)."""
        if self._ledger is None:
            self._ledger = _ledger(self.location, self._keys, self.settings)
        return self._ledger

    @property
    def encrypted(self) -> bool:
        """Every fact's payload is AES-GCM encrypted (`init --encrypt`)."""
        return self.settings.get("encrypted") == "yes"

    @property
    def file_encrypted(self) -> bool:
        """The whole SQLite file is a SQLCipher database (`init --encrypt` on SQLite)."""
        return self.settings.get("file_encrypted") == "yes"

    @property
    def can_decode(self) -> bool:
        """The facts can be read: kept in clear, or encrypted and opened with their key."""
        return not self.encrypted or (self._keys is not None and self._keys.cipher_key is not None)

    @property
    def keys(self) -> key_files.Keys:
        """The key file's keys (`keys_for` says why they are needed when they are missing)."""
        return self.keys_for("this operation needs it")

    def keys_for(self, purpose: str) -> key_files.Keys:
        """The key file's keys; `StoreError` saying why they are needed when the store was
        opened without its key file."""
        if self._keys is None:
            raise StoreError(f"key file {self.key_path} not found: {purpose}; give --key-file or set EXPOSURE_KEY_FILE")
        return self._keys

    async def scratch_db(self, path: Path) -> SqliteDb:
        """A new SQLite file for a rebuild beside the store (`audit replay`): encrypted, with a
        key of its own that dies with the process, when the store is."""
        return await connect_sqlite(path, secrets.token_bytes(32) if self.file_encrypted else None)

    # -- opening -----------------------------------------------------------------

    @classmethod
    async def init(
        cls,
        location: str,
        key_file: Path | None = None,
        *,
        timezone: str | None = None,
        encrypt: bool | None = None,
        keys: key_files.Keys | None = None,
    ) -> tuple[Store, bool]:
        """Create the store and its key file; opening an existing one is not an error.

        `timezone` (default UTC) and `encrypt` (default no) are the settings asked for:
        an existing store with other settings is refused with both named, and left as it
        is; None means "whatever the store has". With `keys` (copying a store), the key
        file is the caller's (already written or shared) and the new store is protected
        as those keys say.
        """
        tz = times.zone(timezone or "UTC")
        loc = backends.parse_location(location)
        key_path = key_file or default_key_file(location)
        if exists(location):
            store = await cls.open(location, key_path)
            stored, asked = _settings_differ(store, None if timezone is None else tz, encrypt)
            if stored:
                await store.close()
                raise StoreError(
                    f"store {loc.display} already exists with {' and '.join(stored)};"
                    f" init asked for {' and '.join(asked)}: nothing changed"
                )
            return store, False
        if key_path.exists() and keys is None:
            raise StoreError(
                f"key file {key_path} already exists but store {loc.display} does not;"
                " move it away or name another --key-file"
            )
        if keys is None:
            keys = key_files.create(key_path, key_files.new_keys(encrypt=bool(encrypt), whole_file=not loc.is_postgres))
        file_key = keys.file_key if loc.path is not None else None
        settings = {
            "timezone": tz.key,
            "key_fingerprint": keys.fingerprint,
            "encrypted": "yes" if keys.cipher_key else "no",
            "file_encrypted": "yes" if file_key else "no",
            "created_at": times.iso_utc(datetime.now(UTC)),
            "store_id": str(uuid.uuid4()),
        }
        settings["settings_mac"] = keys.settings_mac(settings)
        if loc.path is None:
            backends.postgres_create(loc, settings)
            db: Db = await _connect_postgres(loc)
        else:
            key_files.create_private(loc.path, b"", f"store {loc.path} already exists")
            db = await connect_sqlite(loc.path, file_key)
            await db.execute(SETTINGS)
            await db.executemany(
                "INSERT OR REPLACE INTO exposure_settings (key, value) VALUES (?, ?)", list(settings.items())
            )
            await db.commit()
        await projector.create_tables(db)
        ledger = _ledger(loc, keys, settings, create=True)
        await guards.protect(db)
        if loc.is_postgres:
            backends.postgres_append_only(loc)
        return cls(loc, keys, ledger, db, tz, key_path=key_path, settings=settings), True

    @classmethod
    async def open(
        cls,
        location: str,
        key_file: Path | None = None,
        *,
        stored_bytes_only: bool = False,
        read_location: str | None = None,
        max_lag: float = replicas.DEFAULT_MAX_LAG,
    ) -> Store:
        """Open an existing store, with its key file when there is one; with `read_location`,
        answers are read from that hot-standby replica of the PostgreSQL store (see
        `ledger.replicas`).

        A store kept in clear opens without its key file (for every command that reads
        or writes no NIR); an encrypted one needs it, except, with `stored_bytes_only`
        (`audit verify`, `audit head`), a store whose payloads alone are encrypted.
        A key file that is there is always checked: another store's is refused.
        """
        loc = backends.parse_location(location)
        key_path = key_file or default_key_file(location)
        keys = key_files.load(key_path) if key_path.exists() or key_path.is_symlink() else None
        warnings: list[str] = []
        db: Db
        if loc.path is None:
            db = await _connect_postgres(loc)
            settings = await _settings(db)
            if not settings:
                await db.close()
                raise StoreError(f"no exposure store in {loc.display} (run: exposure init)")
        else:
            db, warnings = await _open_file(loc.path, keys, key_path)
            try:
                settings = await _settings(db)
            except (aiosqlite.DatabaseError, sqlcipher.DatabaseError):
                await db.close()
                raise StoreError(f"{loc.path} is not an exposure store") from None
            if not settings:
                await db.close()
                raise StoreError(f"{loc.path} is not an exposure store (run: exposure init)")
        try:
            _check_settings(loc, settings, keys, key_path, stored_bytes_only=stored_bytes_only)
            await projector.create_tables(db)
            ledger = _checked_ledger(loc, keys, settings, key_path)  # no guards.protect: see its docstring
        except BaseException:
            await db.close()
            raise
        tz = ZoneInfo(settings.get("timezone", "UTC"))
        store = cls(loc, keys, ledger, db, tz, key_path=key_path, settings=settings)
        store.warnings = warnings
        if read_location is not None:
            await store._read_from(read_location, settings.get("store_id", ""), max_lag)
        return store

    async def _read_from(self, read_location: str, store_id: str, max_lag: float) -> None:
        try:
            self.replica = await Replica.open(self.location, read_location, store_id, max_lag)
        except BaseException:
            await self.close()
            raise
        self.db = self.replica.db

    async def rotate_file_key(self) -> None:
        """Re-encrypt every page of a SQLCipher store under a new file key and replace the key
        file (the NIR and payload keys stay: see `ledger.keys`). Closes the store.

        The new key file is written aside first (`KEY.new`); if the re-key is interrupted
        after the file changed, opening names that file.
        """
        keys = self.keys_for("key rotate needs it (it holds the key that opens the file)")
        if self.path is None or not self.file_encrypted or keys.file_key is None:
            await self.close()
            raise StoreError(
                f"store {self.location.display} is not a SQLCipher file: there is no file key to rotate"
                " (store copy --encrypt makes one)"
            )
        new_key = secrets.token_bytes(32)
        new = dataclasses.replace(keys, file_key=new_key)
        await self.close()
        aside = self.key_path.with_name(self.key_path.name + ".new")
        aside.unlink(missing_ok=True)
        key_files.create(aside, new)
        sqlcipher.rekey(self.path, keys.file_key, new_key)
        aside.replace(self.key_path)

    async def close(self) -> None:
        """Close the read side and the ledger."""
        if self.replica is not None:
            await self.replica.db.close()
        await self.write_db.close()
        if self._aside_db is not None:
            await self._aside_db.close()
        if self._ledger is not None:
            self._ledger.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- writing -----------------------------------------------------------------

    def context(self, by: str | None = None, now: datetime | None = None) -> Context:
        """What parsing needs: zone, clock, actor and the NIR key."""
        from domain.parse import Context  # noqa: PLC0415 - start-up time: see the imports

        return Context(
            tz=self.tz,
            now=now or datetime.now(UTC),
            actor=by or actor(),
            nir_key=self.keys_for(WRITING).nir_key,
            new_id=new_fact_id,
        )

    def parse(self, items: Sequence[tuple[str, object]], ctx: Context) -> list[Parsed]:
        """Parse labelled inputs; `LedgerError` with one line per bad input."""
        parsed, _labels, problems = self._parse_each(items, ctx)
        if problems:
            raise type(problems[0][0])(*(line for _, line in problems))
        return parsed

    def _parse_each(
        self, items: Sequence[tuple[str, object]], ctx: Context
    ) -> tuple[list[Parsed], list[str], list[tuple[LedgerError, str]]]:
        """The inputs that parse (with their labels), and one problem line for each that does not."""
        from domain import parse as fact_parser  # noqa: PLC0415 - start-up time: see the imports

        parsed: list[Parsed] = []
        labels: list[str] = []
        problems: list[tuple[LedgerError, str]] = []
        for label, obj in items:
            try:
                parsed.append(fact_parser.parse_fact(obj, ctx))
                labels.append(label)
            except LedgerError as problem:
                problems.append((problem, f"{label}: {problem}" if label else str(problem)))
        return parsed, labels, problems

    async def append(
        self, items: Sequence[tuple[str, object]], *, by: str | None = None, problems: Sequence[str] = ()
    ) -> AppendResult:
        """Parse, validate and append labelled inputs, all or nothing.

        Every problem is reported at once, in line order: `problems` found before parsing
        (e.g. a line that is not JSON), the inputs that do not parse, and what the ledger's
        rules say about the ones that do (a line that refers to a rejected line is named too).
        """
        ctx = self.context(by)
        parsed, labels, found = self._parse_each(items, ctx)
        if not found and not problems:
            return await self.append_parsed(parsed, labels)
        lines: list[tuple[LedgerError, str]] = [(InvalidFact(p), p) for p in problems] + found
        from domain import rules  # noqa: PLC0415 - start-up time: see the imports

        if parsed:
            await projector.catch_up_facts(self.db, self.ledger)
            if rules.needs(parsed).members:
                await projector.catch_up_members(self.db, self.ledger)
            try:
                rules.check(parsed, await self.state_for(rules.needs(parsed)), labels)
            except LedgerError as problem:
                lines += [(problem, line) for line in problem.problems]
        lines.sort(key=lambda entry: _line_number(entry[1]))
        raise type(lines[0][0])(*(line for _, line in lines))

    async def append_parsed(self, parsed: Sequence[Parsed], labels: Sequence[str]) -> AppendResult:
        """Validate parsed facts against the ledger and append them in one transaction."""
        from domain import rules  # noqa: PLC0415 - start-up time: see the imports

        self.keys_for(WRITING)
        needs = rules.needs(parsed)
        stalled = 0
        for attempt in range(RETRIES):
            position = await projector.catch_up_facts(self.write_db, self.ledger)
            if needs.members:
                await projector.catch_up_members(self.write_db, self.ledger)
            state = await self.state_for(needs)
            accepted = rules.check(parsed, state, labels)
            accepted_ids = {f.id for f in accepted}
            unchanged = [p.fact.id for p in parsed if p.fact.id not in accepted_ids]
            if not accepted:
                return AppendResult(unchanged=unchanged)
            now = datetime.now(UTC)
            previous = await self._recorded_at(position)
            if previous is not None and previous > now + times.CLOCK_SKEW:
                raise StoreError(
                    f"the fact at position {position} claims to be recorded at {times.iso_utc(previous)}, in the"
                    " future: the store was edited outside the ledger (run: exposure audit verify)"
                )
            try:
                appended = self.ledger.append(accepted, after=position, now=now, previous=previous)
            except ConcurrentAppend:
                stalled = stalled + 1 if await projector.catch_up_facts(self.write_db, self.ledger) == position else 0
                if stalled >= STALLED_CONFLICTS:
                    raise StoreError(
                        f"position {position + 1} is taken by a row the ledger's log does not show: the event table"
                        " was edited outside the ledger (run: exposure audit verify)"
                    ) from None
                await asyncio.sleep(min(0.001 * (attempt + 1), 0.05) * (1 + secrets.randbelow(100) / 100))
                continue
            await projector.catch_up_facts(self.write_db, self.ledger)
            return AppendResult(appended=appended, unchanged=unchanged)
        raise StoreError("the ledger is too busy: could not append after many retries")

    async def _recorded_at(self, position: int) -> datetime | None:
        async with self.write_db.execute("SELECT recorded_us FROM facts WHERE pos = ?", (position,)) as c:
            row = await c.fetchone()
        return times.from_micros(int(row[0])) if row else None

    async def state_for(self, needs: rules.Needs) -> rules.LedgerState:
        """What `rules.check` must know, read from the projections (caught up)."""
        from domain import rules  # noqa: PLC0415 - start-up time: see the imports

        db = self.write_db
        async with db.execute("SELECT DISTINCT incident FROM facts WHERE kind = 'attack-discovered'") as c:
            incidents = frozenset(str(r[0]) for r in await c.fetchall())
        marks = ", ".join(f"'{k}'" for k in queries.NAMING_KINDS)
        async with db.execute(f"SELECT DISTINCT insurer FROM facts WHERE kind IN ({marks})") as c:
            insurers = frozenset(str(r[0]) for r in await c.fetchall())
        async with db.execute("SELECT body FROM facts WHERE kind = 'category-defined'") as c:
            defined = [fact_codec.decode(bytes(r[0])) for r in await c.fetchall()]
        categories = BUILT_IN_NAMES | {f.category for f in defined if isinstance(f, CategoryDefined)}
        found: dict[str, Fact] = {}
        if needs.fact_ids:
            async with db.execute(
                "SELECT pos FROM facts WHERE id IN (SELECT value FROM json_each(?))",
                (_json(sorted(needs.fact_ids)),),
            ) as c:
                positions = [int(r[0]) for r in await c.fetchall()]
            for pos in positions:
                for recorded in self.ledger.read(after=pos - 1, upto=pos):
                    found[recorded.fact.id] = recorded.fact
        enrolled: frozenset[tuple[str, str]] = frozenset()
        if needs.members:
            async with db.execute(
                "SELECT DISTINCT v.insurer, v.ref FROM member_versions v JOIN json_each(?) j"
                " ON v.insurer = json_extract(j.value, '$[0]') AND v.ref = json_extract(j.value, '$[1]')",
                (_json(sorted(needs.members)),),
            ) as c:
                enrolled = frozenset((str(a), str(b)) for a, b in await c.fetchall())
        return rules.LedgerState(
            incidents=incidents,
            insurers=insurers,
            categories=frozenset(categories),
            facts=found,
            enrolled=enrolled,
        )

    # -- reading -----------------------------------------------------------------

    async def catch_up(self, progress: projector.Progress | None = None) -> int:
        """Bring the projections up to the ledger's head; return the position."""
        if self._ledger is None:
            current = await self._current_position()
            if current is not None:
                return current
        return await projector.catch_up(self.write_db, self.ledger, progress)

    async def _current_position(self) -> int | None:
        """The facts projection's position when both projections have read exactly the last
        stored fact (one statement on the primary: the fact log is not opened), else None
        (behind, or a position the full catch-up must refuse: `projector.check_positions`)."""
        events = (
            f"SELECT MAX(rowid) FROM {guards.EVENTS_TABLE}"
            if self.write_db.dialect == SQLITE
            else f"SELECT MAX(notification_id) FROM {backends.POSTGRES_EVENTS_TABLE}"
        )
        psycopg = sys.modules.get("psycopg")
        errors = (sqlite3.Error, sqlcipher.DatabaseError, *((psycopg.Error,) if psycopg is not None else ()))
        try:
            async with self.write_db.execute(
                "SELECT COUNT(*), MAX(CASE WHEN name = 'facts' THEN position END) FROM projection_state"
                f" WHERE name IN ('facts', 'members') AND notification_id = COALESCE(({events}), 0)"
            ) as cursor:
                row = await cursor.fetchone()
        except errors:  # no event table: the full catch-up says what is wrong
            return None
        return int(row[1]) if row is not None and int(row[0]) == 2 else None

    @property
    def projects_aside(self) -> bool:
        """Whether the members projection can run beside this store's other work, on a connection
        of its own (PostgreSQL: the server works while this process goes on; SQLite has one writer)."""
        return self.location.is_postgres

    async def catch_up_members_aside(self, head: int) -> int:
        """Project the rosters appended up to `head` on a connection of its own (PostgreSQL),
        opened on first use: the event loop appends meanwhile. Exactly once as any catch-up
        (the members projection's advisory lock, its position re-read in the transaction)."""
        if self._aside_db is None:
            self._aside_db = await _connect_postgres(self.location)
        return await projector.catch_up_members(self._aside_db, self.ledger, head=head)

    async def members_behind(self) -> int:
        """How many facts were appended that the members projection has not read yet."""
        notification_id, _ = await projector.position(self.write_db, projector.MEMBERS)
        return max(0, self.ledger.last_notification() - notification_id)

    async def rebuild(self, progress: Callable[[str, int, int], None] | None = None) -> int:
        """Drop the projections and project every fact again; `progress(phase, done, total)`
        hears of each pass (`facts`, then `members`), in notifications."""

        def phase(name: str) -> projector.Progress | None:
            return None if progress is None else lambda done, total: progress(name, done, total)

        await projector.drop_tables(self.write_db)
        await projector.create_tables(self.write_db)
        position = await projector.catch_up_facts(self.write_db, self.ledger, phase("facts"))
        await projector.catch_up_members(self.write_db, self.ledger, phase("members"))
        return position

    async def ready_for_reads(self) -> int:
        """The one rule before any answer: the projections are caught up with the ledger's
        head, on the primary; with a replica, the replica has replayed them too (bounded
        wait, `--max-lag`), so a reader never misses a fact written before the read."""
        position = await self.catch_up()
        if self.replica is not None:
            await self.replica.wait_for(await replicas.projected(self.write_db))
        return position

    async def horizon(
        self, as_known_on: str | None = None, as_recorded_at: str | None = None, *, known_name: str = "--as-known-on"
    ) -> queries.Horizon:
        """Be ready for reads, then resolve `--as-known-on` (date: end of that day; named
        `known_name` in errors) and `--as-recorded-at`."""
        await self.ready_for_reads()
        now = datetime.now(UTC)
        known = times.parse_instant(as_known_on, known_name, self.tz, date_means="end") if as_known_on else now
        recorded = (
            times.parse_instant(as_recorded_at, "--as-recorded-at", self.tz, date_means="end")
            if as_recorded_at
            else None
        )
        return await queries.horizon(self.db, known, recorded)

    def facts(self, after: int = 0) -> Any:
        """Every recorded fact in append order (an iterator of `Recorded`)."""
        return self.ledger.read(after=after)


def _settings_differ(store: Store, tz: ZoneInfo | None, encrypt: bool | None) -> tuple[list[str], list[str]]:
    """The settings of `store` that differ from those asked for, and the ones asked for."""
    stored: list[str] = []
    asked: list[str] = []
    if tz is not None and tz.key != store.tz.key:
        stored.append(f"time zone {store.tz.key}")
        asked.append(f"time zone {tz.key}")
    encrypted = store.encrypted
    if encrypt is not None and encrypt != encrypted:
        stored.append("encryption" if encrypted else "no encryption")
        asked.append("--encrypt" if encrypt else "no encryption")
    return stored, asked


def _check_settings(
    loc: backends.Location,
    settings: dict[str, str],
    keys: key_files.Keys | None,
    key_path: Path,
    *,
    stored_bytes_only: bool,
) -> None:
    """Refuse a key file of another store, security settings changed without the key file,
    and an encrypted store opened without its key file."""
    encrypted = settings.get("encrypted") == "yes"
    if keys is None:
        if encrypted and not stored_bytes_only:
            raise StoreError(f"store {loc.display} is encrypted; give its key file ({key_path} not found)")
        return
    if settings.get("key_fingerprint") != keys.fingerprint:
        raise StoreError(f"key file {key_path} does not belong to store {loc.display}")
    if not hmac.compare_digest(settings.get("settings_mac", ""), keys.settings_mac(settings)):
        shown = ", ".join(f"{k}={settings.get(k, '(none)')}" for k in key_files.SECURITY_SETTINGS[2:])
        raise StoreError(
            f"the security settings of store {loc.display} ({shown}) were changed without its key file;"
            " refusing to use the store"
        )
    if encrypted and not keys.cipher_key:
        raise StoreError(f"store {loc.display} is encrypted but key file {key_path} has no encryption key")


async def _open_file(path: Path, keys: key_files.Keys | None, key_path: Path) -> tuple[SqliteDb, list[str]]:
    """Connect to a SQLite store: a SQLCipher file with the key file's file key."""
    if not path.exists():
        raise StoreError(f"no store at {path} (run: exposure init)")
    _require_database_file(path)
    warnings = exposed_files(path)
    file_key: bytes | None = None
    if sqlcipher.is_encrypted_file(path):
        if keys is None or keys.file_key is None:
            why = f"{key_path} not found" if keys is None else f"key file {key_path} does not open it"
            raise StoreError(f"store {path} is encrypted; give its key file ({why})")
        file_key = keys.file_key
    try:
        return await connect_sqlite(path, file_key), warnings
    except sqlcipher.WrongKey:
        pass
    aside = key_path.with_name(key_path.name + ".new")
    hint = ""
    if aside.exists():
        hint = f"; a key rotation was interrupted: if {aside} opens it, run: mv {aside} {key_path}"
    raise StoreError(f"store {path} is encrypted; give its key file (key file {key_path} does not open it{hint})")


def exposed_files(path: Path) -> list[str]:
    """Warnings for the store file and its WAL and shared memory when group or others may
    read them (they hold the whole ledger)."""
    warnings: list[str] = []
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))):
        try:
            mode = file.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"{file} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {file}"
            )
    return warnings


def _checked_ledger(
    location: backends.Location, keys: key_files.Keys | None, settings: dict[str, str], key_path: Path
) -> Ledger | None:
    """The ledger, once its encryption key is known to open the facts already stored: with a
    wrong one, appended facts could be read by no one holding the right key. None for a store
    whose facts are in clear: it is opened on first use (`Store.ledger`)."""
    cipher = keys is not None and keys.cipher_key and settings.get("encrypted") == "yes"
    if not cipher:
        return None
    ledger = _ledger(location, keys, settings)
    first = ledger.recorder.select_notifications(start=1, limit=1) if cipher else []
    try:
        if first:
            ledger.decode(first[0].state)
    except ValueError:
        ledger.close()
        raise StoreError(
            f"key file {key_path} cannot decrypt store {location.display} (wrong encryption key)"
        ) from None
    return ledger


def _ledger(
    location: backends.Location, keys: key_files.Keys | None, settings: dict[str, str], *, create: bool = False
) -> Ledger:
    """The eventsourcing application: payloads decrypted when the store is encrypted and its key
    is known, the file opened through SQLCipher when it is one."""
    cipher_key = keys.cipher_key if keys is not None and settings.get("encrypted") == "yes" else None
    file_key = keys.file_key if keys is not None and settings.get("file_encrypted") == "yes" else None
    env = backends.ledger_env(location, cipher_key, BUSY_TIMEOUT_MS // 1000, create=create, file_key=file_key)
    from ledger.application import Ledger  # noqa: PLC0415 - start-up time: see the imports

    return Ledger(env=env)


def _require_database_file(path: Path) -> None:
    """Refuse, before anything reads it, a store path that cannot be a store: a folder, a
    FIFO (reading it would wait forever), a device, an empty file."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a regular file: not an exposure store")
    if info.st_size == 0:
        raise StoreError(f"{path} is empty: not an exposure store")


async def connect_sqlite(path: Path, file_key: bytes | None) -> SqliteDb:
    """The read side's connection to a SQLite file (a SQLCipher one with `file_key`)."""
    reader = None
    if file_key is None:
        db = await aiosqlite.connect(str(path), isolation_level=None)
    else:
        key = file_key
        sqlcipher.connect(str(path), key).close()  # a wrong key fails here, not in aiosqlite's thread

        def connector() -> Any:
            return sqlcipher.connect(str(path), key, isolation_level=None)

        def reader(uri: str) -> Any:
            conn = sqlcipher.connect(uri, key, uri=True, timeout=READ_TIMEOUT_S, check_same_thread=False)
            conn.execute(f"PRAGMA cache_size = -{POINT_READ_CACHE_KIB}")
            return conn

        db = await aiosqlite.Connection(connector, 64)
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        await db.execute("PRAGMA temp_store = MEMORY")
    except (aiosqlite.DatabaseError, sqlcipher.DatabaseError):  # closed, or its thread keeps the process alive
        await db.close()
        raise StoreError(f"{path} is not a SQLite file: not an exposure store") from None
    return SqliteDb(db, str(path), reader)


async def _connect_postgres(location: backends.Location) -> PostgresDb:
    import psycopg  # noqa: PLC0415 - only PostgreSQL stores need psycopg

    try:
        return await PostgresDb.connect(location.text)
    except psycopg.Error as problem:
        raise StoreError(f"cannot connect to {location.display}: {str(problem).strip().splitlines()[0]}") from None


async def _settings(db: Db) -> dict[str, str]:
    exists = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'exposure_settings'"
        if db.dialect == SQLITE
        else "SELECT 1 WHERE to_regclass('exposure_settings') IS NOT NULL"
    )
    async with db.execute(exists) as c:
        if await c.fetchone() is None:
            return {}
    async with db.execute("SELECT key, value FROM exposure_settings") as c:
        return {str(k): str(v) for k, v in await c.fetchall()}


_LINE = re.compile(r"^line (\d+)\b")


def _line_number(problem: str) -> int:
    """The N of a `line N: ...` problem (0 for a problem about the whole input)."""
    found = _LINE.match(problem)
    return int(found.group(1)) if found else 0


def _json(value: object) -> str:
    return json.dumps(value)
