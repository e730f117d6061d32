"""How reliable a payer is: the score, the profile and the reasons behind them.

Plain Python with no ORM, so the rules can be read, tested and reused on their
own. The engine feeds it one ``PaymentFacts`` per customer and company.
"""

from dataclasses import dataclass, field

# Points each factor can give; they add up to 100.
ON_TIME_POINTS = 40
LATENESS_POINTS = 25
PROMISE_POINTS = 15
DISPUTE_POINTS = 10
EXPOSURE_POINTS = 10

# Average lateness (days) at which the lateness factor reaches zero.
LATENESS_ZERO_DAYS = 60
POINTS_LOST_PER_BROKEN_PROMISE = 5
POINTS_LOST_PER_OPEN_DISPUTE = 5

# A customer needs this many invoices that came due before we judge them.
MIN_INVOICES_TO_JUDGE = 3

AGING_BUCKETS = ("not_due", "1_30", "31_60", "61_90", "over_90")


@dataclass
class PaymentFacts:
    """What a customer's last twelve months of invoices say about them."""

    invoices_due: int = 0  # invoices whose due date has passed (paid or not)
    paid_on_time: int = 0  # of those, paid in full by the due date
    days_late_total: int = 0  # sum of days late over the late ones
    late_count: int = 0  # invoices paid late or still overdue
    max_days_overdue: int = 0  # oldest open overdue invoice, in days
    overdue_amount: float = 0.0  # company currency
    volume_12_months: float = 0.0  # invoiced in the last 12 months
    broken_promises: int = 0
    open_disputes: int = 0


@dataclass
class Verdict:
    score: int
    profile: str
    aging_bucket: str
    reasons: list = field(default_factory=list)  # (factor, points, max, value)
    on_time_ratio: float = 1.0
    average_days_late: float = 0.0
    overdue_share: float = 0.0


def aging_bucket(max_days_overdue):
    if max_days_overdue <= 0:
        return "not_due"
    if max_days_overdue <= 30:
        return "1_30"
    if max_days_overdue <= 60:
        return "31_60"
    if max_days_overdue <= 90:
        return "61_90"
    return "over_90"


def judge(facts):
    """Score a customer from 0 (will not pay) to 100 (always pays on time)."""
    judged = facts.invoices_due >= MIN_INVOICES_TO_JUDGE
    on_time_ratio = facts.paid_on_time / facts.invoices_due if facts.invoices_due else 1
    average_late = facts.days_late_total / facts.late_count if facts.late_count else 0
    exposure = (
        min(1.0, facts.overdue_amount / facts.volume_12_months)
        if facts.volume_12_months > 0
        else (1.0 if facts.overdue_amount > 0 else 0.0)
    )
    reasons = score_factors(
        on_time_ratio,
        average_late,
        facts.broken_promises,
        facts.open_disputes,
        exposure,
    )
    return Verdict(
        score=sum(points for _factor, points, _max, _value in reasons),
        profile=_profile(facts, judged, on_time_ratio, average_late),
        aging_bucket=aging_bucket(facts.max_days_overdue),
        reasons=reasons,
        on_time_ratio=on_time_ratio,
        average_days_late=average_late,
        overdue_share=exposure,
    )


def _points(value):
    """Round half up: 22.5 points are 23, as a person would count them."""
    return int(value + 0.5)


def score_factors(on_time_ratio, average_days_late, broken, disputes, overdue_share):
    """The points of each factor: (factor, points, maximum, the value behind it)."""
    return [
        (
            "on_time",
            _points(ON_TIME_POINTS * on_time_ratio),
            ON_TIME_POINTS,
            on_time_ratio,
        ),
        (
            "lateness",
            _points(
                LATENESS_POINTS * max(0.0, 1 - average_days_late / LATENESS_ZERO_DAYS)
            ),
            LATENESS_POINTS,
            average_days_late,
        ),
        (
            "promises",
            max(0, PROMISE_POINTS - POINTS_LOST_PER_BROKEN_PROMISE * broken),
            PROMISE_POINTS,
            broken,
        ),
        (
            "disputes",
            max(0, DISPUTE_POINTS - POINTS_LOST_PER_OPEN_DISPUTE * disputes),
            DISPUTE_POINTS,
            disputes,
        ),
        (
            "exposure",
            _points(EXPOSURE_POINTS * (1 - overdue_share)),
            EXPOSURE_POINTS,
            overdue_share,
        ),
    ]


def _profile(facts, judged, on_time_ratio, average_late):
    if not judged:
        # Too little history to judge, unless the first invoices are long overdue.
        return "chronic" if facts.max_days_overdue > 60 else "new"
    if (
        on_time_ratio < 0.5
        or average_late > 30
        or facts.max_days_overdue > 60
        or facts.broken_promises >= 2
    ):
        return "chronic"
    if on_time_ratio >= 0.9 and facts.max_days_overdue <= 7:
        return "reliable"
    return "occasional"
