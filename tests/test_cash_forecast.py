"""The weekly cash-in forecast, without Odoo: the weeks, the payment
probabilities per week, the receipts with their range, and its backtest."""

import importlib.util
import math
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from .conftest import load_tool

forecast = load_tool("payment_forecast")
cash = load_tool("cash_forecast")

_PATH = (
    Path(__file__).resolve().parent.parent
    / "friendly_dunning_bench/tools/forecast_backtest.py"
)
_spec = importlib.util.spec_from_file_location("dunning_forecast_backtest", _PATH)
backtest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = backtest
_spec.loader.exec_module(backtest)

WEDNESDAY = date(2026, 6, 3)
Z90 = 1.2815515655446004  # the standard normal's 90th percentile


def days(offset):
    return WEDNESDAY + timedelta(days=offset)


def open_invoice(key, due, customer="newcomer"):
    return forecast.OpenInvoice(
        key, customer, "DE", due - timedelta(days=30), due, 100.0
    )


def pool_model(delays, unpaid=0):
    """A forecaster with no customer of its own whose pool is ``delays`` (days
    late, each as likely) and ``unpaid`` shares of "not paid": a new
    customer's delay has exactly that distribution (no shared effect)."""
    model = forecast.PaymentForecaster(WEDNESDAY)
    model.overall_delay = 20.0
    share = 1 / (len(delays) + unpaid)
    model.pool = [(delay - 20.0, share) for delay in sorted(delays)]
    model.pool += [(math.inf, share)] * unpaid
    return model


def chances(key, periods, later=0.0, never=0.0):
    return forecast.PeriodProbabilities(key, tuple(periods), later, never)


# ----------------------------------------------------------------------
# Weeks
# ----------------------------------------------------------------------


def test_week_one_runs_from_the_day_after_to_sunday():
    ends = forecast.week_ends(WEDNESDAY, 3)
    assert ends == [date(2026, 6, 7), date(2026, 6, 14), date(2026, 6, 21)]
    assert all(end.weekday() == 6 for end in ends)
    assert cash.week_starts(WEDNESDAY, ends) == [
        date(2026, 6, 4),
        date(2026, 6, 8),
        date(2026, 6, 15),
    ]


def test_week_one_after_a_saturday_is_the_sunday_and_after_a_sunday_a_full_week():
    assert forecast.week_ends(date(2026, 6, 6), 2) == [
        date(2026, 6, 7),
        date(2026, 6, 14),
    ]
    assert forecast.week_ends(date(2026, 6, 7), 1) == [date(2026, 6, 14)]


# ----------------------------------------------------------------------
# Payment probabilities per week
# ----------------------------------------------------------------------


def test_an_invoice_certain_to_pay_on_a_day_falls_in_that_day_s_week():
    """Everyone pays exactly 10 days late: due Thursday 4 June, paid Sunday
    14 June (week 2, its last day); due Friday 5 June, paid Monday 15 June
    (week 3, its first day)."""
    model = pool_model([10])
    sunday, monday = model.weekly_probabilities(
        [open_invoice("sun", days(1)), open_invoice("mon", days(2))], 4
    )
    assert sunday.periods == (0.0, 1.0, 0.0, 0.0)
    assert monday.periods == (0.0, 0.0, 1.0, 0.0)
    assert (sunday.later, sunday.never) == (0.0, 0.0)


def test_probabilities_spread_over_the_weeks_later_and_never():
    """Paid 10, 20 or 30 days late or never, each a quarter. Due Monday 1
    June: 11 June (week 2), 21 June (week 3), 1 July (week 5)."""
    model = pool_model([10, 20, 30], unpaid=1)
    (result,) = model.weekly_probabilities([open_invoice(1, days(-2))], 4)
    assert result.periods == (0.0, 0.25, 0.25, 0.0)
    assert result.later == 0.25  # 1 July, after the fourth week
    assert result.never == 0.25


