"""When someone can write back to a customer, from the company's working
time: plain Python over the working intervals (holidays already taken
out), so that the answer a customer gets is one we can keep."""

from datetime import timedelta

TODAY = "today"
TOMORROW_MORNING = "tomorrow_morning"
TOMORROW_AFTERNOON = "tomorrow_afternoon"
ON_DAY = "on_day"
# A working interval starting before this hour is "the morning".
NOON = 12


def reply_slot(now, intervals):
    """``(kind, value)`` of when the team next works, as a customer hears
    it, or ``None`` when no working time comes at all:

    - ``("today", end)``: working time is left today; ``end`` is when
      today's work ends (a ``datetime``);
    - ``("tomorrow_morning", start)`` / ``("tomorrow_afternoon", start)``;
    - ``("on_day", start)``: a later day.

    ``now`` and ``intervals`` (``(start, stop)`` pairs, sorted) are
    datetimes of the same time zone, the company's."""
    today = now.date()
    upcoming = [(start, stop) for start, stop in intervals if stop > now]
    if not upcoming:
        return None
    start = max(upcoming[0][0], now)
    day = start.date()
    if day == today:
        end = max(stop for begin, stop in upcoming if begin.date() == today)
        return TODAY, end
    if day == today + timedelta(days=1):
        return (TOMORROW_MORNING if start.hour < NOON else TOMORROW_AFTERNOON), start
    return ON_DAY, start
