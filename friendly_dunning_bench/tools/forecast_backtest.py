"""The payment forecast's backtest, without Odoo: split a ledger at a cut-off,
the two baselines, and the metrics (mean absolute error in days, Brier score),
and the same for the weekly cash-in forecast.

``odoo dunning_forecast_backtest`` (cli/dunning_forecast_backtest.py) reads the
ledger and trains the forecaster; everything it compares lives here.

How invoices are counted:

- *training*: invoices fully paid on or before the cut-off;
- *open at the cut-off*: invoiced on or before it and not fully paid by then;
  these are forecast;
- the *mean absolute error* is taken over the open ones paid by the end of the
  data (those still unpaid have no payment date to compare with) and given a
  date by the forecast (it gives none to an invoice already later than any
  paid in the history), for the model and the baselines alike;
- the *Brier score* of the 30-day probability over the open ones whose
  outcome is known at the end of the data: paid (within 30 days of the due
  date or not), or unpaid with 30 days past the due date gone by (not paid
  within 30 days); the others are left out;
- the *base rate*: the share paid within 30 days of the due date among the
  invoices due at least 30 days before the cut-off (those whose outcome was
  known by then, paid or not).

The cash-in forecast is compared week by week (weeks as
payment_forecast.week_ends cuts them), over the weeks that end by the end of
the data, per currency (and in all, in the company's currency): the receipts
of the invoices open at the cut-off, each its full amount on its payment date
(an invoice is paid on its last reconciliation), against what the forecast
expected and against two baselines, each invoice's full amount on one day:
its due date, and its due date plus the customer's average delay so far
(everyone's for a new customer, rounded to the day), either moved to the day
after the cut-off when it falls before it. The *mean absolute error* is the
mean over the weeks of the receipts' absolute error, also relative to the mean
weekly receipts; the *coverage* is the share of the weeks whose receipts fall
inside the forecast's range.
"""

import bisect
from dataclasses import dataclass
from datetime import date, timedelta

HORIZON_DAYS = 30


@dataclass(frozen=True)
class LedgerInvoice:
    """One customer invoice as the ledger has it at the end of the data."""

    id: int
    customer: int
    group: object
    invoice_date: date
    due_date: date
    amount: float
    paid_date: date | None  # when it was fully paid; None: still owed
    currency: object = None  # the invoice's; None: the company's
    amount_currency: float | None = None  # in ``currency``

    def paid_by(self, day):
        return self.paid_date is not None and self.paid_date <= day

    @property
    def delay(self):
        return (self.paid_date - self.due_date).days


def split(ledger, cutoff):
    """(training, open at the cut-off) as the module docstring defines them."""
    training = [invoice for invoice in ledger if invoice.paid_by(cutoff)]
    open_invoices = [
        invoice
        for invoice in ledger
        if invoice.invoice_date <= cutoff and not invoice.paid_by(cutoff)
    ]
    return training, open_invoices


def average_delays(training):
    """Each customer's mean delay over their paid invoices, and everyone's
    (the baseline for a customer with none)."""
    sums, counts = {}, {}
    for invoice in training:
        sums[invoice.customer] = sums.get(invoice.customer, 0) + invoice.delay
        counts[invoice.customer] = counts.get(invoice.customer, 0) + 1
    overall = sum(sums.values()) / len(training) if training else 0.0
    return {c: sums[c] / counts[c] for c in sums}, overall


def base_rate(ledger, cutoff, horizon=HORIZON_DAYS):
    """Share paid within ``horizon`` days of the due date among the invoices
    due at least ``horizon`` days before ``cutoff``."""
    known = [
        invoice
        for invoice in ledger
        if invoice.due_date + timedelta(days=horizon) <= cutoff
    ]
    if not known:
        return None
    paid_in_time = sum(
        invoice.paid_by(min(invoice.due_date + timedelta(days=horizon), cutoff))
        for invoice in known
    )
    return paid_in_time / len(known)


