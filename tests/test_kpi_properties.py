"""Properties of the collection KPIs on random ledgers, without Odoo.

A ledger here is what the KPI queries read: invoices of one or several
instalments, payments and credit notes applied to them (in part or in full,
before or after the due dates) or to nothing, over several periods. The
pieces handed to ``kpi.open_amounts`` are built as the SQL builds them
(``width_bucket`` over the days asked for), and every figure must obey its
definition whatever the ledger.
"""

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import load_tool

kpi = load_tool("kpi")
scoring = load_tool("scoring")

EPOCH = date(2025, 1, 1)
HORIZON = 540  # days of history; "today" is the last one
TODAY = HORIZON
PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True)


@dataclass
class Instalment:
    issued: int
    due: int
    amount: int  # cents
    applied: list = field(default_factory=list)  # (day, cents, is_payment)

    def owed(self, day):
        if self.issued > day:
            return 0
        return self.amount - sum(cents for on, cents, _pay in self.applied if on <= day)


@dataclass
class Credit:
    """A payment or credit note: applied in part or in full, or not at all."""

    day: int
    amount: int
    applied: list = field(default_factory=list)  # (day, cents)

    def unapplied(self, day):
        if self.day > day:
            return 0
        return self.amount - sum(cents for on, cents in self.applied if on <= day)


@st.composite
def ledgers(draw):
    instalments = []
    for _invoice in range(draw(st.integers(0, 8))):
        issued = draw(st.integers(0, HORIZON))
        shares = draw(st.lists(st.integers(1, 100_000), min_size=1, max_size=3))
        due = issued
        for share in shares:
            due += draw(st.integers(0, 75))
            instalments.append(Instalment(issued, due, share))
    credits = []
    for _credit in range(draw(st.integers(0, 8))):
        credit = Credit(draw(st.integers(0, HORIZON)), draw(st.integers(1, 100_000)))
        is_payment = draw(st.booleans())
        left = credit.amount
        # Applied to up to two instalments, each taking what it can.
        for _target in range(draw(st.integers(0, 2))):
            if not instalments or not left:
                break
            target = instalments[draw(st.integers(0, len(instalments) - 1))]
            room = target.owed(HORIZON)
            cents = min(left, room, draw(st.integers(1, credit.amount)))
            if cents <= 0:
                continue
            # Odoo dates a reconciliation by its later document.
            on = max(credit.day, target.issued)
            target.applied.append((on, cents, is_payment))
            credit.applied.append((on, cents))
            left -= cents
        credits.append(credit)
    return instalments, credits


def pieces(instalments, credits, days):
    """The rows of ``dunning.kpi._kpi_open_at`` for ``days`` (sorted)."""

    def bucket(day):  # PostgreSQL's width_bucket over the sorted days
        return bisect_right(days, day)

    def run(start, applied):
        return bucket(start - 1), len(days) if applied is None else bucket(applied - 1)

    rows = []
    first, last = days[0], days[-1]
    for item in instalments:
        if item.issued > last:
            continue
        overdue = (bucket(item.due), bucket(item.due + 90))
        residual = item.owed(TODAY)
        rows.append((False, *run(item.issued, None), *overdue, residual))
        for on, cents, _pay in item.applied:
            if on > first:
                rows.append((False, *run(item.issued, on), *overdue, cents))
    for credit in credits:
        if credit.day > last:
            continue
        if credit.unapplied(TODAY):
            rows.append((True, *run(credit.day, None), 0, 0, credit.unapplied(TODAY)))
        for on, cents in credit.applied:
            if on > first:
                rows.append((True, *run(credit.day, on), 0, 0, cents))
    return rows


def brute_force(instalments, credits, day):
    owed = {"current": 0, "overdue": 0, "over_90": 0, "unapplied": 0}
    for item in instalments:
        amount = item.owed(day)
        if item.due >= day:
            owed["current"] += amount
        else:
            owed["overdue"] += amount
            if item.due < day - 90:
                owed["over_90"] += amount
    owed["unapplied"] = sum(credit.unapplied(day) for credit in credits)
    return owed


def aged(instalments, day):
    buckets = dict.fromkeys(scoring.AGING_BUCKETS, 0)
    for item in instalments:
        if item.owed(day):
            buckets[scoring.aging_bucket(day - item.due)] += item.owed(day)
    return buckets


def money(cents):
    return round(cents / 100, 2)


def day_of(offset):
    return EPOCH + timedelta(days=offset)


@PROPERTIES
@given(ledgers(), st.lists(st.integers(0, HORIZON), min_size=1, max_size=14))
def test_open_amounts_are_what_was_owed_each_day(ledger, days):
    instalments, credits = ledger
    days = sorted(set(days))
    owed = kpi.open_amounts(pieces(instalments, credits, days), len(days))
    for day, amounts in zip(days, owed, strict=True):
        assert amounts == brute_force(instalments, credits, day)
        assert 0 <= amounts["over_90"] <= amounts["overdue"]
        assert amounts["current"] >= 0
        assert amounts["unapplied"] >= 0
        # the aging buckets add up to the receivables
        buckets = aged(instalments, day)
        assert sum(buckets.values()) == amounts["current"] + amounts["overdue"]
        assert buckets["not_due"] == amounts["current"]
        assert buckets["over_90"] == amounts["over_90"]


