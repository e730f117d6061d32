"""The cash expected in over the next 13 weeks, per company and currency.

Made by the payment forecast's job from the same trained forecaster
(dunning_payment_forecast_job.py): each open instalment's probability of payment in
each week, summed with ``tools/cash_forecast.py`` into the expected receipts
of each week with a 10th-90th percentile range. The range is widened by how
far the same forecast, made 13 weeks earlier on what was known then, was off
in the weeks since (measured once a day per company).
"""

import bisect
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.cash_forecast import (
    WEEKS,
    Receivable,
    forecast_receipts,
    range_widening,
)
from ..tools.payment_forecast import OpenInvoice, PaymentForecaster, week_ends
from .raw_sql import run_sql


class DunningCashForecast(models.Model):
    _name = "dunning.cash.forecast"
    _description = "Cash-in Forecast"
    _order = "company_id, currency_id, week"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, index=True)
    currency_id = fields.Many2one("res.currency", required=True)
    week = fields.Integer(
        string="Week number",
        required=True,
        help="1 for the week of tomorrow, up to 13; 14 gathers what is expected later.",
    )
    name = fields.Char(string="Week", required=True)
    date_start = fields.Date(string="From")
    date_end = fields.Date(string="To")
    expected = fields.Monetary(
        help="The receipts expected: each open instalment's amount still owed "
        "times its probability of payment in the week."
    )
    low = fields.Monetary(
        aggregator=None,
        help="The range's lower end: receipts fall below it one week in ten.",
    )
    high = fields.Monetary(
        aggregator=None,
        help="The range's upper end: receipts rise above it one week in ten.",
    )
    instalments = fields.Integer(
        help="Open instalments with a chance of being paid in the week."
    )
    computed_on = fields.Datetime(string="Forecast on", required=True)

    @api.model
    def _dunning_refresh(self, company, model, open_rows, paid, as_of):
        """Replace ``company``'s cash-in forecast with the one of ``model``
        (the forecaster trained on ``paid`` as of ``as_of``) for the open
        instalments ``open_rows``: ``(line, OpenInvoice, currency id, residual
        in that currency)``."""
        run_sql(
            self.env,
            SQL("DELETE FROM dunning_cash_forecast WHERE company_id = %s", company.id),
            writes={"dunning.cash.forecast": None},
        )
        if not open_rows:
            return self.browse()
        ends = week_ends(as_of, WEEKS)
        chances = model.weekly_probabilities(
            [invoice for _line, invoice, _currency, _residual in open_rows], WEEKS
        )
        receivables = [
            Receivable(line, company.id, currency, residual)
            for line, _invoice, currency, residual in open_rows
        ]
        widening = self._dunning_widening(company, paid, open_rows, as_of)
        now = fields.Datetime.now()
        values = []
        for result in forecast_receipts(
            receivables, chances, as_of, ends, widening=widening
        ):
            for week in result.weeks:
                values.append(
                    {
                        "company_id": company.id,
                        "currency_id": result.currency,
                        "week": week.number,
                        "name": self.env._(
                            "Week %(number)s (%(start)s)",
                            number=week.number,
                            start=fields.Date.to_string(week.start),
                        ),
                        "date_start": week.start,
                        "date_end": week.end,
                        "expected": week.expected,
                        "low": week.low,
                        "high": week.high,
                        "instalments": week.invoices,
                        "computed_on": now,
                    }
                )
            values.append(
                {
                    "company_id": company.id,
                    "currency_id": result.currency,
                    "week": WEEKS + 1,
                    "name": self.env._("Later"),
                    "date_start": ends[-1] + timedelta(days=1),
                    "expected": result.later,
                    "low": False,
                    "high": False,
                    "computed_on": now,
                }
            )
        return self.sudo().create(values)

    @api.model
    def _dunning_widening(self, company, paid, open_rows, as_of):
        """The range's widening of ``company`` (see tools/cash_forecast.py),
        measured once a day: the forecast made 13 weeks before ``as_of`` on
        the instalments paid by then, against what the instalments open then
        brought in each week since, in the company's currency."""
        if company.dunning_cash_widening_date == as_of:
            return company.dunning_cash_widening or 1.0
        earlier = as_of - timedelta(weeks=WEEKS)
        training = [invoice for invoice in paid if invoice.paid_date <= earlier]
        widening = 1.0
        if training:
            then = [
                (invoice, invoice.paid_date)
                for invoice in paid
                if invoice.invoice_date <= earlier < invoice.paid_date
            ] + [
                (invoice, None)
                for _line, invoice, _currency, _residual in open_rows
                if invoice.invoice_date <= earlier
            ]
            # with the messages sent and said by then; whether a dispute
            # was open then is not known
            open_then = [
                OpenInvoice(
                    index,
                    invoice.customer,
                    invoice.group,
                    invoice.invoice_date,
                    invoice.due_date,
                    invoice.amount,
                    reminders=tuple(day for day in invoice.reminders if day <= earlier),
                    replies=tuple(day for day in invoice.replies if day <= earlier),
                )
                for index, (invoice, _paid_date) in enumerate(then)
            ]
            if open_then:
                model = PaymentForecaster.train(training, open_then, as_of=earlier)
                ends = week_ends(earlier, WEEKS)
                (result,) = forecast_receipts(
                    [
                        Receivable(invoice.key, company.id, None, invoice.amount)
                        for invoice in open_then
                    ],
                    model.weekly_probabilities(open_then, WEEKS),
                    earlier,
                    ends,
                )
                received = [0.0] * (WEEKS + 1)
                for invoice, paid_date in zip(open_then, then, strict=True):
                    if paid_date[1] is not None:
                        received[bisect.bisect_left(ends, paid_date[1])] += (
                            invoice.amount
                        )
                widening = range_widening(
                    (week, received[week.number - 1])
                    for week in result.weeks
                    if week.end < as_of
                )
        company.sudo().write(
            {
                "dunning_cash_widening": widening,
                "dunning_cash_widening_date": as_of,
            }
        )
        return widening


class ResCompany(models.Model):
    _inherit = "res.company"

    dunning_cash_widening = fields.Float(
        readonly=True,
        help="How much wider than independent payments' the cash-in forecast's "
        "range is: measured each day on the company's own receipts.",
    )
    dunning_cash_widening_date = fields.Date(readonly=True)
