"""When an open invoice will be paid: a forecast learnt from the company's ledger.

Plain Python with no ORM and no numerical library (the addon installs on a stock
Odoo image, which has neither numpy nor scipy): every step is a weighted mean, a
weighted variance or a weighted quantile.

The method, in the order ``train`` follows it:

1. A payment's delay is its payment date minus its due date, in days.
2. Effects every customer shares are learnt from all paid invoices as the mean
   gap between an invoice's delay and its customer's usual delay, by month of
   the due date (seasonality), by payment term and by amount band, each shrunk
   toward zero by its number of invoices.
3. Each customer's usual delay is the mean of their delays with those effects
   taken out, each payment weighted by how recent it is (its weight halves
   every ``HALF_LIFE_DAYS``), so that a drift or a change of habit shows within
   a few invoices. It is shrunk toward their group's usual delay (segment or
   country, then everyone) by their effective number of invoices, as far as
   the spread within customers and between customers says (empirical Bayes):
   a new customer gets the group's behaviour.
4. The spread around that: the customer's own recent deviations, mixed with
   the deviations of everyone from their group's behaviour in the same
   proportion as the shrinkage. Invoices still open ``UNPAID_AFTER_DAYS`` past
   their due date count as "not paid" in it.
5. For an open invoice, that distribution, taken after the days already
   elapsed past the due date (it was not paid before), gives the probability
   of payment within 7, 30 and 90 days of the due date, and its median gives
   the predicted payment date (the median is what minimises the mean error in
   days).
6. The same distribution, cut at the ends of given periods (the weeks of a
   cash forecast), gives the probability of payment in each period, after the
   last one, or never.
7. What the customer does after a message: for each customer and kind of
   message (a reminder, or their own reply), the share of their payments that
   came within ``RESPONSE_DAYS`` of the last such message, shrunk toward the
   company's share, above the company's share (what chance gives a customer
   whose payments fall anywhere between the messages). For an open invoice
   whose last message is that recent, that much of the distribution moves to
   the day they usually answer on, given they did not answer yet.
8. Payment runs: a customer whose payments nearly all fall on one weekday, or
   around one day of the month, is predicted on the nearest such day.

A dispute is one of the shared effects of step 2: the days disputed invoices
took beyond their customers' usual delay.

Each forecast carries its reasons as ``(code, value, ...)`` tuples for the caller
to word and translate, and a confidence from the effective history size and the
spread of the customer's delays.
"""

import bisect
import calendar
import dataclasses
import itertools
import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

HORIZONS = (7, 30, 90)  # days after the due date
# "In time": within this many days of the due date, or of the forecast's date
# for an invoice already past due (what a reminder can still bring in).
IN_TIME_DAYS = 30
HALF_LIFE_DAYS = 120
# Delays are clipped to this range when means are taken: a year-late payment
# says the customer pays late, not that they pay a year late.
DELAY_CLIP = (-30, 150)
UNPAID_AFTER_DAYS = 90
EFFECT_PRIOR_INVOICES = 30  # invoices' worth of "no effect" behind each effect
GROUP_PRIOR_CUSTOMERS = 10  # customers' worth of "everyone" behind each group
POOL_QUANTILES = 100
MAX_CUSTOMER_PAYMENTS = 40  # the most recent ones carry nearly all the weight
AMOUNT_BANDS = 5  # quantiles of the amounts paid
MIN_BETWEEN_VARIANCE = 1.0  # days squared: the shrinkage never becomes total
RECENT_COUNT = 3
WEEKDAY_MIN_PAYMENTS = 4
WEEKDAY_SHARE = 0.8
RECENT_SHIFT_DAYS = 5
# A payment within this many days of a message answered it.
RESPONSE_DAYS = 3
RESPONSE_PRIOR = 4  # invoices' worth of the company's answer rate behind each customer
RESPONSE_MIN_ANSWERS = 2
RESPONSE_MIN_WEIGHT = 0.2  # below it, the answers are not worth a reason
# kind of message: the invoice's attribute holding their dates
RESPONSE_KINDS = {"reminder": "reminders", "reply": "replies"}
MONTH_DAY_TOLERANCE = 2  # days either side of the run's day of the month
REASON_MIN_DAYS = 2  # effects smaller than this are not worth a reason
HIGH_CONFIDENCE = (5.0, 7.0)  # effective invoices at least, spread (days) at most
MEDIUM_CONFIDENCE = (2.0, 20.0)
# A delay of whole days comes out of the forecast's sums give or take a
# rounding error: counted this much earlier, it stays on its own day.
DAY_ROUNDING = 1e-6  # days


