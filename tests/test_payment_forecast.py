"""The payment-date forecast, without Odoo: small ledgers checkable by hand."""

from datetime import date, timedelta

import pytest

from .conftest import load_tool

forecast = load_tool("payment_forecast")
Paid = forecast.PaidInvoice
Open = forecast.OpenInvoice

AS_OF = date(2026, 6, 1)
TERM = timedelta(days=30)


def paid_history(customer, delays, group="DE", amount=1000.0, last_due=None):
    """Invoices of ``customer`` due a month apart up to ``last_due``, paid
    ``delays`` days after their due dates, oldest first."""
    last_due = last_due or AS_OF - timedelta(days=40)
    invoices = []
    for number, delay in enumerate(delays):
        due = last_due - timedelta(days=30 * (len(delays) - 1 - number))
        invoices.append(
            Paid(customer, group, due - TERM, due, due + timedelta(days=delay), amount)
        )
    return invoices


def open_invoice(customer, due=AS_OF + timedelta(days=10), group="DE", key=1):
    return Open(key, customer, group, due - TERM, due, 1000.0)


def others():
    """A pool of other customers: some on time, some late, in two groups."""
    history = []
    for number in range(20):
        group = "DE" if number % 2 else "ES"
        base = 0 if group == "DE" else 20
        history += paid_history(f"other-{number}", [base + number % 3] * 6, group)
    return history


def forecast_for(history, invoice, open_invoices=()):
    model = forecast.PaymentForecaster.train(
        history, [invoice, *open_invoices], as_of=AS_OF
    )
    return model.forecast([invoice])[0]


def reason_codes(result):
    return {reason[0]: reason[1:] for reason in result.reasons}


def test_steady_customer_pays_with_their_usual_delay():
    result = forecast_for(
        others() + paid_history("steady", [12] * 10), open_invoice("steady")
    )
    assert abs(result.delay_days - 12) <= 1
    assert result.payment_date == AS_OF + timedelta(days=10 + result.delay_days)
    assert result.confidence == "high"
    assert reason_codes(result)["usual_delay"] == (12,)
    assert reason_codes(result)["history"] == (10,)
    # paid 12 days late every time: surely within 30 days, not within 7
    assert result.p7 < 0.2
    assert result.p30 > 0.8


def test_drifting_customer_follows_the_recent_payments():
    """On time for five months, then 20 days late for five: the recent ones
    weigh more (their weight halves every HALF_LIFE_DAYS)."""
    delays = [0] * 5 + [20] * 5
    result = forecast_for(
        others() + paid_history("drifting", delays), open_invoice("drifting")
    )
    average = sum(delays) / len(delays)
    assert abs(result.delay_days - 20) < abs(result.delay_days - average)
    # the last three (20) against the seven before (about 6)
    assert reason_codes(result)["recent_later"] == (3, 14)


def test_customer_paying_earlier_now_says_so():
    result = forecast_for(
        others() + paid_history("improving", [30] * 6 + [5, 5, 5]),
        open_invoice("improving"),
    )
    assert result.delay_days < 17
    assert reason_codes(result)["recent_earlier"] == (3, 25)


def test_new_customer_falls_back_on_their_group():
    history = others()
    late_group = forecast_for(history, open_invoice("newcomer", group="ES"))
    on_time_group = forecast_for(history, open_invoice("newcomer", group="DE"))
    assert late_group.delay_days > on_time_group.delay_days + 5
    for result in (late_group, on_time_group):
        assert result.confidence == "low"
        assert "new_customer" in reason_codes(result)
        assert "usual_delay" not in reason_codes(result)
    assert (
        reason_codes(on_time_group)["group_delay"][0] + 5
        < reason_codes(late_group)["group_delay"][0]
    )


def test_confidence_grows_with_history():
    levels = [
        forecast_for(
            others() + paid_history("growing", [12] * count), open_invoice("growing")
        ).confidence
        for count in (1, 3, 8)
    ]
    assert levels == ["low", "medium", "high"]


def test_erratic_customer_is_not_a_confident_forecast():
    erratic = [0, 45, 3, 60, 10, 50, 2, 40, 5, 55]
    result = forecast_for(
        others() + paid_history("erratic", erratic), open_invoice("erratic")
    )
    assert result.confidence == "low"


