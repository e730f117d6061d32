import json
import re
import time
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import DunningCommon

STATEMENT = "friendly_dunning.report_dunning_statement"
# A signed collections token wherever it appears in a page.
SIGNED_LINK = re.compile(r"/collections/(\d{1,12}-\d{1,12}-\d{1,12}-[0-9a-f]{64})")


@tagged("post_install", "-at_install")
class TestStatementAccess(DunningCommon, HttpCase):
    """The statement report, asked for by URL as Odoo's report routes allow
    any logged-in user to: only who may read the customer's receivables gets
    it, and it never carries a link its reader could not have made."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        today = fields.Date.today()
        # Shared by both companies, with an invoice in each.
        cls.customer = cls._dunning_customer("Acme")
        cls.invoice_a = cls._dunning_invoice(
            cls.customer, today - timedelta(days=20), 321
        )
        cls.invoice_b = cls._dunning_invoice(
            cls.customer, today - timedelta(days=20), 777, company_id=cls.company_b.id
        )
        # A customer of company B only.
        cls.customer_b = cls._dunning_customer("Initech", company_id=cls.company_b.id)
        cls.initech_invoice = cls._dunning_invoice(
            cls.customer_b,
            today - timedelta(days=20),
            555,
            company_id=cls.company_b.id,
        )
        cls._dunning_users_around(cls.customer)

    def statement(self, partner, converter="html", **params):
        return self.url_open(
            f"/report/{converter}/{STATEMENT}/{partner.id}", params=params
        )

    def assert_refused(self, response):
        self.assertEqual(response.status_code, 403, response.text[:300])
        for secret in ("321.00", "777.00", "555.00", self.invoice_a.name):
            self.assertNotIn(secret, response.text)
        self.assertFalse(SIGNED_LINK.search(response.text))

    @mute_logger("odoo.http")
    def test_employee_without_accounting_rights_is_refused(self):
        for login in ("employee", "acme_portal"):
            self.authenticate(login, login)
            for converter in ("html", "pdf"):
                with self.subTest(login=login, converter=converter):
                    self.assert_refused(self.statement(self.customer, converter))

    @mute_logger("odoo.http")
    def test_collections_user_sees_their_own_company_only(self):
        self.authenticate("dunning_user_a", "dunning_user_a")
        # A customer of company B only.
        self.assert_refused(self.statement(self.customer_b))
        self.assert_refused(self.statement(self.customer_b, "pdf"))
        # The shared customer's statement with company B, asked for by
        # putting company B in the report's context.
        self.assert_refused(
            self.statement(
                self.customer,
                context=json.dumps({"allowed_company_ids": [self.company_b.id]}),
            )
        )
        # With their own company: company A's invoice, not company B's.
        response = self.statement(self.customer)
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.invoice_a.name, response.text)
        self.assertIn("321.00", response.text)
        self.assertNotIn("777.00", response.text)

    def test_accountant_gets_the_statement_without_a_link(self):
        """An accountant may read the receivables but not issue collections
        links: the statement they print carries none."""
        self.authenticate("billing", "billing")
        for converter in ("html", "pdf"):
            response = self.statement(self.customer, converter)
            self.assertEqual(response.status_code, 200)
            self.assertIn(self.invoice_a.name, response.text)
            self.assertNotIn("/collections/", response.text)
        # Nor one named in the URL that does not open this customer's page.
        other = self.customer_b.sudo()._dunning_portal_token(self.company_a)
        response = self.statement(self.customer, collections_token=other)
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("/collections/", response.text)

    def test_collections_user_prints_a_link_they_may_issue(self):
        self.authenticate("dunning_user_a", "dunning_user_a")
        response = self.statement(self.customer)
        self.assertEqual(response.status_code, 200)
        tokens = set(SIGNED_LINK.findall(response.text))
        self.assertEqual(len(tokens), 1)
        self.assertEqual(
            self.env["res.partner"]._dunning_portal_check_token(tokens.pop()),
            (self.customer, self.company_a),
        )

    def test_statement_from_the_customers_page_renews_no_link(self):
        """Downloading the statement does not renew the link the page was
        opened with: it carries no signed link at all, only the page's
        address without a token."""
        issued = self.customer.with_company(self.company_a)._dunning_portal_token(
            now=time.time() - 10 * 86400
        )
        self.url_open(f"/collections/{issued}")  # the link opens a session
        response = self.url_open("/my/collections/statement.pdf")
        self.assertEqual(response.status_code, 200)
        self.assertIn("321.00", response.text)
        self.assertFalse(SIGNED_LINK.search(response.text))
        self.assertIn("/my/collections", response.text)

    def test_statement_of_the_logged_in_customer_carries_no_signed_link(self):
        self.authenticate("acme_portal", "acme_portal")
        response = self.url_open("/my/collections/statement.pdf")
        self.assertEqual(response.status_code, 200)
        self.assertIn("321.00", response.text)
        self.assertFalse(SIGNED_LINK.search(response.text))
        self.assertIn("/my/collections", response.text)

    @mute_logger("odoo.http")
    def test_emailed_statement_stays_with_the_collections_team(self):
        """The statement and invoice attached to an e-mail reminder are logged
        on the customer, but an employee who can read the customer cannot
        download them."""
        channel = self.env["dunning.channel"].search(
            [("company_id", "=", self.company_a.id), ("channel_type", "=", "email")]
        )
        message = self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.customer.id,
                "kind": "reminder",
                "move_ids": [fields.Command.set(self.invoice_a.ids)],
                "channel": "email",
                "channel_id": channel.id,
                "recipient": "acme@example.com",
                "subject": "Your invoice",
                "body": "Hello",
            }
        )
        message._dunning_send()
        attachments = message.mail_id.attachment_ids
        self.assertEqual(len(attachments), 2, "the invoice and the statement")
        self.customer.with_user(self.employee).check_access("read")
        self.authenticate("employee", "employee")
        for attachment in attachments:
            with self.subTest(attachment=attachment.name):
                response = self.url_open(f"/web/content/{attachment.id}")
                self.assertIn(response.status_code, (403, 404))
                self.assertNotIn("321.00", response.text)
        self.authenticate("dunning_user_a", "dunning_user_a")
        statement = attachments.filtered(lambda a: a.name.startswith("Statement"))
        self.assertEqual(self.url_open(f"/web/content/{statement.id}").status_code, 200)