def test_a_past_due_invoice_counts_only_what_is_left():
    """Due 20 May, two weeks before: not paid 10 days late (30 May, before
    the forecast), so 20 days (9 June, week 2), 30 days (19 June, week 3)
    or never, each a third."""
    model = pool_model([10, 20, 30], unpaid=1)
    (result,) = model.weekly_probabilities([open_invoice(1, days(-14))], 4)
    assert result.periods == pytest.approx((0.0, 1 / 3, 1 / 3, 0.0))
    assert result.never == pytest.approx(1 / 3)


def test_later_than_anyone_ever_paid_is_never():
    model = pool_model([10, 20, 30])
    (result,) = model.weekly_probabilities([open_invoice(1, days(-60))], 4)
    assert result.periods == (0.0,) * 4
    assert (result.later, result.never) == (0.0, 1.0)


def test_later_than_the_customer_ever_was_follows_those_who_took_as_long():
    """A customer who always paid on the due date, 5 days late now: as in the
    forecast, the paid invoices that took longer say when (another customer's,
    20 days late: 18 June, week 3)."""
    paid = []
    for customer, delay in (("punctual", 0), ("slow", 20)):
        for month in range(8):
            due = days(-40 - 30 * month)
            paid.append(
                forecast.PaidInvoice(
                    customer,
                    "DE",
                    due - timedelta(days=30),
                    due,
                    due + timedelta(days=delay),
                    1000.0,
                )
            )
    invoice = open_invoice(1, days(-5), customer="punctual")
    model = forecast.PaymentForecaster.train(paid, [invoice], as_of=WEDNESDAY)
    (result,) = model.weekly_probabilities([invoice], 4)
    assert result.periods == (0.0, 0.0, 1.0, 0.0)
    assert (result.later, result.never) == (0.0, 0.0)
    assert model.forecast([invoice])[0].p30 == 1.0


def history():
    """Customers paying a few days late, one of them erratic and sometimes
    not at all."""
    paid = []
    for number in range(12):
        for month in range(8):
            due = date(2025, 10, 5) + timedelta(days=30 * month)
            delay = (number % 4) * 5 + (month % 3) * 2
            paid.append(
                forecast.PaidInvoice(
                    f"c{number}",
                    "DE" if number % 2 else "ES",
                    due - timedelta(days=30),
                    due,
                    due + timedelta(days=delay),
                    100.0 * (1 + number),
                )
            )
    for month, delay in enumerate([0, 45, 3, 60, 10, 50]):
        due = date(2025, 11, 10) + timedelta(days=30 * month)
        paid.append(
            forecast.PaidInvoice(
                "erratic",
                "DE",
                due - timedelta(days=30),
                due,
                due + timedelta(delay),
                500.0,
            )
        )
    return paid


def open_invoices():
    unpaid = [
        open_invoice(f"old{n}", days(-120 - n), customer="erratic") for n in range(2)
    ]
    return unpaid + [
        open_invoice(f"{customer}{offset}", days(offset), customer=customer)
        for customer in ("c1", "c6", "erratic", "newcomer")
        for offset in (-25, -5, 0, 3, 40)
    ]


def test_nothing_is_paid_twice():
    invoices = open_invoices()
    model = forecast.PaymentForecaster.train(history(), invoices, as_of=WEDNESDAY)
    for result in model.weekly_probabilities(invoices, 13):
        assert all(p >= 0 for p in result.periods)
        assert sum(result.periods) <= 1 + 1e-12
        assert sum(result.periods) + result.later + result.never == pytest.approx(1)


def test_weekly_probabilities_come_from_the_forecast_s_distribution():
    """Periods ending 7, 30 and 90 days after the due date add up to the
    forecast's p7, p30 and p90."""
    invoices = open_invoices()
    model = forecast.PaymentForecaster.train(history(), invoices, as_of=WEDNESDAY)
    for invoice, expected in zip(invoices, model.forecast(invoices), strict=True):
        horizons = [invoice.due_date + timedelta(days=h) for h in (7, 30, 90)]
        (result,) = model.period_probabilities([invoice], horizons)
        cumulative = [sum(result.periods[: count + 1]) for count in range(3)]
        assert cumulative == pytest.approx(
            [expected.p7, expected.p30, expected.p90], abs=0.0006
        )


# ----------------------------------------------------------------------
# Receipts per week
# ----------------------------------------------------------------------


