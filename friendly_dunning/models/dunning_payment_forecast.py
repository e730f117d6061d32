"""When each open instalment will be paid: one row per open instalment, with
its reasons in words.

The scheduled job that fills it is in dunning_payment_forecast_job.py, the
customers' expected losses in res_partner_forecast.py and the invoice's summary
in account_move_forecast.py.
"""

from datetime import date

from babel.dates import format_date as babel_format_date

from odoo import api, fields, models
from odoo.tools import format_date
from odoo.tools.misc import babel_locale_parse

CONFIDENCES = [("high", "High"), ("medium", "Medium"), ("low", "Low")]


class DunningPaymentForecast(models.Model):
    _name = "dunning.payment.forecast"
    _description = "Payment Forecast"
    _order = "expected_loss desc, date_due, id"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, index=True)
    move_line_id = fields.Many2one(
        "account.move.line",
        string="Instalment",
        required=True,
        index=True,
        ondelete="cascade",
    )
    move_id = fields.Many2one(
        "account.move", string="Invoice", required=True, index=True, ondelete="cascade"
    )
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, ondelete="cascade"
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    date_due = fields.Date(string="Due on", required=True)
    amount = fields.Monetary(
        string="Still owed", help="The instalment's residual, in company currency."
    )
    payment_date = fields.Date(
        string="Expected payment",
        help="The predicted payment date: half of the customer's payments like "
        "this one came earlier, half later. Empty when no paid invoice of the "
        "history ever took as long as this one already has.",
    )
    p7 = fields.Float(
        string="Paid within 7 days",
        help="Probability of payment within 7 days of the due date.",
    )
    p30 = fields.Float(
        string="Paid within 30 days",
        help="Probability of payment within 30 days of the due date.",
    )
    p90 = fields.Float(
        string="Paid within 90 days",
        help="Probability of payment within 90 days of the due date.",
    )
    p_in_time = fields.Float(
        string="Paid in time",
        help="Probability of payment within 30 days of the due date, or within "
        "the next 30 days once past due: what may come without more chasing.",
    )
    confidence = fields.Selection(
        CONFIDENCES,
        help="How sure the forecast is: how much of this customer's history "
        "there is, and how regular it is.",
    )
    reasons = fields.Json(help="The reasons, as codes with their values.")
    explanation = fields.Char(
        string="Why", compute="_compute_explanation", help="The reasons, in words."
    )
    expected_loss = fields.Monetary(
        help="What may not come in time: the amount still owed times the "
        "probability of not being paid in time (within 30 days of the due "
        "date, or within the next 30 days once past due)."
    )
    computed_on = fields.Datetime(string="Forecast on", required=True)

    @api.depends("reasons")
    @api.depends_context("lang")
    def _compute_explanation(self):
        for forecast in self:
            forecast.explanation = "; ".join(
                filter(None, (self._reason_words(r) for r in forecast.reasons or []))
            )

    def _reason_words(self, reason):
        """One reason in words, in the user's language."""
        code, *values = reason
        if code == "group_delay":
            return self._days_words(
                values[0],
                self.env._("customers of the same country usually pay on the due date"),
                self.env._(
                    "customers of the same country usually pay %(days)s days late"
                ),
                self.env._(
                    "customers of the same country usually pay %(days)s days early"
                ),
                one=(
                    self.env._("customers of the same country usually pay a day late"),
                    self.env._("customers of the same country usually pay a day early"),
                ),
            )
        if code == "usual_delay":
            return self._days_words(
                values[0],
                self.env._("usually pays on the due date"),
                self.env._("usually pays %(days)s days late"),
                self.env._("usually pays %(days)s days early"),
                one=(
                    self.env._("usually pays a day late"),
                    self.env._("usually pays a day early"),
                ),
            )
        if code == "payment_weekday":
            weekdays = [
                self.env._("Mondays"),
                self.env._("Tuesdays"),
                self.env._("Wednesdays"),
                self.env._("Thursdays"),
                self.env._("Fridays"),
                self.env._("Saturdays"),
                self.env._("Sundays"),
            ]
            return self.env._("pays on %(weekday)s", weekday=weekdays[values[0]])
        if code == "payment_month_day":
            return self.env._("pays around day %(day)s of the month", day=values[0])
        if code in ("reminder_answer", "reply_answer"):
            return self._answer_words(code, *values)
        if code == "unpaid_share":
            return self.env._(
                "%(percent)s%% of their invoices stayed unpaid long past due",
                percent=values[0],
            )
        if code == "season":
            locale = babel_locale_parse(self.env.lang or "en_US")
            month = babel_format_date(date(2000, values[0], 1), "MMMM", locale=locale)
            return self._days_words(
                values[1],
                "",
                self.env._("invoices due in %(month)s are paid %(days)s days later"),
                self.env._("invoices due in %(month)s are paid %(days)s days earlier"),
                month=month,
            )
        if code == "amount":
            return self._days_words(
                values[0],
                "",
                self.env._("larger amounts are paid %(days)s days later"),
                self.env._("smaller amounts are paid %(days)s days earlier"),
            )
        if code == "term":
            return self._days_words(
                values[1],
                "",
                self.env._("with %(term)s days to pay, paid %(days)s days later"),
                self.env._("with %(term)s days to pay, paid %(days)s days earlier"),
                term=values[0],
            )
        return self._reason_words_plain(code, values)

    def _reason_words_plain(self, code, values):
        """The reasons worded without a sign to read (see ``_reason_words``)."""
        if code == "new_customer":
            return self.env._("new customer: no paid invoice yet")
        if code == "history":
            return self.env._("%(count)s invoices paid so far", count=values[0])
        if code == "recent_later":
            return self.env._(
                "the last %(count)s were %(days)s days later",
                count=values[0],
                days=values[1],
            )
        if code == "recent_earlier":
            return self.env._(
                "the last %(count)s were %(days)s days earlier",
                count=values[0],
                days=values[1],
            )
        if code == "overdue":
            if values[0] == 1:
                return self.env._("already a day past due")
            return self.env._("already %(days)s days past due", days=values[0])
        if code == "promise":
            return self.env._(
                "promised to pay by %(date)s; kept %(kept)s of %(total)s "
                "promises so far",
                date=format_date(self.env, fields.Date.to_date(values[0])),
                kept=values[1],
                total=values[2],
            )
        if code == "disputed":
            if values and values[0] >= 2:
                return self.env._(
                    "disputed: disputed invoices were paid %(days)s days later "
                    "than usual",
                    days=values[0],
                )
            return self.env._("disputed: payment waits for the dispute's outcome")
        if code == "no_payment_date":
            return self.env._("no paid invoice ever took this long: no date to predict")
        return ""

    def _answer_words(self, code, sent, lag, answered, messages):
        """A ``reminder_answer`` or ``reply_answer`` reason in words."""
        values = {
            "date": format_date(self.env, fields.Date.to_date(sent)),
            "days": lag,
            "answered": answered,
            "count": messages,
        }
        if code == "reminder_answer":
            if lag == 0:
                return self.env._(
                    "reminded on %(date)s: pays the day of a reminder "
                    "(%(answered)s of %(count)s times)",
                    **values,
                )
            if lag == 1:
                return self.env._(
                    "reminded on %(date)s: pays the day after a reminder "
                    "(%(answered)s of %(count)s times)",
                    **values,
                )
            return self.env._(
                "reminded on %(date)s: pays %(days)s days after a reminder "
                "(%(answered)s of %(count)s times)",
                **values,
            )
        if lag == 0:
            return self.env._(
                "replied on %(date)s: pays the day they reply "
                "(%(answered)s of %(count)s times)",
                **values,
            )
        if lag == 1:
            return self.env._(
                "replied on %(date)s: pays the day after replying "
                "(%(answered)s of %(count)s times)",
                **values,
            )
        return self.env._(
            "replied on %(date)s: pays %(days)s days after replying "
            "(%(answered)s of %(count)s times)",
            **values,
        )

    @staticmethod
    def _days_words(days, on_time, later, earlier, one=None, **values):
        """``on_time``, ``later`` or ``earlier`` (translated, with a
        ``%(days)s`` placeholder) by the sign of ``days``; ``one``: the words
        for a day later and a day earlier."""
        if not days:
            return on_time
        if one and abs(days) == 1:
            return one[0] if days > 0 else one[1]
        return (later if days > 0 else earlier) % {"days": abs(days), **values}
