"""The cash expected in, week by week: the 13-week cash-in forecast.

Plain Python with no ORM. Its input is the open invoices' residual amounts with
their company and currency, and, per invoice, the probability of payment in
each week (``PaymentForecaster.weekly_probabilities`` in payment_forecast.py,
which also defines the weeks: Monday to Sunday, week 1 from the day after the
forecast's date to the Sunday after it). Its output, per company and currency,
is the amount expected in each week with a range, and the amount expected after
the last week and never.

An invoice is paid in full in at most one week: its receipts are a draw with the
invoice's probabilities, independent of the other invoices'. A week's receipts
are then a sum of independent amounts, each the residual with the week's
probability and nothing otherwise, whose mean and variance are exact sums:
``sum(amount * p)`` and ``sum(amount² * p * (1 - p))``.

The range (10th to 90th percentile by default) is the normal distribution of
that mean and variance, clipped to what the week's invoices can bring in at
all. Chosen over a simulation: it is exact in its mean and variance,
deterministic, and one pass over the invoices, where a simulation in plain
Python needs about a thousand draws of every invoice for stable 10 % tails (a
hundred million draws for 100,000 invoices) and gives a slightly different
range on every run unless seeded. The normal shape is a good approximation
when a week holds many invoices of comparable amounts (a sum of many small
independent draws); it is rough for a week ruled by one or two large invoices,
where the true distribution is lumpy and the clipping is what keeps the range
possible.

That range holds only the chance of which invoices pay. It does not hold the
error of the probabilities themselves, nor the ways payments move together (a
customer settling several invoices in one payment run, a slow month for
everyone), so fewer weeks than its nominal 80 % fall inside it. ``widening``
scales its standard deviation by how far the same forecast, made some weeks
earlier, was off in the weeks since, in its own standard deviations
(``range_widening``): the spread the company's receipts actually had around
the forecast, which the caller measures on its own ledger.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from statistics import NormalDist

WEEKS = 13  # the usual horizon: a quarter
BAND = (0.1, 0.9)  # the range's quantiles


@dataclass(frozen=True)
class Receivable:
    """What an open invoice (or instalment) still brings in."""

    key: object  # the caller's id, as on its OpenInvoice
    company: object
    currency: object
    amount_residual: float  # in ``currency``


@dataclass(frozen=True)
class WeekReceipts:
    number: int  # 1 for the week of the day after the forecast's date
    start: date  # the first day a payment counts in it
    end: date  # its Sunday
    expected: float
    low: float  # the range's lower end (BAND[0] quantile)
    high: float
    invoices: int  # invoices with a chance of payment in the week
    # the receipts' standard deviation, payments independent (before widening)
    deviation: float


@dataclass(frozen=True)
class CashForecast:
    """The receipts expected from one company's open invoices in one currency."""

    company: object
    currency: object
    open_amount: float  # the residuals, all of them
    weeks: tuple  # WeekReceipts, in order
    later: float  # expected after the last week
    never: float  # expected never to be paid


def week_starts(as_of, ends):
    """The first day of each week ending on ``ends``: the day after ``as_of``
    for the first, the day after the previous end for the others."""
    return [as_of + timedelta(days=1)] + [end + timedelta(days=1) for end in ends[:-1]]


class _Sum:
    """A sum of independent draws, each bringing in an amount with a
    probability and nothing otherwise."""

    __slots__ = ("count", "expected", "highest", "lowest", "variance")

    def __init__(self):
        self.expected = self.variance = self.lowest = self.highest = 0.0
        self.count = 0

    def add(self, amount, probability):
        self.expected += amount * probability
        self.variance += amount * amount * probability * (1 - probability)
        if amount < 0:
            self.lowest += amount
        else:
            self.highest += amount
        self.count += 1

    def range(self, band, widening):
        """(low, high): the normal distribution's quantiles, its standard
        deviation times ``widening``, within what the draws can bring in."""
        if self.variance <= 0:
            return self.expected, self.expected
        normal = NormalDist(self.expected, widening * self.variance**0.5)
        return (
            max(normal.inv_cdf(band[0]), self.lowest),
            min(normal.inv_cdf(band[1]), self.highest),
        )


class _Group:
    """One company's open invoices in one currency, summed as they come."""

    def __init__(self, weeks):
        self.open_amount = self.later = self.never = 0.0
        self.weeks = [_Sum() for _week in range(weeks)]

    def add(self, amount, chances):
        self.open_amount += amount
        self.later += amount * chances.later
        self.never += amount * chances.never
        for week, probability in zip(self.weeks, chances.periods, strict=True):
            if probability > 0:
                week.add(amount, probability)


def forecast_receipts(receivables, probabilities, as_of, ends, band=BAND, widening=1.0):
    """A CashForecast per company and currency, in order of first appearance.

    ``receivables``: Receivable per open invoice; ``probabilities``: for the
    same invoices in the same order, objects with the invoice's ``key``, its
    probability of payment in each week ``periods`` (a sequence as long as
    ``ends``), ``later`` and ``never`` (PeriodProbabilities); ``as_of``: the
    forecast's date; ``ends``: the weeks' last days (payment_forecast.week_ends);
    ``widening``: the range's standard deviation over the one of independent
    payments (``range_widening``).
    """
    groups = {}  # (company, currency): _Group
    for receivable, chances in zip(receivables, probabilities, strict=True):
        if receivable.key != chances.key:
            raise ValueError(
                f"receivable {receivable.key!r} paired with the probabilities "
                f"of {chances.key!r}"
            )
        key = (receivable.company, receivable.currency)
        if key not in groups:
            groups[key] = _Group(len(ends))
        groups[key].add(receivable.amount_residual, chances)
    starts = week_starts(as_of, ends)
    return [
        CashForecast(
            company=company,
            currency=currency,
            open_amount=group.open_amount,
            weeks=tuple(
                WeekReceipts(
                    number,
                    start,
                    end,
                    week.expected,
                    *week.range(band, widening),
                    week.count,
                    week.variance**0.5,
                )
                for number, (start, end, week) in enumerate(
                    zip(starts, ends, group.weeks, strict=True), start=1
                )
            ),
            later=group.later,
            never=group.never,
        )
        for (company, currency), group in groups.items()
    ]


def range_widening(past_weeks):
    """How much wider than independent payments' the range should be: the
    root mean square of the errors of ``past_weeks``, ``(WeekReceipts,
    received)`` pairs of a forecast made earlier, each in the week's standard
    deviation; 1 when they were no further off than that, or say nothing."""
    squares = [
        ((received - week.expected) / week.deviation) ** 2
        for week, received in past_weeks
        if week.deviation > 0
    ]
    return max(1.0, (sum(squares) / len(squares)) ** 0.5) if squares else 1.0
