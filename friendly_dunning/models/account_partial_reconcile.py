from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        partials._dunning_schedule_refresh()
        return partials

    def unlink(self):
        self._dunning_schedule_refresh()
        return super().unlink()

    def _dunning_schedule_refresh(self):
        moves = (self.debit_move_id | self.credit_move_id).move_id
        invoices = moves.filtered(lambda move: move.move_type == "out_invoice")
        if invoices:
            self.env["res.partner"]._dunning_schedule_refresh(invoices)
            # Payments count towards promises and plan instalments.
            self.env["dunning.payment.plan"]._dunning_schedule_payment_check(invoices)
