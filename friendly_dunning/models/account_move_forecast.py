"""The invoice's payment forecasts, and their summary on its Collections tab."""

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import format_amount, format_date

from .res_partner import COLLECTIONS_TEAM


class AccountMove(models.Model):
    _inherit = "account.move"

    dunning_forecast_ids = fields.One2many(
        "dunning.payment.forecast",
        "move_id",
        string="Payment forecast",
        groups=COLLECTIONS_TEAM,
    )
    dunning_forecast_summary = fields.Html(
        string="Payment forecast summary",
        compute="_compute_dunning_forecast_summary",
        sanitize=False,
        groups=COLLECTIONS_TEAM,
    )

    @api.depends("dunning_forecast_ids")
    @api.depends_context("lang")
    def _compute_dunning_forecast_summary(self):
        """Each open instalment's forecast in a few lines: when, how likely,
        how sure and why."""
        for move in self:
            parts = []
            for forecast in move.dunning_forecast_ids.sorted("date_due"):
                amount = format_amount(self.env, forecast.amount, forecast.currency_id)
                due = format_date(self.env, forecast.date_due)
                if forecast.payment_date:
                    headline = self.env._(
                        "Expected on %(date)s",
                        date=format_date(self.env, forecast.payment_date),
                    )
                else:
                    headline = self.env._("No payment date expected")
                percents = [
                    f"{round(100 * p)} %"
                    for p in (forecast.p7, forecast.p30, forecast.p90)
                ]
                confidence = dict(
                    forecast._fields["confidence"]._description_selection(self.env)
                ).get(forecast.confidence, "")
                parts.append(
                    Markup(
                        "<p class='mb-2'><strong>%s</strong> "
                        "<span class='text-muted'>%s</span><br/>%s<br/>%s<br/>"
                        "<span class='text-muted'>%s</span></p>"
                    )
                    % (
                        headline,
                        self.env._(
                            "(%(amount)s due on %(date)s)", amount=amount, date=due
                        ),
                        self.env._(
                            "Paid within 7, 30 and 90 days of the due date: "
                            "%(p7)s, %(p30)s, %(p90)s. Confidence: %(confidence)s.",
                            p7=percents[0],
                            p30=percents[1],
                            p90=percents[2],
                            confidence=confidence.lower(),
                        ),
                        self.env._(
                            "May not come in time: %(loss)s.",
                            loss=format_amount(
                                self.env, forecast.expected_loss, forecast.currency_id
                            ),
                        ),
                        self.env._("Why: %(reasons)s", reasons=forecast.explanation),
                    )
                )
            move.dunning_forecast_summary = Markup().join(parts) if parts else False
