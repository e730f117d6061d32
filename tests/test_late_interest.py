"""Late-payment interest, without Odoo: every expected figure is written as the
arithmetic an accountant would do by hand."""

from datetime import date

import pytest

from .conftest import load_tool

late_interest = load_tool("late_interest")
accrue = late_interest.accrue
ten_percent = late_interest.fixed_rate_on(10.0)

# ECB main refinancing rate changes around 2024 (percent).
ECB_2024 = [
    (date(2023, 9, 20), 4.50),
    (date(2024, 6, 12), 4.25),
    (date(2024, 9, 18), 3.65),
]


def summary(accrual):
    return [(p.start, p.end, p.days, p.balance, p.rate) for p in accrual.periods]


def test_unpaid_across_a_half_year_takes_each_half_years_reference_rate():
    rate_on = late_interest.statutory_rate_on(ECB_2024, points=8.0)
    accrual = accrue(date(2024, 6, 15), 1000.0, [], date(2024, 7, 31), rate_on)
    # 16-30 June: the rate in force on 1 January 2024 (4.50) + 8, although the
    # ECB lowered it on 12 June; from 1 July: the rate in force on 1 July (4.25)
    # + 8, although it fell again on 18 September.
    assert summary(accrual) == [
        (date(2024, 6, 16), date(2024, 6, 30), 15, 1000.0, 12.50),
        (date(2024, 7, 1), date(2024, 7, 31), 31, 1000.0, 12.25),
    ]
    assert accrual.total == pytest.approx(
        1000 * 12.50 / 100 * 15 / 365 + 1000 * 12.25 / 100 * 31 / 365
    )


def test_two_partial_payments_each_still_bear_their_days_interest():
    payments = [(date(2024, 2, 20), 200.0), (date(2024, 2, 10), 300.0)]
    accrual = accrue(
        date(2024, 1, 31), 1000.0, payments, date(2024, 2, 29), ten_percent
    )
    assert summary(accrual) == [
        (date(2024, 2, 1), date(2024, 2, 10), 10, 1000.0, 10.0),
        (date(2024, 2, 11), date(2024, 2, 20), 10, 700.0, 10.0),
        (date(2024, 2, 21), date(2024, 2, 29), 9, 500.0, 10.0),
    ]
    assert accrual.total == pytest.approx(
        1000 * 10 / 100 * 10 / 365
        + 700 * 10 / 100 * 10 / 365
        + 500 * 10 / 100 * 9 / 365
    )


def test_paid_ten_days_late_bears_ten_days():
    accrual = accrue(
        date(2024, 3, 1),
        1000.0,
        [(date(2024, 3, 11), 1000.0)],
        date(2024, 12, 31),
        ten_percent,
    )
    assert summary(accrual) == [(date(2024, 3, 2), date(2024, 3, 11), 10, 1000.0, 10.0)]
    assert accrual.total == pytest.approx(1000 * 10 / 100 * 10 / 365)


def test_a_payment_on_the_due_date_reduces_the_principal():
    accrual = accrue(
        date(2024, 3, 1),
        1000.0,
        [(date(2024, 3, 1), 400.0)],
        date(2024, 3, 31),
        ten_percent,
    )
    assert summary(accrual) == [(date(2024, 3, 2), date(2024, 3, 31), 30, 600.0, 10.0)]
    assert accrual.total == pytest.approx(600 * 10 / 100 * 30 / 365)


def test_a_payment_after_as_of_changes_nothing():
    accrual = accrue(
        date(2024, 3, 1),
        1000.0,
        [(date(2024, 4, 15), 1000.0)],
        date(2024, 3, 31),
        ten_percent,
    )
    assert accrual.total == pytest.approx(1000 * 10 / 100 * 30 / 365)


@pytest.mark.parametrize("as_of", [date(2024, 2, 20), date(2024, 3, 1)])
def test_nothing_is_owed_up_to_the_due_date(as_of):
    accrual = accrue(date(2024, 3, 1), 1000.0, [], as_of, ten_percent)
    assert accrual.total == 0
    assert accrual.periods == ()


def test_an_overpayment_ends_the_interest():
    accrual = accrue(
        date(2024, 3, 1),
        1000.0,
        [(date(2024, 3, 6), 1200.0)],
        date(2024, 6, 30),
        ten_percent,
    )
    assert summary(accrual) == [(date(2024, 3, 2), date(2024, 3, 6), 5, 1000.0, 10.0)]
    assert accrual.total == pytest.approx(1000 * 10 / 100 * 5 / 365)


def test_paid_before_the_due_date_bears_nothing():
    accrual = accrue(
        date(2024, 3, 1),
        1000.0,
        [(date(2024, 2, 1), 1000.0)],
        date(2024, 6, 30),
        ten_percent,
    )
    assert accrual.total == 0
    assert accrual.periods == ()


def test_day_count_divides_the_annual_rate():
    accrual = accrue(date(2024, 3, 1), 1000.0, [], date(2024, 3, 31), ten_percent, 360)
    assert accrual.total == pytest.approx(1000 * 10 / 100 * 30 / 360)


def test_rate_in_force_is_the_latest_change_on_or_before_the_day():
    assert late_interest.rate_in_force(ECB_2024, date(2024, 6, 11)) == 4.50
    assert late_interest.rate_in_force(ECB_2024, date(2024, 6, 12)) == 4.25
    assert late_interest.rate_in_force(ECB_2024, date(2030, 1, 1)) == 3.65
    assert late_interest.rate_in_force(ECB_2024, date(2023, 9, 19)) is None


def test_statutory_rate_adds_the_points_to_the_half_years_reference_rate():
    rate_on = late_interest.statutory_rate_on(ECB_2024, points=9.0)
    assert rate_on(date(2024, 6, 30)) == 4.50 + 9
    assert rate_on(date(2024, 7, 1)) == 4.25 + 9
    assert rate_on(date(2024, 12, 31)) == 4.25 + 9


@pytest.mark.parametrize(
    ("day", "half_year"),
    [(date(2025, 2, 1), date(2025, 1, 1)), (date(2023, 3, 1), date(2023, 1, 1))],
)
def test_statutory_rate_refuses_a_half_year_the_changes_do_not_cover(day, half_year):
    rate_on = late_interest.statutory_rate_on(ECB_2024)
    with pytest.raises(late_interest.MissingReferenceRate) as raised:
        rate_on(day)
    assert raised.value.half_year_start == half_year


def test_no_rate_is_asked_once_the_debt_is_paid():
    rate_on = late_interest.statutory_rate_on(ECB_2024)
    accrual = accrue(
        date(2024, 12, 20),
        100.0,
        [(date(2024, 12, 30), 100.0)],
        date(2025, 3, 1),
        rate_on,
    )
    assert accrual.total == pytest.approx(100 * (4.25 + 8) / 100 * 10 / 365)
