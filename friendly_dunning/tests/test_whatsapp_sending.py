import json
import sys
from datetime import date, timedelta
from unittest.mock import patch

from odoo import fields, sql_db
from odoo.tests import HttpCase, freeze_time, tagged

from ..models.dunning_planner import DunningPlanner
from ..tools.whatsapp_client import WhatsAppCloudClient, WhatsAppError
from .common import DunningCommon
from .common_whatsapp import (
    GraphMessagesServer,
    GraphMock,
    signed,
    status,
    status_payload,
    template,
    whatsapp_channel,
)

QUICK_REPLIES = [
    {"type": "QUICK_REPLY", "text": "Pay now"},
    {"type": "QUICK_REPLY", "text": "I already paid"},
    {"type": "QUICK_REPLY", "text": "I need more time"},
    {"type": "QUICK_REPLY", "text": "Talk to someone"},
]
REMINDER = template(
    "invoice_reminder",
    "Hi {{1}}, {{2}} was due on {{3}} ({{4}} days ago).",
    buttons=[
        {
            "type": "URL",
            "text": "See invoice",
            "url": "https://pay.example.com/{{1}}",
        },
        *QUICK_REPLIES,
    ],
    header="DOCUMENT",
)
REMINDER_ES = template(
    "invoice_reminder", "Hola {{1}}, {{2}} venció el {{3}}.", language="es"
)
TOO_MANY = template("too_many", "{{1}} {{2}} {{3}} {{4}} {{5}} {{6}} {{7}}")
PAUSED = template("paused_one", "Hi {{1}}", status="PAUSED")


