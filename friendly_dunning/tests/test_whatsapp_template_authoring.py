from datetime import date, datetime, timezone
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, freeze_time, tagged

from ..tools.intents import QUICK_REPLY_PAYLOADS
from ..tools.whatsapp_client import SERVER, WhatsAppCloudClient, WhatsAppError
from ..tools.whatsapp_shipped_templates import SHIPPED_TEMPLATES
from .common import DunningCommon
from .common_whatsapp import (
    SECRET,
    WABA_ID,
    GraphMock,
    signed,
    template,
    template_category_payload,
    template_review_payload,
    whatsapp_channel,
)

URL = "/friendly_dunning/webhook/whatsapp"
NOW = "2026-03-11 10:00:00"
# Meta's review news comes after the submission (NOW).
LATER = int(datetime(2026, 3, 11, 12, 0, tzinfo=timezone.utc).timestamp())


class WhatsAppTemplateCommon(DunningCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("es_ES")
        cls.channel = whatsapp_channel(cls.env, cls.company_a)
        cls.customer = cls._dunning_customer(
            "Maria",
            phone="+34 612 34 56 78",
            country_id=cls.env.ref("base.es").id,
            lang="es_ES",
        )
        cls.env["dunning.consent"]._record(
            cls.customer, "whatsapp", "opted_in", "manual"
        )
        cls.invoice = cls._dunning_invoice(
            cls.customer, date(2026, 3, 1), amount=1234.5, invoice_date=date(2026, 2, 1)
        )
        cls.step = cls.company_a.dunning_policy_id.step_ids.filtered(
            lambda step: step.offset_days == 7
        )
        cls.Template = cls.env["dunning.whatsapp.template"]

    def setUp(self):
        super().setUp()
        self.graph = GraphMock()
        self.patch(WhatsAppCloudClient, "_request", self.graph.client_request())

    def _draft(self, name="fd_reminder_overdue", language="es"):
        self.channel.with_user(self.dunning_manager_a).action_create_shipped_templates()
        return self.Template.search(
            [
                ("channel_id", "=", self.channel.id),
                ("name", "=", name),
                ("language", "=", language),
            ]
        )

    def _submitted(self, name="fd_reminder_overdue", language="es"):
        draft = self._draft(name, language)
        draft.with_user(self.dunning_manager_a).action_submit()
        return draft

    def _post(self, payload, secret=SECRET):
        body, headers = signed(payload, secret)
        return self.url_open(
            URL, data=body, headers=headers | {"Content-Type": "application/json"}
        )

    def _review(self, draft, event, timestamp=LATER, **values):
        response = self._post(
            template_review_payload(
                draft.meta_id,
                event,
                timestamp,
                name=draft.name,
                language=draft.language,
                **values,
            )
        )
        self.assertEqual(response.status_code, 200)
        draft.invalidate_recordset()
        self.channel.invalidate_recordset()
        return response

    def _queue(self):
        return self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "move_ids": [fields.Command.set(self.invoice.ids)],
                "step_id": self.step.id,
                "channel": "whatsapp",
                "channel_id": self.channel.id,
                "recipient": "+34612345678",
                "subject": "Your invoice",
                "body": "Hola Maria, tu factura está vencida.",
            }
        )

    def _send(self):
        self.env["dunning.communication"]._dunning_send_queued()

    def _template_calls(self):
        return [
            request
            for request in self.graph.requests
            if request["method"] == "POST"
            and request["path"].endswith("/message_templates")
        ]


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestWhatsAppTemplateAuthoring(WhatsAppTemplateCommon):
    def test_shipped_steps_name_their_templates(self):
        steps = (
            self.env["dunning.policy"]
            .search([("company_id", "=", self.company_a.id)])
            .step_ids
        )
        self.assertTrue(steps)
        for step in steps.filtered(lambda s: "whatsapp" in s._channel_preference()):
            self.assertIn(step.wa_template_name, SHIPPED_TEMPLATES, step.name)
        self.assertEqual(self.step.wa_template_name, "fd_reminder_overdue")

    def test_shipped_drafts_in_three_languages(self):
        self._draft()
        drafts = self.Template.search([("channel_id", "=", self.channel.id)])
        self.assertEqual(len(drafts), len(SHIPPED_TEMPLATES) * 3)
        self.assertEqual(set(drafts.mapped("language")), {"en", "es", "pt_BR"})
        self.assertEqual(set(drafts.mapped("state")), {"draft"})
        self.assertEqual(set(drafts.mapped("category")), {"UTILITY"})
        known = set(QUICK_REPLY_PAYLOADS.values())
        for draft in drafts:
            self.assertEqual(draft._authoring_problems(), [], draft.display_name)
            payloads = draft._quick_reply_payloads()
            self.assertTrue(payloads, draft.display_name)
            self.assertLessEqual(set(payloads.values()), known, draft.display_name)
            self.assertTrue(
                draft._url_button()[1].endswith("/collections/{{1}}"),
                draft.display_name,
            )
        spanish = drafts.filtered(
            lambda t: t.name == "fd_reminder_overdue" and t.language == "es"
        )
        self.assertEqual(
            spanish._variable_names(),
            ["name", "company", "amount", "due_date", "days_overdue", "invoices"],
        )
        self.assertEqual(
            spanish._quick_reply_payloads(), {1: "ALREADY_PAID", 2: "NEED_TIME"}
        )
        # A second click creates nothing more.
        self.channel.with_user(self.dunning_manager_a).action_create_shipped_templates()
        self.assertEqual(
            self.Template.search_count([("channel_id", "=", self.channel.id)]),
            len(drafts),
        )

    def test_submission_body_is_what_meta_expects(self):
        draft = self._draft()
        action = draft.with_user(self.dunning_manager_a).action_submit()
        self.assertEqual(action["params"]["type"], "success")
        [call] = self._template_calls()
        self.assertEqual(call["path"], f"/v21.0/{WABA_ID}/message_templates")
        request = call["json"]
        base = self.channel.get_base_url()
        body, buttons = request["components"]
        self.assertEqual(
            {key: request[key] for key in ("name", "language", "category")},
            {"name": "fd_reminder_overdue", "language": "es", "category": "UTILITY"},
        )
        self.assertEqual(body["type"], "BODY")
        self.assertEqual(
            body["text"], SHIPPED_TEMPLATES["fd_reminder_overdue"]["bodies"]["es"]
        )
        [example] = body["example"]["body_text"]
        self.assertEqual(len(example), 6)
        self.assertEqual(example[0], "Maria Silva")
        self.assertEqual(example[1], self.company_a.name)
        self.assertIn(
            "1.234,50", example[2], "the amount as a Spanish reader writes it"
        )
        self.assertEqual(example[4], "7")
        self.assertEqual(
            buttons,
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Ver y pagar",
                        "url": f"{base}/collections/{{{{1}}}}",
                        "example": [f"{base}/collections/1-1-1999999999-{'0' * 64}"],
                    },
                    {"type": "QUICK_REPLY", "text": "Ya pagué"},
                    {"type": "QUICK_REPLY", "text": "Necesito más tiempo"},
                ],
            },
        )
        self.assertEqual(draft.state, "pending")
        self.assertEqual(draft.meta_id, "880000000001")
        self.assertEqual(draft.status_date, fields.Datetime.now())

    def test_double_submit_sends_once(self):
        draft = self._draft()
        manager_draft = draft.with_user(self.dunning_manager_a)
        manager_draft.action_submit()
        again = manager_draft.action_submit()
        self.assertEqual(again["params"]["type"], "info")
        self.assertEqual(len(self._template_calls()), 1)
        self.assertEqual(draft.state, "pending")

    def test_invalid_drafts_are_refused_before_any_call(self):
        draft = self._draft().with_user(self.dunning_manager_a)
        draft.write(
            {
                "name": "Overdue Reminder",
                "body": "{{1}} owes {{3}}",
                "variable_names": "name,amount,bogus",
            }
        )
        draft.button_ids[0].copy(
            {"text": "Hablar con alguien", "button_type": "QUICK_REPLY"}
        )
        draft.button_ids[0].copy({"text": "Pagar ahora", "button_type": "QUICK_REPLY"})
        with self.assertRaises(UserError) as refused:
            draft.action_submit()
        message = str(refused.exception)
        for expected in (
            "lower case letters",
            "Number the variables 1, 2, 3",
            "neither start nor end with a variable",
            "has 2 variables but Values names 3",
            "4 quick replies: at most 3",
        ):
            self.assertIn(expected, message)
        draft.write(
            {
                "name": "fd_long",
                "body": "Hola {{1}}, " + "x" * 1100 + " gracias",
                "variable_names": "name",
            }
        )
        draft.button_ids[-2:].unlink()
        draft.button_ids[0].url = "collections/{{1}}"
        with self.assertRaises(UserError) as refused:
            draft.action_submit()
        self.assertIn("Meta accepts 1024 at most", str(refused.exception))
        self.assertIn("must be a full web address", str(refused.exception))
        draft.write(
            {"body": "Hola {{1}}, mira {{2}} gracias", "variable_names": "name,iban"}
        )
        with self.assertRaises(UserError) as refused:
            draft.action_submit()
        self.assertIn(
            "Variables {{2}} receive no value we know", str(refused.exception)
        )
        self.assertFalse(self._template_calls())
        self.assertEqual(draft.state, "draft")

    def test_meta_refusal_shows_meta_reason_and_keeps_the_draft(self):
        draft = self._draft()
        self.graph.fail_next(400, code=100)
        action = draft.with_user(self.dunning_manager_a).action_submit()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("Meta refused the template", action["params"]["message"])
        self.assertIn("(#100) Invalid parameter", action["params"]["message"])
        self.assertEqual((draft.state, draft.meta_id), ("draft", False))
        # Meta already has the template (created in its manager, say).
        self.graph.templates.append(template("fd_reminder_overdue", "x", language="es"))
        action = draft.with_user(self.dunning_manager_a).action_submit()
        self.assertIn("already exists", action["params"]["message"])
        self.assertEqual(draft.state, "draft")

    def test_outage_and_timeout_keep_the_draft(self):
        draft = self._draft().with_user(self.dunning_manager_a)
        self.graph.fail_next(503, code=2)
        action = draft.action_submit()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("not available right now", action["params"]["message"])
        timeout = WhatsAppError(
            None, SERVER, "WhatsApp did not answer in time.", outcome_unknown=True
        )
        with patch.object(WhatsAppCloudClient, "create_template", side_effect=timeout):
            action = draft.action_submit()
        self.assertIn("Sync the templates", action["params"]["message"])
        self.assertEqual(draft.state, "draft")
        self.graph.access_token = "another-token"
        action = draft.action_submit()
        self.assertIn("expired", action["params"]["message"])
        self.assertEqual(self.channel.wa_token_state, "expired")

    def test_only_managers_write_and_submit(self):
        draft = self._draft()
        with self.assertRaises(AccessError):
            draft.with_user(self.dunning_user_a).action_submit()
        with self.assertRaises(AccessError):
            self.channel.with_user(
                self.dunning_user_a
            ).action_create_shipped_templates()
        self.assertFalse(self._template_calls())

    def test_sync_keeps_drafts_and_updates_what_meta_has(self):
        drafts = self._draft().channel_id.wa_template_ids
        submitted = self._submitted("fd_reminder_firm", "en")
        self.graph.templates.append(
            template("invoice_reminder", "Hi {{1}}, {{2}} due.")
        )
        self.graph.templates[0]["status"] = "APPROVED"
        self.channel.action_sync_templates()
        templates = self.Template.search([("channel_id", "=", self.channel.id)])
        self.assertEqual(len(templates), len(drafts) + 1)
        self.assertEqual(submitted.state, "approved")
        self.assertEqual(
            len(templates.filtered(lambda t: t.state == "draft")), len(drafts) - 1
        )
        synced = templates.filtered(lambda t: t.name == "invoice_reminder")
        self.assertEqual((synced.state, synced.body_variable_count), ("approved", 2))
        # The mapping of values written here survives the sync.
        self.assertEqual(submitted._variable_names()[-1], "company")

    def test_rejected_template_can_be_edited_and_submitted_again(self):
        draft = self._submitted()
        self._review(draft, "REJECTED", reason="INVALID_FORMAT")
        draft.with_user(self.dunning_manager_a).action_back_to_draft()
        draft.body = draft.body.replace("Quizá", "Tal vez")
        draft.with_user(self.dunning_manager_a).action_submit()
        edit = self.graph.requests[-1]
        self.assertEqual(edit["path"], f"/v21.0/{draft.meta_id}")
        self.assertIn("Tal vez", edit["json"]["components"][0]["text"])
        self.assertEqual((draft.state, draft.status_reason), ("pending", False))
        self.assertEqual(len(self._template_calls()), 1)


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestWhatsAppTemplateReview(WhatsAppTemplateCommon):
    def test_approval_maps_the_step_and_the_reminder_uses_it(self):
        english = self._submitted(language="en")
        draft = self._submitted()
        self._review(english, "APPROVED")
        self.assertFalse(self.step.wa_template_id, "no manual mapping")
        message = self._queue()
        self._send()
        self.assertEqual(message.state, "failed")
        self.assertNotEqual(message.wa_template_id, english, "never another language")
        self.assertIn(
            "(es) cannot be sent: waiting for Meta's review", message.error_message
        )

        self._review(draft, "APPROVED")
        self.assertEqual(draft.state, "approved")
        self.assertIn("fd_reminder_overdue (es)", self.channel.wa_template_last_event)
        message = self._queue()
        self._send()
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.wa_template_id, draft)
        sent = self.graph.sent()[-1]
        self.assertEqual(sent["template"]["name"], "fd_reminder_overdue")
        self.assertEqual(sent["template"]["language"], {"code": "es"})
        body, url, *quick = sent["template"]["components"]
        params = body["parameters"]
        self.assertEqual(len(params), 6)
        self.assertEqual(params[0]["text"], "Maria")
        self.assertEqual(params[1]["text"], self.company_a.name)
        self.assertEqual(params[2]["currency"]["amount_1000"], 1234500)
        self.assertEqual(params[4]["text"], "10")
        self.assertEqual(params[5]["text"], self.invoice.name)
        token = url["parameters"][0]["text"]
        self.assertEqual(token, self.customer._dunning_portal_token(self.company_a))
        self.assertEqual(
            [q["parameters"][0]["payload"] for q in quick],
            ["ALREADY_PAID", "NEED_TIME"],
        )

    def test_rejected_with_reason_shows_on_the_channel(self):
        draft = self._submitted()
        self._review(draft, "REJECTED", reason="INVALID_FORMAT")
        self.assertEqual(
            (draft.state, draft.status_reason), ("rejected", "INVALID_FORMAT")
        )
        self.assertIn("rejected by Meta: INVALID_FORMAT", draft.unusable_reason)
        self.assertIn(
            "fd_reminder_overdue (es): rejected by Meta: INVALID_FORMAT",
            self.channel.wa_template_problems,
        )
        self.assertTrue(
            self.channel.wa_template_last_event.endswith(
                "fd_reminder_overdue (es): rejected by Meta: INVALID_FORMAT"
            ),
            "the last review says the state and its reason once",
        )

    def test_paused_falls_back_to_the_next_channel_with_the_reason(self):
        draft = self._submitted()
        self._review(draft, "APPROVED")
        self._review(
            draft,
            "PAUSED",
            LATER + 60,
            reason=None,
            other_info={"title": "FIRST_PAUSE", "description": "Low quality rating"},
        )
        self.assertEqual(draft.state, "paused")
        message = self._queue()
        self._send()
        self.assertFalse(self.graph.sent())
        fallback = self.env["dunning.communication"].search(
            [("fallback_of_id", "=", message.id)]
        )
        # No SMS channel in this company: e-mail, the third channel, carries it.
        self.assertEqual((message.state, fallback.channel), ("failed", "email"))
        self.assertIn("paused by Meta: Low quality rating", message.error_message)
        self.assertIn("paused by Meta", self.channel.wa_template_problems)

    def test_recategorised_as_marketing_is_not_used(self):
        draft = self._submitted()
        self._review(draft, "APPROVED")
        response = self._post(
            template_category_payload(draft.meta_id, "MARKETING", LATER + 60)
        )
        self.assertEqual(response.status_code, 200)
        draft.invalidate_recordset()
        self.assertEqual((draft.state, draft.category), ("approved", "MARKETING"))
        message = self._queue()
        self._send()
        self.assertFalse(self.graph.sent())
        self.assertIn("MARKETING", message.error_message)
        self.assertIn("only utility templates", self.channel.wa_template_problems)

    def test_repeated_late_and_out_of_order_events_change_nothing(self):
        draft = self._submitted()
        self._review(draft, "APPROVED", LATER)
        seen = (draft.status, draft.status_date, self.channel.wa_template_last_event)
        with freeze_time("2026-03-11 13:00:00"):
            self._review(draft, "APPROVED", LATER)  # the same event again
            self._review(draft, "PENDING", LATER + 5)  # a late PENDING
            self._review(draft, "PAUSED", LATER - 3600)  # older than what we know
        self.assertEqual(
            (draft.status, draft.status_date, self.channel.wa_template_last_event), seen
        )
        # News older than the submission itself is ignored too.
        other = self._submitted(language="pt_BR")
        self._review(other, "REJECTED", LATER - 86400)
        self.assertEqual(other.state, "pending")

    def test_bad_signature_is_refused_and_changes_nothing(self):
        draft = self._submitted()
        response = self._post(
            template_review_payload(draft.meta_id, "APPROVED", LATER), "wrong-secret"
        )
        self.assertEqual(response.status_code, 403)
        draft.invalidate_recordset()
        self.assertEqual(draft.state, "pending")
        self.assertFalse(self.channel.wa_template_last_event)

    def test_unknown_account_and_unknown_template_are_ignored(self):
        draft = self._submitted()
        count = self.Template.search_count([])
        response = self._post(
            template_review_payload(draft.meta_id, "APPROVED", LATER, waba_id="999999"),
            "another-secret",
        )
        self.assertEqual(response.status_code, 200)
        response = self._post(template_review_payload("123456789", "APPROVED", LATER))
        self.assertEqual(response.status_code, 200)
        draft.invalidate_recordset()
        self.assertEqual(draft.state, "pending")
        self.assertEqual(self.Template.search_count([]), count)

    def test_manual_mapping_still_wins(self):
        self.graph.templates = [
            template("invoice_reminder", "Hola {{1}}, {{2}} vence.", "es")
        ]
        self.channel.action_sync_templates()
        mapped = self.Template.search([("name", "=", "invoice_reminder")])
        draft = self._submitted()
        self._review(draft, "APPROVED")
        self.step.wa_template_id = mapped
        message = self._queue()
        self._send()
        self.assertEqual(message.wa_template_id, mapped)
        self.assertEqual(self.graph.sent()[-1]["template"]["name"], "invoice_reminder")
