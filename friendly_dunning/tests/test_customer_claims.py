from datetime import date

from markupsafe import Markup

from odoo.tests import freeze_time, tagged

from .common import DunningCommon

TODAY = date(2026, 6, 30)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestCustomerClaims(DunningCommon):
    """A customer saying they paid, or disputing an invoice: the same rule
    whether they say it on their page or in a reply to a reminder."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._dunning_customer(
            "Nora",
            phone="+34 612 00 00 09",
            country_id=cls.env.ref("base.es").id,
            user_id=cls.dunning_user_a.id,  # the salesperson follows them
        )
        cls.older = cls._dunning_invoice(cls.customer, date(2026, 5, 1), 300.0)
        cls.newer = cls._dunning_invoice(cls.customer, date(2026, 6, 1), 200.0)
        cls.invoices = cls.older | cls.newer

    def _todos(self, record):
        return record.activity_ids.filtered(
            lambda a: a.activity_type_id == self.env.ref("mail.mail_activity_data_todo")
        )

    def _reply(self, text, provider_id):
        return self.env["dunning.reply"]._handle(
            self.company_a,
            "+34612000009",
            text,
            channel="sms",
            provider_id=provider_id,
        )

    def test_payment_report_pauses_notes_and_asks_the_accountant(self):
        note = Markup("<p>%s</p>") % "Paid by transfer, ref 42"
        self.customer._dunning_report_payment(
            self.invoices, note=note, proof=("receipt.pdf", PDF, "application/pdf")
        )
        self.assertEqual(
            set(self.invoices.mapped("dunning_pause_reason")), {"payment_reported"}
        )
        for invoice in self.invoices:
            attachment = self.env["ir.attachment"].search(
                [("res_model", "=", "account.move"), ("res_id", "=", invoice.id)]
            )
            self.assertEqual(
                (attachment.raw, attachment.mimetype), (PDF, "application/pdf")
            )
            message = invoice.message_ids.filtered(lambda m: "ref 42" in m.body)
            self.assertEqual(message.author_id, self.customer)
            self.assertEqual(message.attachment_ids, attachment)
            self.assertFalse(self._todos(invoice))
        self.assertTrue(
            self.customer.message_ids.filtered(lambda m: "ref 42" in m.body)
        )
        todo = self._todos(self.customer)
        self.assertEqual(todo.summary, "Check the payment the customer reported")
        self.assertEqual(todo.user_id, self.dunning_user_a)
        self.assertIn("ref 42", str(todo.note))

    def test_dispute_of_one_invoice_is_a_dispute_with_a_todo(self):
        note = Markup("<p>%s</p>") % "We never ordered this"
        dispute = self.customer._dunning_open_dispute(
            self.older, note=note, words="We never ordered this"
        )
        self.assertEqual(self.older.dunning_pause_reason, "dispute")
        self.assertFalse(self.newer.dunning_pause_reason)
        self.assertFalse(self.older.dunning_pause_until, "until it is answered")
        self.assertEqual(
            (dispute.move_id, dispute.amount, dispute.description),
            (self.older, 300.0, "We never ordered this"),
        )
        todo = self._todos(dispute)
        self.assertEqual(todo.summary, "Answer the customer's dispute")
        self.assertEqual(todo.user_id, self.dunning_user_a)
        self.assertEqual(todo.date_deadline, dispute.date_deadline)
        self.assertFalse(self._todos(self.customer) | self._todos(self.older))
        self.assertTrue(self.older.message_ids.filtered(lambda m: "never" in m.body))

    def test_dispute_of_several_invoices_is_one_dispute_each(self):
        disputes = self.customer._dunning_open_dispute(self.invoices)
        self.assertEqual(set(self.invoices.mapped("dunning_pause_reason")), {"dispute"})
        self.assertEqual(disputes.move_id, self.invoices)
        self.assertEqual(len(disputes.activity_ids), 2)

    def test_without_a_salesperson_a_collections_user_gets_the_todo(self):
        self.customer.user_id = False
        self.customer._dunning_report_payment(self.older)
        todo = self._todos(self.customer)
        self.assertEqual(
            todo.user_id, self.customer._dunning_responsible_user(self.older)
        )
        self.assertFalse(todo.user_id.share)

    def test_reply_already_paid_follows_the_same_rule(self):
        self.newer.action_dunning_pause("promise", until=date(2026, 7, 10))
        self.assertEqual(self._reply("I already paid", "SM-claims-1"), "paid")
        # A reply names no invoice: the one under a promise keeps its pause.
        self.assertEqual(self.older.dunning_pause_reason, "payment_reported")
        self.assertEqual(
            (self.newer.dunning_pause_reason, self.newer.dunning_pause_until),
            ("promise", date(2026, 7, 10)),
        )
        todo = self._todos(self.customer)
        self.assertEqual(todo.summary, "Check the payment the customer reported")
        self.assertEqual(todo.user_id, self.dunning_user_a)

    def test_reply_dispute_follows_the_same_rule(self):
        self.newer.action_dunning_pause("plan")
        self.assertEqual(self._reply("The amount is wrong", "SM-claims-2"), "dispute")
        self.assertEqual(self.older.dunning_pause_reason, "dispute")
        self.assertEqual(self.newer.dunning_pause_reason, "plan")
        dispute = self.env["dunning.dispute"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(dispute.move_id, self.older)
        self.assertEqual(
            (dispute.source, dispute.description), ("sms", "The amount is wrong")
        )
        todo = self._todos(dispute)
        self.assertEqual(todo.summary, "Answer the customer's dispute")
        self.assertEqual(todo.user_id, self.dunning_user_a)
