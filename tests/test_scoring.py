"""The payer score and profile rules, without Odoo."""

import pytest

from .conftest import load_tool

scoring = load_tool("scoring")
Facts = scoring.PaymentFacts


def test_perfect_payer_scores_100():
    verdict = scoring.judge(Facts(invoices_due=5, paid_on_time=5, volume_12_months=500))
    assert verdict.score == 100
    assert verdict.profile == "reliable"
    assert verdict.aging_bucket == "not_due"


def test_points_add_up_to_the_score_and_round_half_up():
    verdict = scoring.judge(
        Facts(
            invoices_due=4,
            paid_on_time=3,
            days_late_total=6,
            late_count=1,
            volume_12_months=400,
        )
    )
    points = {factor: value for factor, value, _max, _v in verdict.reasons}
    assert points == {
        "on_time": 30,
        "lateness": 23,  # 22.5 rounds up
        "promises": 15,
        "disputes": 10,
        "exposure": 10,
    }
    assert verdict.score == 88
    assert verdict.profile == "occasional"


def test_broken_promises_and_disputes_cost_points_down_to_zero():
    verdict = scoring.judge(
        Facts(invoices_due=3, paid_on_time=3, broken_promises=4, open_disputes=3)
    )
    points = {factor: value for factor, value, _max, _v in verdict.reasons}
    assert points["promises"] == 0
    assert points["disputes"] == 0
    assert verdict.profile == "chronic"  # two or more broken promises


def test_overdue_without_any_volume_is_full_exposure():
    verdict = scoring.judge(Facts(overdue_amount=100, max_days_overdue=5))
    points = {factor: value for factor, value, _max, _v in verdict.reasons}
    assert points["exposure"] == 0


@pytest.mark.parametrize(
    ("facts", "profile"),
    [
        (Facts(invoices_due=2, paid_on_time=2), "new"),
        (Facts(invoices_due=1, max_days_overdue=75), "chronic"),
        (
            Facts(invoices_due=4, paid_on_time=1, late_count=3, days_late_total=9),
            "chronic",
        ),
        (
            Facts(invoices_due=10, paid_on_time=9, late_count=1, days_late_total=40),
            "chronic",
        ),
        (Facts(invoices_due=10, paid_on_time=10, max_days_overdue=8), "occasional"),
        (
            Facts(invoices_due=10, paid_on_time=9, late_count=1, days_late_total=3),
            "reliable",
        ),
    ],
)
def test_profiles(facts, profile):
    assert scoring.judge(facts).profile == profile


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "not_due"),
        (1, "1_30"),
        (30, "1_30"),
        (31, "31_60"),
        (61, "61_90"),
        (91, "over_90"),
    ],
)
def test_aging_buckets(days, bucket):
    assert scoring.aging_bucket(days) == bucket