def test_probabilities_are_monotone_and_bounded():
    history = others() + paid_history("mixed", [0, 10, 25, 40, 80, 100, 5, 15])
    invoices = [
        open_invoice(customer, due=AS_OF + timedelta(days=offset), group=group, key=key)
        for key, (customer, offset, group) in enumerate(
            [
                ("mixed", 5, "DE"),
                ("mixed", -20, "DE"),
                ("other-3", 0, "DE"),
                ("nobody", 3, "ES"),
                ("other-4", -50, "ES"),
            ]
        )
    ]
    model = forecast.PaymentForecaster.train(history, invoices, as_of=AS_OF)
    for result in model.forecast(invoices):
        assert 0 <= result.p7 <= result.p30 <= result.p90 <= 1, result
        assert result.reasons


def test_overdue_invoice_is_forecast_after_today():
    invoice = open_invoice("steady", due=AS_OF - timedelta(days=20))
    result = forecast_for(others() + paid_history("steady", [12] * 10), invoice)
    assert result.payment_date > AS_OF
    assert result.p7 == 0  # 20 days past due and not paid: not within 7
    assert reason_codes(result)["overdue"] == (20,)


def test_invoices_left_unpaid_lower_the_chance_of_payment():
    history = others() + paid_history("sometimes", [10] * 6)
    invoice = open_invoice("sometimes")
    unpaid = [
        open_invoice("sometimes", due=AS_OF - timedelta(days=100 + n), key=10 + n)
        for n in range(4)
    ]
    paying = forecast_for(history, invoice)
    not_paying = forecast_for(history, invoice, unpaid)
    assert not_paying.p90 < paying.p90 - 0.2
    assert reason_codes(not_paying)["unpaid_share"][0] >= 10


def test_seasonal_month_is_learnt_from_everyone():
    """Every customer pays 10 days later on invoices due in August."""
    history = []
    for number in range(90):
        last_due = date(2026, 4, 15)
        invoices = paid_history(f"c{number}", [number % 4] * 12, last_due=last_due)
        history += [
            Paid(
                invoice.customer,
                invoice.group,
                invoice.invoice_date,
                invoice.due_date,
                invoice.paid_date + timedelta(days=10 * (invoice.due_date.month == 8)),
                invoice.amount,
            )
            for invoice in invoices
        ]
    model = forecast.PaymentForecaster.train(history, as_of=AS_OF)
    august, june = model.forecast(
        [
            open_invoice("c1", due=date(2026, 8, 14), key="aug"),
            open_invoice("c1", due=date(2026, 6, 14), key="jun"),
        ]
    )
    assert august.delay_days - june.delay_days >= 5
    assert reason_codes(august)["season"][0] == 8


def test_no_history_at_all():
    model = forecast.PaymentForecaster.train([], as_of=AS_OF)
    (result,) = model.forecast([open_invoice("anyone")])
    assert result.confidence == "low"
    assert 0 <= result.p7 <= result.p30 <= result.p90 <= 1


@pytest.mark.parametrize(
    ("pairs", "count", "expected"),
    [
        ([(1, 1.0), (2, 1.0), (3, 1.0)], 1, [2]),
        ([(1, 3.0), (10, 1.0)], 1, [1]),
        ([(5, 1.0), (1, 1.0)], 2, [1, 5]),
    ],
)
def test_weighted_quantiles(pairs, count, expected):
    assert forecast.weighted_quantiles(pairs, count) == expected


def test_payment_runs_on_one_weekday_are_followed():
    """A customer whose payments all fall on a Thursday is forecast to pay on
    a Thursday."""
    history = [
        Paid(
            invoice.customer,
            invoice.group,
            invoice.invoice_date,
            invoice.due_date,
            invoice.paid_date + timedelta(days=(3 - invoice.paid_date.weekday()) % 7),
            invoice.amount,
        )
        for invoice in paid_history("thursdays", [5] * 8)
    ]
    result = forecast_for(others() + history, open_invoice("thursdays"))
    assert result.payment_date.weekday() == 3
    assert abs(result.delay_days - 8) <= 3
    assert reason_codes(result)["payment_weekday"] == (3,)


def test_no_date_for_an_invoice_later_than_any_ever_paid():
    """Nobody ever paid 200 days late: the forecast gives no date rather
    than tomorrow, and says why."""
    invoice = open_invoice("steady", due=AS_OF - timedelta(days=200))
    result = forecast_for(others() + paid_history("steady", [12] * 10), invoice)
    assert result.delay_days is None
    assert result.payment_date is None
    assert result.p90 == 0
    assert "no_payment_date" in reason_codes(result)