@dataclass(frozen=True)
class PaidInvoice:
    """An invoice of the history, fully paid on ``paid_date``."""

    customer: object
    group: object  # the customer's segment or country: whom they resemble
    invoice_date: date
    due_date: date
    paid_date: date
    amount: float  # in the company's currency
    # the messages before the payment: dates of the reminders of this
    # invoice, and of the customer's replies while it was open, in order
    reminders: tuple = ()
    replies: tuple = ()
    disputed: bool = False  # the customer disputed it

    @property
    def delay(self):
        return (self.paid_date - self.due_date).days


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice (or instalment) still owed on the forecast's date."""

    key: object  # the caller's id, returned on its forecast
    customer: object
    group: object
    invoice_date: date
    due_date: date
    amount: float
    # the messages up to the forecast's date, as on PaidInvoice
    reminders: tuple = ()
    replies: tuple = ()
    disputed: bool = False  # under an open dispute


@dataclass
class Forecast:
    key: object
    # predicted days after the due date; None when no paid invoice of the
    # history ever took as long as this one already has
    delay_days: int | None
    payment_date: date | None
    p7: float  # probability of payment within 7 days of the due date
    p30: float
    p90: float
    confidence: str  # high, medium or low
    reasons: list = field(default_factory=list)  # (code, value, ...) tuples
    # probability of payment in time: within IN_TIME_DAYS of the due date, or
    # of the forecast's date once past due
    p_in_time: float = 0.0


@dataclass(frozen=True)
class PeriodProbabilities:
    """When an open invoice will be paid, period by period. The probabilities
    sum to 1."""

    key: object  # the caller's id, as on its OpenInvoice
    periods: tuple  # probability of payment in each period, in order
    later: float  # after the last period
    # not at all: the distribution's "not paid" share (invoices left unpaid
    # UNPAID_AFTER_DAYS past due), or 1 when no paid invoice of the history
    # ever took as long as this one already has (or there is no history)
    never: float


@dataclass(frozen=True)
class Response:
    """How a customer answers one kind of message."""

    weight: float  # share of the distribution their answer stands for
    answer_lags: tuple  # days from the message to the payments that answered it
    answered: int
    messages: int  # paid invoices with such a message before the payment

    @property
    def usual_lag(self):
        return self.answer_lags[(len(self.answer_lags) - 1) // 2]


def with_messages(invoices, reminders, replies, disputed, until=None):
    """``invoices``, ``(key, PaidInvoice or OpenInvoice)`` pairs, as the
    invoices with their messages, in the same order: the dates of
    ``reminders`` (``{key: dates}``) and of ``replies`` (``{customer:
    dates}``) from the invoice date up to the payment date (``until`` for
    open ones), and whether their key is in ``disputed``."""
    sorted_replies = {customer: sorted(dates) for customer, dates in replies.items()}
    result = []
    for key, invoice in invoices:
        end = getattr(invoice, "paid_date", None) or until
        own = sorted(day for day in reminders.get(key, ()) if day <= end)
        theirs = sorted_replies.get(invoice.customer, ())
        start = bisect.bisect_left(theirs, invoice.invoice_date)
        stop = bisect.bisect_right(theirs, end)
        result.append(
            dataclasses.replace(
                invoice,
                reminders=tuple(own),
                replies=tuple(theirs[start:stop]),
                disputed=key in disputed,
            )
        )
    return result


def week_ends(as_of, weeks):
    """The Sundays ending each of ``weeks`` weeks after ``as_of``. Week 1 is the
    Monday-to-Sunday week of the day after ``as_of`` (the first day an invoice
    open on ``as_of`` can be paid), so it is shorter than a week unless
    ``as_of`` is a Sunday."""
    first = as_of + timedelta(days=1)
    first_end = first + timedelta(days=6 - first.weekday())
    return [first_end + timedelta(weeks=number) for number in range(weeks)]


def clip_delay(delay):
    return min(max(delay, DELAY_CLIP[0]), DELAY_CLIP[1])


def weighted_mean(values, weights):
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights, strict=True)) / total


