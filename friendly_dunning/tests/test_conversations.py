from datetime import date, timedelta
from unittest.mock import patch

from odoo.tests import freeze_time, tagged

from .common_autopay import demo_provider
from .common_conversation import NOW, ConversationCommon, inbound


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestConversationFlows(ConversationCommon):
    """Each flow from the signed inbound webhook to the record it makes."""

    def _plans(self):
        return self.env["dunning.payment.plan"].search(
            [("partner_id", "=", self.customer.id)]
        )

    def test_more_time_plan_within_limits_is_agreed_in_the_chat(self):
        self._post(inbound("w.1", NOW, text="I need more time"))
        options = self._rows()
        self.assertEqual(
            list(options), ["2 payments", "3 payments", "4 payments", "A new date"]
        )
        self._post(inbound("w.2", NOW, tap=(options["3 payments"], "3 payments")))
        schedule = self._last_sent()["interactive"]
        self.assertEqual(schedule["type"], "button")
        self.assertIn("12/14/2026", schedule["body"]["text"])
        self.assertIn("300.00", schedule["body"]["text"])
        confirm = self._rows()["Confirm"]
        self._post(inbound("w.3", NOW, button=(confirm, "Confirm")))
        plan = self._plans()
        self.assertEqual(plan.state, "active")
        self.assertEqual(plan.source, "reply")
        self.assertEqual(
            plan.installment_ids.mapped("date_due"),
            [date(2026, 12, 14), date(2027, 1, 14), date(2027, 2, 14)],
        )
        self.assertEqual(self.invoice.dunning_pause_reason, "plan")
        done = self._last_sent()
        self.assertEqual(done["type"], "text")
        self.assertIn("agreed", done["text"]["body"])
        self.assertIn("02/14/2027", done["text"]["body"])
        self.assertIn(
            "agreed",
            self.customer.message_ids[:3].mapped("body")[0] + plan.message_ids[0].body,
        )
        conversation = self._conversation()
        self.assertEqual((conversation.flow, conversation.step), ("more_time", "done"))
        self.assertEqual(conversation.last_inbound_id, "w.3")
        self.assertEqual(len(conversation.message_ids), 3)

    def test_a_plan_agreed_in_the_chat_offers_automatic_payments(self):
        demo_provider(
            self.env, self.company_a, self.company_data["default_journal_bank"]
        )
        self._post(inbound("w.1", NOW, text="I need more time"))
        options = self._rows()
        self._post(inbound("w.2", NOW, tap=(options["3 payments"], "3 payments")))
        confirm = self._rows()["Confirm"]
        self._post(inbound("w.3", NOW, button=(confirm, "Confirm")))
        body = self._last_sent()["text"]["body"]
        self.assertIn("Save a card for automatic payments:", body)
        link = body.rsplit(" ", 1)[-1]
        self.assertTrue(link.endswith("?then=autopay"), link)
        opened = self.url_open(link.removeprefix(self.base_url()))
        self.assertEqual(opened.status_code, 200)
        self.assertTrue(opened.url.endswith("/my/collections/autopay"), opened.url)

    def test_a_plan_beyond_the_limits_waits_for_the_accountant(self):
        segment = self.env["dunning.segment"].search([], limit=1)
        segment.plan_max_installments = 2
        self.customer.with_company(self.company_a).dunning_segment_id = segment
        self._post(inbound("w.1", NOW, text="I need more time"))
        self._post(inbound("w.2", NOW, tap=(self._rows()["4 payments"], "4 payments")))
        self.assertIn("check it", self._last_sent()["interactive"]["body"]["text"])
        self._post(inbound("w.3", NOW, button=(self._rows()["Confirm"], "Confirm")))
        plan = self._plans()
        self.assertEqual(plan.state, "proposed")
        self.assertIn("needs our approval", self._last_sent()["text"]["body"])

    def test_a_new_date_is_a_promise_within_the_horizon(self):
        self._post(inbound("w.1", NOW, text="I need more time"))
        self._post(inbound("w.2", NOW, tap=(self._rows()["A new date"], "A new date")))
        dates = self._rows()
        self.assertEqual(len(dates), 10)
        self.assertIn("Mon 21 Dec", dates, "the last day of the 14-day horizon")
        self._post(inbound("w.3", NOW, tap=(dates["Fri 11 Dec"], "Fri 11 Dec")))
        promise = self.env["dunning.promise"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(promise.promised_date, date(2026, 12, 11))
        self.assertEqual(promise.source, "reply")
        self.assertEqual(self.invoice.dunning_pause_reason, "promise")
        self.assertIn("12/11/2026", self._last_sent()["text"]["body"])

    def test_already_paid_pauses_and_waits_for_the_receipt(self):
        self._post(inbound("w.1", NOW, text="Ya pagué"))
        self.assertEqual(self.invoice.dunning_pause_reason, "payment_reported")
        self.assertIn("photo or a PDF", self._last_sent()["text"]["body"])
        self.assertEqual(self._conversation().expects, "receipt")
        Reply = type(self.env["dunning.reply"])
        with patch.object(Reply, "_on_receipt") as on_receipt:
            media = {
                "id": "media.77",
                "mime_type": "application/pdf",
                "type": "document",
            }
            media |= {"filename": "receipt.pdf"}
            self._post(inbound("w.2", NOW, media=media))
        [call] = on_receipt.call_args_list
        partner, invoices, channel, received = call.args
        self.assertEqual(
            (partner, invoices, channel), (self.customer, self.invoice, "whatsapp")
        )
        self.assertEqual(
            (received["wamid"], received["media_id"], received["filename"]),
            ("w.2", "media.77", "receipt.pdf"),
            "the whole event, so that the receipt finds its reply",
        )
        self.assertEqual(self._conversation().expects, "nothing")

    def test_which_invoices_lists_them_and_sends_the_pdf_chosen(self):
        second = self._dunning_invoice(
            self.customer,
            date(2026, 12, 20),
            amount=50.0,
            invoice_date=date(2026, 11, 20),
        )
        self._post(inbound("w.1", NOW, text="I didn't get the invoice"))
        rows = self._last_sent()["interactive"]["action"]["sections"][0]["rows"]
        self.assertEqual(
            [row["title"] for row in rows], [self.invoice.name, second.name]
        )
        self.assertIn("overdue", rows[0]["description"])
        self.assertIn("50.00", rows[1]["description"])
        self._post(inbound("w.2", NOW, tap=(rows[1]["id"], second.name)))
        sent = self._last_sent()
        self.assertEqual(sent["type"], "document")
        self.assertIn(second.name, sent["document"]["caption"])

    def test_pay_now_sends_a_link_button_to_pay_what_is_due(self):
        self._post(inbound("w.1", NOW, quick_reply="PAY_NOW"))
        interactive = self._last_sent()["interactive"]
        self.assertEqual(interactive["type"], "cta_url")
        self.assertIn("900.00", interactive["body"]["text"])
        url = interactive["action"]["parameters"]["url"]
        self.assertIn(f"?then=pay-due-{self.invoice.currency_id.id}", url)
        response = self.url_open(url, allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(
            response.headers["Location"].endswith(
                f"/my/collections/pay-due/{self.invoice.currency_id.id}"
            )
        )
        # Only that: any other "then" opens the page itself.
        for then in ("//evil.example", "pay-due-1/../../web", "pay-due-"):
            other = url.replace(
                f"then=pay-due-{self.invoice.currency_id.id}", f"then={then}"
            )
            response = self.url_open(other, allow_redirects=False)
            self.assertTrue(
                response.headers["Location"].endswith("/my/collections"), then
            )

    def test_talk_to_someone_gets_a_todo_and_an_honest_time(self):
        self._post(inbound("w.1", NOW, quick_reply="TALK"))
        self.assertEqual(
            self.customer.activity_ids.mapped("summary"),
            ["The customer asked to talk to someone"],
        )
        self.assertIn("today before 17:00", self._last_sent()["text"]["body"])

    def test_talk_on_friday_evening_is_answered_on_monday(self):
        with freeze_time(NOW + timedelta(days=4, hours=10)):
            self._post(
                inbound("w.1", NOW + timedelta(days=4, hours=10), quick_reply="TALK")
            )
        self.assertIn("on Monday", self._last_sent()["text"]["body"])

    def test_anything_else_gets_the_menu_and_a_todo(self):
        self._post(inbound("w.1", NOW, text="hmm, what is this about"))
        options = self._rows()
        self.assertEqual(len(options), 6)
        self.assertEqual(
            self.customer.activity_ids.mapped("summary"),
            ["Answer the customer's reply"],
        )
        self._post(inbound("w.2", NOW, tap=(options["Talk to someone"], "Talk")))
        self.assertIn("will write to you", self._last_sent()["text"]["body"])

    def test_the_number_written_to_answers_even_while_the_sandbox_is_active(self):
        sandbox = (
            self.env["dunning.channel"]
            .with_context(active_test=False)
            .search(
                [
                    ("company_id", "=", self.company_a.id),
                    ("channel_type", "=", "sandbox"),
                ]
            )
        )
        sandbox.active = True
        self._post(inbound("w.1", NOW, text="hmm, what is this about"))
        self.assertEqual(len(self._rows()), 6, "the menu reached WhatsApp")
        self.assertEqual(self._answers().channel_id, self.channel)

    def test_accountants_of_the_company_see_the_conversation(self):
        self._post(inbound("w.1", NOW, text="I need more time"))
        Conversation = self.env["dunning.conversation"]
        seen = Conversation.with_user(self.dunning_user_a).search([])
        self.assertEqual(seen.partner_id, self.customer)
        self.assertIn("3 payments", seen.offer_text)
        self.assertEqual(seen.message_ids.wa_interactive_text.count("payments"), 3)
        other = self._dunning_new_user(
            "dunning_user_b", self.company_b, "friendly_dunning.group_dunning_user"
        )
        self.assertFalse(Conversation.with_user(other).search([]))


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestConversationReplies(ConversationCommon):
    """Late, repeated, out-of-order, expired and forged replies act once and
    sensibly."""

    def _start_plan(self):
        self._post(inbound("w.1", NOW, text="I need more time"))
        return self._rows()

    def _plans(self):
        return self.env["dunning.payment.plan"].search(
            [("partner_id", "=", self.customer.id)]
        )

    def test_a_repeated_delivery_acts_once(self):
        options = self._start_plan()
        tap = inbound("w.2", NOW, tap=(options["2 payments"], "2 payments"))
        self._post(tap)
        self._post(tap)
        self.assertEqual(len(self._answers()), 2)
        confirm = inbound("w.3", NOW, button=(self._rows()["Confirm"], "Confirm"))
        self._post(confirm)
        self._post(confirm)
        self.assertEqual(len(self._plans()), 1)
        self.assertEqual(len(self._answers()), 3)

    def test_confirming_twice_never_makes_a_second_plan(self):
        options = self._start_plan()
        self._post(inbound("w.2", NOW, tap=(options["2 payments"], "2 payments")))
        confirm = self._rows()["Confirm"]
        self._post(inbound("w.3", NOW, button=(confirm, "Confirm")))
        self._post(inbound("w.4", NOW, button=(confirm, "Confirm")))
        self.assertEqual(len(self._plans()), 1)
        body = self._last_sent()["interactive"]["body"]["text"]
        self.assertIn("Already part of a payment plan", body)
        self.assertEqual(len(self._rows()), 6, "then the menu")

    def test_an_option_of_an_earlier_offer_is_honoured_while_valid(self):
        options = self._start_plan()
        self._post(inbound("w.2", NOW, text="help"))
        self.assertEqual(len(self._rows()), 6)
        self._post(inbound("w.3", NOW, tap=(options["3 payments"], "3 payments")))
        self.assertIn("Confirm", self._rows())

    def test_an_out_of_order_reply_changes_nothing(self):
        options = self._start_plan()
        self._post(inbound("w.2", NOW, text="help"))
        sent = len(self.graph.sent())
        earlier = NOW - timedelta(minutes=5)
        self._post(inbound("w.0", earlier, tap=(options["2 payments"], "2 payments")))
        self.assertEqual(len(self.graph.sent()), sent)
        self.assertEqual(self._conversation().last_inbound_id, "w.2")
        self.assertEqual(
            self.env["dunning.communication"].search_count(
                [("kind", "=", "reply"), ("provider_message_id", "=", "w.0")]
            ),
            1,
            "still recorded on the customer",
        )

    def test_an_expired_offer_gets_the_current_menu(self):
        options = self._start_plan()
        later = NOW + timedelta(hours=25)
        with freeze_time(later):
            self._post(inbound("w.2", later, tap=(options["2 payments"], "2 payments")))
        body = self._last_sent()["interactive"]["body"]["text"]
        self.assertIn("That choice has expired.", body)
        self.assertEqual(len(self._rows()), 6)
        self.assertFalse(self._plans())

    def test_a_forged_option_id_is_never_acted_on(self):
        options = self._start_plan()
        offer = options["2 payments"].split(":")[0]
        for wamid, forged in (("w.2", f"{offer}:plan12"), ("w.3", "99:plan2")):
            self._post(inbound(wamid, NOW, tap=(forged, "12 payments")))
            body = self._last_sent()["interactive"]["body"]["text"]
            self.assertIn("could not read that choice", body)
        self.assertFalse(self._plans())

    def test_a_number_that_is_no_customer_changes_nothing(self):
        self._post(inbound("w.9", NOW, sender="34600000000", text="I need more time"))
        self.assertFalse(self.graph.sent())
        self.assertFalse(self.env["dunning.conversation"].search([]))

    def test_a_provider_outage_keeps_the_reply_and_retries_the_answer(self):
        options = self._start_plan()
        self._post(inbound("w.2", NOW, tap=(options["2 payments"], "2 payments")))
        self.graph.fail_next(500, 131000)
        self._post(inbound("w.3", NOW, button=(self._rows()["Confirm"], "Confirm")))
        self.assertEqual(self._plans().state, "active")
        answer = self._answers()[-1]
        self.assertEqual(answer.state, "queued")
        self.assertTrue(answer.next_attempt)
        self.assertTrue(answer.error_message)
        self.assertEqual(answer.conversation_id, self._conversation())

    def test_queries_per_reply_do_not_grow_with_the_open_invoices(self):
        """Two invoices or eight: the list of invoices, and the menu, take
        as many queries."""
        self._dunning_invoice(self.customer, date(2026, 11, 30), amount=5.0)
        many = self._dunning_customer(
            "Ana", phone="+34 612 00 00 01", country_id=self.env.ref("base.es").id
        )
        self.env["dunning.consent"]._record(many, "whatsapp", "opted_in", "manual")
        for day in range(1, 9):
            self._dunning_invoice(many, date(2026, 11, day), amount=10.0 * day)
        Reply = self.env["dunning.reply"]

        def queries(number, text, wamid):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            Reply._handle(
                self.company_a,
                number,
                text,
                provider_id=wamid,
                receiver=self.channel,
                sent_at=NOW,
            )
            self.env.flush_all()
            return self.env.cr.sql_log_count - before

        # Each customer's first reply opens their conversation.
        queries("+34612345678", "hello", "warm-up.1")
        queries("+34612000001", "hello", "warm-up.2")
        for index, text in enumerate(("I didn't get the invoice", "hello")):
            two = queries("+34612345678", text, f"a.{index}")
            eight = queries("+34612000001", text, f"b.{index}")
            self.assertLessEqual(eight, two, text)
        rows = self._last_sent(), self.graph.sent()[-3]
        self.assertEqual(rows[0]["interactive"]["type"], "list")
        self.assertEqual(
            len(rows[1]["interactive"]["action"]["sections"][0]["rows"]), 8
        )
