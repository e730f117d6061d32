"""The payment forecast's backtest, without Odoo: split a ledger at a cut-off,
the two baselines, and the metrics (mean absolute error in days, Brier score).

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
"""

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