def weighted_quantiles(pairs, count):
    """``count`` values splitting the weighted ``(value, weight)`` pairs into
    equal weights (the midpoints of ``count`` equal slices), in order."""
    pairs = sorted(pairs)
    total = sum(weight for _value, weight in pairs)
    quantiles, seen, index = [], 0.0, 0
    for slice_number in range(count):
        target = (slice_number + 0.5) / count * total
        while index < len(pairs) - 1 and seen + pairs[index][1] < target:
            seen += pairs[index][1]
            index += 1
        quantiles.append(pairs[index][0])
    return quantiles


def term_days(invoice):
    return (invoice.due_date - invoice.invoice_date).days


def month_day_distance(first, second):
    """Days between two days of the month, around the month's end (the 30th
    and the 2nd are 3 days apart)."""
    gap = abs(first - second)
    return min(gap, 31 - gap)


def month_day_cluster(days):
    """``(day, share)``: the share of ``days`` (days of the month) within
    ``MONTH_DAY_TOLERANCE`` of one day, the most such, and the most
    frequent day among them."""
    counts = defaultdict(int)
    for day in days:
        counts[day] += 1
    centre, near = max(
        (
            (
                centre,
                sum(
                    count
                    for day, count in counts.items()
                    if month_day_distance(day, centre) <= MONTH_DAY_TOLERANCE
                ),
            )
            for centre in range(1, 32)
        ),
        key=lambda item: item[1],
    )
    day = max(
        (
            day
            for day in counts
            if month_day_distance(day, centre) <= MONTH_DAY_TOLERANCE
        ),
        key=lambda day: (counts[day], -month_day_distance(day, centre)),
    )
    return day, near / len(days)


def effective_count(weights):
    """How many equally weighted invoices the weights are worth."""
    square_sum = sum(weight * weight for weight in weights)
    return sum(weights) ** 2 / square_sum if square_sum else 0.0


@dataclass
class CustomerState:
    """What one customer's history says, as of the training date."""

    usual_delay: float  # shrunk, effects taken out
    own_share: float  # weight of their own history against their group's
    effective_count: float
    spread: float  # weighted standard deviation of their adjusted delays
    paid_count: int
    typical_delay: int  # weighted median of the raw delays, for the reasons
    recent_shift: float  # last RECENT_COUNT delays against the earlier ones
    unpaid_share: float
    deviations: list  # sorted (deviation, weight); inf: not paid
    payment_weekday: int | None = None  # pays on this weekday's run
    payment_month_day: int | None = None  # pays around this day of the month
    responses: dict = field(default_factory=dict)  # message kind: Response


