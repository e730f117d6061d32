from urllib.parse import urlsplit

from odoo.tests import JsonRpcException, tagged
from odoo.tools import mute_logger

from .common_autopay import demo_card, demo_provider
from .common_portal import CSRF, PortalPageCommon


@tagged("post_install", "-at_install")
class TestAutopayPage(PortalPageCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.provider = demo_provider(
            cls.env, cls.company_a, cls.company_data["default_journal_bank"]
        )
        # Charges wait for the sending window: open it all day for the test.
        cls.company_a.write(
            {"dunning_quiet_hour_start": 0, "dunning_quiet_hour_end": 24}
        )
        cls.Autopay = cls.env["dunning.autopay"]

    def _save_card(self, state="done"):
        """Save a card through the page, as the payment form and the demo
        provider's form do; returns the token."""
        page = self.open_page()
        base = urlsplit(page.url).path
        autopay_page = self.url_open(f"{base}/autopay")
        self.assertEqual(autopay_page.status_code, 200)
        self.assertIn(
            f'data-transaction-route="{base}/autopay/transaction"', autopay_page.text
        )
        response = self.make_jsonrpc_request(
            f"{base}/autopay/transaction",
            {
                "provider_id": self.provider.id,
                "payment_method_id": self.env.ref(
                    "payment_demo.payment_method_demo"
                ).id,
                "token_id": None,
                "flow": "direct",
                "tokenization_requested": False,
                "landing_route": "/elsewhere",
                "is_validation": False,
                "csrf_token": CSRF.search(page.text).group(1),
            },
        )
        tx = self.env["payment.transaction"].search(
            [("reference", "=", response["reference"])]
        )
        self.assertEqual(tx.operation, "validation")
        self.assertTrue(tx.tokenize)
        self.assertEqual(tx.landing_route, f"{base}/autopay")
        self.make_jsonrpc_request(
            "/payment/demo/simulate_payment",
            {
                "reference": tx.reference,
                "payment_details": "4242",
                "simulated_state": state,
            },
        )
        self.assertTrue(tx.token_id)
        self.assertEqual(tx.token_id.partner_id, self.customer)
        return tx.token_id

    def test_offer_save_a_card_authorise_charge_and_stop(self):
        page = self.open_page()
        self.assertIn("o_dunning_autopay_offer", page.text)
        card = self._save_card()
        self.assertIn(
            card.display_name, self.url_open(f"{urlsplit(page.url).path}/autopay").text
        )
        response = self.post("autopay/start", {"token_id": card.id})
        self.assertEqual(response.status_code, 303, response.text[:300])
        autopay = self.Autopay.search([("partner_id", "=", self.customer.id)])
        self.assertEqual(autopay.state, "active")
        self.assertEqual(autopay.token_id, card)
        self.assertEqual(autopay.company_id, self.company_a)
        self.assertIn(self.company_a.name, autopay.authorisation_text)
        page = self.open_page()
        self.assertIn("o_dunning_autopay_active", page.text)
        self.assertIn("o_dunning_autopay_stop", page.text)
        self.assertNotIn("o_dunning_autopay_offer", page.text)
        # The job charges the late invoices (not the coming one) and Odoo
        # reconciles the payments.
        self.env["dunning.autopay.charge"]._cron_dunning_autopay()
        self.env.flush_all()
        for invoice in self.late | self.later:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(self.coming.payment_state, "not_paid")
        self.assertEqual(self.foreign.payment_state, "not_paid")
        # Stop; a second click changes nothing.
        for _click in range(2):
            response = self.post("autopay/stop")
            self.assertEqual(response.status_code, 303)
            self.assertEqual(autopay.state, "stopped")
        self.assertEqual(autopay.stopped_by_id, self.customer)
        self.assertIn("o_dunning_autopay_offer", self.open_page().text)

    def test_someone_elses_card_is_refused(self):
        other_card = demo_card(self.env, self.provider, self.other, details="9999")
        response = self.post("autopay/start", {"token_id": other_card.id})
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.Autopay.search([]))
        self.assertNotIn("9999", self.url_open(f"{self.page_base()}/autopay").text)
        # No card at all, and the customer's own card without the CSRF token.
        self.assertEqual(self.post("autopay/start", {}).status_code, 400)
        card = demo_card(self.env, self.provider, self.customer)
        with self.assertLogs("odoo.http", "WARNING") as logs:
            response = self.post("autopay/start", {"token_id": card.id}, csrf=False)
        self.assertIn("No CSRF validation token", logs.output[0])
        self.assertNotIn(response.status_code, (200, 303))
        self.assertFalse(self.Autopay.search([]))

    def test_stop_only_by_the_customer(self):
        card = demo_card(self.env, self.provider, self.customer)
        autopay = self.Autopay._dunning_start(
            self.customer, self.company_a, card, self.customer
        )
        with self.assertLogs("odoo.http", "WARNING") as logs:
            response = self.post("autopay/stop", {"stop": "1"}, csrf=False)
        self.assertIn("No CSRF validation token", logs.output[0])
        self.assertNotIn(response.status_code, (200, 303))
        self.assertEqual(autopay.state, "active")
        # Another customer's page stops their own (none), not this one.
        response = self.post("autopay/stop", url=self.page_url(self.other))
        self.assertEqual(response.status_code, 303)
        self.assertEqual(autopay.state, "active")
        # No session at all: nothing stopped.
        self.opener.cookies.clear()
        with mute_logger("odoo.http"):
            response = self.url_open(
                "/my/collections/autopay/stop",
                data={"stop": "1"},
                allow_redirects=False,
            )
        self.assertNotIn("done=autopay_stop", response.headers.get("Location", ""))
        self.assertEqual(autopay.state, "active")

    def test_the_page_saves_no_method_with_another_companys_provider(self):
        other_provider = demo_provider(
            self.env, self.company_b, self.company_data_2_bank()
        )
        page = self.open_page()
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException):
            self.make_jsonrpc_request(
                f"{urlsplit(page.url).path}/autopay/transaction",
                {
                    "provider_id": other_provider.id,
                    "payment_method_id": self.env.ref(
                        "payment_demo.payment_method_demo"
                    ).id,
                    "token_id": None,
                    "flow": "direct",
                    "tokenization_requested": True,
                    "landing_route": "/",
                    "is_validation": True,
                    "csrf_token": CSRF.search(page.text).group(1),
                },
            )
        self.assertFalse(
            self.env["payment.transaction"].search(
                [("provider_id", "=", other_provider.id)]
            )
        )

    def company_data_2_bank(self):
        return self.env["account.journal"].search(
            [("company_id", "=", self.company_b.id), ("type", "=", "bank")], limit=1
        )
