import time
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import urlsplit

from odoo import fields
from odoo.tests import new_test_user, tagged

from .common_portal import CSRF, PDF, PNG, PortalPageCommon, logged, shown


@tagged("post_install", "-at_install")
class TestPortalLink(PortalPageCommon):
    def test_page_shows_the_customers_open_invoices_only(self):
        page = self.open_page().text
        for invoice in self.late | self.later | self.coming:
            self.assertIn(invoice.name, page)
        self.assertNotIn(shown(self.foreign), page)  # another customer
        self.assertNotIn(shown(self.other_company_invoice), page)  # another company
        self.assertNotIn("Globex", page)
        self.assertIn("20 days late", page)
        self.assertIn("Not due yet", page)
        self.assertIn("Pay everything", page)
        # The per-invoice pay links are the page's own, checked against the
        # link's session; no invoice access token is handed out.
        self.assertIn(f"/my/collections/invoice/{self.late.id}/pay", page)
        self.assertNotIn("access_token", page)

    def test_link_is_bound_to_the_commercial_partner(self):
        contact = self.env["res.partner"].create(
            {"name": "Ann", "parent_id": self.customer.id}
        )
        url = contact.with_company(self.company_a)._dunning_portal_url()
        self.assertIn(f"/collections/{self.customer.id}-{self.company_a.id}-", url)
        self.assertTrue(url.startswith("http"))

    def test_bad_tokens_show_no_data(self):
        good = self.page_url()
        partner_id, company_id, expiry, signature = good.split("/")[-1].split("-")
        tampered_signature = ("0" if signature[0] != "0" else "1") + signature[1:]
        expired = self.customer.with_company(self.company_a)._dunning_portal_token(
            now=time.time() - 31 * 86400
        )
        bad = [
            f"/collections/{partner_id}-{company_id}-{expiry}-{tampered_signature}",
            # another partner's id with this partner's signature
            f"/collections/{self.other.id}-{company_id}-{expiry}-{signature}",
            # a later expiry with the old signature
            f"/collections/{partner_id}-{company_id}-{int(expiry) + 1}-{signature}",
            f"/collections/{expired}",
            "/collections/garbage",
        ]
        for url in bad:
            response = self.url_open(url)
            self.assertEqual(response.status_code, 403, url)
            self.assertIn("This link has expired", response.text)
            self.assertNotIn("Acme", response.text)
            self.assertNotIn(self.late.name, response.text)
        self.open_page(good)

    def test_revoked_link_stops_working(self):
        url = self.page_url()
        self.open_page(url)
        self.customer.action_dunning_revoke_portal_link()
        self.assertEqual(self.url_open(url).status_code, 403)
        self.assertTrue(logged(self.customer, "revoked"))
        self.open_page(self.page_url())  # a fresh link works

    def test_link_lifetime_is_the_company_setting(self):
        self.company_a.dunning_portal_link_days = 2
        token = self.customer.with_company(self.company_a)._dunning_portal_token(
            now=1_000_000
        )
        self.assertEqual(int(token.split("-")[2]), 1_000_000 + 2 * 86400)
        Partner = self.env["res.partner"]
        self.assertTrue(Partner._dunning_portal_check_token(token, now=1_000_000))
        self.assertIsNone(
            Partner._dunning_portal_check_token(token, now=1_000_000 + 2 * 86400 + 1)
        )

    def test_logged_out_visitor_of_my_collections_is_sent_to_login(self):
        response = self.url_open("/my/collections", allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])


