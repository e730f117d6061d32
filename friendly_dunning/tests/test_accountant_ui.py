from datetime import datetime, timedelta

from odoo.exceptions import UserError
from odoo.tests import Form, freeze_time, tagged

from .common import DunningCommon

NOW = datetime(2026, 6, 30, 14, 0)  # 11:00 in São Paulo
TODAY = NOW.date()


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestAccountantUi(DunningCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._dunning_customer(
            "Lucas",
            phone="+55 11 98765-4321",
            country_id=cls.env.ref("base.br").id,
            tz="America/Sao_Paulo",
        )
        cls.late = cls._dunning_invoice(cls.customer, TODAY - timedelta(days=40))
        cls.soon = cls._dunning_invoice(cls.customer, TODAY + timedelta(days=2))
        cls.env["dunning.consent"]._record(
            cls.customer, "whatsapp", "opted_in", "import"
        )
        # What follows is done by a collections user, not an administrator.
        cls.env = cls.env(user=cls.dunning_user_a)
        cls.customer = cls.customer.with_env(cls.env)
        cls.late = cls.late.with_env(cls.env)
        cls.soon = cls.soon.with_env(cls.env)

    def test_send_reminder_now_shows_what_the_customer_reads(self):
        wizard = Form(
            self.env["dunning.send.wizard"].with_context(active_id=self.customer.id)
        )
        self.assertEqual(wizard.step_id.offset_days, 30, "the step the age calls for")
        self.assertIn(self.late.name, wizard.body)
        self.assertEqual(wizard.recipient, "+5511987654321")
        wizard.channel = "email"
        self.assertEqual(wizard.recipient, "lucas@example.com")
        wizard.body = "Hi Lucas, a personal note: please pay."
        action = wizard.save().action_send()
        self.assertEqual(action["params"]["type"], "success")
        message = self.env["dunning.communication"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(message.kind, "manual")
        self.assertEqual(message.body, "Hi Lucas, a personal note: please pay.")
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.channel, "email")

    def test_send_reminder_to_an_unreachable_channel_is_refused(self):
        self.customer.sudo().phone = False
        wizard = Form(
            self.env["dunning.send.wizard"].with_context(active_id=self.customer.id)
        )
        wizard.channel = "sms"
        self.assertIn("no phone number", wizard.problem)
        with self.assertRaisesRegex(UserError, "no phone number"):
            wizard.save().action_send()

    def test_preview_of_the_next_run(self):
        preview = self.env["dunning.run.preview"].browse(
            self.env["dunning.run.preview"].action_open()["res_id"]
        )
        lines = self.env["dunning.run.preview.line"].search(
            preview.action_view_lines()["domain"]
        )
        line = lines.filtered(lambda line: line.partner_id == self.customer)
        self.assertEqual(line.outcome, "send")
        self.assertEqual(line.move_count, 2, "the overdue one and the one due soon")
        self.assertEqual(line.channel, "whatsapp")
        self.assertFalse(
            self.env["dunning.communication"].search(
                [("partner_id", "=", self.customer.id)]
            ),
            "a preview sends nothing",
        )

    def test_pause_and_resume_a_customer(self):
        self.customer.action_dunning_pause()
        self.assertEqual(
            set((self.late | self.soon).mapped("dunning_pause_reason")), {"manual"}
        )
        self.assertFalse(self.late.dunning_next_date)
        self.customer.action_dunning_resume()
        self.assertFalse(self.late.dunning_pause_reason)
        self.assertTrue(self.late.dunning_next_date)

    def test_partner_and_invoice_forms_show_collections(self):
        partner_form = Form(self.customer)
        self.assertEqual(
            partner_form.dunning_policy_id, self.company_a.dunning_policy_id
        )
        invoice_arch = self.env["account.move"].get_views([(False, "form")])["views"][
            "form"
        ]["arch"]
        self.assertIn("dunning_next_date", invoice_arch)
        self.assertIn("action_dunning_pause", invoice_arch)
