"""Late-payment interest, counted day by day as an accountant checks it by hand.

Interest runs on each day ``d`` after the due date up to and including the day
of the computation (``due < d <= as_of``), on what was owed that day: the
amount less the payments dated strictly before ``d``. A payment made on day D
therefore still bears interest for day D: an invoice paid 10 days after its due
date bears 10 days of interest, as the EU Late Payment Directive counts them:
from the day after the due date until payment. Payments on or before the due
date simply reduce what is owed.

Consecutive days with the same balance and the same annual rate form one
period, whose interest is ``balance * rate / 100 * days / day_count``. Amounts
are left unrounded: the caller rounds with the currency of the invoice.

No Odoo import: ``account.move._dunning_late_charges`` feeds it the instalments
and their payments.
"""

import bisect
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Period:
    """Days, ``start`` to ``end`` both included, on the same balance at the
    same annual ``rate`` (percent)."""

    start: date
    end: date
    days: int
    balance: float
    rate: float
    interest: float


@dataclass(frozen=True)
class Accrual:
    """The interest of one instalment: ``total`` (unrounded) and the
    ``periods`` it adds up."""

    total: float
    periods: tuple


class MissingReferenceRate(LookupError):
    """No reference rate is known for the half-year starting on
    ``half_year_start``."""

    def __init__(self, half_year_start):
        super().__init__(half_year_start)
        self.half_year_start = half_year_start


def accrue(due, amount, payments, as_of, rate_on, day_count=365):
    """Interest on ``amount`` due on ``due``, counted up to ``as_of``.

    :param payments: ``[(date, amount), ...]``, in any order; those dated after
        ``as_of`` change nothing.
    :param rate_on: ``rate_on(day)``, the annual rate in percent for ``day``
        (see :func:`fixed_rate_on` and :func:`statutory_rate_on`); only asked
        about days on which something is owed.
    :param day_count: the days of the year the rate is divided by.
    """
    periods = []
    day = due + timedelta(days=1)
    paid_before = sorted(payments)
    paid = 0.0
    next_payment = 0
    current = None  # [start, end, balance, rate] of the period being built
    while day <= as_of:
        while next_payment < len(paid_before) and paid_before[next_payment][0] < day:
            paid += paid_before[next_payment][1]
            next_payment += 1
        balance = max(amount - paid, 0.0)
        if balance <= 0:
            break
        rate = rate_on(day)
        if current and current[2] == balance and current[3] == rate:
            current[1] = day
        else:
            if current:
                periods.append(_period(*current, day_count))
            current = [day, day, balance, rate]
        day += timedelta(days=1)
    if current:
        periods.append(_period(*current, day_count))
    return Accrual(total=sum(p.interest for p in periods), periods=tuple(periods))


def _period(start, end, balance, rate, day_count):
    days = (end - start).days + 1
    return Period(
        start=start,
        end=end,
        days=days,
        balance=balance,
        rate=rate,
        interest=balance * rate / 100 * days / day_count,
    )


def rate_in_force(changes, day):
    """The rate in force on ``day``, from ``changes``
    (``[(effective date, percent), ...]``, in any order): the one of the latest
    change on or before ``day``; ``None`` before the first."""
    ordered = sorted(changes)
    position = bisect.bisect_right([effective for effective, _ in ordered], day)
    return ordered[position - 1][1] if position else None


def half_year_start(day):
    """1 January or 1 July: the first day of the half-year of ``day``."""
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def statutory_rate_on(changes, points=8.0):
    """``rate_on(day)`` for the statutory interest of the EU Late Payment
    Directive (2011/7/EU, articles 2 and 3): the reference rate in force on
    the first day of the half-year of ``day`` (1 January or 1 July), plus
    ``points`` percentage points (8 in the directive; a member state may set
    more).

    ``changes`` (``[(effective date, percent), ...]``) are taken as complete up
    to the latest of their dates, and not beyond: a half-year that starts after
    it, or before the first, raises :class:`MissingReferenceRate` rather than
    assuming the rate did not change. Record the rate in force on 1 January and
    1 July even when it is unchanged to cover a half-year.
    """
    ordered = sorted(changes)
    first = ordered[0][0] if ordered else None
    last = ordered[-1][0] if ordered else None
    by_half_year = {}

    def rate_on(day):
        reference_day = half_year_start(day)
        if reference_day not in by_half_year:
            if first is None or not first <= reference_day <= last:
                raise MissingReferenceRate(reference_day)
            by_half_year[reference_day] = rate_in_force(ordered, reference_day) + points
        return by_half_year[reference_day]

    return rate_on


def fixed_rate_on(percent):
    """``rate_on(day)`` for a fixed annual rate of ``percent``."""

    def rate_on(day):
        return percent

    return rate_on