@tagged("post_install", "-at_install")
class TestPortalLanguage(PortalPageCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("es_ES")
        cls.env["ir.module.module"]._load_module_terms(
            ["friendly_dunning"], ["es_ES"], overwrite=True
        )
        cls.customer.lang = "es_ES"

    def test_page_speaks_the_customers_language(self):
        page = self.open_page().text
        self.assertIn("Pagar todo", page)

    def test_absurd_values_are_refused_in_the_customers_language(self):
        response = self.post(
            "plan", {"installments": "2", "first_date": "9999-12-01", "confirm": "1"}
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("Indica una fecha válida para", response.text)
        self.assertFalse(
            self.env["dunning.payment.plan"].search(
                [("partner_id", "=", self.customer.id)]
            )
        )


@tagged("post_install", "-at_install")
class TestPortalActions(PortalPageCommon):
    def test_missing_csrf_token_is_refused(self):
        with self.assertLogs("odoo.http", "WARNING") as logs:
            response = self.post(
                "dispute", {"invoice_id": self.late.id, "reason": "Wrong"}, csrf=False
            )
        self.assertIn("No CSRF validation token", logs.output[0])
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.late.dunning_pause_reason)

    def test_dispute_pauses_that_invoice_only(self):
        response = self.post(
            "dispute",
            {"invoice_id": self.late.id, "reason": "We never ordered the blue ones"},
            files={"attachment": ("order.png", PNG, "image/png")},
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("done=dispute", response.headers["Location"])
        self.assertEqual(self.late.dunning_pause_reason, "dispute")
        self.assertFalse(self.later.dunning_pause_reason)
        dispute = self.env["dunning.dispute"].search([("move_id", "=", self.late.id)])
        self.assertEqual(dispute.attachment_ids.mimetype, "image/png")
        self.assertTrue(logged(self.late, "blue ones"))
        self.assertTrue(logged(self.customer, "blue ones"))
        self.assertEqual(dispute.activity_ids.summary, "Answer the customer's dispute")
        log = self.env["dunning.portal.log"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual((log.action, log.move_ids), ("dispute", self.late))

    def test_dispute_needs_a_reason(self):
        response = self.post("dispute", {"invoice_id": self.late.id, "reason": " "})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.late.dunning_pause_reason)

    def test_another_customers_invoice_is_refused(self):
        for action, data in [
            ("dispute", {"invoice_id": self.foreign.id, "reason": "Not mine"}),
            ("paid", {"invoice_id": self.foreign.id}),
            ("not-received", {"invoice_id": self.foreign.id}),
            ("dispute", {"invoice_id": self.other_company_invoice.id, "reason": "x y"}),
        ]:
            response = self.post(action, data)
            self.assertEqual(response.status_code, 404, action)
            self.assertNotIn("Globex", response.text)
        self.assertFalse(self.foreign.dunning_pause_reason)
        self.assertFalse(self.other_company_invoice.dunning_pause_reason)
        self.assertFalse(
            self.env["dunning.portal.log"].search([("partner_id", "=", self.other.id)])
        )
        # Refused attempts count towards the rate limit.
        refused = self.env["dunning.portal.log"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(refused.mapped("refused"), [True] * 4)
        base = self.page_base()
        self.assertEqual(
            self.url_open(f"{base}/invoice/{self.foreign.id}/pdf").status_code, 404
        )

    def test_payment_reported_with_proof(self):
        response = self.post(
            "paid",
            {
                "invoice_id": "all",
                "payment_date": fields.Date.to_string(self.today),
                "note": "Bank transfer ref 123",
            },
            files={"proof": ("receipt.pdf", PDF, "application/pdf")},
        )
        self.assertEqual(response.status_code, 303)
        overdue = self.late | self.later
        self.assertEqual(
            set(overdue.mapped("dunning_pause_reason")), {"payment_reported"}
        )
        self.assertFalse(self.coming.dunning_pause_reason)  # not due, not reported
        attachments = self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "in", overdue.ids)]
        )
        self.assertEqual(attachments.mapped("mimetype"), ["application/pdf"] * 2)
        self.assertEqual(attachments[0].raw, PDF)
        self.assertEqual(
            self.customer.activity_ids.summary,
            "Check the payment the customer reported",
        )
        self.assertTrue(logged(self.late, "ref 123"))
        self.assertTrue(logged(self.later, "ref 123"))

    def test_upload_checked_by_content_and_size(self):
        fake_pdf = ("receipt.pdf", b"MZ\x90\x00 an executable", "application/pdf")
        response = self.post("paid", {"invoice_id": self.late.id}, {"proof": fake_pdf})
        self.assertEqual(response.status_code, 415)
        self.assertIn("PDF, PNG or JPEG", response.text)
        with patch(
            "odoo.addons.friendly_dunning.controllers.portal_forms.MAX_UPLOAD_BYTES",
            100,
        ):
            response = self.post(
                "paid",
                {"invoice_id": self.late.id},
                {"proof": ("big.pdf", PDF + b"0" * 100, "application/pdf")},
            )
        self.assertEqual(response.status_code, 413)
        self.assertFalse(self.late.dunning_pause_reason)
        self.assertFalse(
            self.env["ir.attachment"].search(
                [("res_model", "=", "account.move"), ("res_id", "=", self.late.id)]
            )
        )

    def test_payment_date_in_the_future_is_refused(self):
        response = self.post(
            "paid",
            {
                "invoice_id": self.late.id,
                "payment_date": fields.Date.to_string(self.today + timedelta(days=3)),
            },
        )
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.late.dunning_pause_reason)

    def test_not_received_logs_and_downloads(self):
        response = self.post("not-received", {"invoice_id": self.late.id})
        self.assertEqual(response.status_code, 303)
        location = response.headers["Location"]
        self.assertTrue(location.endswith(f"/invoice/{self.late.id}/pdf"))
        self.assertTrue(logged(self.late, "never arrived"))
        download = self.url_open(location)
        self.assertEqual(download.status_code, 200)
        self.assertIn("attachment", download.headers.get("Content-Disposition", ""))

    def test_preferences_go_to_the_consent_ledger(self):
        response = self.post(
            "preferences",
            {
                "whatsapp": "opted_in",
                "preferred_channel": "sms",
                "best_time": "evening",
            },
        )
        self.assertEqual(response.status_code, 303)
        consent = self.env["dunning.consent"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(
            (consent.channel, consent.state, consent.source),
            ("whatsapp", "opted_in", "portal"),
        )
        self.assertEqual(self.customer.dunning_preferred_channel, "sms")
        self.assertEqual(self.customer.dunning_best_time, "evening")
        # The engine reads them: preferred channel first, window narrowed.
        self.assertEqual(
            self.customer._dunning_channel_order(["whatsapp", "sms", "email"]),
            ["sms", "whatsapp", "email"],
        )
        self.assertEqual(self.customer._dunning_contact_hours(8.0, 21.0), (17.0, 21.0))
        # Opting out again records one more entry, the same choice none.
        self.post("preferences", {"whatsapp": "opted_out"})
        self.post("preferences", {"whatsapp": "opted_out"})
        states = self.env["dunning.consent"].search(
            [("partner_id", "=", self.customer.id)], order="id"
        )
        self.assertEqual(states.mapped("state"), ["opted_in", "opted_out"])

    def test_preferences_refuse_unknown_values(self):
        response = self.post("preferences", {"preferred_channel": "pigeon"})
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.customer.dunning_preferred_channel)

    def test_rate_limit(self):
        for _attempt in range(10):
            self.post("preferences", {"preferred_channel": "pigeon"})
        response = self.post("dispute", {"invoice_id": self.late.id, "reason": "Wrong"})
        self.assertEqual(response.status_code, 429)
        self.assertIn("wait ten minutes", response.text)
        self.assertFalse(self.late.dunning_pause_reason)

    def test_plan_preview_then_confirm(self):
        Plan = self.env["dunning.payment.plan"]
        first = self.today + timedelta(days=7)
        data = {"installments": "2", "first_date": fields.Date.to_string(first)}
        preview = self.post("plan", data)
        self.assertEqual(preview.status_code, 200)
        self.assertIn("Confirm this plan", preview.text)
        self.assertIn("o_dunning_schedule", preview.text)
        self.assertFalse(Plan.search([("partner_id", "=", self.customer.id)]))
        self.assertFalse(self.late.dunning_pause_reason)
        response = self.post("plan", data | {"confirm": "1"})
        self.assertEqual(response.status_code, 303)
        plan = Plan.search([("partner_id", "=", self.customer.id)])
        self.assertEqual(plan.source, "portal")
        self.assertEqual(plan.move_ids, self.late | self.later | self.coming)
        self.assertEqual(len(plan.installment_ids), 2)
        self.assertEqual(plan.installment_ids.sorted("sequence")[0].date_due, first)
        self.assertEqual(self.late.dunning_pause_reason, "plan")

    def test_plan_refusals(self):
        Plan = self.env["dunning.payment.plan"]
        yesterday = fields.Date.to_string(self.today - timedelta(days=1))
        for data in [
            {"installments": "2", "first_date": yesterday, "confirm": "1"},
            {"installments": "0", "first_date": yesterday, "confirm": "1"},
            {"installments": "2", "first_date": "not a date", "confirm": "1"},
        ]:
            self.assertEqual(self.post("plan", data).status_code, 400, data)
        self.assertFalse(Plan.search([("partner_id", "=", self.customer.id)]))
        self.assertFalse(self.late.dunning_pause_reason)

    def test_promise_to_pay(self):
        Promise = self.env["dunning.promise"]
        promised = self.today + timedelta(days=5)
        response = self.post(
            "promise", {"promised_date": fields.Date.to_string(promised)}
        )
        self.assertEqual(response.status_code, 303)
        promise = Promise.search([("partner_id", "=", self.customer.id)])
        self.assertEqual(
            (promise.promised_date, promise.source, promise.move_ids),
            (promised, "portal", self.late | self.later),
        )
        self.assertEqual(self.late.dunning_pause_reason, "promise")
        self.assertFalse(self.coming.dunning_pause_reason)

    def test_promise_beyond_the_horizon_is_refused(self):
        too_late = self.today + timedelta(days=400)
        response = self.post(
            "promise", {"promised_date": fields.Date.to_string(too_late)}
        )
        self.assertEqual(response.status_code, 400)
        self.assertFalse(
            self.env["dunning.promise"].search([("partner_id", "=", self.customer.id)])
        )
        self.assertFalse(self.late.dunning_pause_reason)

    def test_forms_only_accept_posts(self):
        base = self.page_base()
        self.assertEqual(self.url_open(f"{base}/dispute").status_code, 405)

    def test_pay_everything_without_login(self):
        self._provider()
        base = self.page_base()
        response = self.url_open(f"{base}/pay/{self.late.currency_id.id}")
        self.assertEqual(response.status_code, 200)
        self.assertIn("o_payment_form", response.text)
        self.assertIn(f'data-transaction-route="{base}/transaction/', response.text)
        self.assertIn(self.late.name, response.text)
        self.assertIn(self.coming.name, response.text)
        self.url_open("/collections/1-1-1-" + "0" * 64)  # drops the session
        self.assertEqual(
            self.url_open(
                f"{base}/pay/{self.late.currency_id.id}", allow_redirects=False
            ).status_code,
            303,
        )

    def test_pay_everything_transaction_is_bound_to_the_open_invoices(self):
        provider = self._provider()
        page = self.open_page()
        url = urlsplit(page.url).path
        csrf = CSRF.search(page.text).group(1)
        response = self.make_jsonrpc_request(
            f"{url}/transaction/{self.late.currency_id.id}",
            {
                "provider_id": provider.id,
                "payment_method_id": self.env.ref("payment.payment_method_unknown").id,
                "token_id": None,
                "amount": 1.0,  # the browser's amount is ignored
                "flow": "redirect",
                "tokenization_requested": False,
                "landing_route": url,
                "is_validation": False,
                "access_token": "whatever",
                "csrf_token": csrf,
            },
        )
        self.assertTrue(response["reference"])
        transaction = self.env["payment.transaction"].search(
            [("reference", "=", response["reference"])]
        )
        self.assertEqual(transaction.invoice_ids, self.late | self.later | self.coming)
        self.assertEqual(transaction.amount, 550.0)
        self.assertEqual(transaction.partner_id, self.customer)


