from odoo.tests import freeze_time, tagged

from .common_conversation import (
    MARIA,
    NOW,
    OUR_SMS_NUMBER,
    TWILIO_TOKEN,
    ConversationCommon,
)


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestSmsConversation(ConversationCommon):
    """By two-way SMS the same flows go by numbered replies."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["dunning.channel"].create(
            {
                "name": "SMS",
                "channel_type": "sms",
                "company_id": cls.company_a.id,
                "sms_number": OUR_SMS_NUMBER,
                "sms_twilio_auth_token": TWILIO_TOKEN,
            }
        )

    def _last_answer(self):
        return self.env["dunning.communication"].search(
            [("kind", "=", "answer"), ("channel", "=", "sms")], order="id desc", limit=1
        )

    def _plans(self):
        return self.env["dunning.payment.plan"].search(
            [("partner_id", "=", self.customer.id)]
        )

    def test_numbered_replies_agree_a_plan(self):
        self._sms("I need more time", "SM1")
        options = self._last_answer().body
        self.assertIn("Reply 2: 3 payments", options)
        self.assertEqual(self._last_answer().recipient, "+" + MARIA)
        self._sms("2", "SM2")
        schedule = self._last_answer().body
        self.assertIn("02/14/2027", schedule)
        self.assertIn("Reply 1: Confirm", schedule)
        self.assertFalse(self._plans(), "nothing agreed before the confirmation")
        self._sms("1", "SM3")
        plan = self._plans()
        self.assertEqual((plan.state, plan.source), ("active", "reply"))
        self.assertEqual(len(plan.installment_ids), 3)
        self.assertIn("payment plan is agreed", self._last_answer().body)
        # Twilio delivering the confirmation again makes no second plan.
        self._sms("1", "SM3")
        self.assertEqual(self._plans(), plan)

    def test_a_number_out_of_range_gets_the_menu(self):
        self._sms("I need more time", "SM1")
        self._sms("9", "SM2")
        self.assertFalse(self._plans())
        menu = self._last_answer().body
        self.assertIn("Reply 1: I need more time", menu)
        self.assertIn("Reply 6: Talk to someone", menu)

    def test_stop_and_help_answer_as_before(self):
        self.assertIn("Reply STOP", self._sms("HELP", "SM1").text)
        self._sms("STOP", "SM2")
        consent = self.env["dunning.consent"].search(
            [("partner_id", "=", self.customer.id), ("channel", "=", "sms")],
            order="id desc",
            limit=1,
        )
        self.assertEqual(consent.state, "opted_out")
        self.assertTrue(
            self.env["phone.blacklist"].search([("number", "=", "+" + MARIA)])
        )