class PaymentForecaster:
    """Trained on a ledger's history as of one date; forecasts open invoices."""

    def __init__(self, as_of):
        self.as_of = as_of
        self.month_effect = {}
        self.term_effect = {}
        self.dispute_effect = {}
        self.amount_edges = []
        self.amount_effect = {}
        self.group_delay = {}
        self.overall_delay = 0.0
        self.shrink_invoices = 1.0
        self.customers = {}
        self.pool = []  # sorted (deviation, weight) around the group's delay
        self.pool_delays = []  # sorted raw delays of every paid invoice

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------

    @classmethod
    def train(cls, paid, open_invoices=(), as_of=None):
        """Learn from ``paid`` (PaidInvoice, paid on or before ``as_of``) and
        from the invoices still open on ``as_of`` (OpenInvoice), of which the
        ones long overdue say how often a customer does not pay."""
        paid = list(paid)
        as_of = as_of or max(invoice.paid_date for invoice in paid)
        model = cls(as_of)
        if not paid:
            return model
        model.amount_edges = cls._amount_edges([invoice.amount for invoice in paid])
        by_customer = defaultdict(list)
        for invoice in paid:
            by_customer[invoice.customer].append(invoice)
        for invoices in by_customer.values():
            invoices.sort(key=lambda invoice: invoice.due_date)
        # Effects and usual delays depend on each other: two rounds settle them.
        usual = {customer: 0.0 for customer in by_customer}
        for _round in range(2):
            usual = {
                customer: weighted_mean(
                    [model._adjusted(invoice) for invoice in invoices],
                    [model._weight(invoice) for invoice in invoices],
                )
                for customer, invoices in by_customer.items()
            }
            model._learn_effects(by_customer, usual)
        model._learn_customers(by_customer, open_invoices)
        model._learn_responses(by_customer)
        model.pool_delays = sorted(invoice.delay for invoice in paid)
        return model

    @staticmethod
    def _amount_edges(amounts):
        amounts = sorted(amounts)
        return [
            amounts[len(amounts) * band // AMOUNT_BANDS]
            for band in range(1, AMOUNT_BANDS)
        ]

    def _amount_band(self, amount):
        return bisect.bisect_right(self.amount_edges, amount)

    def _effects(self, invoice):
        """Days the shared effects add to this invoice's delay, by kind."""
        return {
            "season": self.month_effect.get(invoice.due_date.month, 0.0),
            "term": self.term_effect.get(term_days(invoice), 0.0),
            "amount": self.amount_effect.get(self._amount_band(invoice.amount), 0.0),
            "dispute": self.dispute_effect.get(invoice.disputed, 0.0),
        }

    def _adjusted(self, invoice):
        return clip_delay(invoice.delay) - sum(self._effects(invoice).values())

    def _weight(self, invoice):
        age = max((self.as_of - invoice.due_date).days, 0)
        return 0.5 ** (age / HALF_LIFE_DAYS)

    def _learn_effects(self, by_customer, usual):
        """Each effect: the mean gap between an invoice's delay (the other
        effects out) and its customer's usual delay, by key, shrunk toward
        zero. Customers with one invoice say nothing about it."""
        kinds = {
            "season": (lambda invoice: invoice.due_date.month, self.month_effect),
            "term": (term_days, self.term_effect),
            "amount": (
                lambda invoice: self._amount_band(invoice.amount),
                self.amount_effect,
            ),
            "dispute": (lambda invoice: invoice.disputed, self.dispute_effect),
        }
        for kind, (key_of, effect) in kinds.items():
            sums, counts = defaultdict(float), defaultdict(int)
            for customer, invoices in by_customer.items():
                if len(invoices) < 2:
                    continue
                for invoice in invoices:
                    others = sum(
                        value
                        for name, value in self._effects(invoice).items()
                        if name != kind
                    )
                    key = key_of(invoice)
                    sums[key] += clip_delay(invoice.delay) - others - usual[customer]
                    counts[key] += 1
            effect.clear()
            effect.update(
                {key: sums[key] / (counts[key] + EFFECT_PRIOR_INVOICES) for key in sums}
            )
            total = sum(counts.values())
            if total:
                centre = sum(effect[key] * counts[key] for key in effect) / total
                for key in effect:
                    effect[key] -= centre

    def _learn_customers(self, by_customer, open_invoices):
        unpaid = defaultdict(list)  # customer: weights of long-overdue invoices
        for invoice in open_invoices:
            if (self.as_of - invoice.due_date).days >= UNPAID_AFTER_DAYS:
                unpaid[invoice.customer].append(self._weight(invoice))
        raw = {}
        for customer, invoices in by_customer.items():
            recent = invoices[-MAX_CUSTOMER_PAYMENTS:]
            weights = [self._weight(invoice) for invoice in recent]
            adjusted = [self._adjusted(invoice) for invoice in recent]
            mean = weighted_mean(adjusted, weights)
            variance = weighted_mean([(a - mean) ** 2 for a in adjusted], weights)
            raw[customer] = (recent, weights, adjusted, mean, variance)
        # Empirical Bayes: the spread of delays within a customer against the
        # spread of the customers' usual delays says how far to trust a
        # customer's own few invoices.
        counts = {c: effective_count(values[1]) for c, values in raw.items()}
        judged = [c for c in raw if counts[c] >= 3]
        if judged:
            within = sum(raw[c][4] * counts[c] for c in judged) / sum(
                counts[c] for c in judged
            )
            means = [raw[c][3] for c in judged]
            centre = sum(means) / len(means)
            between = sum((m - centre) ** 2 for m in means) / len(means) - sum(
                within / counts[c] for c in judged
            ) / len(judged)
            self.shrink_invoices = within / max(between, MIN_BETWEEN_VARIANCE)
        group_of = {c: invoices[-1].group for c, invoices in by_customer.items()}
        self.overall_delay = sum(values[3] for values in raw.values()) / len(raw)
        group_means = defaultdict(list)
        for customer, values in raw.items():
            group_means[group_of[customer]].append(values[3])
        self.group_delay = {
            group: (sum(means) + GROUP_PRIOR_CUSTOMERS * self.overall_delay)
            / (len(means) + GROUP_PRIOR_CUSTOMERS)
            for group, means in group_means.items()
        }
        pool = []
        for customer, (recent, weights, adjusted, mean, variance) in raw.items():
            count = counts[customer]
            own_share = count / (count + self.shrink_invoices)
            prior = self.group_delay[group_of[customer]]
            usual = own_share * mean + (1 - own_share) * prior
            deviations = [
                (value - usual, weight)
                for value, weight in zip(adjusted, weights, strict=True)
            ]
            deviations += [(math.inf, weight) for weight in unpaid[customer]]
            delays = [invoice.delay for invoice in recent]
            earlier = delays[:-RECENT_COUNT]
            self.customers[customer] = CustomerState(
                payment_weekday=self._payment_weekday(by_customer[customer]),
                payment_month_day=self._payment_month_day(recent),
                usual_delay=usual,
                own_share=own_share,
                effective_count=count,
                spread=math.sqrt(variance),
                paid_count=len(by_customer[customer]),
                typical_delay=round(
                    weighted_quantiles(list(zip(delays, weights, strict=True)), 1)[0]
                ),
                recent_shift=sum(delays[-RECENT_COUNT:]) / RECENT_COUNT
                - sum(earlier) / len(earlier)
                if len(earlier) >= 2
                else 0.0,
                unpaid_share=sum(unpaid[customer])
                / (sum(unpaid[customer]) + sum(weights)),
                deviations=sorted(deviations),
            )
            pool += [
                (value - prior, weight)
                for value, weight in zip(adjusted, weights, strict=True)
            ]
            pool += [(math.inf, weight) for weight in unpaid[customer]]
        for customer, weights in unpaid.items():
            if customer not in raw:
                pool += [(math.inf, weight) for weight in weights]
        self.pool = [
            (value, 1.0 / POOL_QUANTILES)
            for value in weighted_quantiles(pool, POOL_QUANTILES)
        ]

    @staticmethod
    def _payment_weekday(invoices):
        """The weekday of the customer's payment runs, when nearly all their
        payments fall on one."""
        if len(invoices) < WEEKDAY_MIN_PAYMENTS:
            return None
        counts = defaultdict(int)
        for invoice in invoices:
            counts[invoice.paid_date.weekday()] += 1
        weekday, count = max(counts.items(), key=lambda item: item[1])
        return weekday if count >= WEEKDAY_SHARE * len(invoices) else None

    @staticmethod
    def _payment_month_day(invoices):
        """The day of the month of the customer's payment runs, when nearly
        all their payments fall within ``MONTH_DAY_TOLERANCE`` days of one
        while their due dates do not (else the delay says it already): the
        most frequent day among those."""
        if len(invoices) < WEEKDAY_MIN_PAYMENTS:
            return None
        paid_day, paid_share = month_day_cluster(
            [invoice.paid_date.day for invoice in invoices]
        )
        _due_day, due_share = month_day_cluster(
            [invoice.due_date.day for invoice in invoices]
        )
        if paid_share < WEEKDAY_SHARE or due_share >= WEEKDAY_SHARE:
            return None
        return paid_day

    def _learn_responses(self, by_customer):
        """Per customer and kind of message, how much more often than the
        company's customers in general their payments came within
        ``RESPONSE_DAYS`` of the last such message (see the module's
        docstring, step 7)."""
        for kind, attribute in RESPONSE_KINDS.items():
            lags_of = {}
            for customer, invoices in by_customer.items():
                lags = []
                for invoice in invoices[-MAX_CUSTOMER_PAYMENTS:]:
                    messages = getattr(invoice, attribute)
                    if messages:
                        lags.append((invoice.paid_date - messages[-1]).days)
                if lags:
                    lags_of[customer] = lags
            message_count = sum(len(lags) for lags in lags_of.values())
            if not message_count:
                continue
            answered = sum(
                lag <= RESPONSE_DAYS for lags in lags_of.values() for lag in lags
            )
            base = answered / message_count
            if base >= 1:
                continue
            for customer, lags in lags_of.items():
                answers = sorted(lag for lag in lags if lag <= RESPONSE_DAYS)
                if len(answers) < RESPONSE_MIN_ANSWERS:
                    continue
                rate = (len(answers) + RESPONSE_PRIOR * base) / (
                    len(lags) + RESPONSE_PRIOR
                )
                weight = (rate - base) / (1 - base)
                if weight >= RESPONSE_MIN_WEIGHT:
                    self.customers[customer].responses[kind] = Response(
                        weight,
                        tuple(answers),
                        len(answers),
                        len(lags),
                    )

    # ------------------------------------------------------------------
    # Forecasting
    # ------------------------------------------------------------------

    def forecast(self, open_invoices):
        """A Forecast per open invoice, in the same order."""
        mixtures = {}
        return [self._forecast_one(invoice, mixtures) for invoice in open_invoices]

    def _mixture(self, customer, mixtures):
        """The customer's deviations and the pool's, weighted by how much the
        customer's own history counts, in order (computed once per customer)."""
        if customer not in mixtures:
            state = self.customers.get(customer)
            if state is None:
                mixtures[customer] = self.pool
            else:
                own_total = sum(weight for _value, weight in state.deviations)
                mixtures[customer] = sorted(
                    [
                        (value, weight * state.own_share / own_total)
                        for value, weight in state.deviations
                    ]
                    + [
                        (value, weight * (1 - state.own_share))
                        for value, weight in self.pool
                    ]
                )
        return mixtures[customer]

    def _centre(self, invoice, state, effects):
        """The invoice's expected delay: the customer's usual one (their
        group's for a new customer) plus the shared effects."""
        usual = (
            state.usual_delay
            if state
            else self.group_delay.get(invoice.group, self.overall_delay)
        )
        return usual + sum(effects.values())

    def _forecast_one(self, invoice, mixtures):
        state = self.customers.get(invoice.customer)
        effects = self._effects(invoice)
        centre = self._centre(invoice, state, effects)
        elapsed = (self.as_of - invoice.due_date).days  # not paid by then
        # The distribution of the delay, given it is more than ``elapsed``.
        above = [
            (centre + value, weight)
            for value, weight in self._mixture(invoice.customer, mixtures)
            if centre + value > elapsed
        ]
        mass = sum(weight for _value, weight in above)
        horizons = (*HORIZONS, max(elapsed, 0) + IN_TIME_DAYS)
        if mass:
            probabilities = [
                sum(weight for value, weight in above if value <= horizon) / mass
                for horizon in horizons
            ]
        else:
            probabilities = self._pool_probabilities_after(elapsed, horizons)
        finite = [
            (value, weight)
            for value, weight in above
            if value != math.inf and weight > 0
        ]
        if finite:
            delay = math.ceil(weighted_quantiles(finite, 1)[0])
        else:
            delay = self._pool_delay_after(elapsed)
        reasons = self._reasons(invoice, state, effects, elapsed)
        if delay is not None and state:
            # the nearest run day: the median already holds the average wait
            if state.payment_month_day is not None:
                delay = self._on_month_day(invoice, delay, state.payment_month_day)
            elif state.payment_weekday is not None:
                due_weekday = (invoice.due_date + timedelta(days=delay)).weekday()
                delay += (state.payment_weekday - due_weekday + 3) % 7 - 3
            delay = max(delay, elapsed + 1)
        answer = self._answer(invoice, state)
        if answer:
            weight, day, kind, sent, response = answer
            offset = (day - invoice.due_date).days
            probabilities = [
                weight * (offset <= horizon) + (1 - weight) * probability
                for horizon, probability in zip(horizons, probabilities, strict=True)
            ]
            if weight >= 0.5 or delay is None:
                delay = offset
            reasons.append(
                (
                    f"{kind}_answer",
                    sent.isoformat(),
                    response.usual_lag,
                    response.answered,
                    response.messages,
                )
            )
        if delay is None:
            reasons.append(("no_payment_date",))
        return Forecast(
            key=invoice.key,
            delay_days=delay,
            payment_date=None
            if delay is None
            else invoice.due_date + timedelta(days=delay),
            p7=round(probabilities[0], 3),
            p30=round(probabilities[1], 3),
            p90=round(probabilities[2], 3),
            p_in_time=round(probabilities[3], 3),
            confidence=self._confidence(state),
            reasons=reasons,
        )

    def _on_month_day(self, invoice, delay, month_day):
        """``delay`` moved to the nearest ``month_day`` (the month's last day
        in a shorter month) after the training date."""
        target = invoice.due_date + timedelta(days=delay)
        candidates = []
        for shift in (-1, 0, 1):
            year, month = divmod(target.year * 12 + target.month - 1 + shift, 12)
            last = calendar.monthrange(year, month + 1)[1]
            day = date(year, month + 1, min(month_day, last))
            if day > self.as_of:
                candidates.append(day)
        nearest = min(candidates, key=lambda day: abs((day - target).days))
        return (nearest - invoice.due_date).days

    def _answer(self, invoice, state):
        """The customer's answer to the invoice's last message, when it is
        recent enough for one: ``(weight, day, kind, message date,
        Response)``, of the kind of message with the most weight, or None.
        The weight is the response's, given no answer came by the training
        date; the day, the customer's usual lag among the answers still
        possible."""
        if not state or not state.responses:
            return None
        best = None
        for kind, response in state.responses.items():
            messages = getattr(invoice, RESPONSE_KINDS[kind])
            if not messages:
                continue
            sent = messages[-1]
            waited = (self.as_of - sent).days
            later = [lag for lag in response.answer_lags if lag > waited]
            if not later:
                continue
            share = len(later) / len(response.answer_lags)
            weight = response.weight * share / (1 - response.weight * (1 - share))
            day = sent + timedelta(days=later[(len(later) - 1) // 2])
            if best is None or weight > best[0]:
                best = (weight, day, kind, sent, response)
        return best

    def _pool_probabilities_after(self, elapsed, horizons):
        """When the customer's distribution never took as long as ``elapsed``:
        the probabilities of the paid invoices that did (as the date comes
        from them too), or none."""
        start = bisect.bisect_right(self.pool_delays, elapsed)
        later = len(self.pool_delays) - start
        return [
            (bisect.bisect_right(self.pool_delays, horizon) - start) / later
            if later and horizon > elapsed
            else 0.0
            for horizon in horizons
        ]

    def weekly_probabilities(self, open_invoices, weeks):
        """``period_probabilities`` for the ``weeks`` weeks of ``week_ends``
        after the training date."""
        return self.period_probabilities(open_invoices, week_ends(self.as_of, weeks))

    def period_probabilities(self, open_invoices, period_ends):
        """A PeriodProbabilities per open invoice, in the same order: the
        probability of payment in each period, the first from the day after
        the training date, each up to its end in ``period_ends`` (dates in
        order) included. The distribution is the one ``forecast`` uses, given
        the invoice was not paid by the training date."""
        # An end before the training date makes an empty period.
        end_ordinals = [
            max(end.toordinal(), self.as_of.toordinal()) for end in period_ends
        ]
        pool_part = self._cumulative(self.pool)
        own_parts = {}
        return [
            self._periods_one(invoice, end_ordinals, pool_part, own_parts)
            for invoice in open_invoices
        ]

    @staticmethod
    def _cumulative(pairs):
        """Sorted ``(value, weight)`` pairs as their values and, for each
        index, the weight of the values before it: the weight up to any value
        is then one bisection away."""
        return (
            [value for value, _weight in pairs],
            list(
                itertools.accumulate((weight for _value, weight in pairs), initial=0.0)
            ),
        )

    def _parts(self, customer, pool_part, own_parts):
        """``_mixture`` as its two parts, ``(values, weight before, scale)``:
        the customer's deviations and the pool's. Summed over the parts, not
        merged into one sorted list per customer: the merge would cost more
        than the lookups."""
        if customer not in own_parts:
            state = self.customers.get(customer)
            if state is None:
                own_parts[customer] = ((*pool_part, 1.0),)
            else:
                values, before = self._cumulative(state.deviations)
                own_parts[customer] = (
                    (values, before, state.own_share / before[-1]),
                    (*pool_part, 1 - state.own_share),
                )
        return own_parts[customer]

    def _periods_one(self, invoice, end_ordinals, pool_part, own_parts):
        state = self.customers.get(invoice.customer)
        periods = self._periods_of_distribution(
            invoice, state, end_ordinals, pool_part, own_parts
        )
        answer = self._answer(invoice, state)
        if not answer:
            return periods
        weight, day = answer[:2]
        index = bisect.bisect_left(end_ordinals, day.toordinal())
        shares = [(1 - weight) * share for share in periods.periods]
        later = (1 - weight) * periods.later
        if index < len(shares):
            shares[index] += weight
        else:
            later += weight
        return PeriodProbabilities(
            invoice.key, tuple(shares), later, (1 - weight) * periods.never
        )

    def _periods_of_distribution(
        self, invoice, state, end_ordinals, pool_part, own_parts
    ):
        """``_periods_one`` from the distribution alone."""
        # Paid on origin + value, for each value of the mixture.
        origin = (
            invoice.due_date.toordinal()
            + self._centre(invoice, state, self._effects(invoice))
            - DAY_ROUNDING
        )
        limits = [self.as_of.toordinal() - origin]
        limits += [end - origin for end in end_ordinals]
        limits.append(sys.float_info.max)  # paid at all: below the infinite
        below, total = None, 0.0  # the weight up to each limit, and in all
        for values, before, scale in self._parts(
            invoice.customer, pool_part, own_parts
        ):
            part = [scale * before[bisect.bisect_right(values, x)] for x in limits]
            below = part if below is None else [a + b for a, b in zip(below, part)]
            total += scale * before[-1]
        mass = total - below[0]  # not paid by the training date
        if mass <= 0:
            return self._pool_periods_after(invoice, end_ordinals)
        return PeriodProbabilities(
            invoice.key,
            tuple(
                (below[index] - below[index - 1]) / mass
                for index in range(1, len(limits) - 1)
            ),
            max(below[-1] - below[-2], 0.0) / mass,
            max(total - below[-1], 0.0) / mass,
        )

    def _pool_periods_after(self, invoice, end_ordinals):
        """``_periods_one`` when the customer's distribution never took as
        long as this invoice already has: the paid invoices that did, as
        ``_pool_probabilities_after``; never paid when none did."""
        due = invoice.due_date.toordinal()
        elapsed = self.as_of.toordinal() - due
        if bisect.bisect_right(self.pool_delays, elapsed) == len(self.pool_delays):
            return PeriodProbabilities(
                invoice.key, (0.0,) * len(end_ordinals), 0.0, 1.0
            )
        cumulative = self._pool_probabilities_after(
            elapsed, [end - due for end in end_ordinals]
        )
        return PeriodProbabilities(
            invoice.key,
            tuple(
                reached - previous
                for previous, reached in zip([0.0, *cumulative], cumulative)
            ),
            1.0 - cumulative[-1] if cumulative else 1.0,
            0.0,
        )

    def _pool_delay_after(self, elapsed):
        """The median delay of the paid invoices that took longer than
        ``elapsed`` days, when the customer's distribution has none; None
        when none did."""
        start = bisect.bisect_right(self.pool_delays, elapsed)
        later = self.pool_delays[start:]
        return later[len(later) // 2] if later else None

    @staticmethod
    def _confidence(state):
        if state is None:
            return "low"
        for level, (count, spread) in (
            ("high", HIGH_CONFIDENCE),
            ("medium", MEDIUM_CONFIDENCE),
        ):
            if state.effective_count >= count and state.spread <= spread:
                return level
        return "low"

    def _reasons(self, invoice, state, effects, elapsed):
        if state is None:
            reasons = [
                ("new_customer",),
                (
                    "group_delay",
                    round(self.group_delay.get(invoice.group, self.overall_delay)),
                ),
            ]
        else:
            reasons = [
                ("usual_delay", state.typical_delay),
                ("history", state.paid_count),
            ]
            if state.recent_shift >= RECENT_SHIFT_DAYS:
                reasons.append(
                    ("recent_later", RECENT_COUNT, round(state.recent_shift))
                )
            elif state.recent_shift <= -RECENT_SHIFT_DAYS:
                reasons.append(
                    ("recent_earlier", RECENT_COUNT, round(-state.recent_shift))
                )
            if state.payment_month_day is not None:
                reasons.append(("payment_month_day", state.payment_month_day))
            elif state.payment_weekday is not None:
                reasons.append(("payment_weekday", state.payment_weekday))
            if state.unpaid_share >= 0.1:
                reasons.append(("unpaid_share", round(100 * state.unpaid_share)))
        if abs(effects["season"]) >= REASON_MIN_DAYS:
            reasons.append(("season", invoice.due_date.month, round(effects["season"])))
        if abs(effects["amount"]) >= REASON_MIN_DAYS:
            reasons.append(("amount", round(effects["amount"])))
        if abs(effects["term"]) >= REASON_MIN_DAYS:
            reasons.append(("term", term_days(invoice), round(effects["term"])))
        if invoice.disputed:
            reasons.append(("disputed", round(effects["dispute"])))
        if elapsed > 0:
            reasons.append(("overdue", elapsed))
        return reasons
