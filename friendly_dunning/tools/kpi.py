"""Collection KPI maths: plain Python with no ORM.

The ``dunning.kpi`` model gathers the balances with a few aggregate queries and
hands them to these functions, so every formula can be read and tested alone.
Amounts are in one company currency; a ratio whose denominator is zero is
``None`` (nothing to measure), never zero.

One treatment of the ledger holds for every figure: receivables are what
customers owe on their invoices, instalment by instalment (each receivable
line of a customer invoice with its due date and residual). A payment or a
credit note lowers an instalment once applied to it, from the date of the
reconciliation (the later of the two documents' dates); until then it is
an unapplied credit, kept apart and deducted from no figure.
Credit sales are the invoices issued (credit notes do not lower them). So
receivables are the not-due plus the overdue instalments, and what is owed
at the end of a period never exceeds what was owed at its start plus what
was invoiced in it.
"""

import calendar
from datetime import date, timedelta

# A payment counts for a message when it arrives this many days after it at most.
PAID_WITHIN_DAYS = 7
# A customer is retained when they buy again this many days after settling.
RETENTION_DAYS = 183
# How far back the countback DSO walks before giving up, in months.
COUNTBACK_MAX_MONTHS = 24


def ratio(part, whole):
    """``part / whole``, or ``None`` when there is nothing to divide by."""
    if not whole:
        return None
    return part / whole


def period_days(date_from, date_to):
    """Days in a period, both ends included."""
    return (date_to - date_from).days + 1


def previous_period(date_from, date_to):
    """The period of the same length just before ``date_from``; whole calendar
    months map to the same number of whole months before them."""
    if date_from.day == 1 and date_to == month_end(date_to):
        months = (date_to.year - date_from.year) * 12 + date_to.month - date_from.month
        start = add_months(date_from, -(months + 1))
        return start, date_from - timedelta(days=1)
    length = period_days(date_from, date_to)
    return date_from - timedelta(days=length), date_from - timedelta(days=1)


