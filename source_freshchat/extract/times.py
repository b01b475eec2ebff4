"""Report times: how far back Freshchat lets a window start, and what the times written in reports mean.

Reports write times in several forms (ISO-8601, a space for the T, epoch numbers), some with no offset, and a poll
echoes the window it was asked in the account's wall clock. These are pure functions: the job queue reads the echo with
them, and the report streams, the change feed and `diagnose` read rows and cut windows with them.
"""

import calendar
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Optional, Tuple

from ..state import moment_of

REACH_MONTHS = 15  # Freshchat refuses a window that starts earlier than this before today
REACH_SLACK = timedelta(days=1)  # stay clear of the boundary, whose exact rule (calendar months, time zone) is not documented
# Consumers keep a row whose time lies this far before their window: Freshchat defines a job's window, perhaps in the
# account's zone (up to 14 h off UTC), and a row read twice is de-duplicated by its key.
ZONE_MARGIN = timedelta(hours=25)
# ISO-8601 or `2019-08-21 05:30:00.0` (a fraction of any length), with or without an offset.
REPORT_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?", re.I)
# Offsets of the world's zones lie within this, in steps of a quarter hour.
MAX_UTC_OFFSET = timedelta(hours=14)
OFFSET_STEP = timedelta(minutes=15)
MAX_DST_SHIFT = timedelta(hours=1)


def reach_floor(now: datetime) -> datetime:
    """The earliest window start Freshchat accepts now, with a day to spare."""
    month_index = now.year * 12 + now.month - 1 - REACH_MONTHS
    year, month = divmod(month_index, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day) + REACH_SLACK


def window_end() -> datetime:
    """Reports are asked up to now: events after it are the next sync's."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def report_time(value: Any, zone: tzinfo = timezone.utc) -> Optional[datetime]:
    """An event time as reports write it, in UTC: ISO-8601 or a space for the T, a time without an offset being in `zone`,
    or epoch seconds or milliseconds."""
    text = str(value).strip()
    if text.isdigit():
        return moment_of(int(text))
    matched = REPORT_TIME.fullmatch(text)
    if matched is None:
        return None
    date, hour, minute, second, fraction, offset = matched.groups()
    try:
        moment = datetime.fromisoformat(date).replace(
            hour=int(hour or 0), minute=int(minute or 0), second=int(second or 0), microsecond=int((fraction or "0")[:6].ljust(6, "0"))
        )
    except ValueError:
        return None
    return moment.replace(tzinfo=zone if offset is None else offset_zone(offset)).astimezone(timezone.utc)


def offset_zone(offset: str) -> tzinfo:
    if offset.upper() == "Z":
        return timezone.utc
    digits = offset[1:].replace(":", "")
    size = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(size if offset[0] == "+" else -size)


def has_offset(value: Any) -> bool:
    """Whether a report time says its own zone: epoch numbers and times with Z or an offset do; wall-clock times do not."""
    text = str(value).strip()
    matched = REPORT_TIME.fullmatch(text)
    return text.isdigit() or (matched is not None and matched.group(6) is not None)


def interval_offsets(interval: Any, start: datetime, end: datetime) -> Optional[Tuple[timedelta, timedelta]]:
    """How far the wall clock of a poll's `interval` echo runs ahead of UTC at each end of the window [start, end] asked.

    The echo is `<start>/<end>` or `<start>_<end>` (Freshchat's example: `2019-08-21 05:30:00.0_...`). An echo written
    with offsets speaks UTC: (0, 0). None where it shows nothing: absent, unreadable, or not the window that was asked
    (an end that is no whole quarter hour away from it). The two ends differ where the window spans a change of DST.
    """
    parts = re.split(r"[/_]", str(interval or "").strip())
    if len(parts) != 2:
        return None
    offsets = []
    for echoed, asked in zip(parts, (start, end)):
        wall = report_time(echoed)
        if wall is None:
            return None
        offset = wall - asked.astimezone(timezone.utc) if not has_offset(echoed) else timedelta(0)
        step = round(offset / OFFSET_STEP) * OFFSET_STEP
        if abs(step) > MAX_UTC_OFFSET or abs(offset - step) > timedelta(minutes=1):
            return None
        offsets.append(step)
    if abs(offsets[1] - offsets[0]) > MAX_DST_SHIFT:
        return None
    return offsets[0], offsets[1]


def zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone.tzname(None) or zone)
