"""Collection KPI formulas, without Odoo."""

from datetime import date

import pytest

from .conftest import load_tool

kpi = load_tool("kpi")


def test_dso_is_receivables_over_sales_times_days():
    # 30,000 owed at the end of a 90-day quarter that sold 90,000 on credit
    assert kpi.dso(30000, 90000, 90) == pytest.approx(30.0)
    assert kpi.dso(30000, 0, 90) is None


def test_best_possible_dso_and_add():
    # 12,000 of the 30,000 are not due yet: 12,000 / 90,000 x 90 = 12 days
    best = kpi.best_possible_dso(12000, 90000, 90)
    assert best == pytest.approx(12.0)
    assert kpi.average_days_delinquent(30.0, best) == pytest.approx(18.0)
    assert kpi.average_days_delinquent(None, best) is None


def test_countback_walks_back_month_by_month():
    # 25,000 owed; last month sold 10,000 (31 days), the one before 10,000
    # (30 days), the one before 20,000 (31 days): 31 + 30 + 5,000/20,000 x 31
    months = [(31, 10000), (30, 10000), (31, 20000)]
    assert kpi.dso_countback(25000, months) == pytest.approx(31 + 30 + 7.75)


def test_countback_skips_months_without_sales_and_caps_at_history():
    assert kpi.dso_countback(500, [(31, 0), (30, 1000)]) == pytest.approx(31 + 15)
    # more owed than ever sold: every month counted
    assert kpi.dso_countback(5000, [(31, 1000), (30, 1000)]) == 61
    assert kpi.dso_countback(0, [(31, 1000)]) == 0.0
    assert kpi.dso_countback(100, [(31, 0)]) is None


def test_cei():
    # opening 20,000 + sales 50,000 - closing 25,000 = 45,000 collected out of
    # 20,000 + 50,000 - 10,000 current = 60,000 collectable: 75 %
    assert kpi.cei(20000, 50000, 25000, 10000) == pytest.approx(75.0)
    assert kpi.cei(0, 0, 0, 0) is None


def test_collection_rate():
    assert kpi.collection_rate(45000, 20000, 50000) == pytest.approx(45000 / 70000)
    assert kpi.collection_rate(0, 0, 0) is None


def test_ratio_and_change():
    assert kpi.ratio(1, 4) == 0.25
    assert kpi.ratio(1, 0) is None
    assert kpi.change(110, 100) == pytest.approx(0.1)
    assert kpi.change(90, None) is None
    assert kpi.change(90, 0) is None


def test_previous_period():
    # whole months map to whole months
    assert kpi.previous_period(date(2026, 3, 1), date(2026, 3, 31)) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    assert kpi.previous_period(date(2026, 1, 1), date(2026, 3, 31)) == (
        date(2025, 10, 1),
        date(2025, 12, 31),
    )
    # any other span: the same number of days just before
    assert kpi.previous_period(date(2026, 3, 10), date(2026, 3, 19)) == (
        date(2026, 2, 28),
        date(2026, 3, 9),
    )


def test_months_and_countback_windows():
    assert kpi.last_months(date(2026, 2, 14), 3) == [
        (date(2025, 12, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    ]
    windows = kpi.countback_windows(date(2026, 3, 31), 2)
    assert windows == [
        (date(2026, 3, 1), date(2026, 3, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    ]
    assert kpi.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_channel_figures():
    figures = kpi.channel_figures(
        sent=10, delivered=8, read=6, replied=2, paid=4, cost=2.0, collected=500.0
    )
    assert figures["delivery_rate"] == 0.8
    assert figures["read_rate"] == 0.75
    assert figures["reply_rate"] == 0.25
    assert figures["effectiveness"] == 0.5
    assert figures["collected_per_cost"] == 250.0
    free = kpi.channel_figures(0, 0, 0, 0, 0, 0.0, 0.0)
    assert free["collected_per_cost"] is None
    assert free["effectiveness"] is None
