import base64
import hashlib
import hmac

from odoo.tests import HttpCase, tagged

from .common import DunningCommon

PATH = "/friendly_dunning/webhook/twilio"
TOKEN = "twilio-auth-token"


def twilio_signature(url, params, token=TOKEN):
    """Computed here as Twilio documents it, independently of the addon."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@tagged("post_install", "-at_install")
class TestTwilioWebhook(DunningCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["dunning.channel"].create(
            {
                "name": "SMS",
                "channel_type": "sms",
                "company_id": cls.company_a.id,
                "sms_number": "+1 555 010 0199",
                "sms_twilio_auth_token": TOKEN,
            }
        )
        cls.customer = cls._dunning_customer(
            "Joana", phone="+55 11 98765-4321", country_id=cls.env.ref("base.br").id
        )
        cls.invoice = cls._create_invoice_one_line(
            price_unit=100.0, partner_id=cls.customer, tax_ids=[], post=True
        )

    def _post(self, params, token=TOKEN, signature=None):
        url = f"{self.base_url()}{PATH}"
        headers = {}
        if signature is not False:
            headers["X-Twilio-Signature"] = signature or twilio_signature(
                url, params, token
            )
        return self.url_open(url, data=params, headers=headers)

    def _sms(self, body, sid, **extra):
        return {
            "From": "+5511987654321",
            "To": "+15550100199",
            "Body": body,
            "MessageSid": sid,
            **extra,
        }

    def _blacklisted(self, number="+5511987654321"):
        return bool(
            self.env["phone.blacklist"]
            .with_context(active_test=True)
            .search([("number", "=", number)])
        )

    def test_stop_blacklists_and_opts_out_at_once(self):
        response = self._post(self._sms("STOP", "SM1", OptOutType="STOP"))
        self.assertEqual(response.status_code, 200)
        self.assertIn("<Response>", response.text)
        self.assertTrue(self._blacklisted())
        self.customer.invalidate_recordset()
        entry = self.env["dunning.consent"].search(
            [("partner_id", "=", self.customer.id), ("channel", "=", "sms")]
        )
        self.assertEqual((entry.state, entry.source), ("opted_out", "reply"))
        reply = self.env["dunning.communication"].search(
            [("kind", "=", "reply"), ("partner_id", "=", self.customer.id)]
        )
        self.assertEqual((reply.channel, reply.body), ("sms", "STOP"))
        # START undoes it.
        self._post(self._sms("START", "SM2", OptOutType="START"))
        self.assertFalse(self._blacklisted())

    def test_help_is_answered(self):
        response = self._post(self._sms("HELP", "SM3", OptOutType="HELP"))
        self.assertEqual(response.status_code, 200)
        self.assertIn("<Message>", response.text)
        self.assertIn("Reply STOP", response.text)
        self.assertFalse(self._blacklisted())
        self.assertFalse(self.customer.activity_ids)

    def test_replies_act_like_whatsapp_replies(self):
        self._post(self._sms("Já paguei ontem", "SM4"))
        self.invoice.invalidate_recordset()
        self.assertEqual(self.invoice.dunning_pause_reason, "payment_reported")
        # Twilio retrying the same message changes nothing more.
        self._post(self._sms("Já paguei ontem", "SM4"))
        self.assertEqual(
            self.env["dunning.communication"].search_count(
                [("kind", "=", "reply"), ("provider_message_id", "=", "SM4")]
            ),
            1,
        )

    def test_stop_from_an_unknown_number_is_honoured(self):
        params = self._sms("STOP", "SM5") | {"From": "+5511911112222"}
        self.assertEqual(self._post(params).status_code, 200)
        self.assertTrue(self._blacklisted("+5511911112222"))

    def test_bad_or_missing_signature_changes_nothing(self):
        params = self._sms("STOP", "SM6", OptOutType="STOP")
        self.assertEqual(self._post(params, signature=False).status_code, 403)
        self.assertEqual(self._post(params, token="not-ours").status_code, 403)
        tampered = dict(params, From="+5511900000000")
        url = f"{self.base_url()}{PATH}"
        response = self._post(tampered, signature=twilio_signature(url, params))
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self._blacklisted())
        self.assertFalse(
            self.env["dunning.communication"].search([("kind", "=", "reply")])
        )
