from odoo import models

from .raw_sql import write_each


class AccountPayment(models.Model):
    _inherit = "account.payment"

    def _generate_journal_entry(
        self, write_off_line_vals=None, force_balance=None, line_ids=None
    ):
        """With ``dunning_batch_entries`` in the context (the automatic
        payments' job posting a batch of payments), the journal entries are
        created as Odoo does and linked to their payments in one write instead
        of one write per payment. The payment's own ``write`` would only
        synchronise fields that are not written here, and the job writes with
        tracking off."""
        if (
            not self.env.context.get("dunning_batch_entries")
            or write_off_line_vals
            or force_balance
            or line_ids
        ):
            return super()._generate_journal_entry(
                write_off_line_vals=write_off_line_vals,
                force_balance=force_balance,
                line_ids=line_ids,
            )
        need_move = self.filtered(lambda p: not p.move_id and p.outstanding_account_id)
        moves = self.env["account.move"].create(
            [payment._generate_move_vals() for payment in need_move]
        )
        write_each(
            need_move,
            [{"move_id": move.id, "state": "in_process"} for move in moves],
        )
        return None