@tagged("post_install", "-at_install")
class TestPortalRating(PortalPageCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.settled = cls._dunning_customer("Settled")
        invoice = cls._dunning_invoice(cls.settled, cls.today - timedelta(days=30))
        cls.reminder = cls.env["dunning.communication"].create(
            {
                "company_id": cls.company_a.id,
                "partner_id": cls.settled.id,
                "kind": "reminder",
                "date": fields.Datetime.now() - timedelta(days=5),
                "move_ids": [fields.Command.set(invoice.ids)],
            }
        )
        cls._dunning_pay(invoice, cls.today)

    def test_rating_once_per_settled_case(self):
        url = self.page_url(self.settled)
        self.assertIn("How did we do?", self.open_page(url).text)
        response = self.post("rate", {"rating": "5", "comment": "Lovely"}, url=url)
        self.assertEqual(response.status_code, 303)
        feedback = self.env["dunning.feedback"].search(
            [("partner_id", "=", self.settled.id)]
        )
        self.assertEqual(
            (feedback.rating, feedback.comment, feedback.communication_id),
            (5, "Lovely", self.reminder),
        )
        self.assertNotIn("How did we do?", self.open_page(url).text)
        self.assertEqual(self.post("rate", {"rating": "1"}, url=url).status_code, 400)
        self.assertEqual(
            len(feedback.search([("partner_id", "=", self.settled.id)])), 1
        )

    def test_no_rating_while_something_is_overdue(self):
        self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "kind": "reminder",
                "date": fields.Datetime.now(),
            }
        )
        self.assertNotIn("How did we do?", self.open_page().text)
        self.assertEqual(self.post("rate", {"rating": "4"}).status_code, 400)
        self.assertFalse(
            self.env["dunning.feedback"].search([("partner_id", "=", self.customer.id)])
        )

    def test_rating_out_of_range_is_refused(self):
        url = self.page_url(self.settled)
        self.assertEqual(self.post("rate", {"rating": "9"}, url=url).status_code, 400)
        self.assertFalse(
            self.env["dunning.feedback"].search([("partner_id", "=", self.settled.id)])
        )


