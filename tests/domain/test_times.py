"""SPEC §2: the three times of a fact, read in the ledger's time zone (here Europe/Paris)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest

from domain import times
from domain.errors import InvalidTime
from domain.parse import Context, parse_fact
from projections import queries
from tests.support import INCIDENT, PARIS, append, fact, opened, opening

TZ = ZoneInfo(PARIS)
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def context(now: datetime = NOW) -> Context:
    return Context(tz=TZ, now=now, actor="tester", nir_key=b"k" * 32, new_id=lambda: "generated")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# -- reading times --------------------------------------------------------------------


def test_a_date_only_known_on_is_the_start_of_that_day_in_the_ledger_zone():
    parsed = parse_fact(
        fact("attack-discovered", incident=INCIDENT, operator="V", occurred_on="2024-01-22", known_on="2024-01-29"),
        context(),
    )

    assert parsed.fact.known_on == utc(2024, 1, 28, 23, 0)
    assert parsed.fact.occurred_on == utc(2024, 1, 21, 23, 0)


def test_a_date_only_as_known_on_is_the_last_microsecond_of_that_day():
    moment = times.parse_instant("2024-01-29", "--as-known-on", TZ, date_means="end")

    assert moment == utc(2024, 1, 29, 22, 59, 59, 999_999)


def test_a_datetime_with_an_offset_is_taken_as_given():
    moment = times.parse_instant("2024-01-29T15:00:00+01:00", "known_on", TZ)

    assert moment == utc(2024, 1, 29, 14, 0)


def test_a_z_suffix_means_utc():
    assert times.parse_instant("2024-01-29T15:00:00Z", "known_on", TZ) == utc(2024, 1, 29, 15, 0)


def test_a_datetime_without_offset_is_rejected():
    with pytest.raises(InvalidTime, match="no UTC offset"):
        times.parse_instant("2024-01-29T15:00:00", "known_on", TZ)


@pytest.mark.parametrize("text", ["yesterday", "2024-02-30", "2024-13-01", "29/01/2024", ""])
def test_malformed_times_are_rejected(text):
    with pytest.raises(InvalidTime):
        times.parse_instant(text, "known_on", TZ)


def test_an_unknown_time_zone_is_rejected_by_name():
    with pytest.raises(InvalidTime, match="Mars/Olympus"):
        times.zone("Mars/Olympus")


def test_microseconds_round_trip():
    moment = utc(2024, 2, 1, 9, 30, 15, 123_456)

    assert times.from_micros(times.to_micros(moment)) == moment
    assert times.to_micros(utc(1970, 1, 1)) == 0


def test_the_ledger_clock_is_strictly_increasing_even_when_the_wall_clock_is_not():
    previous = utc(2024, 2, 1, 12, 0)

    assert times.next_recorded_at(previous - timedelta(seconds=5), previous) == previous + times.ONE_MICROSECOND
    assert times.next_recorded_at(previous + timedelta(seconds=5), previous) == previous + timedelta(seconds=5)


# -- a day with a DST change ----------------------------------------------------------


def test_the_spring_forward_day_is_23_hours_long():
    day = date(2024, 3, 31)

    start = times.start_of_day(day, TZ)
    end = times.end_of_day(day, TZ)

    assert start.astimezone(UTC) == utc(2024, 3, 30, 23, 0)
    assert end.astimezone(UTC) == utc(2024, 3, 31, 21, 59, 59, 999_999)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23) - times.ONE_MICROSECOND


def test_the_fall_back_day_is_25_hours_long():
    day = date(2024, 10, 27)

    start = times.start_of_day(day, TZ)
    end = times.end_of_day(day, TZ)

    assert start.astimezone(UTC) == utc(2024, 10, 26, 22, 0)
    assert end.astimezone(UTC) == utc(2024, 10, 27, 22, 59, 59, 999_999)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25) - times.ONE_MICROSECOND


# -- the rules on a fact's times ------------------------------------------------------


def test_a_future_known_on_is_rejected():
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()

    with pytest.raises(InvalidTime, match="in the future"):
        parse_fact(fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on=tomorrow), context())


def test_a_known_on_one_second_in_the_future_is_rejected_and_now_is_accepted():
    later = (NOW + timedelta(seconds=1)).isoformat()

    with pytest.raises(InvalidTime, match="in the future"):
        parse_fact(fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on=later), context())
    parsed = parse_fact(fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on=NOW.isoformat()), context())
    assert parsed.fact.known_on == NOW


def test_known_on_before_occurred_on_is_rejected():
    with pytest.raises(InvalidTime, match="before occurred_on"):
        parse_fact(
            fact("insurer-informed", incident=INCIDENT, insurer="mh", occurred_on="2024-02-02", known_on="2024-02-01"),
            context(),
        )


def test_known_on_the_same_day_as_a_date_only_occurred_on_is_accepted():
    parsed = parse_fact(
        fact(
            "insurer-informed",
            incident=INCIDENT,
            insurer="mh",
            occurred_on="2024-02-01",
            known_on="2024-02-01T15:00:00+01:00",
        ),
        context(),
    )

    assert parsed.fact.occurred_on == utc(2024, 1, 31, 23, 0)


def test_occurred_on_defaults_to_the_known_on_instant_itself():
    parsed = parse_fact(
        fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01T00:30:00+01:00"), context()
    )

    assert parsed.fact.occurred_on == parsed.fact.known_on == utc(2024, 1, 31, 23, 30)


def test_a_date_only_known_on_gives_an_occurred_on_at_the_start_of_that_day_in_the_ledger_zone():
    parsed = parse_fact(fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01"), context())

    assert parsed.fact.occurred_on == parsed.fact.known_on == times.start_of_day(date(2024, 2, 1), TZ)


def test_known_on_defaults_to_now():
    parsed = parse_fact(fact("insurer-informed", incident=INCIDENT, insurer="mh"), context())

    assert parsed.fact.known_on == NOW
    assert parsed.fact.occurred_on == NOW


def test_a_datetime_known_on_without_offset_is_rejected_in_a_fact():
    with pytest.raises(InvalidTime, match="no UTC offset"):
        parse_fact(fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01T10:00:00"), context())


# -- as known on, through a real store ------------------------------------------------


async def test_a_fact_known_on_a_date_is_visible_from_the_start_of_that_day_in_paris(store_path):
    informed = fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01")
    await append(store_path, opening(), informed)

    async with opened(store_path) as store:
        day_before = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, await store.horizon("2024-01-31")))
        last_utc_hour = msgspec.to_builtins(
            await queries.summary(store.db, INCIDENT, await store.horizon("2024-01-31T22:59:59Z"))
        )
        first_paris_hour = msgspec.to_builtins(
            await queries.summary(store.db, INCIDENT, await store.horizon("2024-01-31T23:00:00Z"))
        )

    assert day_before["as_known_on"] == "2024-01-31T22:59:59.999999Z"
    assert day_before["insurers"]["informed"] == []
    assert last_utc_hour["insurers"]["informed"] == []
    assert first_paris_hour["insurers"]["informed"] == ["mh"]


async def test_on_the_spring_forward_day_a_date_means_its_23_hours(store_path):
    await append(
        store_path,
        opening(),
        fact("insurer-informed", incident=INCIDENT, insurer="early", known_on="2024-03-31T00:30:00+01:00"),
        fact("insurer-informed", incident=INCIDENT, insurer="late", known_on="2024-03-31T23:30:00+02:00"),
    )

    async with opened(store_path) as store:
        on_the_day = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, await store.horizon("2024-03-31")))
        day_before = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, await store.horizon("2024-03-30")))

    assert on_the_day["as_known_on"] == "2024-03-31T21:59:59.999999Z"
    assert on_the_day["insurers"]["informed"] == ["early", "late"]
    assert day_before["insurers"]["informed"] == []


async def test_an_as_known_on_datetime_without_offset_is_rejected(store_path):
    async with opened(store_path) as store:
        with pytest.raises(InvalidTime, match="no UTC offset"):
            await store.horizon("2024-02-01T12:00:00")
