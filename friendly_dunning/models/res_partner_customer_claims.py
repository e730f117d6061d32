"""What a customer tells us about their invoices, on their collections page
(controllers/portal_forms.py) or in a reply to a reminder
(models/dunning_reply.py): that they already paid, or that an invoice is
wrong (a dispute, models/dunning_dispute.py). Both pause the reminders of the
invoices concerned and give the accountant following the customer a to-do."""

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

    def _dunning_open_dispute(
        self,
        invoices,
        note=None,
        proof=None,
        reason="other",
        words=None,
        source="accountant",
        line=None,
    ):
        """The customer disputes ``invoices`` (or the instalment ``line`` of
        one): a dispute (``dunning.dispute``) per invoice, with the category
        ``reason``, the customer's ``words`` and ``proof`` attached, owned by
        the accountant following the customer, who gets a to-do due by the
        date of the answer; the invoices' reminders pause meanwhile. An
        invoice (or instalment) with an open dispute keeps that one: what
        the customer adds goes in its chatter. ``note`` (HTML) goes in the
        chatter of the customer and of the invoices. Returns the disputes."""
        self.ensure_one()
        Dispute = self.env["dunning.dispute"].sudo()
        disputes = Dispute
        news = False  # a resubmission that adds nothing is not logged again
        for invoice in invoices:
            dispute, created = Dispute.with_company(invoice.company_id)._dunning_open(
                self,
                invoice,
                {
                    "reason": reason,
                    "description": words or False,
                    "source": source,
                    "line_id": line.id if line else False,
                },
            )
            # The same file sent twice (a double submit) is kept once.
            known = proof and any(a.raw == proof[1] for a in dispute.attachment_ids)
            attachments = self._dunning_attach(dispute, None if known else proof)
            dispute.attachment_ids |= attachments
            if created or attachments or (words and words != dispute.description):
                news = True
                dispute._message_log(
                    body=words or note or "",
                    author_id=self.id,
                    attachment_ids=attachments.ids,
                )
            disputes |= dispute
        if invoices:
            invoices.action_dunning_pause("dispute")
        if note and news:
            self._dunning_log_from_customer(invoices, note)
        return disputes

    def _dunning_claim(self, invoices, pause_reason, note, proof):
        if invoices:
            invoices.action_dunning_pause(pause_reason)
        attachments = self._dunning_attach(invoices, proof)
        if note:
            self._dunning_log_from_customer(invoices, note, attachments)

    def _dunning_attach(self, invoices, document):
        """Attach ``document`` (``(name, content, mimetype)``, or ``None``) to
        each of ``invoices`` (or of other records)."""
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
                    "res_model": invoice._name,
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
