"""The payment plans' scheduled job: expire promises, break the plans whose
instalment is overdue beyond the grace days, remind customers of their coming
instalments and send the thank-yous that waited for the sending window."""

from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import format_date

from .dunning_agreement import CRON_BATCH


class DunningPaymentPlan(models.Model):
    _inherit = "dunning.payment.plan"

    @api.model
    def _cron_dunning_plans(self):
        """Expire promises, break plans whose instalment is long overdue and
        remind customers of their coming instalments."""
        self.env["dunning.promise"].sudo()._dunning_expire()
        self.sudo()._dunning_break_overdue()
        self.env["dunning.payment.plan.installment"].sudo()._dunning_send_reminders()
        self.sudo()._dunning_send_pending_thank_yous()

    @api.model
    def _dunning_send_pending_thank_yous(self):
        pending = self.search([("thank_you_pending", "=", True)])
        for start in range(0, len(pending), CRON_BATCH):
            batch = pending[start : start + CRON_BATCH].try_lock_for_update()
            # Another worker may have sent some since the search.
            batch.invalidate_recordset(["thank_you_pending"])
            batch._dunning_send_thank_you()
            self._dunning_commit_progress(len(batch), len(pending) - start - len(batch))

    def _dunning_grace_days(self):
        self.ensure_one()
        return self._dunning_limits(self.partner_id, self.company_id)["grace_days"]

    @api.model
    def _dunning_break_overdue(self):
        today = fields.Date.context_today(self)
        candidates = self.search(
            [
                ("state", "=", "active"),
                ("installment_ids.state", "=", "pending"),
                ("installment_ids.date_due", "<", today),
            ]
        )
        for start in range(0, len(candidates), CRON_BATCH):
            batch = candidates[start : start + CRON_BATCH].try_lock_for_update()
            batch._dunning_match_payments()
            # An instalment whose declined automatic payment is still to be
            # tried again is not missed yet.
            retrying = (
                self.env["dunning.autopay.charge"]
                .search(
                    [
                        ("installment_id", "in", batch.installment_ids.ids),
                        ("state", "in", ("pending", "processing", "retry")),
                    ]
                )
                .installment_id
            )
            for plan in batch.filtered(lambda p: p.state == "active"):
                grace = plan._dunning_grace_days()
                missed = plan.installment_ids.filtered(
                    lambda line, grace=grace, retrying=retrying: (
                        line.state == "pending"
                        and line not in retrying
                        and line.date_due + timedelta(days=grace) < today
                    )
                )
                if missed:
                    plan._dunning_break(missed)
            self._dunning_commit_progress(
                len(batch), len(candidates) - start - len(batch)
            )

    def _dunning_break(self, missed):
        self.ensure_one()
        self._dunning_stop("broken")
        self._dunning_log(
            self.env._(
                "Payment plan %(plan)s broken: the instalment of %(date)s was not "
                "paid. Reminders resume with the normal policy.",
                plan=self.name,
                date=format_date(self.env, missed[:1].date_due),
            )
        )
        self._dunning_activity(
            self.env._("Payment plan %(plan)s broken", plan=self.name),
            self.env._("Call the customer to agree how to go on."),
        )
