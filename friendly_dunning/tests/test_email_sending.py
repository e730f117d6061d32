from datetime import date

from odoo import fields
from odoo.tests import tagged

from .common import DunningCommon


@tagged("post_install", "-at_install")
class TestEmailSending(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._dunning_customer("Lucia")
        cls.invoices = cls._dunning_invoice(
            cls.customer, date(2026, 3, 1), amount=80.0
        ) | cls._dunning_invoice(cls.customer, date(2026, 3, 5), amount=20.0)
        cls.channel = cls.env["dunning.channel"].search(
            [("company_id", "=", cls.company_a.id), ("channel_type", "=", "email")]
        )
        cls.step = cls.company_a.dunning_policy_id.step_ids[:1]

    def _message(self):
        return self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "move_ids": [fields.Command.set(self.invoices.ids)],
                "step_id": self.step.id,
                "channel": "email",
                "channel_id": self.channel.id,
                "recipient": "lucia@example.com",
                "subject": "Two invoices to settle",
                "body": "Hi Lucia,\ntwo invoices are waiting.",
            }
        )

    def test_standard_template_with_pdfs_and_payment_link(self):
        message = self._message()
        message._dunning_send()
        mail = message.mail_id
        self.assertEqual(message.state, "sent")
        self.assertEqual(mail.subject, "Two invoices to settle")
        self.assertEqual(mail.email_to, "lucia@example.com")
        self.assertIn("two invoices are waiting", mail.body_html)
        oldest = self.invoices.sorted("invoice_date_due")[:1]
        self.assertIn(f"/my/invoices/{oldest.id}", mail.body_html)
        self.assertIn("access_token=", mail.body_html)
        self.assertEqual(
            len(mail.attachment_ids), 3, "one PDF per invoice and the statement"
        )
        self.assertEqual(
            set(mail.attachment_ids.mapped("mimetype")), {"application/pdf"}
        )
        self.assertEqual((mail.model, mail.res_id), ("res.partner", self.customer.id))

    def test_step_template_is_used(self):
        template = self.env["mail.template"].create(
            {
                "name": "Firm reminder",
                "model_id": self.env.ref(
                    "friendly_dunning.model_dunning_communication"
                ).id,
                "subject": "Final notice for {{ object.partner_id.name }}",
                "body_html": "<p>Pay here: <t t-out='object.payment_link'/></p>",
            }
        )
        self.step.mail_template_id = template
        message = self._message()
        message._dunning_send()
        self.assertEqual(message.mail_id.subject, "Final notice for Lucia")
        self.assertIn("/my/invoices/", message.mail_id.body_html)
        self.assertEqual(len(message.mail_id.attachment_ids), 3)