class WhatsAppSendingCommon(DunningCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = whatsapp_channel(cls.env, cls.company_a, wa_rate_limit=200)
        cls.customer = cls._dunning_customer(
            "Maria", phone="+34 612 34 56 78", country_id=cls.env.ref("base.es").id
        )
        cls.env["dunning.consent"]._record(
            cls.customer, "whatsapp", "opted_in", "manual"
        )
        cls.invoice = cls._dunning_invoice(
            cls.customer, date(2026, 3, 1), amount=1234.5, invoice_date=date(2026, 2, 1)
        )
        cls.step = cls.company_a.dunning_policy_id.step_ids.sorted("offset_days")[-1]
        cls.step.write(
            {
                "channel_first": "whatsapp",
                "channel_second": "sms",
                "channel_third": "email",
            }
        )

    # The Graph API answers in-process, in place of the client's request
    # function; the over-HTTP test sets this to False.
    mock_graph_api = True

    def setUp(self):
        super().setUp()
        self.Template = self.env["dunning.whatsapp.template"]
        if self.mock_graph_api:
            self.graph = GraphMock(templates=[REMINDER, REMINDER_ES, TOO_MANY, PAUSED])
            self.patch(WhatsAppCloudClient, "_request", self.graph.client_request())
            self.channel.action_sync_templates()
        self.reminder = self.Template.search(
            [("name", "=", "invoice_reminder"), ("language", "=", "en_US")]
        )
        self.step.wa_template_id = self.reminder

    def _queue(self, partner=None, count=1, **values):
        partner = partner or self.customer
        return self.env["dunning.communication"].create(
            [
                {
                    "company_id": self.company_a.id,
                    "partner_id": partner.id,
                    "move_ids": [fields.Command.set(self.invoice.ids)],
                    "step_id": self.step.id,
                    "channel": "whatsapp",
                    "channel_id": self.channel.id,
                    "recipient": "+34612345678",
                    "subject": "Your invoice",
                    "body": "Hi Maria, your invoice is overdue.",
                }
                | values
                for _index in range(count)
            ]
        )

    def _send(self):
        self.env["dunning.communication"]._dunning_send_queued()

    def _fallback_of(self, message):
        return self.env["dunning.communication"].search(
            [("fallback_of_id", "=", message.id)]
        )


@tagged("post_install", "-at_install")
class TestWhatsAppTemplates(WhatsAppSendingCommon):
    def test_sync_reads_templates_and_archives_those_gone(self):
        self.assertEqual(self.channel.wa_template_count, 4)
        self.assertEqual(self.reminder.status, "APPROVED")
        self.assertEqual(self.reminder.category, "UTILITY")
        self.assertEqual(self.reminder.body_variable_count, 4)
        self.assertEqual(self.reminder.header_format, "DOCUMENT")
        self.assertEqual(
            self.reminder._quick_reply_payloads(),
            {1: "PAY_NOW", 2: "ALREADY_PAID", 3: "NEED_TIME", 4: "TALK"},
        )
        self.assertEqual(
            [b["type"] for b in json.loads(self.reminder.buttons)][:2],
            ["URL", "QUICK_REPLY"],
        )
        self.graph.templates = [REMINDER]
        self.channel.action_sync_templates()
        self.assertEqual(
            self.Template.search([("channel_id", "=", self.channel.id)]),
            self.reminder,
            "templates Meta no longer lists are archived",
        )

    def test_language_fallback(self):
        spanish = self.Template.search([("language", "=", "es")])
        self.assertEqual(self.reminder._pick("es_MX"), spanish)
        self.assertEqual(self.reminder._pick("es"), spanish)
        self.assertEqual(self.reminder._pick("fr_FR"), self.reminder)
        self.assertEqual(self.reminder._pick("en_US"), self.reminder)
        paused = self.Template.search([("name", "=", "paused_one")])
        self.assertFalse(paused._pick("en_US"), "a paused template is never sent")

    def test_expired_token_shows_on_the_channel(self):
        self.graph.access_token = "another-token"
        action = self.channel.action_sync_templates()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertEqual(self.channel.wa_token_state, "expired")
        self.assertIn("expired", self.channel.wa_last_error)
        self.channel.wa_access_token = "another-token"
        self.assertEqual(self.channel.wa_token_state, "ok")


@tagged("post_install", "-at_install")
class TestWhatsAppSending(WhatsAppSendingCommon):
    @freeze_time("2026-03-11 10:00:00")
    def test_template_outside_the_window_with_invoice_data(self):
        message = self._queue()
        self._send()
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.attempt_count, 1)
        self.assertEqual(message.wa_template_id, self.reminder)
        [upload] = [r for r in self.graph.requests if r["path"].endswith("/media")]
        [sent] = self.graph.sent()
        self.assertEqual(message.provider_message_id, "wamid.2")
        self.assertEqual(sent["to"], "34612345678")
        self.assertEqual(sent["biz_opaque_callback_data"], str(message.id))
        self.assertEqual(sent["template"]["name"], "invoice_reminder")
        self.assertEqual(sent["template"]["language"], {"code": "en_US"})
        components = sent["template"]["components"]
        header, body, url, *quick = components
        self.assertEqual(header["parameters"][0]["document"]["id"], "media.1")
        filename, content, mime_type = upload["files"]["file"]
        self.assertEqual(mime_type, "application/pdf")
        self.assertTrue(filename.endswith(".pdf"))
        self.assertTrue(content)
        self.assertEqual(header["parameters"][0]["document"]["filename"], filename)
        params = body["parameters"]
        self.assertEqual(params[0], {"type": "text", "text": "Maria"})
        self.assertEqual(params[1]["currency"]["amount_1000"], 1234500)
        self.assertEqual(params[1]["currency"]["code"], self.invoice.currency_id.name)
        self.assertEqual(params[2]["text"], "03/01/2026")
        self.assertEqual(params[3]["text"], "10")
        self.assertEqual(url["sub_type"], "url")
        self.assertEqual(url["index"], "0")
        # The template's URL is not on our domain: the path is its variable.
        self.assertTrue(
            url["parameters"][0]["text"].startswith(f"my/invoices/{self.invoice.id}?")
        )
        self.assertIn("access_token=", url["parameters"][0]["text"])
        self.assertEqual(
            [q["parameters"][0]["payload"] for q in quick],
            ["PAY_NOW", "ALREADY_PAID", "NEED_TIME", "TALK"],
        )

    def test_free_text_inside_the_window(self):
        self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "kind": "reply",
                "channel": "whatsapp",
                "recipient": "+34612345678",
                "state": "replied",
                "date": fields.Datetime.now() - timedelta(hours=23),
            }
        )
        message = self._queue()
        self._send()
        [sent] = self.graph.sent()
        self.assertEqual(sent["type"], "text")
        self.assertEqual(sent["text"]["body"], "Hi Maria, your invoice is overdue.")
        self.assertEqual(message.state, "sent")

    def test_window_closed_after_24_hours(self):
        self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "kind": "reply",
                "channel": "whatsapp",
                "recipient": "+34612345678",
                "state": "replied",
                "date": fields.Datetime.now() - timedelta(hours=25),
            }
        )
        self._queue()
        self._send()
        self.assertEqual(self.graph.sent()[0]["type"], "template")

    def test_no_opt_in_falls_back_to_the_next_channel(self):
        other = self._dunning_customer(
            "Ana", phone="+34 612 00 00 01", country_id=self.env.ref("base.es").id
        )
        message = self._queue(partner=other, recipient="+34612000001")
        self._send()
        self.assertFalse(self.graph.sent(), "nothing sent without opt-in")
        self.assertEqual(message.state, "failed")
        self.assertIn("has not agreed", message.error_message)
        fallback = self._fallback_of(message)
        # No SMS channel in this company: e-mail, the third channel, carries it.
        self.assertEqual(fallback.channel, "email")
        self.assertEqual(fallback.recipient, "ana@example.com")
        self.assertEqual(fallback.state, "sent", "the same run sends the fallback")
        self.assertEqual(fallback.body, message.body)
        self.assertIn("Sent by E-mail instead", message.error_message)

    def test_invalid_number_is_skipped_with_a_reason(self):
        self.customer.phone = "612"
        message = self._queue(recipient=False)
        self._send()
        self.assertFalse(self.graph.sent())
        self.assertIn("is not valid for Spain", message.error_message)
        self.assertEqual(self._fallback_of(message).channel, "email")

    def test_template_with_missing_parameters_is_not_sent(self):
        self.step.wa_template_id = self.Template.search([("name", "=", "too_many")])
        message = self._queue()
        self._send()
        self.assertFalse(self.graph.sent())
        self.assertIn("needs values we cannot fill: 7", message.error_message)
        self.assertTrue(self._fallback_of(message))

    def test_no_template_outside_the_window(self):
        self.step.wa_template_id = False
        message = self._queue()
        self._send()
        self.assertFalse(self.graph.sent())
        self.assertIn("no approved WhatsApp template", message.error_message)

    def test_rate_limit_and_server_errors_retry_with_backoff(self):
        message = self._queue()
        self.graph.fail_next(status=429, code=130429, retry_after=5)
        with freeze_time("2026-03-11 10:00:00"):
            self._send()
            self.assertEqual(message.state, "queued")
            self.assertEqual(message.attempt_count, 1)
            self.assertEqual(
                message.next_attempt, fields.Datetime.now() + timedelta(seconds=60)
            )
            self.assertIn("slow down", message.error_message)
            calls = len(self.graph.requests)
            self._send()
            self.assertEqual(
                len(self.graph.requests), calls, "not before its next attempt"
            )
        self.graph.fail_next(status=500, code=1)
        with freeze_time("2026-03-11 10:01:01"):
            self._send()
            self.assertEqual(message.attempt_count, 2)
            self.assertEqual(
                message.next_attempt, fields.Datetime.now() + timedelta(seconds=120)
            )
        with freeze_time("2026-03-11 10:03:02"):
            self._send()
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.attempt_count, 3)
        self.assertFalse(message.error_message)
        self.assertFalse(self._fallback_of(message))

    def test_retries_give_up_and_fall_back(self):
        message = self._queue(attempt_count=4)
        self.graph.fail_next(status=503, code=2)
        self._send()
        self.assertEqual(message.state, "failed")
        self.assertTrue(self._fallback_of(message))

    def test_permanent_errors_fall_back_without_retry(self):
        for code, words in (
            (131026, "could not deliver"),
            (132015, "template is missing, paused"),
            (131047, "only an approved template"),
        ):
            message = self._queue()
            self.graph.fail_next(status=400, code=code)
            self._send()
            self.assertEqual(message.state, "failed")
            self.assertIn(words, message.error_message)
            self.assertIn(str(code), message.error_message)
            self.assertEqual(self._fallback_of(message).channel, "email")

    def test_expired_token_falls_back_and_stops_using_the_channel(self):
        self.graph.access_token = "renewed-elsewhere"
        first = self._queue()
        self._send()
        self.assertEqual(self.channel.wa_token_state, "expired")
        self.assertEqual(first.state, "failed")
        self.assertIn("access token has expired", first.error_message)
        self.assertEqual(self._fallback_of(first).channel, "email")
        calls = len(self.graph.requests)
        second = self._queue()
        self._send()
        self.assertEqual(len(self.graph.requests), calls, "no call with a dead token")
        self.assertEqual(self._fallback_of(second).channel, "email")
        # The planner routes around the channel as well.
        decision = DunningPlanner(
            self.env, self.company_a, fields.Datetime.now()
        ).manual_decision(self.customer, self.invoice, self.step, "whatsapp")
        self.assertTrue(decision.is_unreachable)

    def test_unknown_outcome_waits_for_the_webhook(self):
        message = self._queue()
        timeout = WhatsAppError(
            None, "server", "WhatsApp did not answer in time.", outcome_unknown=True
        )
        with patch.object(WhatsAppCloudClient, "send_template", side_effect=timeout):
            self._send()
        self.assertEqual(message.state, "sending")
        self.assertIn("Waiting for WhatsApp to confirm", message.error_message)
        self._send()
        self.assertFalse(
            self.graph.sent(), "in doubt: not sent again before the waiting time"
        )
        self.assertEqual(message.state, "sending")
        # WhatsApp did send it: the status webhook carries our id back.
        payload = status_payload(
            status("wamid.late", "delivered", 1700000000)
            | {"biz_opaque_callback_data": str(message.id)}
        )
        body, headers = signed(payload)
        response = self.url_open(
            "/friendly_dunning/webhook/whatsapp",
            data=body,
            headers=headers | {"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        message.invalidate_recordset()
        self.assertEqual(message.state, "delivered")
        self.assertEqual(message.provider_message_id, "wamid.late")
        self.assertTrue(message.sent_date)

    def test_unconfirmed_message_is_sent_once_more_after_the_timeout(self):
        message = self._queue()
        message.write(
            {
                "state": "sending",
                "attempt_count": 1,
                "sending_date": fields.Datetime.now() - timedelta(minutes=59),
            }
        )
        self._send()
        self.assertEqual(message.state, "sending")
        self.assertFalse(self.graph.sent())
        message.sending_date = fields.Datetime.now() - timedelta(minutes=61)
        self._send()
        self.assertEqual(message.state, "sent")
        self.assertTrue(message.resent_unconfirmed)
        self.assertFalse(message.outcome_unknown)
        self.assertEqual(message.attempt_count, 2)
        [sent] = self.graph.sent()
        # The same id: a late status of the first send settles it as well.
        self.assertEqual(sent["biz_opaque_callback_data"], str(message.id))
        self._send()
        self.assertEqual(len(self.graph.sent()), 1, "sent once more, not twice")

    def test_a_late_status_settles_a_message_waiting_to_be_sent_again(self):
        message = self._queue()
        message.write(
            {
                "state": "sending",
                "sending_date": fields.Datetime.now() - timedelta(minutes=61),
            }
        )
        self.env["dunning.communication"]._dunning_reconcile_unconfirmed()
        self.assertEqual(message.state, "queued")
        self.assertTrue(message.resent_unconfirmed)
        # The first send's status arrives before the second send leaves.
        body, headers = signed(
            status_payload(
                status("wamid.first", "delivered", 1700000000)
                | {"biz_opaque_callback_data": str(message.id)}
            )
        )
        response = self.url_open(
            "/friendly_dunning/webhook/whatsapp",
            data=body,
            headers=headers | {"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        message.invalidate_recordset()
        self.assertEqual(message.state, "delivered")
        self._send()
        self.assertFalse(self.graph.sent(), "settled: not sent a second time")

    def test_a_message_cancelled_after_it_was_taken_is_never_marked(self):
        sent, cancelled = self._queue(count=2)
        cancelled.action_cancel()
        marked = (sent | cancelled)._whatsapp_mark_sending()
        self.assertEqual(marked, sent)
        self.assertEqual(cancelled.state, "cancelled")
        self.assertFalse(cancelled.attempt_count)

    def test_unconfirmed_again_after_the_resend_is_failed_for_review(self):
        message = self._queue()
        message.write(
            {
                "state": "sending",
                "sending_date": fields.Datetime.now() - timedelta(minutes=61),
            }
        )
        timeout = WhatsAppError(
            None, "server", "WhatsApp did not answer in time.", outcome_unknown=True
        )
        with patch.object(WhatsAppCloudClient, "send_template", side_effect=timeout):
            self._send()
        self.assertEqual(message.state, "sending")
        self.assertTrue(message.resent_unconfirmed)
        message.sending_date = fields.Datetime.now() - timedelta(minutes=61)
        self._send()
        self.assertEqual(message.state, "failed")
        self.assertTrue(message.outcome_unknown)
        self.assertIn("check with the customer", message.error_message)
        self.assertFalse(self._fallback_of(message), "maybe delivered: no fallback")
        self.assertFalse(self.graph.sent(), "never a third time")

    def test_another_worker_sending_through_the_number_is_respected(self):
        message = self._queue()
        lock = (424201, self.channel.id)
        with sql_db.db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s, %s)", lock)
            try:
                self._send()
            finally:
                other.execute("SELECT pg_advisory_unlock(%s, %s)", lock)
        self.assertEqual(message.state, "queued")
        self.assertFalse(self.graph.sent())
        self._send()
        self.assertEqual(message.state, "sent")

    def test_rate_is_never_exceeded(self):
        self.channel.wa_rate_limit = 10
        self.step.wa_template_id = self.Template.search(
            [("name", "=", "invoice_reminder"), ("language", "=", "es")]
        )
        grants = self.channel._whatsapp_rate_limiter().history = []
        self._queue(count=25)
        switch_interval = sys.getswitchinterval()
        self._send()
        # The finer thread switching used while sending is given back.
        self.assertEqual(sys.getswitchinterval(), switch_interval)
        self.assertEqual(len(self.graph.sent()), 25)
        self.assertEqual(len(grants), 25, "every message went through the limiter")
        # No one-second window holds more than 10 sends, and 25 sends at
        # 10 a second need at least 2 seconds.
        for first, eleventh in zip(grants, grants[10:]):
            self.assertGreaterEqual(eleventh - first, 1.0)
        self.assertGreaterEqual(grants[-1] - grants[0], 2.0)

    def test_the_engine_routes_reminders_to_the_whatsapp_channel(self):
        decision = DunningPlanner(
            self.env, self.company_a, fields.Datetime.now()
        ).manual_decision(self.customer, self.invoice, self.step, "whatsapp")
        self.assertEqual(decision.channel_record, self.channel)
        self.assertEqual(decision.recipient, "+34612345678")


@tagged("post_install", "-at_install")
class TestWhatsAppSendingOverHttp(WhatsAppSendingCommon):
    """The one test of sending over HTTP, to a loopback Graph API."""

    mock_graph_api = False

    def test_free_text_over_http(self):
        server = GraphMessagesServer().start()
        self.addCleanup(server.stop)
        self.channel.wa_api_base_url = server.base_url
        self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "kind": "reply",
                "channel": "whatsapp",
                "recipient": "+34612345678",
                "state": "replied",
                "date": fields.Datetime.now() - timedelta(hours=1),
            }
        )
        message = self._queue()
        self._send()
        [sent] = server.sent
        self.assertEqual(sent["to"], "34612345678")
        self.assertEqual(sent["type"], "text")
        self.assertEqual(sent["text"]["body"], "Hi Maria, your invoice is overdue.")
        self.assertEqual(sent["biz_opaque_callback_data"], str(message.id))
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.provider_message_id, "wamid.1")


