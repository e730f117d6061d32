import hashlib
import hmac

from odoo.tests import HttpCase, tagged

from ..tools.whatsapp_webhook import parse_webhook
from .common import DunningCommon
from .common_whatsapp import (
    PHONE_NUMBER_ID,
    SECRET,
    inbound_payload,
    signed,
    status,
    status_payload,
)

URL = "/friendly_dunning/webhook/whatsapp"


class WhatsAppWebhookCommon(DunningCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.env["dunning.channel"].create(
            {
                "name": "WhatsApp",
                "channel_type": "whatsapp",
                "company_id": cls.company_a.id,
                "wa_phone_number_id": PHONE_NUMBER_ID,
                "wa_access_token": "token",
                "wa_app_secret": SECRET,
                "wa_verify_token": "verify-me",
            }
        )
        customer = cls._dunning_customer(
            "Maria", phone="+34 612 34 56 78", country_id=cls.env.ref("base.es").id
        )
        cls.customer = customer
        cls.invoice = cls._create_invoice_one_line(
            price_unit=100.0, partner_id=customer, tax_ids=[], post=True
        )
        cls.message = cls.env["dunning.communication"].create(
            {
                "company_id": cls.company_a.id,
                "partner_id": customer.id,
                "channel": "whatsapp",
                "channel_id": cls.channel.id,
                "state": "sent",
                "provider_message_id": "wamid.A",
            }
        )
        cls.other_company_message = cls.env["dunning.communication"].create(
            {
                "company_id": cls.company_b.id,
                "partner_id": customer.id,
                "channel": "whatsapp",
                "state": "sent",
                "provider_message_id": "wamid.B",
            }
        )

    def _post(self, body, headers):
        return self.url_open(
            URL, data=body, headers=headers | {"Content-Type": "application/json"}
        )


@tagged("post_install", "-at_install")
class TestWhatsAppWebhook(WhatsAppWebhookCommon):
    def test_verify_handshake(self):
        ok = self.url_open(
            f"{URL}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42"
        )
        self.assertEqual(ok.status_code, 200)
        self.assertEqual(ok.text, "42")
        wrong = self.url_open(
            f"{URL}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42"
        )
        self.assertEqual(wrong.status_code, 403)

    def test_unsigned_or_wrongly_signed_requests_change_nothing(self):
        body, _headers = signed(status_payload(status("wamid.A", "read", 1700000000)))
        self.assertEqual(self._post(body, {}).status_code, 403)
        _body, bad = signed({"other": "payload"})
        self.assertEqual(self._post(body, bad).status_code, 403)
        _body, other_secret = signed(
            status_payload(status("wamid.A", "read", 1700000000)), "not-ours"
        )
        self.assertEqual(self._post(body, other_secret).status_code, 403)
        self.message.invalidate_recordset()
        self.assertEqual(self.message.state, "sent")

    def test_malformed_json_is_refused(self):
        body = b"{not json"
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        response = self._post(body, {"X-Hub-Signature-256": f"sha256={digest}"})
        self.assertEqual(response.status_code, 400)

    def test_statuses_are_monotonic_and_idempotent(self):
        read = status("wamid.A", "read", 1700000100)
        delivered = status(
            "wamid.A",
            "delivered",
            1700000050,
            pricing={
                "billable": True,
                "pricing_model": "PMP",
                "category": "utility",
                "type": "regular",
            },
        )
        self.env["dunning.whatsapp.rate"].create(
            {
                "company_id": self.company_a.id,
                "country_id": self.env.ref("base.es").id,
                "category": "utility",
                "price": 0.0042,
                "currency_id": self.company_a.currency_id.id,
            }
        )
        for payload in (status_payload(read), status_payload(delivered, read)):
            response = self._post(*signed(payload))
            self.assertEqual(response.status_code, 200)
        self.message.invalidate_recordset()
        self.assertEqual(self.message.state, "read", "never moves backwards")
        self.assertTrue(self.message.read_date)
        self.assertTrue(self.message.delivered_date)
        self.assertEqual(self.message.cost_category, "utility")
        self.assertAlmostEqual(self.message.cost, 0.0042)

    def test_failure_is_explained(self):
        failed = status(
            "wamid.A",
            "failed",
            1700000100,
            errors=[{"code": 131026, "title": "Message undeliverable"}],
        )
        self.assertEqual(self._post(*signed(status_payload(failed))).status_code, 200)
        self.message.invalidate_recordset()
        self.assertEqual(self.message.state, "failed")
        self.assertIn("could not deliver", self.message.error_message)
        self.assertIn("131026", self.message.error_message)

    def test_unknown_ids_and_other_companies_are_ignored(self):
        payload = status_payload(
            status("wamid.unknown", "read", 1700000100),
            status("wamid.B", "read", 1700000100),
        )
        self.assertEqual(self._post(*signed(payload)).status_code, 200)
        self.other_company_message.invalidate_recordset()
        self.assertEqual(self.other_company_message.state, "sent")


@tagged("post_install", "-at_install")
class TestWhatsAppReplies(WhatsAppWebhookCommon):
    def test_reply_already_paid_pauses_and_asks_the_accountant(self):
        payload = inbound_payload(
            "wamid.in1", text="Hola, ya pagué ayer", context="wamid.A"
        )
        self.assertEqual(self._post(*signed(payload)).status_code, 200)
        self.invoice.invalidate_recordset()
        self.assertEqual(self.invoice.dunning_pause_reason, "payment_reported")
        self.message.invalidate_recordset()
        self.assertEqual(self.message.state, "replied")
        self.assertTrue(self.customer.activity_ids)
        reply = self.env["dunning.communication"].search([("kind", "=", "reply")])
        self.assertEqual(reply.body, "Hola, ya pagué ayer")
        # Meta delivering the same webhook again changes nothing.
        self._post(*signed(payload))
        self.assertEqual(
            self.env["dunning.communication"].search_count([("kind", "=", "reply")]), 1
        )

    def test_stop_opts_out_of_whatsapp(self):
        self._post(*signed(inbound_payload("wamid.in2", text="STOP")))
        self.customer.invalidate_recordset()
        self.assertEqual(self.customer.dunning_whatsapp_consent, "opted_out")

    def test_dispute_pauses_the_invoice(self):
        self._post(*signed(inbound_payload("wamid.in3", text="The amount is wrong")))
        self.invoice.invalidate_recordset()
        self.assertEqual(self.invoice.dunning_pause_reason, "dispute")


@tagged("post_install", "-at_install")
class TestWhatsAppStatusBatches(WhatsAppWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.batch = cls.env["dunning.communication"].create(
            [
                {
                    "company_id": cls.company_a.id,
                    "partner_id": cls.customer.id,
                    "channel": "whatsapp",
                    "channel_id": cls.channel.id,
                    "state": "sent",
                    "provider_message_id": f"wamid.batch.{index}",
                }
                for index in range(102)
            ]
        )
        cls.env["dunning.whatsapp.rate"].create(
            {
                "company_id": cls.company_a.id,
                "country_id": cls.env.ref("base.es").id,
                "category": "utility",
                "price": 0.01,
                "currency_id": cls.company_a.currency_id.id,
            }
        )

    def _events(self, messages, state="delivered"):
        return parse_webhook(
            status_payload(
                *(
                    status(
                        message.provider_message_id,
                        state,
                        1700000000 + index,
                        pricing={"pricing_model": "PMP", "category": "utility"},
                    )
                    for index, message in enumerate(messages)
                )
            )
        )["statuses"]

    def _queries(self, messages):
        Communication = self.env["dunning.communication"].sudo()
        events = self._events(messages)
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        Communication._apply_whatsapp_statuses(self.channel, events)
        self.env.flush_all()
        return self.env.cr.sql_log_count - before

    def test_a_hundred_statuses_take_as_many_queries_as_one(self):
        self._queries(self.batch[:1])  # loads what any request needs once
        one = self._queries(self.batch[1:2])
        hundred = self._queries(self.batch[2:])
        self.assertEqual(one, hundred)
        # the messages, their prices' facts (window, market), the update
        self.assertLessEqual(hundred, 4)
        self.assertEqual(set(self.batch.mapped("state")), {"delivered"})
        self.assertEqual(set(self.batch.mapped("cost")), {0.01})
        self.assertTrue(all(self.batch.mapped("delivered_date")))

    def test_a_hundred_statuses_over_http(self):
        payload = status_payload(
            *(
                status(message.provider_message_id, "read", 1700000000)
                for message in self.batch[:100]
            )
        )
        self.assertEqual(self._post(*signed(payload)).status_code, 200)
        self.batch.invalidate_recordset()
        self.assertEqual(set(self.batch[:100].mapped("state")), {"read"})
        self.assertEqual(set(self.batch[100:].mapped("state")), {"sent"})

    def test_a_failure_sends_the_reminder_through_the_next_channel(self):
        step = self.company_a.dunning_policy_id.step_ids[:1]
        step.write({"channel_first": "whatsapp", "channel_second": "email"})
        self.message.write({"step_id": step.id, "body": "Hi Maria"})
        failed = status(
            "wamid.A",
            "failed",
            1700000100,
            errors=[{"code": 131026, "title": "Message undeliverable"}],
        )
        self.assertEqual(self._post(*signed(status_payload(failed))).status_code, 200)
        fallback = self.env["dunning.communication"].search(
            [("fallback_of_id", "=", self.message.id)]
        )
        self.assertEqual(fallback.channel, "email")
        self.assertEqual(fallback.recipient, "maria@example.com")
        self.assertEqual(fallback.state, "queued")
        self.assertIn("Sent by E-mail instead", self.message.error_message)
        # The same failure delivered again does not queue it twice.
        self._post(*signed(status_payload(failed)))
        self.assertEqual(
            self.env["dunning.communication"].search_count(
                [("fallback_of_id", "=", self.message.id)]
            ),
            1,
        )
