"""Reading and comparing the three times of a fact.

- A date-only `known_on` or `occurred_on` means the start of that day in the
  ledger's time zone.
- A date-only "as known on" X means the end of that day (its last microsecond).
- A datetime must carry an offset: a naive datetime is ambiguous evidence.

Instants are compared as aware datetimes; the read side stores them as integer
microseconds since the Unix epoch (`to_micros`) so that point-in-time queries
are plain indexed comparisons.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidTime, StoreError

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called `name`, or an `InvalidTime` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTime(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None


def is_date_only(text: str) -> bool:
    """True for `YYYY-MM-DD` without a time part."""
    return bool(_DATE_ONLY.match(text.strip()))


def parse_date(text: str, what: str) -> date:
    """A calendar date `YYYY-MM-DD`."""
    if not isinstance(text, str) or not is_date_only(text):
        raise InvalidTime(f"{what}: expected a date YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidTime(f"{what}: {text!r} is not a valid date") from None


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`."""
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The last microsecond of `day` in `tz` (the day may be 23 or 25 hours long)."""
    following = start_of_day(day + timedelta(days=1), tz)
    return (following.astimezone(UTC) - ONE_MICROSECOND).astimezone(tz)


def parse_instant(text: str, what: str, tz: ZoneInfo, *, date_means: str = "start") -> datetime:
    """An aware datetime from ISO 8601 text.

    A date alone means the start (`date_means="start"`, for facts) or the end
    (`date_means="end"`, for "as known on") of that day in `tz`. The instant must
    also exist in UTC (years 1 to 9999): it is compared and printed in UTC.
    """
    try:
        moment = _instant(text, what, tz, date_means)
        moment.astimezone(UTC)
    except OverflowError:
        raise InvalidTime(f"{what}: {text!r} is out of range (years 1 to 9999, in UTC too)") from None
    return moment


def _instant(text: str, what: str, tz: ZoneInfo, date_means: str) -> datetime:
    if not isinstance(text, str) or not text.strip():
        raise InvalidTime(f"{what}: expected a date or a datetime with offset, got {text!r}")
    raw = text.strip()
    if is_date_only(raw):
        day = parse_date(raw, what)
        return start_of_day(day, tz) if date_means == "start" else end_of_day(day, tz)
    candidate = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidTime(f"{what}: {raw!r} is not an ISO 8601 date or datetime") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidTime(f"{what}: {raw!r} has no UTC offset (add Z or +01:00, or give a date)")
    return moment


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch for an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime `micros` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, seconds precision unless microseconds matter."""
    utc = moment.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.isoformat(timespec=spec).replace("+00:00", "Z")


def to_minute(moment: datetime, tz: ZoneInfo) -> str:
    """`2024-02-01 23:59`: a time for people, in the ledger's zone `tz` (which the message names once)."""
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


CLOCK_SKEW: Final = timedelta(days=1)
"""A stored `recorded_at` further ahead of this machine's clock than this was not written by
the ledger: `audit verify` fails on it and no fact is appended after it."""


def next_recorded_at(now: datetime, previous: datetime | None) -> datetime:
    """The ledger clock: `now` in UTC, but strictly after the previous append."""
    current = now.astimezone(UTC)
    if previous is not None and current <= previous:
        try:
            return previous.astimezone(UTC) + ONE_MICROSECOND
        except OverflowError:
            raise StoreError(
                f"the last fact was recorded at {iso_utc(previous)}, after which no time exists:"
                " the store was edited outside the ledger (run: exposure audit verify)"
            ) from None
    return current