def test_receipts_are_summed_per_company_and_currency_apart():
    ends = forecast.week_ends(WEDNESDAY, 2)
    receivables = [
        cash.Receivable(1, "A", "EUR", 100.0),
        cash.Receivable(2, "A", "USD", 50.0),
        cash.Receivable(3, "B", "EUR", 1000.0),
        cash.Receivable(4, "A", "EUR", 300.0),
    ]
    probabilities = [
        chances(1, [1.0, 0.0]),
        chances(2, [0.0, 0.5], never=0.5),
        chances(3, [0.25, 0.25], later=0.5),
        chances(4, [0.0, 0.5], later=0.5),
    ]
    results = cash.forecast_receipts(receivables, probabilities, WEDNESDAY, ends)
    by_key = {(r.company, r.currency): r for r in results}
    assert list(by_key) == [("A", "EUR"), ("A", "USD"), ("B", "EUR")]
    a_eur = by_key["A", "EUR"]
    assert a_eur.open_amount == 400
    assert [week.expected for week in a_eur.weeks] == [100, 150]
    assert (a_eur.later, a_eur.never) == (150, 0)
    assert [week.invoices for week in a_eur.weeks] == [1, 1]
    assert [week.expected for week in by_key["A", "USD"].weeks] == [0, 25]
    assert by_key["A", "USD"].never == 25
    assert [week.expected for week in by_key["B", "EUR"].weeks] == [250, 250]
    week = a_eur.weeks[1]
    assert (week.number, week.start, week.end) == (2, date(2026, 6, 8), ends[1])


def test_a_certain_payment_has_no_range():
    ends = forecast.week_ends(WEDNESDAY, 1)
    (result,) = cash.forecast_receipts(
        [cash.Receivable(1, "A", "EUR", 100.0)], [chances(1, [1.0])], WEDNESDAY, ends
    )
    week = result.weeks[0]
    assert (week.expected, week.low, week.high) == (100, 100, 100)


def test_the_range_is_the_normal_band_of_the_sum():
    """100 invoices of 10, each paid in the week with a probability of 0.5:
    500 expected, variance 100 x 10² x 0.25 = 2,500; with 0.9: 900 and 900."""
    ends = forecast.week_ends(WEDNESDAY, 1)
    widths = {}
    for probability, expected, deviation in ((0.5, 500, 50), (0.9, 900, 30)):
        (result,) = cash.forecast_receipts(
            [cash.Receivable(n, "A", "EUR", 10.0) for n in range(100)],
            [chances(n, [probability], never=1 - probability) for n in range(100)],
            WEDNESDAY,
            ends,
        )
        week = result.weeks[0]
        assert week.expected == pytest.approx(expected)
        assert week.low == pytest.approx(expected - Z90 * deviation)
        assert week.high == pytest.approx(expected + Z90 * deviation)
        assert week.deviation == pytest.approx(deviation)
        assert week.low < week.expected < week.high
        widths[probability] = week.high - week.low
    # the more uncertain the payments, the wider the range
    assert widths[0.5] > widths[0.9]


def test_widening_scales_the_range_s_deviation():
    ends = forecast.week_ends(WEDNESDAY, 1)
    (result,) = cash.forecast_receipts(
        [cash.Receivable(n, "A", "EUR", 10.0) for n in range(100)],
        [chances(n, [0.5], later=0.5) for n in range(100)],
        WEDNESDAY,
        ends,
        widening=2.0,
    )
    week = result.weeks[0]
    assert week.deviation == pytest.approx(50)  # independent payments'
    assert (week.low, week.high) == pytest.approx((500 - Z90 * 100, 500 + Z90 * 100))


def past_week(expected, deviation):
    return cash.WeekReceipts(1, WEDNESDAY, WEDNESDAY, expected, 0, 0, 1, deviation)


def test_range_widening_is_the_root_mean_square_of_past_errors_in_deviations():
    # off by 2 and by 0 deviations: sqrt((4 + 0) / 2)
    past = [(past_week(100, 10), 80), (past_week(50, 5), 50)]
    assert cash.range_widening(past) == pytest.approx(math.sqrt(2))
    # no further off than independent payments: not narrower than they are
    assert cash.range_widening([(past_week(100, 10), 105)]) == 1.0
    # a week certain to bring its amount says nothing
    assert cash.range_widening([(past_week(100, 0), 0)]) == 1.0
    assert cash.range_widening([]) == 1.0