def test_later_than_the_customer_ever_was_uses_those_who_took_as_long():
    """A punctual customer already 5 days late: their own payments say
    nothing of so late a one; the probabilities come from the paid invoices
    that took over 5 days, as the predicted date does, not a flat zero."""
    history = paid_history("punctual", [0] * 8) + paid_history("slow", [20] * 8)
    due = AS_OF - timedelta(days=5)
    result = forecast_for(history, open_invoice("punctual", due=due))
    assert result.payment_date is not None
    assert result.delay_days > 5
    assert result.p30 == result.p90 == 1.0
    assert result.p7 == 0.0
    # Nobody ever took 200 days: no date and no chance given.
    ancient = AS_OF - timedelta(days=200)
    result = forecast_for(history, open_invoice("punctual", due=ancient))
    assert result.payment_date is None
    assert (result.p7, result.p30, result.p90) == (0.0, 0.0, 0.0)


def test_in_time_counts_from_today_once_past_due():
    """In time: within 30 days of the due date, or of today once past due.
    A customer who pays 50 days late, 40 days past due today: no chance
    within 30 days of the due date any more, a good one within the next 30."""
    history = others() + paid_history("slow", [50] * 10)
    due = AS_OF - timedelta(days=40)
    result = forecast_for(history, open_invoice("slow", due=due))
    assert result.p30 == 0.0
    assert result.p_in_time > 0.8
    # Not yet due: the same as within 30 days of the due date.
    result = forecast_for(history, open_invoice("slow"))
    assert result.p_in_time == result.p30


def test_date_and_probabilities_agree_when_only_others_took_as_long():
    """A customer whose own payments all came on the due date, already 5 days
    late, among customers who pay 20 days late: the date comes from the same
    payments as the probabilities (about 20 days late), not from weightless
    ones."""
    history = paid_history("punctual", [0] * 30) + paid_history("slow", [20] * 8)
    due = AS_OF - timedelta(days=5)
    result = forecast_for(history, open_invoice("punctual", due=due))
    assert result.p7 == 0.0
    assert result.p30 == 1.0
    assert 15 <= result.delay_days <= 25


def late_payers_reminded(count=10):
    """Customers paying 18 to 24 days late, reminded 3, 10 and 17 days after
    the due date: their payments come 1 to 7 days after the last reminder,
    as chance has it, not in answer to it."""
    history = []
    for number in range(count):
        delays = [18 + (number + k) % 7 for k in range(7)]
        for invoice in paid_history(f"late-{number}", delays):
            reminders = tuple(
                invoice.due_date + timedelta(days=days) for days in (3, 10, 17)
            )
            history.append(forecast.dataclasses.replace(invoice, reminders=reminders))
    return history


def prompt_history():
    """Prompt pays the day after the reminder, whenever it comes; the late
    payers' reminders come 3, 10 and 17 days after the due date."""
    history = others() + late_payers_reminded()
    for number, invoice in enumerate(paid_history("prompt", [0] * 8)):
        sent = invoice.due_date + timedelta(days=3 + 4 * (number % 3))
        history.append(
            forecast.dataclasses.replace(
                invoice, paid_date=sent + timedelta(days=1), reminders=(sent,)
            )
        )
    return history


def test_customer_who_pays_after_a_reminder_is_expected_after_the_last_one():
    """A customer who paid 1 day after the reminder, whenever it came, and
    was reminded today: expected tomorrow, and the reason says so. The
    same customer reminded 5 days ago (no answer came) gets the usual
    forecast."""
    history = prompt_history()
    due = AS_OF - timedelta(days=10)
    invoice = forecast.dataclasses.replace(
        open_invoice("prompt", due=due), reminders=(due + timedelta(days=3), AS_OF)
    )
    result = forecast_for(history, invoice)
    assert result.payment_date == AS_OF + timedelta(days=1)
    assert reason_codes(result)["reminder_answer"] == (AS_OF.isoformat(), 1, 8, 8)
    assert result.p30 > 0.8
    quiet = forecast.dataclasses.replace(
        invoice, reminders=(AS_OF - timedelta(days=5),)
    )
    result = forecast_for(history, quiet)
    assert "reminder_answer" not in reason_codes(result)
    assert result.payment_date != AS_OF + timedelta(days=1)


def test_payments_falling_after_reminders_by_chance_are_no_answer():
    """The late payers' payments come 1 to 7 days after their last reminder
    as anyone's do: no answer is expected of them."""
    history = others() + late_payers_reminded()
    due = AS_OF - timedelta(days=10)
    invoice = forecast.dataclasses.replace(
        open_invoice("late-0", due=due), reminders=(AS_OF,)
    )
    result = forecast_for(history, invoice)
    assert "reminder_answer" not in reason_codes(result)
    assert abs(result.delay_days - 21) <= 3