def month_end(day):
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day, months):
    """``day`` moved by ``months`` calendar months, clamped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def last_months(day, count):
    """The ``count`` calendar months ending with ``day``'s month, oldest first,
    as ``(first day, last day)`` pairs."""
    first = day.replace(day=1)
    months = []
    for back in range(count - 1, -1, -1):
        start = add_months(first, -back)
        months.append((start, month_end(start)))
    return months


def countback_windows(date_to, count=COUNTBACK_MAX_MONTHS):
    """Month-long windows walking back from ``date_to``, newest first:
    ``(start, end)`` with ``end`` of the first one being ``date_to``."""
    windows = []
    end = date_to
    for back in range(1, count + 1):
        start = add_months(date_to, -back) + timedelta(days=1)
        windows.append((start, end))
        end = start - timedelta(days=1)
    return windows


def open_amounts(pieces, day_count):
    """What was owed on each of ``day_count`` days, from the pieces of the
    ledger read once for all of them.

    A piece is an amount owed from one day to another: what an instalment
    still owes today, or a payment or credit note applied to it (owed until
    the day it was applied); or, for a credit, what was not yet applied.
    ``pieces`` holds ``(credit, first_open, end_open, first_overdue,
    first_over_90, amount)``, the days given as indexes: the amount is owed
    on the days ``first_open <= i < end_open``, past its due date from
    ``first_overdue`` on and more than 90 days past it from
    ``first_over_90`` on; a credit (``credit`` true) has no due date.

    Returns one dict per day: ``current`` (not due), ``overdue``,
    ``over_90`` (part of ``overdue``) and ``unapplied`` (credits not yet
    applied, a positive amount). The receivables of a day are ``current +
    overdue``.
    """
    days = [
        {"current": 0.0, "overdue": 0.0, "over_90": 0.0, "unapplied": 0.0}
        for _day in range(day_count)
    ]
    for credit, first_open, end_open, first_overdue, first_over_90, amount in pieces:
        for index in range(first_open, min(end_open, day_count)):
            day = days[index]
            if credit:
                day["unapplied"] += amount
            elif index < first_overdue:
                day["current"] += amount
            else:
                day["overdue"] += amount
                if index >= first_over_90:
                    day["over_90"] += amount
    return days


def dso(receivables, credit_sales, days):
    """Days sales outstanding: receivables at period end / credit sales in the
    period x days in the period."""
    share = ratio(receivables, credit_sales)
    return None if share is None else share * days


def best_possible_dso(current_receivables, credit_sales, days):
    """The DSO if every customer paid exactly on the due date: receivables not
    yet due / credit sales x days. The not-due instalments are part of the
    receivables, so it never exceeds the DSO."""
    return dso(current_receivables, credit_sales, days)


def average_days_delinquent(dso_value, best_dso_value):
    """ADD = DSO - best possible DSO, i.e. overdue receivables / credit sales
    x days: never negative."""
    if dso_value is None or best_dso_value is None:
        return None
    return dso_value - best_dso_value


def dso_countback(receivables, monthly_sales):
    """Countback DSO: walk back month by month from the period end, taking each
    month's credit sales off the receivables until they are used up.

    ``monthly_sales`` is a list of ``(days in window, credit sales)``, newest
    first. A month whose sales exceed what is left counts for its share of days.
    ``None`` when there are no receivables to explain or no sales at all.
    """
    if receivables <= 0 or not any(sales > 0 for _days, sales in monthly_sales):
        return None if receivables > 0 else 0.0
    left, days = receivables, 0.0
    for window_days, sales in monthly_sales:
        if sales <= 0:
            days += window_days
            continue
        if left <= sales:
            return days + left / sales * window_days
        left -= sales
        days += window_days
    return days


def cei(
    opening_receivables, credit_sales, closing_receivables, closing_current, digits=2
):
    """Collection effectiveness index, in percent: (opening AR + credit sales -
    closing total AR) / (opening AR + credit sales - closing current AR) x 100.

    Between 0 and 100 with receivables counted as open instalments: closing
    AR is at least its not-due part, and at most opening AR + credit sales.
    The differences are amounts of money, rounded to the currency's
    ``digits`` like the amounts they are made of (so that float arithmetic
    cannot take them a fraction of a cent below zero)."""
    available = opening_receivables + credit_sales
    collectable = round(available - closing_current, digits)
    # + 0.0: a difference rounded from a hair below zero is 0, not -0.
    collected = round(available - closing_receivables, digits) + 0.0
    share = ratio(collected, collectable)
    return None if share is None else share * 100


def collection_rate(collected, opening_receivables, credit_sales, digits=2):
    """Collected in the period / (opening AR + invoiced in the period):
    between 0 and 1, the payments being applied to those invoices. The sum is
    rounded to the currency's ``digits``, like the amounts it adds up."""
    return ratio(collected, round(opening_receivables + credit_sales, digits))


def change(current, previous):
    """Relative change from ``previous`` to ``current`` (0.1 = +10 %), or
    ``None`` when either is unknown or the previous one is zero."""
    if current is None or previous is None or not previous:
        return None
    return (current - previous) / abs(previous)


def channel_figures(sent, delivered, read, replied, paid, cost, collected):
    """Rates of one channel from its counts: delivery, read and reply rates
    over what was sent or delivered, the share of delivered messages followed
    by a payment, and the amount collected per unit of cost."""
    return {
        "sent": sent,
        "delivered": delivered,
        "read": read,
        "replied": replied,
        "paid_within_7_days": paid,
        "cost": cost,
        "amount_collected": collected,
        "delivery_rate": ratio(delivered, sent),
        "read_rate": ratio(read, delivered),
        "reply_rate": ratio(replied, delivered),
        "effectiveness": ratio(paid, delivered),
        "collected_per_cost": ratio(collected, cost),
    }
