"""What a customer tells us about their invoices, on their collections page
(controllers/portal_forms.py) or in a reply to a reminder
(models/dunning_reply.py): that they already paid, or that an invoice is
wrong. Both pause the reminders of the invoices concerned and give the
accountant following the customer a to-do."""

from odoo import models


class ResPartner(models.Model):
    _inherit = "res.partner"

    def _dunning_report_payment(self, invoices, note=None, proof=None):
        """The customer says they paid ``invoices``: their reminders pause
        while the accountant checks, with a to-do on the customer (a payment
        is checked against the customer's account, whatever it covers).

        ``note`` (HTML), when given, goes in the chatter of the customer and
        of the invoices, and in the to-do; ``proof`` (``(name, content,
        mimetype)``), when given, is attached to each invoice."""
        self.ensure_one()
        self._dunning_claim(invoices, "payment_reported", note, proof)
        self._dunning_todo(
            self.env._("Check the payment the customer reported"),
            invoices=invoices,
            note=note,
        )
        return True

    def _dunning_open_dispute(self, invoices, note=None, proof=None):
        """The customer disputes ``invoices``: their reminders pause until
        someone resumes them, with a to-do on the invoice (on the customer
        when there are several). ``note`` and ``proof`` as for
        ``_dunning_report_payment``."""
        self.ensure_one()
        self._dunning_claim(invoices, "dispute", note, proof)
        self._dunning_todo(
            self.env._("Look into the customer's dispute"),
            invoices=invoices,
            note=note,
            record=invoices if len(invoices) == 1 else None,
        )
        return True

    def _dunning_claim(self, invoices, pause_reason, note, proof):
        if invoices:
            invoices.action_dunning_pause(pause_reason)
        attachments = self._dunning_attach(invoices, proof)
        if note:
            self._dunning_log_from_customer(invoices, note, attachments)

    def _dunning_attach(self, invoices, document):
        """Attach ``document`` (``(name, content, mimetype)``, or ``None``) to
        each of ``invoices``."""
        Attachment = self.env["ir.attachment"].sudo()
        if not document:
            return Attachment
        name, content, mimetype = document
        return Attachment.create(
            [
                {
                    "name": name,
                    "raw": content,
                    "mimetype": mimetype,
                    "res_model": "account.move",
                    "res_id": invoice.id,
                }
                for invoice in invoices
            ]
        )

    def _dunning_log_from_customer(self, invoices, body, attachments=None):
        """Note ``body`` in the chatter of this customer and of ``invoices``,
        written by the customer, with each invoice's ``attachments``."""
        self.ensure_one()
        by_invoice = {a.res_id: a.ids for a in attachments or []}
        self.sudo()._message_log(body=body, author_id=self.id)
        for invoice in invoices.sudo():
            invoice._message_log(
                body=body,
                author_id=self.id,
                attachment_ids=by_invoice.get(invoice.id, []),
            )