def test_customer_who_pays_after_replying_is_expected_after_the_reply():
    history = others() + late_payers_reminded()
    for invoice in paid_history("talker", [15] * 6):
        replied = invoice.paid_date - timedelta(days=2)
        history.append(forecast.dataclasses.replace(invoice, replies=(replied,)))
    for number in range(5):
        for invoice in paid_history(f"quiet-{number}", [12] * 4):
            replied = invoice.paid_date - timedelta(days=10)
            history.append(forecast.dataclasses.replace(invoice, replies=(replied,)))
    due = AS_OF - timedelta(days=2)
    invoice = forecast.dataclasses.replace(
        open_invoice("talker", due=due), replies=(AS_OF,)
    )
    result = forecast_for(history, invoice)
    assert result.payment_date == AS_OF + timedelta(days=2)
    assert reason_codes(result)["reply_answer"] == (AS_OF.isoformat(), 2, 6, 6)


def test_answer_moves_the_weekly_probabilities_too():
    due = AS_OF - timedelta(days=30)
    plain = open_invoice("prompt", due=due)
    invoice = forecast.dataclasses.replace(plain, reminders=(AS_OF,))
    model = forecast.PaymentForecaster.train(prompt_history(), [invoice], as_of=AS_OF)
    answered, unanswered = model.weekly_probabilities([invoice, plain], 13)
    assert answered.periods[0] > unanswered.periods[0] + 0.5
    for result in (answered, unanswered):
        assert sum(result.periods) + result.later + result.never == pytest.approx(1)


def test_payment_runs_on_one_day_of_the_month_are_followed():
    """A customer who pays on the 25th, whatever the due date: forecast on a
    25th, and the reason says so."""
    history = others()
    for number in range(8):
        # due dates 37 days apart: on every day of the month in turn
        due = AS_OF - timedelta(days=40 + 37 * number)
        paid = due + timedelta(days=5)
        if paid.day > 25:
            paid += timedelta(days=10)
        history.append(
            Paid("on-25th", "DE", due - TERM, due, paid.replace(day=25), 1000.0)
        )
    result = forecast_for(history, open_invoice("on-25th"))
    assert result.payment_date.day == 25
    assert result.payment_date > AS_OF
    assert reason_codes(result)["payment_month_day"] == (25,)
    assert "payment_weekday" not in reason_codes(result)


def test_disputed_invoices_are_expected_later():
    """Across customers, disputed invoices were paid 30 days after their
    customer's usual: an open disputed invoice is expected later than the
    same one undisputed, and the reason gives the days."""
    history = []
    for number in range(30):
        invoices = paid_history(f"customer-{number}", [5] * 6)
        disputed = invoices[number % 6]
        invoices[number % 6] = forecast.dataclasses.replace(
            disputed,
            paid_date=disputed.paid_date + timedelta(days=30),
            disputed=True,
        )
        history += invoices
    plain = open_invoice("customer-1")
    disputed = forecast.dataclasses.replace(plain, disputed=True)
    model = forecast.PaymentForecaster.train(history, [plain], as_of=AS_OF)
    undisputed_result, disputed_result = model.forecast([plain, disputed])
    assert disputed_result.delay_days >= undisputed_result.delay_days + 10
    days = reason_codes(disputed_result)["disputed"][0]
    assert days >= 10
    assert "disputed" not in reason_codes(undisputed_result)


def test_messages_are_those_of_the_invoice_while_it_was_open():
    invoice = Paid("c", "DE", date(2026, 3, 1), date(2026, 4, 1), date(2026, 4, 20), 1)
    still_open = Open(2, "c", "DE", date(2026, 5, 1), date(2026, 6, 1), 1)
    reminders = {
        1: [date(2026, 4, 25), date(2026, 4, 4), date(2026, 4, 11)],
        2: [date(2026, 6, 4)],
    }
    replies = {"c": [date(2026, 2, 1), date(2026, 4, 12), date(2026, 5, 2)]}
    paid, opened = forecast.with_messages(
        [(1, invoice), (2, still_open)],
        reminders,
        replies,
        {2},
        until=date(2026, 6, 3),
    )
    assert paid.reminders == (date(2026, 4, 4), date(2026, 4, 11))
    assert paid.replies == (date(2026, 4, 12),)
    assert not paid.disputed
    assert opened.reminders == ()
    assert opened.replies == (date(2026, 5, 2),)
    assert opened.disputed
