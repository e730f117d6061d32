"""The weekly cash-in forecast, without Odoo: the weeks and the payment
probabilities per week."""

import math
from datetime import date, timedelta

import pytest

from .conftest import load_tool

forecast = load_tool("payment_forecast")

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
