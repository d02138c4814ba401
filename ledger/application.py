"""The ledger: an eventsourcing Application that appends facts to one sequence.

All facts live in one event-sourced log (`LEDGER_ID`), so a fact's append
position is its version in that log: dense, 1, 2, 3, ... in append order. A
writer validates a batch against the ledger as of position P and appends
versions P+1...; if another writer appended first, the insert conflicts on
(ledger, version) and the writer re-reads and retries (`ConcurrentAppend`).
This gives every fact a strictly increasing `recorded_at` and makes every
validation see exactly the facts before it.

Facts are stored as canonical msgspec JSON (optionally AES-GCM encrypted),
through `FactMapper`: the library's default mapper needs `__dict__`, which
frozen msgspec Structs do not have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final, cast
from uuid import UUID, uuid5

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import Compressor, IntegrityError, Mapper, Notification, StoredEvent, Subscription

from domain import facts as fact_codec
from domain.errors import ConcurrentAppend
from domain.facts import TOPIC_PREFIX, AnyFact, Fact, kind_of
from domain.times import next_recorded_at
from ledger.compression import DEFLATE_ABOVE, deflate, inflate

JUST_STORED_BYTES: Final = 48 * 1024 * 1024
"""The canonical JSON of the large facts this process encoded last, kept for its projections."""

LEDGER_ID: Final = uuid5(UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "urn:exposure:ledger")


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """A fact as the ledger holds it: at a position, with its system time."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    fact: AnyFact

    @property
    def position(self) -> int:
        """1-based append position."""
        return self.originator_version


class FactCompressor(Compressor):
    """The ledger's compressor (`COMPRESSOR_TOPIC`): large facts deflated (`ledger.compression`)."""

    def compress(self, data: bytes) -> bytes:
        return deflate(data)

    def decompress(self, data: bytes) -> bytes:
        return inflate(data)


class JustStored:
    """The canonical JSON of the large facts this process just encoded (rosters), by their
    stored bytes, up to `JUST_STORED_BYTES` (the oldest forgotten first): the projections of
    a roster this process appends read it back at once, twice (facts, then members), and
    inflating it cost 0.75 s per million members. The same stored bytes always decrypt and
    inflate to the same JSON, so what is found here is what reading the bytes would give;
    bytes edited in the store are other bytes, and are read as they are."""

    def __init__(self) -> None:
        self.kept: dict[bytes, bytes] = {}
        self.size = 0

    def keep(self, state: bytes, plain: bytes) -> None:
        if len(plain) <= DEFLATE_ABOVE or state in self.kept:
            return
        self.kept[state] = plain
        self.size += len(plain)
        while self.size > JUST_STORED_BYTES:
            self.size -= len(self.kept.pop(next(iter(self.kept))))

    def get(self, state: bytes) -> bytes | None:
        return self.kept.get(state) if self.kept else None


class FactMapper(Mapper[UUID]):
    """Maps `Recorded` facts to stored events and back with msgspec."""

    just_stored: JustStored | None = None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not isinstance(domain_event, Recorded):
            raise TypeError(f"the ledger stores Recorded facts, not {type(domain_event).__name__}")
        plain = state = fact_codec.encode(domain_event.fact)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        if self.just_stored is not None:
            self.just_stored.keep(state, plain)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=TOPIC_PREFIX + kind_of(domain_event.fact),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        fact = self.decode_state(stored_event.state)
        if fact.recorded_at is None:  # pragma: no cover - every stored fact is stamped
            raise ValueError(f"stored fact {fact.id!r} has no recorded_at")
        return Recorded(
            originator_id=UUID(str(stored_event.originator_id)),
            originator_version=stored_event.originator_version,
            timestamp=fact.recorded_at,
            fact=fact,
        )

    def decode_state(self, state: bytes) -> AnyFact:
        """The fact inside stored bytes (decrypting and decompressing as configured)."""
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return fact_codec.decode(state)


class Ledger(Application[UUID]):
    """Appends facts; reads them back in append order."""

    name = "exposure"

    def construct_mapper(self) -> Mapper[UUID]:
        mapper = FactMapper(
            transcoder=self.factory.transcoder(),
            cipher=self.factory.cipher(),
            compressor=self.factory.compressor(),
        )
        mapper.just_stored = JustStored()
        return mapper

    def notifications(
        self, start: int, limit: int, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        """Stored facts by notification id in [start, stop], at most `limit`, of the given topics (all if none)."""
        return self.recorder.select_notifications(start=start, limit=limit, stop=stop, topics=topics)

    def last_notification(self) -> int:
        """The highest notification id (0 for an empty ledger)."""
        return self.recorder.max_notification_id() or 0

    def insert_stored(self, events: Sequence[StoredEvent]) -> None:
        """Store facts already encoded, byte for byte (a store copy keeps every stored byte)."""
        self.recorder.insert_events(list(events))

    def subscribe(self, after: int) -> Subscription[Any]:
        """Stored facts with notification ids above `after`, as they are appended (PostgreSQL)."""
        return self.recorder.subscribe(gt=after)

    def plain(self, state: bytes) -> bytes:
        """A stored fact's canonical JSON (decrypted and decompressed as configured)."""
        mapper = self.mapper
        just = cast(FactMapper, mapper).just_stored
        found = just.get(state) if just is not None else None
        if found is not None:
            return found
        if mapper.cipher:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor:
            state = mapper.compressor.decompress(state)
        return state

    def decode(self, state: bytes) -> AnyFact:
        """The fact inside a stored fact's bytes."""
        return fact_codec.decode(self.plain(state))

    def head(self) -> Recorded | None:
        """The last appended fact, or None for an empty ledger."""
        for event in self.events.get(LEDGER_ID, desc=True, limit=1):
            return _as_recorded(event)
        return None

    def read(self, after: int = 0, upto: int | None = None) -> Iterator[Recorded]:
        """Facts in append order with positions in (after, upto]."""
        position = after
        while True:
            page = list(self.events.get(LEDGER_ID, gt=position, lte=upto, limit=500))
            if not page:
                return
            for event in page:
                yield _as_recorded(event)
            position = page[-1].originator_version

    def append(
        self, batch: Sequence[Fact], *, after: int, now: datetime, previous: datetime | None = None
    ) -> list[Recorded]:
        """Append `batch` right after position `after`, stamping `recorded_at`.

        `previous` is the `recorded_at` of the fact at `after` when the caller knows
        it (else it is read). Raises `ConcurrentAppend` when the ledger has moved
        past `after`: the insert of version `after + 1` then conflicts.
        """
        if not batch:
            return []
        if previous is None and after > 0:
            head = self.head()
            head_position = head.position if head else 0
            if head_position != after:
                raise ConcurrentAppend(f"ledger is at {head_position}, expected {after}")
            previous = head.timestamp if head else None
        events: list[Recorded] = []
        for offset, fact in enumerate(batch, start=1):
            recorded_at = next_recorded_at(now, previous)
            previous = recorded_at
            events.append(
                Recorded(
                    originator_id=LEDGER_ID,
                    originator_version=after + offset,
                    timestamp=recorded_at,
                    fact=cast(AnyFact, msgspec.structs.replace(fact, recorded_at=recorded_at)),
                )
            )
        try:
            self.save(*events)
        except IntegrityError:
            raise ConcurrentAppend(f"another writer appended after position {after}") from None
        return events


def _as_recorded(event: object) -> Recorded:
    if not isinstance(event, Recorded):  # pragma: no cover - FactMapper only makes Recorded
        raise TypeError(f"unexpected event {type(event).__name__}")
    return event