def test_the_range_stays_within_what_the_invoices_can_bring():
    """One invoice of 1,000 at even odds: the normal band (500 ± 641) is cut
    to 0 and 1,000."""
    ends = forecast.week_ends(WEDNESDAY, 1)
    (result,) = cash.forecast_receipts(
        [cash.Receivable(1, "A", "EUR", 1000.0)],
        [chances(1, [0.5], later=0.5)],
        WEDNESDAY,
        ends,
    )
    week = result.weeks[0]
    assert (week.expected, week.low, week.high) == (500, 0, 1000)


def test_probabilities_of_another_invoice_are_refused():
    ends = forecast.week_ends(WEDNESDAY, 1)
    with pytest.raises(ValueError):
        cash.forecast_receipts(
            [cash.Receivable(1, "A", "EUR", 10.0)], [chances(2, [1.0])], WEDNESDAY, ends
        )


def test_the_expected_receipts_add_up_to_what_is_open():
    invoices = open_invoices()
    model = forecast.PaymentForecaster.train(history(), invoices, as_of=WEDNESDAY)
    ends = forecast.week_ends(WEDNESDAY, 13)
    (result,) = cash.forecast_receipts(
        [cash.Receivable(i.key, "A", "EUR", i.amount) for i in invoices],
        model.weekly_probabilities(invoices, 13),
        WEDNESDAY,
        ends,
    )
    total = sum(week.expected for week in result.weeks) + result.later + result.never
    assert total == pytest.approx(result.open_amount)
    assert result.open_amount == 100.0 * len(invoices)
    for week in result.weeks:
        assert week.low <= week.expected <= week.high


# ----------------------------------------------------------------------
# Backtest
# ----------------------------------------------------------------------

CUTOFF = WEDNESDAY


def ledger_invoice(number, customer, due, paid=None, currency="EUR", amount=100.0):
    return backtest.LedgerInvoice(
        number,
        customer,
        "DE",
        due - timedelta(days=30),
        due,
        2 * amount,  # in the company's currency
        paid,
        currency=currency,
        amount_currency=amount,
    )


def test_week_number_of_a_payment():
    ends = forecast.week_ends(CUTOFF, 2)  # 7 and 14 June
    assert backtest.week_number(days(1), CUTOFF, ends) == 1  # Thursday
    assert backtest.week_number(days(4), CUTOFF, ends) == 1  # Sunday
    assert backtest.week_number(days(5), CUTOFF, ends) == 2  # Monday
    assert backtest.week_number(days(11), CUTOFF, ends) == 2
    assert backtest.week_number(days(12), CUTOFF, ends) == 3  # after the last
    assert backtest.week_number(days(-10), CUTOFF, ends) == 1  # past due: week 1