@tagged("post_install", "-at_install")
class TestPortalUser(PortalPageCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.portal_user = new_test_user(
            cls.env, login="acme_portal", groups="base.group_portal"
        )
        cls.portal_user.partner_id.parent_id = cls.customer
        cls.late.message_subscribe(cls.customer.ids)

    def test_portal_user_sees_only_their_records(self):
        self.authenticate("acme_portal", "acme_portal")
        page = self.open_page("/my/collections").text
        self.assertIn(self.late.name, page)
        self.assertNotIn(shown(self.foreign), page)
        self.assertNotIn(shown(self.other_company_invoice), page)
        response = self.post(
            "dispute",
            {"invoice_id": self.foreign.id, "reason": "Not mine"},
            url="/my/collections",
        )
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.foreign.dunning_pause_reason)
        response = self.post(
            "dispute",
            {"invoice_id": self.late.id, "reason": "Wrong price"},
            url="/my/collections",
        )
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.late.dunning_pause_reason, "dispute")
        home = self.url_open("/my/home").text
        self.assertIn("/my/collections", home)


@tagged("post_install", "-at_install")
class TestPortalQueries(PortalPageCommon):
    def _render_queries(self, partner):
        url = self.page_url(partner)
        self.open_page(url)  # first render: invoice tokens, asset bundles
        before = self.cr.sql_log_count
        self.open_page(url)
        return self.cr.sql_log_count - before

    def test_query_count_does_not_grow_with_invoices(self):
        few = self._dunning_customer("Few")
        many = self._dunning_customer("Many")
        due = self.today - timedelta(days=3)
        for _index in range(2):
            self._dunning_invoice(few, due)
        for _index in range(12):
            self._dunning_invoice(many, due)
        self.assertEqual(self._render_queries(many), self._render_queries(few))


