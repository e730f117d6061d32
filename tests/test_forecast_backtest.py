"""The forecast backtest's split, baselines and metrics (the bench addon's
tools/forecast_backtest.py, loaded by path, without Odoo)."""

import importlib.util
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

_PATH = (
    Path(__file__).resolve().parent.parent
    / "friendly_dunning_bench/tools/forecast_backtest.py"
)
_spec = importlib.util.spec_from_file_location("dunning_forecast_backtest", _PATH)
backtest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = backtest
_spec.loader.exec_module(backtest)

CUTOFF = date(2026, 6, 1)
END = date(2026, 10, 1)


def invoice(number, customer, due, paid=None, invoiced=None):
    return backtest.LedgerInvoice(
        number,
        customer,
        "DE",
        invoiced or due - timedelta(days=30),
        due,
        100.0,
        paid,
    )


def day(offset):
    return CUTOFF + timedelta(days=offset)


def test_mean_absolute_error():
    assert backtest.mean_absolute_error([(10, 4), (0, 2), (5, 5)]) == 8 / 3
    assert backtest.mean_absolute_error([]) is None


def test_brier_score():
    assert backtest.brier_score([(1.0, 1), (0.0, 0)]) == 0
    assert backtest.brier_score([(0.8, 1), (0.5, 0)]) == pytest.approx(
        (0.04 + 0.25) / 2
    )
    assert backtest.brier_score([]) is None


def test_split_at_the_cutoff():
    ledger = [
        invoice(1, "a", day(-60), paid=day(-50)),  # paid before: training
        invoice(2, "a", day(-10), paid=day(5)),  # open at the cut-off, paid after
        invoice(3, "b", day(-100)),  # never paid: open
        invoice(4, "b", day(40), invoiced=day(10)),  # invoiced after: neither
        invoice(5, "c", day(-1), paid=CUTOFF),  # paid on the cut-off: training
    ]
    training, open_invoices = backtest.split(ledger, CUTOFF)
    assert [i.id for i in training] == [1, 5]
    assert [i.id for i in open_invoices] == [2, 3]


def test_average_delays_and_everyone_for_a_new_customer():
    training = [
        invoice(1, "a", day(-60), paid=day(-50)),  # 10 days late
        invoice(2, "a", day(-40), paid=day(-20)),  # 20
        invoice(3, "b", day(-30), paid=day(-30)),  # 0
    ]
    averages, overall = backtest.average_delays(training)
    assert averages == {"a": 15, "b": 0}
    assert overall == 10


def test_base_rate_counts_the_unpaid_whose_time_is_up():
    ledger = [
        invoice(1, "a", day(-60), paid=day(-50)),  # within 30 days
        invoice(2, "a", day(-90), paid=day(-40)),  # 50 days: not within
        invoice(3, "b", day(-45)),  # unpaid 45 days past due: not within
        invoice(4, "b", day(-20)),  # due 20 days ago: not known yet, left out
        invoice(5, "c", day(-40), paid=day(3)),  # paid after the cut-off: not within
    ]
    assert backtest.base_rate(ledger, CUTOFF) == 1 / 4


def test_outcome_known_or_not():
    assert backtest.outcome(invoice(1, "a", day(0), paid=day(30)), END) == 1
    assert backtest.outcome(invoice(2, "a", day(0), paid=day(31)), END) == 0
    assert backtest.outcome(invoice(3, "a", day(0)), END) == 0
    assert backtest.outcome(invoice(4, "a", END - timedelta(days=10)), END) is None


def test_evaluate_compares_with_both_baselines():
    ledger = [
        invoice(1, "a", day(-70), paid=day(-60)),  # a: 10 days late
        invoice(2, "a", day(-40), paid=day(-30)),  # 10
        invoice(3, "a", day(-5), paid=day(7)),  # open at the cut-off: 12 days late
        invoice(4, "n", day(10), paid=day(14)),  # new customer: 4 days late
        invoice(5, "a", day(-20)),  # open, never paid: no MAE, Brier 0
    ]
    training, open_invoices = backtest.split(ledger, CUTOFF)
    forecasts = {3: (12, 0.9, "high"), 4: (2, 0.8, "low"), 5: (40, 0.1, "low")}
    figures = backtest.evaluate(open_invoices, forecasts, training, ledger, CUTOFF, END)
    assert figures["training invoices"] == 2
    assert figures["open at the cut-off"] == 3
    assert figures["paid after the cut-off"] == 2
    assert figures["still unpaid at the end"] == 1
    assert figures["new customers among the paid after"] == 1
    mae = figures["mae days"]
    assert mae["model"] == (0 + 2) / 2
    assert mae["due date"] == (12 + 4) / 2
    # a's average is 10; the new customer gets everyone's (10)
    assert mae["customer average"] == (2 + 6) / 2
    # due date, but not before the day after the cut-off: 6 and 0 days late
    assert mae["due date, not before the cut-off"] == (6 + 4) / 2
    assert figures["mae days by confidence"]["high"]["invoices"] == 1
    assert figures["base rate (paid within 30 days)"] == 1.0
    brier = figures["brier, all with a known outcome"]
    assert brier["invoices"] == 3
    assert brier["model"] == pytest.approx((0.01 + 0.04 + 0.01) / 3)
    assert brier["base rate"] == pytest.approx((0 + 0 + 1) / 3)
    assert figures["brier, less than 30 days past due at the cut-off"]["invoices"] == 3


def test_evaluate_leaves_out_invoices_the_forecast_gives_no_date():
    ledger = [
        invoice(1, "a", day(-70), paid=day(-60)),
        invoice(2, "a", day(-5), paid=day(7)),  # 12 days late, forecast 10
        invoice(3, "a", day(-300), paid=day(10)),  # no date forecast
    ]
    training, open_invoices = backtest.split(ledger, CUTOFF)
    forecasts = {2: (10, 0.9, "high"), 3: (None, 0.0, "low")}
    figures = backtest.evaluate(open_invoices, forecasts, training, ledger, CUTOFF, END)
    assert figures["paid after the cut-off"] == 2
    assert figures["paid after, no date forecast"] == 1
    assert figures["mae days"]["model"] == 2
    assert figures["mae days"]["due date"] == 12
    assert figures["brier, all with a known outcome"]["invoices"] == 2
