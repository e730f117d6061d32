"""The webhooks from an attacker's point of view, and from a provider's that
delivers late, twice or to the wrong place: events act only for the company
that owns the receiving number, at most once and in order; oversized and
malformed bodies are refused before any work."""

import base64
import hashlib
import hmac
import logging
from datetime import timedelta
from unittest.mock import patch

from psycopg2 import IntegrityError

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..controllers.webhooks import WEBHOOK_REFUSALS
from ..tools.whatsapp_client import WhatsAppCloudClient
from .common import DunningCommon
from .common_whatsapp import PHONE_NUMBER_ID, SECRET, TOKEN, GraphMock, signed, status

WHATSAPP = "/friendly_dunning/webhook/whatsapp"
TWILIO = "/friendly_dunning/webhook/twilio"
TWILIO_TOKEN = "shared-twilio-account-token"
NUMBER_A, NUMBER_B = "1001", "2002"
SMS_A, SMS_B = "+15550100199", "+15550100200"
MARIA = "34612345678"
JOANA = "+5511987654321"
LIMIT = 1024 * 1024


def envelope(phone_number_id, statuses=(), messages=()):
    """A webhook POST for our number ``phone_number_id``, as Meta sends it."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": phone_number_id},
    }
    if statuses:
        value["statuses"] = list(statuses)
    if messages:
        value["messages"] = list(messages)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "waba-1", "changes": [{"field": "messages", "value": value}]}],
    }


def inbound(wamid, text, timestamp=1700000200, context=None, sender=MARIA):
    message = {
        "from": sender,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": text},
    }
    if context:
        message["context"] = {"id": context}
    return message


def sign_raw(body, secret=SECRET):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}"}


def twilio_signature(url, params, token=TWILIO_TOKEN):
    """As Twilio documents it, independently of the addon."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class WebhookAbuseCommon(DunningCommon, HttpCase):
    """Two companies on one Meta app (one app secret) and one Twilio account
    (one auth token), each with its own numbers; one customer shared by
    both, with an open invoice in each."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Channel = cls.env["dunning.channel"]
        cls.wa_a, cls.wa_b = Channel.create(
            [
                {
                    "name": "WhatsApp",
                    "channel_type": "whatsapp",
                    "company_id": company.id,
                    "wa_phone_number_id": number,
                    "wa_access_token": "token",
                    "wa_app_secret": SECRET,
                }
                for company, number in (
                    (cls.company_a, NUMBER_A),
                    (cls.company_b, NUMBER_B),
                )
            ]
        )
        cls.sms_a, cls.sms_b = Channel.create(
            [
                {
                    "name": "SMS",
                    "channel_type": "sms",
                    "company_id": company.id,
                    "sms_number": number,
                    "sms_twilio_auth_token": TWILIO_TOKEN,
                }
                for company, number in ((cls.company_a, SMS_A), (cls.company_b, SMS_B))
            ]
        )
        cls.maria = cls._dunning_customer(
            "Maria", phone="+34 612 34 56 78", country_id=cls.env.ref("base.es").id
        )
        cls.joana = cls._dunning_customer(
            "Joana", phone="+55 11 98765-4321", country_id=cls.env.ref("base.br").id
        )
        due = fields.Date.today() - timedelta(days=20)
        cls.maria_a = cls._dunning_invoice(cls.maria, due, 100.0)
        cls.maria_b = cls._dunning_invoice(
            cls.maria, due, 200.0, company_id=cls.company_b.id
        )
        cls.joana_a = cls._dunning_invoice(cls.joana, due, 300.0)
        cls.joana_b = cls._dunning_invoice(
            cls.joana, due, 400.0, company_id=cls.company_b.id
        )
        Communication = cls.env["dunning.communication"]
        cls.message_a, cls.message_b = Communication.create(
            [
                {
                    "company_id": channel.company_id.id,
                    "partner_id": cls.maria.id,
                    "channel": "whatsapp",
                    "channel_id": channel.id,
                    "state": "sent",
                    "provider_message_id": wamid,
                }
                for channel, wamid in ((cls.wa_a, "wamid.A"), (cls.wa_b, "wamid.B"))
            ]
        )

    def _whatsapp(self, payload, secret=SECRET):
        body, headers = signed(payload, secret)
        return self._whatsapp_raw(body, headers)

    def _whatsapp_raw(self, body, headers):
        return self.url_open(
            WHATSAPP, data=body, headers=headers | {"Content-Type": "application/json"}
        )

    def _twilio(self, to, body, sid, **extra):
        params = {"From": JOANA, "To": to, "Body": body, "MessageSid": sid, **extra}
        url = f"{self.base_url()}{TWILIO}"
        headers = {"X-Twilio-Signature": twilio_signature(url, params)}
        return self.url_open(url, data=params, headers=headers)

    def _replies(self):
        return self.env["dunning.communication"].search([("kind", "=", "reply")])

    def _blacklisted(self, number=JOANA):
        return bool(
            self.env["phone.blacklist"]
            .with_context(active_test=True)
            .search([("number", "=", number)])
        )

    def _state(self, record, field="state"):
        record.invalidate_recordset()
        return record[field]


@tagged("post_install", "-at_install")
class TestWebhookReceivingNumber(WebhookAbuseCommon):
    def test_whatsapp_status_acts_only_for_the_number_that_sent_the_message(self):
        # Company B's number reporting company A's message: same app secret,
        # wrong number.
        read_a = status("wamid.A", "read", 1700000100)
        response = self._whatsapp(envelope(NUMBER_B, statuses=[read_a]))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._state(self.message_a), "sent")
        self.assertEqual(self._state(self.message_b), "sent")
        # The owner's number does it.
        self._whatsapp(envelope(NUMBER_A, statuses=[read_a]))
        self.assertEqual(self._state(self.message_a), "read")
        self.assertEqual(self._state(self.message_b), "sent")

    def test_whatsapp_callback_data_cannot_reach_another_companys_message(self):
        forged = status(
            "wamid.unknown",
            "failed",
            1700000100,
            biz_opaque_callback_data=str(self.message_a.id),
            errors=[{"code": 131026}],
        )
        self.assertEqual(
            self._whatsapp(envelope(NUMBER_B, statuses=[forged])).status_code, 200
        )
        self.assertEqual(self._state(self.message_a), "sent")

    def test_whatsapp_reply_acts_for_the_receiving_company_only(self):
        payload = envelope(NUMBER_B, messages=[inbound("wamid.in1", "Ya pagué")])
        self.assertEqual(self._whatsapp(payload).status_code, 200)
        self.assertEqual(
            self._state(self.maria_b, "dunning_pause_reason"), "payment_reported"
        )
        self.assertFalse(self._state(self.maria_a, "dunning_pause_reason"))
        reply = self._replies()
        self.assertEqual(reply.company_id, self.company_b)
        self.assertEqual(reply.channel_id, self.wa_b)

    def test_replied_to_lookup_stays_in_the_receiving_company(self):
        # A reply reaching company A's number that names company B's message.
        message = inbound("wamid.in2", "Thanks", context="wamid.B")
        self._whatsapp(envelope(NUMBER_A, messages=[message]))
        self.assertEqual(self._state(self.message_b), "sent")
        message = inbound("wamid.in3", "Thanks", context="wamid.A")
        self._whatsapp(envelope(NUMBER_A, messages=[message]))
        self.assertEqual(self._state(self.message_a), "replied")

    def test_whatsapp_events_for_a_number_not_ours_change_nothing(self):
        payload = envelope(
            "9999",
            statuses=[status("wamid.A", "read", 1700000100)],
            messages=[inbound("wamid.in4", "STOP")],
        )
        with self.assertLogs(
            "odoo.addons.friendly_dunning.controllers.webhooks", logging.INFO
        ) as logs:
            response = self._whatsapp(payload)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(logs.output), 1, logs.output)
        self.assertIn("9999", logs.output[0])
        self.assertEqual(self._state(self.message_a), "sent")
        self.assertFalse(self._replies())
        self.assertFalse(self._state(self.maria, "dunning_whatsapp_consent"))

    def test_whatsapp_number_of_another_app_needs_its_own_secret(self):
        self.wa_b.wa_app_secret = "another-app-secret"
        payload = envelope(NUMBER_B, statuses=[status("wamid.B", "read", 1700000100)])
        self.assertEqual(self._whatsapp(payload).status_code, 403)
        self.assertEqual(self._state(self.message_b), "sent")
        self.assertEqual(self._whatsapp(payload, "another-app-secret").status_code, 200)
        self.assertEqual(self._state(self.message_b), "read")

    def test_an_answer_leaves_from_the_number_the_customer_wrote_to(self):
        """WhatsApp's 24-hour window is opened per business number: an answer
        from another number of the company would be refused."""
        self.env["dunning.channel"].search(
            [("company_id", "=", self.company_a.id), ("channel_type", "=", "sandbox")]
        ).active = False
        second = self.env["dunning.channel"].create(
            {
                "name": "WhatsApp (second number)",
                "channel_type": "whatsapp",
                "company_id": self.company_a.id,
                "sequence": 99,
                "wa_phone_number_id": PHONE_NUMBER_ID,
                "wa_access_token": TOKEN,
                "wa_app_secret": SECRET,
            }
        )
        self.env["dunning.consent"]._record(
            self.maria, "whatsapp", "opted_in", "manual"
        )
        graph = GraphMock()
        self.patch(WhatsAppCloudClient, "_request", graph.client_request())
        message = inbound("wamid.in9", "I need more time")
        self._whatsapp(envelope(PHONE_NUMBER_ID, messages=[message]))
        answer = self.env["dunning.communication"].search([("kind", "=", "answer")])
        self.assertEqual(answer.channel_id, second)
        self.assertEqual(answer.state, "sent")
        self.assertEqual(len(graph.sent()), 1)

    def test_twilio_reply_acts_for_the_company_of_the_number_it_reached(self):
        response = self._twilio(SMS_B, "Já paguei ontem", "SM1")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            self._state(self.joana_b, "dunning_pause_reason"), "payment_reported"
        )
        self.assertFalse(self._state(self.joana_a, "dunning_pause_reason"))
        self.assertEqual(self._replies().company_id, self.company_b)

    def test_twilio_help_names_the_receiving_company(self):
        response = self._twilio(SMS_B, "HELP", "SM2", OptOutType="HELP")
        self.assertIn(self.company_b.name, response.text)
        self.assertNotIn(self.company_a.name, response.text)

    def test_twilio_message_to_a_number_not_ours_changes_nothing(self):
        with self.assertLogs(
            "odoo.addons.friendly_dunning.controllers.webhooks", logging.INFO
        ) as logs:
            response = self._twilio("+15550100999", "STOP", "SM3", OptOutType="STOP")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(logs.output), 1, logs.output)
        self.assertIn("+15550100999", logs.output[0])
        self.assertFalse(self._blacklisted())
        self.assertFalse(self._replies())
        self.assertFalse(
            self.env["dunning.consent"].search([("partner_id", "=", self.joana.id)])
        )


@tagged("post_install", "-at_install")
class TestWebhookBodies(WebhookAbuseCommon):
    def test_whatsapp_body_over_the_limit_is_refused_unread(self):
        payload = envelope(NUMBER_A, messages=[inbound("wamid.big", "x" * LIMIT)])
        body, headers = signed(payload)
        self.assertGreater(len(body), LIMIT)
        self.assertEqual(self._whatsapp_raw(body, headers).status_code, 413)
        self.assertFalse(self._replies())

    def test_body_of_unannounced_length_is_refused_unread(self):
        payload = envelope(NUMBER_A, messages=[inbound("wamid.big", "x" * LIMIT)])
        body, headers = signed(payload)

        def chunks():  # no Content-Length: sent chunked
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        self.assertEqual(self._whatsapp_raw(chunks(), headers).status_code, 411)
        self.assertFalse(self._replies())

    def test_twilio_body_over_the_limit_is_refused(self):
        response = self._twilio(SMS_A, "x" * LIMIT, "SM4")
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self._replies())

    def test_deeply_nested_json_is_a_bad_request(self):
        body = b"[" * 100000 + b"]" * 100000
        response = self._whatsapp_raw(body, sign_raw(body))
        self.assertEqual(response.status_code, 400)

    def test_wrong_shapes_are_bad_requests_or_skipped(self):
        for payload in (
            [],
            {"object": "page", "entry": []},
            {"object": "whatsapp_business_account", "entry": {"id": 1}},
        ):
            response = self._whatsapp(payload)
            self.assertEqual(response.status_code, 400, payload)
            self.assertIn("not a WhatsApp Business Account webhook", response.text)
        # Entries of the wrong types inside a good envelope are skipped.
        odd = envelope(NUMBER_A, statuses=["read", {"id": ["wamid.A"]}])
        odd["entry"].append("junk")
        self.assertEqual(self._whatsapp(odd).status_code, 200)
        self.assertEqual(self._state(self.message_a), "sent")

    def test_a_timestamp_out_of_range_is_no_server_error(self):
        late = status("wamid.A", "read", 10**20)
        response = self._whatsapp(envelope(NUMBER_A, statuses=[late]))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self._state(self.message_a), "read")


@tagged("post_install", "-at_install")
class TestWebhookRefusals(WebhookAbuseCommon):
    """A client whose requests keep being refused is turned away before any
    work, even with a request that would pass."""

    def setUp(self):
        super().setUp()
        WEBHOOK_REFUSALS.clear()
        self.addCleanup(WEBHOOK_REFUSALS.clear)
        limit = patch.object(WEBHOOK_REFUSALS, "limit", 3)
        limit.start()
        self.addCleanup(limit.stop)

    @mute_logger("odoo.addons.friendly_dunning.controllers.webhooks")
    def test_a_client_refused_again_and_again_is_turned_away(self):
        payload = envelope(NUMBER_A, messages=[inbound("wamid.ok", "hola")])
        body, headers = signed(payload)
        wrong = headers | {"X-Hub-Signature-256": "sha256=" + "0" * 64}
        for _attempt in range(3):
            self.assertEqual(self._whatsapp_raw(body, wrong).status_code, 403)
        self.assertEqual(self._whatsapp_raw(body, headers).status_code, 429)
        self.assertEqual(self._twilio(SMS_A, "hola", "SM-after").status_code, 429)
        self.assertFalse(self._replies())
        WEBHOOK_REFUSALS.clear()  # the window has passed
        self.assertEqual(self._whatsapp_raw(body, headers).status_code, 200)
        self.assertEqual(len(self._replies()), 1)

    @mute_logger("odoo.http")
    def test_guessing_the_verify_token_is_turned_away(self):
        params = {"hub.mode": "subscribe", "hub.challenge": "42"}
        for guess in range(3):
            response = self.url_open(
                WHATSAPP, params=params | {"hub.verify_token": f"guess{guess}"}
            )
            self.assertEqual(response.status_code, 403)
        response = self.url_open(WHATSAPP, params=params | {"hub.verify_token": "x"})
        self.assertEqual(response.status_code, 429)

    def test_accepted_requests_are_never_counted(self):
        for number in range(5):
            payload = envelope(NUMBER_A, messages=[inbound(f"wamid.{number}", "hola")])
            self.assertEqual(self._whatsapp(payload).status_code, 200)
        self.assertEqual(len(self._replies()), 5)


@tagged("post_install", "-at_install")
class TestWebhookReplays(WebhookAbuseCommon):
    def _consent(self, partner, channel):
        partner.invalidate_recordset()
        return (
            self.env["dunning.consent"]
            ._current_states(partner)
            .get((partner.id, channel))
        )

    def test_a_replayed_whatsapp_reply_acts_once(self):
        payload = envelope(NUMBER_A, messages=[inbound("wamid.in5", "Ya pagué")])
        for _attempt in range(2):
            self.assertEqual(self._whatsapp(payload).status_code, 200)
        self.assertEqual(len(self._replies()), 1)
        self.assertEqual(len(self.maria.activity_ids), 1)

    def test_an_older_whatsapp_start_never_undoes_a_newer_stop(self):
        now = int(fields.Datetime.now().timestamp())
        stop = inbound("wamid.stop", "STOP", timestamp=now - 60)
        late_start = inbound("wamid.start", "START", timestamp=now - 120)
        self._whatsapp(envelope(NUMBER_A, messages=[stop]))
        self._whatsapp(envelope(NUMBER_A, messages=[late_start]))
        self.assertEqual(self._consent(self.maria, "whatsapp"), "opted_out")
        # A newer START does opt back in.
        start = inbound("wamid.start2", "START", timestamp=now)
        self._whatsapp(envelope(NUMBER_A, messages=[start]))
        self.assertEqual(self._consent(self.maria, "whatsapp"), "opted_in")

    def test_a_retried_twilio_start_never_undoes_a_later_stop(self):
        self._twilio(SMS_A, "START", "SM10", OptOutType="START")
        self._twilio(SMS_A, "STOP", "SM11", OptOutType="STOP")
        self.assertTrue(self._blacklisted())
        # Twilio delivering the first START again.
        self.assertEqual(
            self._twilio(SMS_A, "START", "SM10", OptOutType="START").status_code, 200
        )
        self.assertTrue(self._blacklisted())
        self.assertEqual(self._consent(self.joana, "sms"), "opted_out")

    def test_a_retried_start_from_an_unknown_number_never_undoes_a_stop(self):
        stranger = {"From": "+5511911112222"}
        self._twilio(SMS_A, "START", "SM20", OptOutType="START", **stranger)
        self._twilio(SMS_A, "STOP", "SM21", OptOutType="STOP", **stranger)
        self._twilio(SMS_A, "START", "SM20", OptOutType="START", **stranger)
        self.assertTrue(self._blacklisted("+5511911112222"))

    def test_two_deliveries_at_once_act_once(self):
        """Two workers handling the same message: neither sees the other's
        record when it looks, so only the insert can tell them apart."""
        Communication = self.env.registry["dunning.communication"]
        original = Communication.search_count

        def search_count(records, domain, *args, **kwargs):
            if any(
                isinstance(term, list | tuple) and term[0] == "provider_message_id"
                for term in domain
            ):
                return 0
            return original(records, domain, *args, **kwargs)

        self.patch(Communication, "search_count", search_count)
        Reply = self.env["dunning.reply"]
        outcomes = [
            Reply._handle(
                self.company_a, JOANA, "Já paguei", channel="sms", provider_id="SM30"
            )
            for _worker in range(2)
        ]
        self.assertEqual(outcomes, ["paid", None])
        self.assertEqual(len(self._replies()), 1)
        self.assertEqual(len(self.joana.activity_ids), 1)

    def test_the_database_refuses_a_second_reply_with_the_same_id(self):
        values = {
            "company_id": self.company_a.id,
            "partner_id": self.joana.id,
            "kind": "reply",
            "channel": "sms",
            "provider_message_id": "SM40",
        }
        Communication = self.env["dunning.communication"]
        Communication.create(values)
        Communication.create(values | {"company_id": self.company_b.id})
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(IntegrityError),
            self.env.cr.savepoint(),
        ):
            Communication.create(values)