@st.composite
def periods(draw):
    start = draw(st.integers(1, HORIZON))
    return start, draw(st.integers(start, HORIZON))


@PROPERTIES
@given(ledgers(), periods())
def test_every_ledger_kpi_obeys_its_definition(ledger, period):
    """What ``dunning.kpi._kpi_assemble`` computes, from what its queries
    read."""
    instalments, credits = ledger
    start, end = period
    days = [start - 1, end]
    before, after = kpi.open_amounts(pieces(instalments, credits, days), 2)
    current, overdue = money(after["current"]), money(after["overdue"])
    over_90 = money(after["over_90"])
    receivables = round(current + overdue, 2)
    opening = money(before["current"] + before["overdue"])
    sales = money(sum(i.amount for i in instalments if start <= i.issued <= end))
    collected = money(
        sum(
            cents
            for item in instalments
            for on, cents, is_payment in item.applied
            if is_payment and start <= on <= end
        )
    )
    length = kpi.period_days(day_of(start), day_of(end))

    dso = kpi.dso(receivables, sales, length)
    best = kpi.best_possible_dso(current, sales, length)
    add = kpi.average_days_delinquent(dso, best)
    if sales:
        assert dso >= 0
        assert 0 <= best <= dso
        assert add >= 0
        assert add == pytest.approx(overdue / sales * length)
    else:
        assert dso is best is add is None

    cei = kpi.cei(opening, sales, receivables, current)
    assert cei is None or 0 <= cei <= 100
    if cei is None:
        # nothing was collectable: nothing was owed, or all of it not due yet
        assert round(opening + sales - current, 2) == 0

    rate = kpi.collection_rate(collected, opening, sales)
    assert rate is None or 0 <= rate <= 1

    for share in (
        kpi.ratio(overdue, receivables),
        kpi.ratio(over_90, receivables),
    ):
        assert share is None or 0 <= share <= 1

    monthly = [
        (
            kpi.period_days(*window),
            money(
                sum(
                    i.amount
                    for i in instalments
                    if window[0] <= day_of(i.issued) <= window[1]
                )
            ),
        )
        for window in kpi.countback_windows(day_of(end))
    ]
    countback = kpi.dso_countback(receivables, monthly)
    assert countback is None or 0 <= countback <= sum(d for d, _s in monthly)
    # what is owed at the end never exceeds the start plus what was invoiced
    assert receivables <= round(opening + sales, 2)


@PROPERTIES
@given(
    st.integers(0, 50).flatmap(
        lambda due: st.tuples(st.just(due), st.integers(0, due), st.integers(1, 5))
    )
)
def test_promise_and_plan_rates_are_shares(counts):
    due, kept, rating_count = counts
    rate = kpi.ratio(kept, due)
    assert rate is None if not due else 0 <= rate <= 1
    ratings = [1 + (index % 5) for index in range(rating_count)]
    assert 1 <= kpi.ratio(sum(ratings), len(ratings)) <= 5


@st.composite
def funnels(draw):
    sent = draw(st.integers(0, 100))
    delivered = draw(st.integers(0, sent))
    read = draw(st.integers(0, delivered))
    replied = draw(st.integers(0, read))
    paid = draw(st.integers(0, delivered))
    return sent, delivered, read, replied, paid


@PROPERTIES
@given(funnels(), st.floats(0, 100), st.floats(0, 1e6))
def test_channel_rates_are_shares(funnel, cost, collected):
    figures = kpi.channel_figures(*funnel, cost, collected)
    for key in ("delivery_rate", "read_rate", "reply_rate", "effectiveness"):
        assert figures[key] is None or 0 <= figures[key] <= 1
    assert figures["collected_per_cost"] is None or figures["collected_per_cost"] >= 0


def test_money_differences_are_rounded_to_the_currency():
    # 0.30 + 0.60 - 0.90 is -1.1e-16 in floats: nothing collected, not less
    assert 0.3 + 0.6 - 0.9 < 0
    assert kpi.cei(0.3, 0.6, 0.9, 0.0) == 0.0
    assert str(kpi.cei(0.3, 0.6, 0.9, 0.1)) == "0.0"  # not -0.0
    # 0.30 + 0.60 owed, 0.90 collected: all of it, not 100.00000000000001 %
    assert kpi.collection_rate(0.9, 0.3, 0.6) == 1.0
    assert kpi.cei(0.3, 0.6, 0.0, 0.0) == 100.0


def test_open_amounts_hand_computed():
    # Days 10 and 50. An instalment of 100 issued on day 0, due on day 20,
    # 40 of it applied on day 30: owed 100 not due on day 10, 60 overdue on
    # day 50. A credit of 25 from day 5, applied on day 40.
    rows = [
        (False, 0, 2, 1, 2, 60),  # still owed today
        (False, 0, 1, 1, 2, 40),  # owed until day 30
        (True, 0, 1, 0, 0, 25),  # unapplied until day 40
    ]
    assert kpi.open_amounts(rows, 2) == [
        {"current": 100, "overdue": 0.0, "over_90": 0.0, "unapplied": 25},
        {"current": 0.0, "overdue": 60, "over_90": 0.0, "unapplied": 0.0},
    ]
