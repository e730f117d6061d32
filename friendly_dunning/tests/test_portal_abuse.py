import time
from contextlib import closing
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import urlsplit

import psycopg2

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.tests import tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from .common_portal import CSRF, PAGE_COOKIE, PDF, PortalPageCommon

RATE = "odoo.addons.friendly_dunning.models.dunning_portal_rate"
PORTAL = "odoo.addons.friendly_dunning.controllers.portal.DunningPortal"


@tagged("post_install", "-at_install")
class TestPortalAbuse(PortalPageCommon):
    """The page from an attacker's point of view: forged sessions, other
    customers' ids, oversized and malformed bodies, floods."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.paid = cls._dunning_invoice(
            cls.customer, cls.today - timedelta(days=900), 80
        )
        cls._dunning_pay(cls.paid, cls.today - timedelta(days=800))

    def _nothing_written(self):
        self.assertFalse(
            any((self.late | self.later | self.coming).mapped("dunning_pause_reason"))
        )
        for model in ("dunning.promise", "dunning.payment.plan"):
            self.assertFalse(
                self.env[model].search([("partner_id", "=", self.customer.id)])
            )
        self.assertFalse(
            self.env["ir.attachment"].search(
                [("res_model", "=", "account.move"), ("res_id", "=", self.late.id)]
            )
        )

    def _transaction_params(self, csrf):
        return {
            "provider_id": self.provider.id,
            "payment_method_id": self.env.ref("payment.payment_method_unknown").id,
            "token_id": None,
            "amount": 1.0,
            "flow": "redirect",
            "tokenization_requested": False,
            "landing_route": "/my/collections",
            "is_validation": False,
            "csrf_token": csrf,
        }

    @patch(f"{RATE}.BAD_LINK_LIMIT", 1000)  # this test is a flood of its own
    def test_forged_sessions_act_on_nothing(self):
        self.provider = self._provider()
        future = fields.Date.to_string(self.today + timedelta(days=7))
        page = self.open_page()
        csrf = CSRF.search(page.text).group(1)
        good = self.opener.cookies.get(PAGE_COOKIE)
        partner_id, company_id, expiry, signature = good.split("-")
        tampered = ("0" if signature[0] != "0" else "1") + signature[1:]
        expired = f"{partner_id}-{company_id}-1-{signature}"
        self.customer.action_dunning_revoke_portal_link()
        for forged in (
            good,  # revoked
            f"{partner_id}-{company_id}-{expiry}-{tampered}",
            expired,
            f"{self.other.id}-{company_id}-{expiry}-{signature}",
        ):
            for path, data in (
                ("/my/collections", None),
                (f"/my/collections/invoice/{self.late.id}/pdf", None),
                (f"/my/collections/invoice/{self.late.id}/pay", None),
                (f"/my/collections/pay/{self.late.currency_id.id}", None),
                ("/my/collections/dispute", {"invoice_id": self.late.id}),
                ("/my/collections/paid", {"invoice_id": self.late.id}),
                ("/my/collections/not-received", {"invoice_id": self.late.id}),
                ("/my/collections/promise", {"promised_date": future}),
                ("/my/collections/plan", {"installments": "2", "first_date": future}),
                ("/my/collections/preferences", {"preferred_channel": "sms"}),
                ("/my/collections/rate", {"rating": "5"}),
            ):
                if data is not None:
                    data = data | {"csrf_token": csrf, "reason": "forged"}
                self.opener.cookies.set(PAGE_COOKIE, forged, path="/my/collections")
                response = self.url_open(path, data=data, allow_redirects=False)
                self.assertEqual(response.status_code, 403, (forged, path))
                self.assertNotIn(self.late.name, response.text)
            for route in (
                f"/my/collections/transaction/{self.late.currency_id.id}",
                f"/my/collections/invoice/{self.late.id}/transaction",
            ):
                self.opener.cookies.set(PAGE_COOKIE, forged, path="/my/collections")
                with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
                    self.make_jsonrpc_request(route, self._transaction_params(csrf))
        self.assertFalse(
            self.env["payment.transaction"].search(
                [("invoice_ids", "in", self.late.ids)]
            )
        )
        self._nothing_written()
        self.assertFalse(self.customer.dunning_preferred_channel)

    def test_other_customers_and_companies_invoices(self):
        self.provider = self._provider()
        page = self.open_page()
        base = urlsplit(page.url).path
        csrf = CSRF.search(page.text).group(1)
        for invoice in (self.foreign, self.other_company_invoice):
            pdf = self.url_open(f"{base}/invoice/{invoice.id}/pdf")
            self.assertEqual(pdf.status_code, 404)
            self.assertNotIn(b"%PDF", pdf.content)
            pay = self.url_open(
                f"{base}/invoice/{invoice.id}/pay", allow_redirects=False
            )
            self.assertEqual(pay.status_code, 303)
            self.assertNotIn("o_payment_form", pay.text)
            with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
                self.make_jsonrpc_request(
                    f"{base}/invoice/{invoice.id}/transaction",
                    self._transaction_params(csrf),
                )
        self.assertFalse(
            self.env["payment.transaction"].search(
                [("invoice_ids", "in", (self.foreign | self.other_company_invoice).ids)]
            )
        )

    def test_paid_and_old_invoice_pdf_is_refused(self):
        base = self.page_base()
        response = self.url_open(f"{base}/invoice/{self.paid.id}/pdf")
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(b"%PDF", response.content)

    def test_oversized_bodies_are_refused_before_parsing(self):
        page = self.open_page()
        csrf = CSRF.search(page.text).group(1)
        big_file = b"%PDF-" + b"0" * (5 * 1024 * 1024 + 100 * 1024)
        for action, files in (
            ("paid", {"proof": ("big.pdf", big_file, "application/pdf")}),
            ("dispute", {"attachment": ("big.pdf", big_file, "application/pdf")}),
            ("promise", None),
        ):
            data = {"csrf_token": csrf, "invoice_id": self.late.id, "reason": "big"}
            if files is None:
                data["note"] = "x" * (100 * 1024)
            response = self.url_open(
                f"/my/collections/{action}", data=data, files=files
            )
            self.assertEqual(response.status_code, 413, action)
        self._nothing_written()
        self.assertFalse(
            self.env["dunning.portal.log"].search(
                [("partner_id", "=", self.customer.id)]
            )
        )

    def test_malformed_values_are_a_clear_400(self):
        future = fields.Date.to_string(self.today + timedelta(days=7))
        cases = [
            ("promise", {"promised_date": future, "amount": "nan"}, "above zero"),
            ("promise", {"promised_date": future, "amount": "inf"}, "above zero"),
            ("promise", {"promised_date": future, "amount": "-5"}, "above zero"),
            ("promise", {"promised_date": "9999-12-01"}, "valid date"),
            (
                "plan",
                {"installments": "2", "first_date": "9999-12-01", "confirm": "1"},
                "valid date",
            ),
            ("plan", {"installments": "2", "first_date": "9999-12-01"}, "valid date"),
            (
                "plan",
                {"installments": "100000000", "first_date": future},
                "at most",
            ),
            (
                "paid",
                {"invoice_id": self.late.id, "payment_date": "0001-01-01"},
                "valid date",
            ),
            ("dispute", {"reason": "No invoice chosen"}, "choose an invoice"),
            ("dispute", {"invoice_id": "abc", "reason": "Bad id"}, "choose an invoice"),
            ("not-received", {}, "choose an invoice"),
        ]
        with patch.dict(f"{RATE}.LIMITS", {"form": (50, 50)}):
            responses = [
                (self.post(action, data), action, data) for action, data, _m in cases
            ]
        for (response, action, data), (_a, _d, message) in zip(responses, cases):
            self.assertEqual(response.status_code, 400, (action, data))
            self.assertIn(message, response.text, (action, data))
        self._nothing_written()
        logs = self.env["dunning.portal.log"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(logs.mapped("refused"), [True] * len(cases))

    def test_every_route_is_limited(self):
        self._provider()
        base = self.page_base()
        limits = {"view": (2, 50), "download": (2, 50), "pay": (2, 50), "form": (2, 50)}
        with patch.dict(f"{RATE}.LIMITS", limits):
            for path in (
                base,
                f"{base}/invoice/{self.late.id}/pdf",
                f"{base}/invoice/{self.late.id}/pay",
            ):
                statuses = [self.url_open(path).status_code for _index in range(3)]
                self.assertEqual(statuses[-1], 429, path)
            # Plan previews count as forms.
            with patch.dict(f"{RATE}.LIMITS", {"view": (50, 50)}):
                first = fields.Date.to_string(self.today + timedelta(days=7))
                statuses = [
                    self.post(
                        "plan", {"installments": "2", "first_date": first}
                    ).status_code
                    for _index in range(3)
                ]
            self.assertEqual(statuses, [200, 200, 429])

    def test_transaction_route_is_limited(self):
        self.provider = self._provider()
        page = self.open_page()
        params = self._transaction_params(CSRF.search(page.text).group(1))
        Transaction = self.env["payment.transaction"]
        with patch.dict(f"{RATE}.LIMITS", {"pay": (1, 50)}):
            route = f"/my/collections/invoice/{self.late.id}/transaction"
            self.assertTrue(self.make_jsonrpc_request(route, params)["reference"])
            with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
                self.make_jsonrpc_request(route, params)
        self.assertEqual(
            len(Transaction.search([("invoice_ids", "in", self.late.ids)])), 1
        )

    def test_wrong_token_flood_does_not_lock_the_customer_out(self):
        good = self.page_url()
        forged = good[:-1] + ("0" if good[-1] != "0" else "1")
        statuses = [self.url_open(forged).status_code for _index in range(35)]
        self.assertEqual(statuses[0], 403)
        self.assertEqual(statuses[-1], 429)
        self.assertIn(self.late.name, self.open_page(good).text)

    def test_link_holder_cannot_lock_the_customer_out(self):
        with patch(f"{PORTAL}._dunning_client_address", return_value="203.0.113.7"):
            statuses = [
                self.post("preferences", {"preferred_channel": "pigeon"}).status_code
                for _index in range(15)
            ]
        self.assertEqual(statuses[:10], [400] * 10)
        self.assertEqual(statuses[-1], 429)
        response = self.post("dispute", {"invoice_id": self.late.id, "reason": "Wrong"})
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.late.dunning_pause_reason, "dispute")

    def test_upload_name_and_type_follow_the_content(self):
        response = self.post(
            "paid",
            {"invoice_id": self.late.id},
            files={"proof": ("../proof.html", PDF, "text/html")},
        )
        self.assertEqual(response.status_code, 303)
        attachment = self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", self.late.id)]
        )
        self.assertEqual(
            (attachment.name, attachment.mimetype), ("proof.pdf", "application/pdf")
        )

    def test_counting_is_atomic_across_transactions(self):
        """Two requests counting one key at once: the second one cannot miss
        the first one's hit (it is made to retry), so no burst slips past a
        limit between a check and an insert."""
        key = f"atomic-test:{self.customer.id}:{time.time()}"
        db = self.env.cr.dbname
        try:
            with (
                closing(sql_db.db_connect(db).cursor()) as cr1,
                closing(sql_db.db_connect(db).cursor()) as cr2,
            ):
                first = api.Environment(cr1, SUPERUSER_ID, {})["dunning.portal.rate"]
                second = api.Environment(cr2, SUPERUSER_ID, {})["dunning.portal.rate"]
                # Both transactions have started (and taken their snapshot).
                cr1.execute("SELECT 1")
                cr2.execute("SELECT 1")
                self.assertEqual(first._dunning_count(key), 1)
                cr1.commit()
                with (
                    mute_logger("odoo.sql_db"),
                    self.assertRaises(psycopg2.errors.SerializationFailure),
                ):
                    second._dunning_count(key)
                cr2.rollback()
                self.assertEqual(second._dunning_count(key), 2)
                cr2.commit()
        finally:
            with closing(sql_db.db_connect(db).cursor()) as cleanup:
                cleanup.execute("DELETE FROM dunning_portal_rate WHERE key = %s", [key])
                cleanup.commit()
