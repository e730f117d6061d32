from datetime import date, timedelta

from odoo.tests import freeze_time, tagged

from odoo.addons.friendly_dunning.models.dunning_planner import DunningPlanner

from .common import NOW, TODAY, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestSandboxPrecedence(DunningCommon):
    """The sandbox carries only what no real channel carries, and a message
    it carried says it was not sent, on every screen and in every figure."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        channels = cls.env["dunning.channel"].search(
            [("company_id", "=", cls.company.id)]
        )
        cls.sandbox = channels.filtered(lambda c: c.channel_type == "sandbox")
        cls.email = channels.filtered(lambda c: c.channel_type == "email")
        spain = cls.env.ref("base.es")
        cls.maria = cls._dunning_customer(
            "Maria", phone="612 34 56 78", country_id=spain.id, tz="Europe/Madrid"
        )
        cls.maria_invoice = cls._dunning_invoice(cls.maria, days(-8), 120.0)
        cls.env["dunning.consent"]._record(cls.maria, "whatsapp", "opted_in", "portal")
        cls.bob = cls._dunning_customer("Bob", tz="Europe/Madrid")
        cls.bob_invoice = cls._dunning_invoice(cls.bob, days(-8), 80.0)

    def _decision(self, partner):
        planner = DunningPlanner(self.env, self.company, NOW)
        [decision] = planner.decide(partner.ids)
        return decision

    def _run(self):
        self.env["dunning.run"]._run_company(self.company, now=NOW)
        self.env["dunning.communication"]._dunning_send_queued()

    def _message(self, partner):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", partner.id)]
        )

    def test_a_configured_whatsapp_channel_wins_over_the_sandbox(self):
        self.assertEqual(self._decision(self.maria).channel_record, self.sandbox)
        whatsapp = self.env["dunning.channel"].create(
            {
                "name": "WhatsApp",
                "channel_type": "whatsapp",
                "company_id": self.company.id,
                "wa_phone_number_id": "1234",
                "wa_access_token": "token",
                "sequence": 20,
            }
        )
        self.assertTrue(self.sandbox.active)
        decision = self._decision(self.maria)
        self.assertEqual(
            (decision.channel, decision.channel_record), ("whatsapp", whatsapp)
        )
        # A refused token leaves the WhatsApp messages to the sandbox again.
        whatsapp.wa_token_state = "expired"
        self.assertEqual(self._decision(self.maria).channel_record, self.sandbox)

    def test_a_real_email_channel_wins_over_the_sandbox(self):
        self._run()
        message = self._message(self.bob)
        self.assertEqual(message.channel_id, self.email)
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.mail_id.email_to, "bob@example.com")

    def test_a_message_through_the_sandbox_says_it_was_not_sent(self):
        self.email.active = False
        self._run()
        for partner in self.maria | self.bob:
            message = self._message(partner)
            self.assertEqual(message.channel_id, self.sandbox, partner.name)
            self.assertEqual(message.state, "sandbox", partner.name)
            self.assertFalse(message.sent_date, "never sent")
            self.assertFalse(message.mail_id)
        states = dict(
            self.env["dunning.communication"]
            ._fields["state"]
            ._description_selection(self.env)
        )
        self.assertEqual(states["sandbox"], "Sandbox (not sent)")

    def test_figures_never_count_a_sandbox_message_as_sent_or_delivered(self):
        self.email.active = False
        self._run()
        self.assertEqual(self._message(self.bob).state, "sandbox")
        # Paid the day after the reminder, as if it had been read.
        with freeze_time(NOW + timedelta(days=1)):
            self._dunning_pay(self.bob_invoice, TODAY + timedelta(days=1))
        self.env.flush_all()
        kpis = self.env["dunning.kpi"].get_kpis(
            date(2026, 6, 1), date(2026, 7, 31), company_ids=self.company.ids
        )
        for channel, figures in kpis["channels"].items():
            self.assertEqual(
                (figures["sent"], figures["delivered"], figures["paid_within_7_days"]),
                (0, 0, 0),
                channel,
            )
        self.assertFalse(
            self.env["dunning.report.channel"].search(
                [("partner_id", "in", (self.maria | self.bob).ids)]
            ),
            "the channel funnel counts only messages sent",
        )
        # The same reminder through the e-mail channel counts.
        self.email.active = True
        other = self._dunning_customer("Carla", tz="Europe/Madrid")
        self._dunning_invoice(other, days(-8), 50.0)
        self._run()
        self.env.flush_all()
        self.assertEqual(
            self.env["dunning.report.channel"]
            .search([("partner_id", "=", other.id)])
            .mapped("channel"),
            ["email"],
        )

    def test_the_screens_say_what_the_sandbox_carries(self):
        def notice():
            notices = self.env["res.company"].dunning_notices()
            return next(
                (n for n in notices if n["id"] == f"sandbox_{self.company.id}"), None
            )

        message = notice()["message"]
        self.assertIn("WhatsApp, SMS", message)
        self.assertNotIn("E-mail", message, "the e-mail channel sends for real")
        self.assertEqual(notice()["action"], "friendly_dunning.action_dunning_channel")
        self.email.active = False
        self.assertIn("E-mail", notice()["message"])
        self.email.active = True
        self.env["dunning.channel"].create(
            [
                {
                    "name": "WhatsApp",
                    "channel_type": "whatsapp",
                    "company_id": self.company.id,
                    "wa_phone_number_id": "1234",
                    "wa_access_token": "token",
                },
                {"name": "SMS", "channel_type": "sms", "company_id": self.company.id},
            ]
        )
        self.assertIsNone(notice(), "the sandbox carries nothing any more")
        self.env["dunning.channel"].search(
            [("company_id", "=", self.company.id), ("channel_type", "!=", "sandbox")]
        ).active = False
        self.sandbox.active = False
        self.assertIsNone(notice(), "no sandbox, no notice")