@tagged("post_install", "-at_install")
class TestPortalLateCharges(PortalPageCommon):
    """Late-payment charges, where the company counts them, are shown to
    the customer per late invoice, apart from the amount to pay."""

    def test_the_late_invoices_show_their_charges_to_date(self):
        self.company_a.write(
            {
                "dunning_interest_rule": "fixed",
                "dunning_interest_rate": 10.0,
                "dunning_recovery_fee": 40.0,
                "dunning_recovery_fee_currency_id": self.company_a.currency_id.id,
            }
        )
        page = self.open_page().text
        # 300 owed for 20 days and 200 for 5 days, at 10 % a year.
        interest = self.late.currency_id.round(300 * 10 / 100 * 20 / 365)
        self.assertEqual(interest, 1.64)
        self.assertIn("Late-payment charges under our terms, to date", page)
        self.assertIn("1.64", page)
        self.assertIn(str(self.later.currency_id.round(200 * 10 / 100 * 5 / 365)), page)
        self.assertIn("40.00", page)
        self.assertEqual(page.count("o_dunning_late_charges"), 2, "not the coming one")
        self.assertEqual(
            (self.late.dunning_late_interest, self.late.dunning_late_fee),
            (1.64, 40.0),
            "the accountant sees the same on the invoice",
        )

    def test_a_waiver_offer_is_shown_until_its_date(self):
        self.company_a.write(
            {
                "dunning_interest_rule": "fixed",
                "dunning_interest_rate": 10.0,
                "dunning_interest_use": "invoiced",
            }
        )
        self.late._dunning_offer_waiver(self.today + timedelta(days=7))
        page = self.open_page().text
        until = (self.today + timedelta(days=7)).strftime("%m/%d/%Y")
        self.assertIn(f"Pay this invoice in full by {until}", page)
        self.assertEqual(
            page.count("o_dunning_waiver_offer"), 1, "only the offered one"
        )
        self.assertIn("we invoice them separately", page)
        self.late.dunning_waiver_until = self.today - timedelta(days=1)
        self.assertNotIn("o_dunning_waiver_offer", self.open_page().text)

    def test_no_charges_are_shown_under_the_rule_no_interest(self):
        self.assertEqual(self.company_a.dunning_interest_rule, "none")
        self.assertNotIn("o_dunning_late_charges", self.open_page().text)

    def test_a_missing_reference_rate_leaves_the_page_working(self):
        self.company_a.dunning_interest_rule = "eu_statutory"
        self.env["dunning.reference.rate"].search([]).unlink()
        page = self.open_page()
        self.assertEqual(page.status_code, 200)
        self.assertNotIn("o_dunning_late_charges", page.text)
        self.assertIn(
            "No reference rate is known", self.late.dunning_late_charges_problem
        )