def outcome(invoice, end, horizon=HORIZON_DAYS):
    """1 if paid within ``horizon`` days of the due date, 0 if not, None when
    the data ends before anyone can tell."""
    limit = invoice.due_date + timedelta(days=horizon)
    if invoice.paid_date is not None:
        return int(invoice.paid_date <= limit)
    return 0 if limit <= end else None


def mean_absolute_error(pairs):
    """Mean of |predicted - actual| over (predicted, actual) pairs."""
    pairs = list(pairs)
    return sum(abs(p - a) for p, a in pairs) / len(pairs) if pairs else None


def brier_score(pairs):
    """Mean of (probability - outcome)² over (probability, outcome) pairs."""
    pairs = list(pairs)
    return sum((p - o) ** 2 for p, o in pairs) / len(pairs) if pairs else None


def evaluate(open_invoices, forecasts, training, ledger, cutoff, end):
    """The figures of one backtest. ``forecasts``: invoice id -> (predicted
    delay in days, probability of payment within 30 days, confidence)."""
    averages, overall = average_delays(training)
    paid_after = [invoice for invoice in open_invoices if invoice.paid_date]
    dated = [i for i in paid_after if forecasts[i.id][0] is not None]
    rate = base_rate(ledger, cutoff)

    def elapsed(invoice):
        return (cutoff - invoice.due_date).days

    def not_before_cutoff(invoice, delay):
        return max(delay, elapsed(invoice) + 1)

    def customer_average(invoice):
        return averages.get(invoice.customer, overall)

    predictors = {
        "model": lambda invoice: forecasts[invoice.id][0],
        "due date": lambda invoice: 0,
        "customer average": customer_average,
        "due date, not before the cut-off": lambda invoice: not_before_cutoff(
            invoice, 0
        ),
        "customer average, not before the cut-off": lambda invoice: not_before_cutoff(
            invoice, customer_average(invoice)
        ),
    }
    mae = {
        name: mean_absolute_error(
            (predict(invoice), invoice.delay) for invoice in dated
        )
        for name, predict in predictors.items()
    }
    mae_by_confidence = {}
    for level in ("high", "medium", "low"):
        chosen = [i for i in dated if forecasts[i.id][2] == level]
        mae_by_confidence[level] = {
            "invoices": len(chosen),
            "model": mean_absolute_error((forecasts[i.id][0], i.delay) for i in chosen),
            "customer average": mean_absolute_error(
                (customer_average(i), i.delay) for i in chosen
            ),
        }
    known = [
        (invoice, result)
        for invoice in open_invoices
        if (result := outcome(invoice, end)) is not None
    ]
    undecided = [
        (invoice, result)
        for invoice, result in known
        if elapsed(invoice) < HORIZON_DAYS
    ]

    def brier(pairs):
        return {
            "invoices": len(pairs),
            "model": brier_score((forecasts[i.id][1], result) for i, result in pairs),
            "base rate": brier_score((rate, result) for _i, result in pairs)
            if rate is not None
            else None,
            "paid within 30 days": sum(result for _i, result in pairs),
        }

    return {
        "cutoff": cutoff.isoformat(),
        "end of data": end.isoformat(),
        "training invoices": len(training),
        "open at the cut-off": len(open_invoices),
        "paid after the cut-off": len(paid_after),
        "still unpaid at the end": len(open_invoices) - len(paid_after),
        "paid after, no date forecast": len(paid_after) - len(dated),
        "new customers among the paid after": sum(
            invoice.customer not in averages for invoice in paid_after
        ),
        "mae days": mae,
        "mae days by confidence": mae_by_confidence,
        "base rate (paid within 30 days)": rate,
        "brier, all with a known outcome": brier(known),
        "brier, less than 30 days past due at the cut-off": brier(undecided),
    }


