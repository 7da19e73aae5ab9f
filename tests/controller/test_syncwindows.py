"""Sync windows: cron parsing, activity across midnight and DST, Argo CD's CanSync rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tether.controller.syncwindows import (
    MAX_WINDOWS,
    AppTarget,
    CronError,
    CronSchedule,
    SyncWindowError,
    active_at,
    decide,
    next_change,
    next_fire,
    parse_windows,
    prev_fire,
    windows_for,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
APP = AppTarget("shop-prod", "payments", "https://prod.example:6443", "prod")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def window(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "kind": "allow",
        "schedule": "0 9 * * *",
        "duration": "1h",
        "applications": ["*"],
    }
    base.update(fields)
    return base


# ----------------------------------------------------------------------------- cron parsing


def test_plain_fields() -> None:
    s = CronSchedule.parse("5 4 * * *")
    assert s.minutes == {5} and s.hours == {4}
    assert s.days == set(range(1, 32)) and s.months == set(range(1, 13))
    assert s.weekdays == set(range(7)) and s.dom_star and s.dow_star


def test_ranges_steps_lists() -> None:
    s = CronSchedule.parse("*/15 9-17/2 1,15,20-22 */3 1-5")
    assert s.minutes == {0, 15, 30, 45}
    assert s.hours == {9, 11, 13, 15, 17}
    assert s.days == {1, 15, 20, 21, 22}
    assert s.months == {1, 4, 7, 10}
    assert s.weekdays == {1, 2, 3, 4, 5}
    assert not s.dom_star and not s.dow_star


def test_single_value_with_step_runs_to_the_maximum() -> None:
    assert CronSchedule.parse("50/5 * * * *").minutes == {50, 55}


def test_names_any_case_and_question_mark() -> None:
    s = CronSchedule.parse("0 0 ? jan-Mar,DEC MON-fri")
    assert s.months == {1, 2, 3, 12}
    assert s.weekdays == {1, 2, 3, 4, 5}
    assert s.dom_star and not s.dow_star


def test_star_with_step_is_not_a_star() -> None:
    s = CronSchedule.parse("0 0 */2 * 1")
    assert not s.dom_star  # so day-of-month OR day-of-week
    assert s.day_matches(2024, 1, 1)  # day 1 (odd) matches
    assert s.day_matches(2024, 1, 8)  # a Monday
    assert not s.day_matches(2024, 1, 2)


@pytest.mark.parametrize(
    ("descriptor", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_descriptors(descriptor: str, equivalent: str) -> None:
    a, b = CronSchedule.parse(descriptor), CronSchedule.parse(equivalent)
    assert (a.minutes, a.hours, a.days, a.months, a.weekdays) == (
        b.minutes,
        b.hours,
        b.days,
        b.months,
        b.weekdays,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("* * * *", "expected exactly 5 fields, found 4"),
        ("0 0 0 * * *", "expected exactly 5 fields, found 6"),
        ("60 * * * *", "minute: 60 is above the maximum 59"),
        ("* 24 * * *", "hour: 24 is above the maximum 23"),
        ("* * 0 * *", "day-of-month: 0 is below the minimum 1"),
        ("* * * 13 *", "month: 13 is above the maximum 12"),
        ("* * * * 7", "day-of-week: 7 is above the maximum 6"),
        ("5-1 * * * *", "range start 5 is after its end 1"),
        ("*/0 * * * *", "a step must be positive"),
        ("1/2/3 * * * *", "too many slashes"),
        ("1-2-3 * * * *", "too many hyphens"),
        ("x * * * *", 'minute: "x" is not a number'),
        ("* * * foo *", 'month: "foo" is not a number'),
        ("@every 1h", "unknown descriptor"),
        ("@reboot", "unknown descriptor"),
        ("CRON_TZ=UTC 0 0 * * *", "TZ= prefix"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6 *", "never fires"),
        ("0 " * 150, "longer than 200"),
    ],
)
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(CronError, match=message.replace("*", r"\*")):
        CronSchedule.parse(text)


def test_feb_29_and_31st_with_weekday_still_fire() -> None:
    CronSchedule.parse("0 0 29 2 *")
    CronSchedule.parse("0 0 30 2 1")  # OR: every Monday of February


def test_dom_dow_or_when_both_restricted() -> None:
    s = CronSchedule.parse("0 0 13 * 5")  # the 13th or any Friday
    assert s.day_matches(2024, 9, 13)  # a Friday the 13th
    assert s.day_matches(2024, 9, 6)  # a Friday
    assert s.day_matches(2024, 10, 13)  # a Sunday the 13th
    assert not s.day_matches(2024, 9, 7)


def test_dom_dow_and_when_one_is_a_star() -> None:
    s = CronSchedule.parse("0 0 * * 5")
    assert s.day_matches(2024, 9, 6) and not s.day_matches(2024, 9, 13 + 1)
    s = CronSchedule.parse("0 0 13 * ?")
    assert s.day_matches(2024, 10, 13) and not s.day_matches(2024, 9, 6)


# ----------------------------------------------------------------------------- activity


def test_active_within_duration() -> None:
    s = CronSchedule.parse("0 9 * * *")
    hour = timedelta(hours=1)
    assert not active_at(s, hour, ZoneInfo("UTC"), utc(2024, 5, 1, 8, 59))
    assert active_at(s, hour, ZoneInfo("UTC"), utc(2024, 5, 1, 9, 0))
    assert active_at(s, hour, ZoneInfo("UTC"), utc(2024, 5, 1, 9, 59, 59))
    assert not active_at(s, hour, ZoneInfo("UTC"), utc(2024, 5, 1, 10, 0))


def test_active_across_midnight_and_month_end() -> None:
    s = CronSchedule.parse("30 22 31 * *")  # 22:30 on the 31st, for 3h
    three = timedelta(hours=3)
    tz = ZoneInfo("UTC")
    assert active_at(s, three, tz, utc(2024, 8, 1, 1, 0))  # July 31st's window
    assert not active_at(s, three, tz, utc(2024, 8, 1, 1, 30))
    assert not active_at(s, three, tz, utc(2024, 7, 1, 1, 0))  # June has no 31st


def test_zero_and_negative_durations_are_never_active() -> None:
    s = CronSchedule.parse("* * * * *")
    assert not active_at(s, timedelta(0), BERLIN, utc(2024, 1, 1))
    assert not active_at(s, timedelta(hours=-1), BERLIN, utc(2024, 1, 1))


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        active_at(CronSchedule.parse("* * * * *"), timedelta(1), BERLIN, datetime(2024, 1, 1))


def test_time_zone_shifts_the_window() -> None:
    s = CronSchedule.parse("0 22 * * *")
    hour = timedelta(hours=1)
    # 22:00 in Berlin in summer (UTC+2) is 20:00 UTC
    assert active_at(s, hour, BERLIN, utc(2024, 7, 1, 20, 30))
    assert not active_at(s, hour, BERLIN, utc(2024, 7, 1, 22, 30))
    # and in winter (UTC+1) 21:00 UTC
    assert active_at(s, hour, BERLIN, utc(2024, 1, 10, 21, 30))
    assert not active_at(s, hour, BERLIN, utc(2024, 1, 10, 20, 30))


def test_berlin_spring_forward_skips_the_missing_hour() -> None:
    # 2024-03-31: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 never happens
    s = CronSchedule.parse("30 2 * * *")
    assert prev_fire(s, BERLIN, utc(2024, 3, 31, 12), utc(2024, 3, 30)) == utc(2024, 3, 30, 1, 30)
    assert next_fire(s, BERLIN, utc(2024, 3, 31), utc(2024, 4, 2)) == utc(2024, 4, 1, 0, 30)
    assert not active_at(s, timedelta(hours=2), BERLIN, utc(2024, 3, 31, 1, 30))


def test_berlin_window_spanning_the_change_lasts_elapsed_time() -> None:
    # 01:00 CET (00:00 UTC) for 2h of elapsed time ends at 02:00 UTC = 04:00 CEST
    s = CronSchedule.parse("0 1 * * *")
    two = timedelta(hours=2)
    assert active_at(s, two, BERLIN, utc(2024, 3, 31, 1, 59))
    assert not active_at(s, two, BERLIN, utc(2024, 3, 31, 2, 0))


def test_berlin_fall_back_fires_at_both_instants() -> None:
    # 2024-10-27: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:30 happens twice
    s = CronSchedule.parse("30 2 * * *")
    first, second = utc(2024, 10, 27, 0, 30), utc(2024, 10, 27, 1, 30)
    assert next_fire(s, BERLIN, utc(2024, 10, 26, 12), utc(2024, 10, 28)) == first
    assert next_fire(s, BERLIN, first + timedelta(minutes=1), utc(2024, 10, 28)) == second
    assert prev_fire(s, BERLIN, utc(2024, 10, 27, 12), utc(2024, 10, 26)) == second
    ten = timedelta(minutes=10)
    assert active_at(s, ten, BERLIN, first + timedelta(minutes=5))
    assert not active_at(s, ten, BERLIN, first + timedelta(minutes=30))
    assert active_at(s, ten, BERLIN, second + timedelta(minutes=5))


def test_new_york_dst_keeps_wall_clock_time() -> None:
    s = CronSchedule.parse("0 9 * * 1-5")  # 09:00 on weekdays, New York
    hour = timedelta(hours=1)
    # Friday 2024-03-08 is EST (UTC-5); Monday 2024-03-11 is EDT (UTC-4)
    assert active_at(s, hour, NEW_YORK, utc(2024, 3, 8, 14, 30))
    assert active_at(s, hour, NEW_YORK, utc(2024, 3, 11, 13, 30))
    assert not active_at(s, hour, NEW_YORK, utc(2024, 3, 11, 14, 30))
    assert not active_at(s, hour, NEW_YORK, utc(2024, 3, 9, 14, 30))  # Saturday
    # the fall-back night repeats 01:30: it fires at both instants
    repeated = CronSchedule.parse("30 1 3 11 *")
    fires = utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 6, 30)
    assert next_fire(repeated, NEW_YORK, utc(2024, 11, 1), utc(2024, 11, 4)) == fires[0]
    assert (
        next_fire(repeated, NEW_YORK, fires[0] + timedelta(seconds=1), utc(2024, 11, 4))
        == (fires[1])
    )


def test_new_york_skipped_time_does_not_fire_that_year() -> None:
    s = CronSchedule.parse("30 2 10 3 *")  # 2024-03-10 02:30 does not exist in New York
    assert next_fire(s, NEW_YORK, utc(2024, 3, 1), utc(2025, 12, 31)) == utc(2025, 3, 10, 6, 30)


def _brute_prev(s: CronSchedule, tz: ZoneInfo, at: datetime, floor: datetime) -> datetime | None:
    moment = at.replace(second=0, microsecond=0)
    while moment >= floor:
        local = moment.astimezone(tz)
        if (
            s.day_matches(local.year, local.month, local.day)
            and local.hour in s.hours
            and local.minute in s.minutes
        ):
            return moment
        moment -= timedelta(minutes=1)
    return None


def _brute_next(s: CronSchedule, tz: ZoneInfo, at: datetime, ceiling: datetime) -> datetime | None:
    moment = at.replace(second=0, microsecond=0)
    if moment < at:
        moment += timedelta(minutes=1)
    while moment <= ceiling:
        local = moment.astimezone(tz)
        if (
            s.day_matches(local.year, local.month, local.day)
            and local.hour in s.hours
            and local.minute in s.minutes
        ):
            return moment
        moment += timedelta(minutes=1)
    return None


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_search_agrees_with_minute_by_minute_scan_around_transitions(zone: str) -> None:
    tz = ZoneInfo(zone)
    rng = random.Random(zone)
    schedules = [
        "30 2 * * *",
        "*/7 1-3 * * *",
        "0,45 0-4 * * 0",
        "15 * 1,31 * 6",
        "59 23 * * *",
        "0 2 * * *",
    ]
    # days around each zone's 2024 transitions
    transitions = [utc(2024, 3, 31), utc(2024, 10, 27), utc(2024, 3, 10), utc(2024, 11, 3)]
    transitions += [utc(2024, 4, 7), utc(2024, 10, 6)]
    for text in schedules:
        s = CronSchedule.parse(text)
        for day in transitions:
            for _ in range(4):
                at = day + timedelta(minutes=rng.randrange(-1440, 2880), seconds=rng.randrange(60))
                span = timedelta(hours=rng.choice([3, 30]))
                assert prev_fire(s, tz, at, at - span) == _brute_prev(s, tz, at, at - span), (
                    text,
                    at,
                )
                assert next_fire(s, tz, at, at + span) == _brute_next(s, tz, at, at + span), (
                    text,
                    at,
                )


def test_sparse_schedule_search_is_bounded_and_exact() -> None:
    s = CronSchedule.parse("0 0 29 2 *")
    assert prev_fire(s, BERLIN, utc(2027, 6, 1), utc(2000, 1, 1)) == utc(2024, 2, 28, 23)
    assert next_fire(s, BERLIN, utc(2024, 3, 1), utc(2099, 1, 1)) == utc(2028, 2, 28, 23)


# ----------------------------------------------------------------------------- parsing windows


def test_parse_windows_fields_and_defaults() -> None:
    (w,) = parse_windows(
        [
            {
                "kind": "deny",
                "schedule": "0 22 * * *",
                "duration": "1h30m",
                "namespaces": ["default"],
                "manualSync": True,
            }
        ]
    )
    assert w.index == 0 and w.kind == "deny" and w.time_zone == "UTC"
    assert w.duration == timedelta(minutes=90) and w.manual_sync
    assert w.namespaces == ("default",) and w.applications == () and w.clusters == ()
    assert parse_windows(None) == ()
    assert parse_windows([]) == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([window(kind="block")], r'syncWindows\[0\]\.kind: "block" is neither allow nor deny'),
        ([window(), window(kind=None)], r"syncWindows\[1\]\.kind: must be a string"),
        ([window(schedule="61 * * * *")], r"syncWindows\[0\]\.schedule: minute: 61"),
        ([window(schedule=5)], r"syncWindows\[0\]\.schedule: must be a string"),
        ([window(), window(), window(duration="1 hour")], r"syncWindows\[2\]\.duration: invalid"),
        ([window(duration="")], r"syncWindows\[0\]\.duration"),
        ([window(timeZone="Mars/Olympus")], r'syncWindows\[0\]\.timeZone: unknown time zone "Mars'),
        ([window(timeZone="../../etc/passwd")], r"syncWindows\[0\]\.timeZone: unknown"),
        ([window(applications="*")], r"syncWindows\[0\]\.applications: must be a list"),
        ([window(namespaces=[1])], r"syncWindows\[0\]\.namespaces: must be a list"),
        ([window(manualSync="yes")], r"syncWindows\[0\]\.manualSync: must be true or false"),
        (["nope"], r"syncWindows\[0\]: must be an object"),
        ({"kind": "allow"}, r"syncWindows: must be a list"),
        ([window()] * (MAX_WINDOWS + 1), r"at most 100 windows"),
        ([window(schedule="* " * 101)], r"syncWindows\[0\]\.schedule: longer than 200"),
    ],
)
def test_bad_windows_name_index_and_field(raw: object, message: str) -> None:
    with pytest.raises(SyncWindowError, match=message):
        parse_windows(raw)


def test_negative_duration_parses_but_never_activates() -> None:
    (w,) = parse_windows([window(schedule="* * * * *", duration="-1h")])
    assert not w.active(utc(2024, 1, 1))


# ----------------------------------------------------------------------------- matching


def test_matching_by_application_namespace_cluster() -> None:
    ws = parse_windows(
        [
            window(applications=["shop-*"]),
            window(applications=None, namespaces=["pay*"]),
            window(applications=None, clusters=["prod"]),  # destination name
            window(applications=None, clusters=["https://prod.*"]),  # destination server
            window(applications=["other"], namespaces=["other"], clusters=["other"]),
            window(applications=None),  # no lists: applies to nothing
            window(applications=["[bad"]),  # a bad glob matches nothing
        ]
    )
    got = windows_for(ws, APP.name, APP.namespace, APP.server, APP.cluster_name)
    assert [w.index for w in got] == [0, 1, 2, 3]


def test_matching_lists_are_ored_and_a_window_counts_once() -> None:
    ws = parse_windows([window(applications=["shop-prod"], namespaces=["payments"])])
    assert len(windows_for(ws, "shop-prod", "payments", "", "")) == 1
    assert len(windows_for(ws, "x", "payments", "", "")) == 1
    assert len(windows_for(ws, "shop-prod", "x", "", "")) == 1
    assert windows_for(ws, "x", "y", "", "") == ()


def test_and_operator_requires_every_list() -> None:
    ws = parse_windows([window(applications=["shop-*"], namespaces=["payments"], andOperator=True)])
    assert len(windows_for(ws, "shop-prod", "payments", "", "")) == 1
    assert windows_for(ws, "shop-prod", "other", "", "") == ()


def test_empty_cluster_name_or_server_never_matches() -> None:
    ws = parse_windows([window(applications=None, clusters=["*"])])
    assert windows_for(ws, "a", "ns", "", "") == ()
    assert len(windows_for(ws, "a", "ns", "https://x", "")) == 1


# ----------------------------------------------------------------------------- decisions

IN_WINDOW = utc(2024, 5, 1, 9, 30)  # inside "0 9 * * *" for 1h
OUT_OF_WINDOW = utc(2024, 5, 1, 12, 0)


def test_no_windows_allows_everything() -> None:
    d = decide((), APP, IN_WINDOW, manual=False)
    assert d.allowed and d.active == () and "no sync window" in d.reason


def test_deny_wins_over_allow() -> None:
    ws = parse_windows([window(kind="allow"), window(kind="deny", manualSync=False)])
    d = decide(ws, APP, IN_WINDOW, manual=False)
    assert not d.allowed
    assert {w.index for w in d.active} == {0, 1}
    assert "denied" in d.reason and "#1 deny '0 9 * * *'" in d.reason


def test_active_allow_allows() -> None:
    ws = parse_windows([window(kind="allow"), window(kind="allow", schedule="0 20 * * *")])
    d = decide(ws, APP, IN_WINDOW, manual=False)
    assert d.allowed and [w.index for w in d.active] == [0] and "#0 allow" in d.reason


def test_inactive_allows_block() -> None:
    ws = parse_windows([window(kind="allow"), window(kind="deny", schedule="0 20 * * *")])
    d = decide(ws, APP, OUT_OF_WINDOW, manual=False)
    assert not d.allowed and d.active == () and "no allow window active" in d.reason
    assert not decide(ws, APP, OUT_OF_WINDOW, manual=True).allowed


def test_only_inactive_denies_allow() -> None:
    ws = parse_windows([window(kind="deny")])
    assert decide(ws, APP, OUT_OF_WINDOW, manual=False).allowed
    assert not decide(ws, APP, IN_WINDOW, manual=False).allowed


def test_manual_sync_during_deny_needs_every_active_deny_to_allow_it() -> None:
    one = parse_windows([window(kind="deny", manualSync=True)])
    assert decide(one, APP, IN_WINDOW, manual=True).allowed
    assert not decide(one, APP, IN_WINDOW, manual=False).allowed
    both = parse_windows(
        [window(kind="deny", manualSync=True), window(kind="deny", manualSync=False)]
    )
    assert not decide(both, APP, IN_WINDOW, manual=True).allowed
    # an inactive deny without manualSync does not count
    mixed = parse_windows(
        [
            window(kind="deny", manualSync=True),
            window(kind="deny", schedule="0 20 * * *", manualSync=False),
        ]
    )
    d = decide(mixed, APP, IN_WINDOW, manual=True)
    assert d.allowed and "manualSync" in d.reason


def test_manual_sync_outside_allow_needs_every_inactive_allow_to_allow_it() -> None:
    ws = parse_windows([window(manualSync=True), window(schedule="0 20 * * *", manualSync=True)])
    assert decide(ws, APP, OUT_OF_WINDOW, manual=True).allowed
    assert not decide(ws, APP, OUT_OF_WINDOW, manual=False).allowed
    ws = parse_windows([window(manualSync=True), window(schedule="0 20 * * *")])
    assert not decide(ws, APP, OUT_OF_WINDOW, manual=True).allowed


def test_windows_of_other_apps_do_not_count() -> None:
    ws = parse_windows([window(kind="deny", applications=["other-*"]), window(kind="allow")])
    d = decide(ws, APP, IN_WINDOW, manual=False)
    assert d.allowed and [w.index for w in d.matching] == [1]


# ----------------------------------------------------------------------------- next_change


def test_next_change_is_the_next_start_or_end() -> None:
    ws = parse_windows([window()])
    assert next_change(ws, APP, utc(2024, 5, 1, 8, 0)) == utc(2024, 5, 1, 9, 0)
    assert next_change(ws, APP, utc(2024, 5, 1, 9, 0)) == utc(2024, 5, 1, 10, 0)
    assert next_change(ws, APP, utc(2024, 5, 1, 10, 0)) == utc(2024, 5, 2, 9, 0)


def test_next_change_takes_the_earliest_window_and_respects_time_zones() -> None:
    ws = parse_windows(
        [
            window(kind="allow", schedule="0 9 * * *"),
            window(kind="deny", schedule="0 9 * * *", timeZone="Europe/Berlin"),
        ]
    )
    assert next_change(ws, APP, utc(2024, 5, 1, 5, 0)) == utc(2024, 5, 1, 7, 0)
    assert next_change(ws, APP, utc(2024, 5, 1, 7, 30)) == utc(2024, 5, 1, 8, 0)


def test_next_change_follows_overlapping_fires() -> None:
    # fires every 15 minutes for 20 minutes between 09:00 and 09:45: active 09:00-10:05
    ws = parse_windows([window(schedule="*/15 9 * * *", duration="20m")])
    assert next_change(ws, APP, utc(2024, 5, 1, 9, 1)) == utc(2024, 5, 1, 10, 5)


def test_next_change_none_when_nothing_changes() -> None:
    assert next_change((), APP, utc(2024, 1, 1)) is None
    always = parse_windows([window(schedule="* * * * *", duration="1h")])
    assert next_change(always, APP, utc(2024, 1, 1), horizon=timedelta(days=2)) is None
    yearly = parse_windows([window(schedule="0 0 1 1 *")])
    assert next_change(yearly, APP, utc(2024, 1, 2), horizon=timedelta(days=30)) is None
    other = parse_windows([window(applications=["other"])])
    assert next_change(other, APP, utc(2024, 1, 1)) is None


def test_next_change_across_dst() -> None:
    ws = parse_windows([window(schedule="30 2 * * *", timeZone="Europe/Berlin")])
    # the 2024-03-31 02:30 does not exist: next start is 2024-04-01 02:30 CEST
    assert next_change(ws, APP, utc(2024, 3, 30, 12)) == utc(2024, 4, 1, 0, 30)
    assert next_change(ws, APP, utc(2024, 3, 30, 23)) == utc(2024, 4, 1, 0, 30)


def test_next_change_bounds_long_chains_with_an_early_answer() -> None:
    # back-to-back one-minute fires never end; past MAX_CHAIN steps the answer is early, not late
    ws = parse_windows([window(schedule="* * * * *", duration="1m")])
    now = utc(2024, 1, 1)
    change = next_change(ws, APP, now)
    assert change is not None and now < change < now + timedelta(days=30)
