from odoo import SUPERUSER_ID, fields, models


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    dunning_autopay_charge_id = fields.Many2one(
        "dunning.autopay.charge",
        string="Automatic payment charge",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The instalment charged automatically by this transaction.",
    )

    def _dunning_notes_batched(self):
        """Whether this transaction's notes on its invoices are collected, to
        be logged for the whole batch of the automatic-payments job at once
        (``_dunning_log_notes``) instead of one message at a time."""
        return (
            self.env.context.get("dunning_batched_notes") is not None
            and self.dunning_autopay_charge_id
            and not self.source_transaction_id
        )

    def _log_message_on_linked_documents(self, message):
        if self._dunning_notes_batched():
            self.env.context["dunning_batched_notes"].append((self, message))
        return super()._log_message_on_linked_documents(message)

    def _get_invoices_to_notify(self):
        if self._dunning_notes_batched():
            return self.env["account.move"]
        return super()._get_invoices_to_notify()

    def _dunning_log_notes(self, notes):
        """Log the collected ``notes`` (transaction, message) on the
        transactions' invoices, as payment does one by one: the same note,
        by the same author, in as few batches as an invoice has notes."""
        rounds = []
        for tx, message in notes:
            if tx.env.uid == SUPERUSER_ID or tx.env.context.get(
                "payment_backend_action"
            ):
                author = tx.env.user.partner_id
            else:
                author = tx.partner_id
            for invoice in tx.invoice_ids:
                key = author.id
                target = next(
                    (
                        bodies
                        for round_author, bodies in rounds
                        if round_author == key and invoice.id not in bodies
                    ),
                    None,
                )
                if target is None:
                    target = {}
                    rounds.append((key, target))
                target[invoice.id] = message
        Move = self.env["account.move"]
        for author_id, bodies in rounds:
            Move.browse(list(bodies))._message_log_batch(bodies, author_id=author_id)
        notes.clear()