@tagged("post_install", "-at_install")
class TestWhatsAppReplyActions(WhatsAppSendingCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("es_ES")
        cls.env["ir.module.module"]._load_module_terms(
            ["friendly_dunning"], ["es_ES"], overwrite=True
        )

    def _reply(self, text, wamid):
        return self.env["dunning.reply"]._handle(
            self.company_a, "+34612345678", text, provider_id=wamid
        )

    def test_need_more_time_offers_the_plans_the_segment_allows(self):
        self.assertEqual(self._reply("I need more time", "wamid.in.1"), "more_time")
        [sent] = self.graph.sent()
        self.assertEqual(
            sent["type"], "interactive", "inside the window opened by the reply"
        )
        self.assertEqual(sent["interactive"]["type"], "list")
        [section] = sent["interactive"]["action"]["sections"]
        self.assertEqual(
            [row["title"] for row in section["rows"]],
            ["2 payments", "3 payments", "4 payments", "A new date"],
        )
        answer = self.env["dunning.communication"].search([("kind", "=", "answer")])
        self.assertEqual(answer.state, "sent")
        self.assertEqual(answer.provider_message_id, "wamid.1")
        self.assertEqual(answer.wa_interactive, sent["interactive"])

    def test_already_paid_pauses_and_sends_the_link_to_report_it(self):
        self.assertEqual(self._reply("Ya pagué ayer", "wamid.in.4"), "paid")
        self.invoice.invalidate_recordset()
        self.assertEqual(self.invoice.dunning_pause_reason, "payment_reported")
        [sent] = self.graph.sent()
        self.assertEqual(sent["type"], "text", "inside the window opened by the reply")
        body = sent["text"]["body"]
        self.assertIn("paused", body)
        # The customer's signed page, opened on the "I have already paid" form.
        link = body.rsplit(" ", 1)[1]
        self.assertTrue(link.endswith("#dunning_report_payment"), link)
        token = link.rsplit("/collections/", 1)[1].split("#", 1)[0]
        self.assertEqual(
            self.env["res.partner"]._dunning_portal_check_token(token)[0],
            self.customer,
        )
        page = self.url_open(link.split("#", 1)[0])
        self.assertEqual(page.status_code, 200)
        self.assertIn('id="dunning_report_payment"', page.text)
        answer = self.env["dunning.communication"].search([("kind", "=", "answer")])
        self.assertEqual(answer.state, "sent")
        self.assertEqual(answer.move_ids, self.invoice)
        self.assertEqual(
            self.customer.activity_ids.mapped("summary"),
            ["Check the payment the customer reported"],
        )

    def test_help_on_whatsapp_shows_the_menu(self):
        self.customer.lang = "es_ES"
        self.assertEqual(self._reply("¿Qué puedo responder?", "wamid.in.5"), "help")
        [sent] = self.graph.sent()
        self.assertEqual(sent["type"], "interactive")
        body = sent["interactive"]["body"]["text"]
        self.assertIn("Maria", body)
        self.assertIn("STOP", body)
        [section] = sent["interactive"]["action"]["sections"]
        self.assertEqual(len(section["rows"]), 6)
        answer = self.env["dunning.communication"].search([("kind", "=", "answer")])
        self.assertEqual(answer.state, "sent")
        self.invoice.invalidate_recordset()
        self.assertFalse(self.invoice.dunning_pause_reason)
        self.assertFalse(self.customer.activity_ids)
        # By SMS the webhook's TwiML answers HELP: nothing is sent twice.
        self.env["dunning.reply"]._handle(
            self.company_a, "+34612345678", "HELP", channel="sms", provider_id="SM1"
        )
        self.assertEqual(
            self.env["dunning.communication"].search_count([("kind", "=", "answer")]),
            1,
        )

    def test_no_invoice_gets_the_pdf_in_the_same_chat(self):
        self.assertEqual(
            self._reply("I didn't get the invoice", "wamid.in.2"), "no_invoice"
        )
        [upload] = [r for r in self.graph.requests if r["path"].endswith("/media")]
        filename, content, mime_type = upload["files"]["file"]
        self.assertEqual(mime_type, "application/pdf")
        self.assertTrue(content)
        [sent] = self.graph.sent()
        self.assertEqual(sent["type"], "document")
        self.assertEqual(sent["document"]["id"], "media.1")
        self.assertEqual(sent["document"]["filename"], filename)
        self.assertIn(self.invoice.name, sent["document"]["caption"])

    def test_an_answer_is_never_sent_without_opt_in(self):
        other = self._dunning_customer(
            "Ana", phone="+34 612 00 00 01", country_id=self.env.ref("base.es").id
        )
        self._dunning_invoice(other, date(2026, 3, 1))
        self.env["dunning.reply"]._handle(
            self.company_a, "+34612000001", "I need more time", provider_id="w.3"
        )
        self.assertFalse(self.graph.sent())