def week_number(day, cutoff, ends):
    """The week (1 to ``len(ends)``) a payment on ``day`` falls in, the weeks
    ending on ``ends`` from the day after ``cutoff``; ``len(ends) + 1`` after
    the last."""
    return bisect.bisect_left(ends, max(day, cutoff + timedelta(days=1))) + 1


def weekly_receipts(invoices, day_of, receipt_of, cutoff, ends):
    """{series: [receipts of each week, then after the last week]}: each
    invoice's amount on ``day_of(invoice)`` (None: never), in the series and
    amount ``receipt_of(invoice)`` gives."""
    receipts = {}
    for invoice in invoices:
        series, amount = receipt_of(invoice)
        weeks = receipts.setdefault(series, [0.0] * (len(ends) + 1))
        day = day_of(invoice)
        if day is not None:
            weeks[week_number(day, cutoff, ends) - 1] += amount
    return receipts


def in_currency(invoice):
    """The series and amount of an invoice's receipt: its own currency."""
    if invoice.currency is None:
        return None, invoice.amount
    return invoice.currency, invoice.amount_currency


def evaluate_cash(open_invoices, forecasts, training, cutoff, end, ends, receipt_of):
    """The cash-in figures of one backtest. ``forecasts``: the model's
    CashForecast per series (cash_forecast.forecast_receipts, its
    ``currency`` the series ``receipt_of`` gives) over the weeks ending on
    ``ends``."""
    averages, overall = average_delays(training)
    compared = sum(week_end <= end for week_end in ends)
    actual = weekly_receipts(
        open_invoices, lambda invoice: invoice.paid_date, receipt_of, cutoff, ends
    )
    baselines = {
        "due date": weekly_receipts(
            open_invoices, lambda invoice: invoice.due_date, receipt_of, cutoff, ends
        ),
        "customer average": weekly_receipts(
            open_invoices,
            lambda invoice: (
                invoice.due_date
                + timedelta(days=round(averages.get(invoice.customer, overall)))
            ),
            receipt_of,
            cutoff,
            ends,
        ),
    }
    series = {}
    for forecast in forecasts:
        nothing = [0.0] * (len(ends) + 1)
        received = actual.get(forecast.currency, nothing)
        weeks = forecast.weeks[:compared]
        predicted = {"model": [week.expected for week in weeks]}
        for name, receipts in baselines.items():
            predicted[name] = receipts.get(forecast.currency, nothing)[:compared]
        total = sum(received[:compared])
        mae = {
            name: mean_absolute_error(zip(values, received[:compared]))
            for name, values in predicted.items()
        }
        inside = sum(
            week.low <= received[index] <= week.high for index, week in enumerate(weeks)
        )
        series[forecast.currency] = {
            "open at the cut-off": forecast.open_amount,
            "received in the weeks compared": total,
            "mae per week": mae,
            "mae relative to the mean week": {
                name: value / (total / compared)
                if value is not None and total
                else None
                for name, value in mae.items()
            },
            "weeks inside the range": inside,
            "coverage": inside / compared if compared else None,
            "expected after the last week / never": (forecast.later, forecast.never),
            "received after the last week / unpaid at the end": (
                received[-1] if compared == len(ends) else None,
                sum(
                    receipt_of(invoice)[1]
                    for invoice in open_invoices
                    if invoice.paid_date is None
                    and receipt_of(invoice)[0] == forecast.currency
                ),
            ),
            "weeks": [
                {
                    "week": week.number,
                    "start": week.start.isoformat(),
                    "end": week.end.isoformat(),
                    "received": received[index],
                    "expected": week.expected,
                    "low": week.low,
                    "high": week.high,
                    **{
                        name: values[index]
                        for name, values in predicted.items()
                        if name != "model"
                    },
                }
                for index, week in enumerate(weeks)
            ],
        }
    return {
        "weeks": len(ends),
        "weeks compared": compared,
        "series": series,
    }