def test_evaluate_cash_against_both_baselines():
    ends = forecast.week_ends(CUTOFF, 3)  # weeks end 7, 14, 21 June
    ledger = [
        ledger_invoice(1, "a", days(-30), paid=days(-20)),  # a: 10 days late
        ledger_invoice(2, "a", days(-10), paid=days(9)),  # open; paid week 2
        ledger_invoice(3, "b", days(2), paid=days(3), amount=50.0),  # week 1
        ledger_invoice(4, "a", days(6), amount=30.0),  # never paid
        ledger_invoice(5, "a", days(1), paid=days(30), currency="USD"),
    ]
    training, open_invoices = backtest.split(ledger, CUTOFF)
    receivables = [
        cash.Receivable(i.id, "A", i.currency, i.amount_currency) for i in open_invoices
    ]
    probabilities = [
        chances(2, [0.0, 1.0, 0.0]),  # right
        chances(3, [0.5, 0.5, 0.0]),
        chances(4, [0.0, 0.0, 0.5], never=0.5),
        chances(5, [0.0, 0.0, 0.0], later=1.0),
    ]
    forecasts = cash.forecast_receipts(receivables, probabilities, CUTOFF, ends)
    end = days(100)
    figures = backtest.evaluate_cash(
        open_invoices, forecasts, training, CUTOFF, end, ends, backtest.in_currency
    )
    assert figures["weeks compared"] == 3
    eur = figures["series"]["EUR"]
    # received: 50, 100, 0; model: 25, 125, 15
    assert [week["received"] for week in eur["weeks"]] == [50, 100, 0]
    assert [week["expected"] for week in eur["weeks"]] == [25, 125, 15]
    assert eur["mae per week"]["model"] == pytest.approx((25 + 25 + 15) / 3)
    # due date: 2 is past due (week 1), 3 due Friday (week 1), 4 on 9 June
    assert [week["due date"] for week in eur["weeks"]] == [150, 30, 0]
    assert eur["mae per week"]["due date"] == pytest.approx((100 + 70 + 0) / 3)
    # customer average: a 10 days (2 on 3 June, the cut-off: week 1; 4 on 19
    # June: week 3), b new: everyone's, 10 days (15 June: week 3)
    assert [week["customer average"] for week in eur["weeks"]] == [100, 0, 80]
    assert eur["mae per week"]["customer average"] == pytest.approx((50 + 100 + 80) / 3)
    assert eur["mae relative to the mean week"]["model"] == pytest.approx(
        (65 / 3) / (150 / 3)
    )
    assert eur["received in the weeks compared"] == 150
    assert eur["open at the cut-off"] == 180
    assert eur["expected after the last week / never"] == (0, 15)
    assert eur["received after the last week / unpaid at the end"] == (0, 30)
    # the USD invoice was expected and paid after the third week
    usd = figures["series"]["USD"]
    assert usd["mae per week"]["model"] == 0
    assert usd["received after the last week / unpaid at the end"] == (100, 0)


def test_coverage_counts_the_weeks_inside_the_range():
    ends = forecast.week_ends(CUTOFF, 2)
    ledger = [
        ledger_invoice(n, f"c{n}", days(3), paid=days(3 if n < 5 else 10))
        for n in range(10)
    ]
    training, open_invoices = backtest.split(ledger, CUTOFF)
    forecasts = cash.forecast_receipts(
        [cash.Receivable(i.id, "A", "EUR", 100.0) for i in open_invoices],
        [chances(i.id, [0.5, 0.5]) for i in open_invoices],
        CUTOFF,
        ends,
    )
    figures = backtest.evaluate_cash(
        open_invoices,
        forecasts,
        training,
        CUTOFF,
        days(100),
        ends,
        backtest.in_currency,
    )
    eur = figures["series"]["EUR"]
    # 500 received each week, 500 ± 1.28 x 158 expected
    assert eur["weeks inside the range"] == 2
    assert eur["coverage"] == 1.0
    figures = backtest.evaluate_cash(
        open_invoices,
        cash.forecast_receipts(
            [cash.Receivable(i.id, "A", "EUR", 100.0) for i in open_invoices],
            [chances(i.id, [0.9, 0.1]) for i in open_invoices],
            CUTOFF,
            ends,
        ),
        training,
        CUTOFF,
        days(100),
        ends,
        backtest.in_currency,
    )
    # 900 ± 1.28 x 95 then 100 ± 1.28 x 95: 500 is in neither
    assert figures["series"]["EUR"]["coverage"] == 0.0


def test_only_the_weeks_the_data_covers_are_compared():
    ends = forecast.week_ends(CUTOFF, 3)
    ledger = [ledger_invoice(1, "a", days(2), paid=days(3))]
    training, open_invoices = backtest.split(ledger, CUTOFF)
    forecasts = cash.forecast_receipts(
        [cash.Receivable(1, "A", "EUR", 100.0)],
        [chances(1, [1.0, 0.0, 0.0])],
        CUTOFF,
        ends,
    )
    figures = backtest.evaluate_cash(
        open_invoices, forecasts, training, CUTOFF, days(12), ends, backtest.in_currency
    )
    assert figures["weeks compared"] == 2  # the data ends on Monday 15 June
    eur = figures["series"]["EUR"]
    assert len(eur["weeks"]) == 2
    assert eur["received after the last week / unpaid at the end"] == (None, 0)
