import re
from datetime import datetime, timedelta

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, JsonRpcException, freeze_time, tagged
from odoo.tools import mute_logger

from .common import DunningCommon

NOW = datetime(2026, 6, 30, 10, 0)
SIGNED_TOKEN = re.compile(r"\d{1,12}-\d{1,12}-\d{1,12}-[0-9a-f]{64}")
# The collections team's view of a customer, not the customer's business.
INTERNAL_FIELDS = [
    "dunning_overdue_amount",
    "dunning_max_days_overdue",
    "dunning_aging_bucket",
    "dunning_score",
    "dunning_profile",
    "dunning_segment_id",
    "dunning_on_time_ratio",
    "dunning_avg_days_late",
    "dunning_broken_promises",
    "dunning_open_disputes",
    "dunning_overdue_share",
    "dunning_next_date",
    "dunning_score_explanation",
    "dunning_policy_id",
]
# Records only the collections team reads.
COLLECTIONS_FIELDS = ["dunning_consent_ids", "dunning_communication_ids"]


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestLinkInChatter(DunningCommon):
    """Every employee who may read a customer reads its chatter: the notes a
    run logs there show the reminder with its link masked."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        today = NOW.date()
        cls.maria = cls._dunning_customer(
            "Maria",
            phone="612 34 56 78",
            country_id=cls.env.ref("base.es").id,
            tz="Europe/Madrid",
        )
        cls.env["dunning.consent"]._record(cls.maria, "whatsapp", "opted_in", "portal")
        cls.bob = cls._dunning_customer("Bob")
        maria_invoice = cls._dunning_invoice(
            cls.maria, today - timedelta(days=35), 300.0
        )
        cls.bob_invoice = cls._dunning_invoice(
            cls.bob, today - timedelta(days=35), 300.0
        )
        # Both were reminded a week after the due date: the run sends the
        # month-late step, which says how late the invoice is.
        step_7 = cls.company_a.dunning_policy_id.step_ids.filtered(
            lambda step: step.offset_days == 7
        )
        cls.env["dunning.invoice.progress"].sudo().create(
            [
                {
                    "move_id": invoice.id,
                    "line_id": invoice.line_ids.filtered(
                        lambda line: line.display_type == "payment_term"
                    ).id,
                    "company_id": cls.company_a.id,
                    "step_id": step_7.id,
                    "last_date": today - timedelta(days=28),
                }
                for invoice in maria_invoice | cls.bob_invoice
            ]
        )

    def test_chatter_notes_mask_the_link(self):
        self.env["dunning.run"]._run_company(self.company_a, now=NOW)
        self.env["dunning.communication"]._dunning_send_queued()
        for customer in self.maria | self.bob:
            message = self.env["dunning.communication"].search(
                [("partner_id", "=", customer.id)]
            )
            self.assertEqual(len(message), 1, customer.name)
            # Maria's WhatsApp reminder goes to the sandbox, Bob's e-mail out.
            self.assertIn(message.state, ("sandbox", "sent"), customer.name)
            # The outbox keeps the working link: it is what gets sent.
            token = SIGNED_TOKEN.search(message.body).group(0)
            self.assertEqual(
                self.env["res.partner"]._dunning_portal_check_token(token),
                (customer, self.company_a),
            )
            notes = self.env["mail.message"].search(
                [("model", "=", "res.partner"), ("res_id", "=", customer.id)]
            )
            self.assertTrue(notes, customer.name)
            for note in notes:
                self.assertNotIn(token, str(note.body))
                self.assertFalse(SIGNED_TOKEN.search(str(note.body)), customer.name)
            # Nor in what is attached to them (the e-mail's invoices and
            # statement), which the chatter lets them download.
            for attachment in notes.attachment_ids:
                self.assertFalse(
                    SIGNED_TOKEN.search(attachment.raw.decode(errors="replace")),
                    attachment.name,
                )
            reminder = notes.filtered(lambda note: "35 days overdue" in str(note.body))
            self.assertEqual(len(reminder), 1, customer.name)
            self.assertIn("/collections/••••", str(reminder.body))

    def test_emailed_statement_carries_no_link(self):
        """The e-mail sent is logged on the customer with its attachments, which
        the chatter offers for download: the statement among them carries no
        link (the e-mail itself does)."""
        message = self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.bob.id,
                "kind": "reminder",
                "move_ids": self.bob_invoice.ids,
                "channel": "email",
                "channel_id": self.env["dunning.channel"]
                .search(
                    [
                        ("company_id", "=", self.company_a.id),
                        ("channel_type", "=", "email"),
                    ]
                )
                .id,
                "recipient": "bob@example.com",
                "body": f"Hi Bob, here is your page: {self.bob._dunning_portal_url()}",
            }
        )
        message._dunning_send()
        self.assertTrue(SIGNED_TOKEN.search(message.mail_id.body_html), "sent")
        notes = self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", self.bob.id)]
        )
        self.assertIn(message.mail_id.mail_message_id, notes)
        for note in notes:
            self.assertFalse(SIGNED_TOKEN.search(str(note.body)), note.body)
        statement = notes.attachment_ids.filtered(
            lambda attachment: attachment.name == "Statement - Bob.pdf"
        )
        self.assertEqual(len(statement), 1)
        # Tests render reports as HTML: the statement is readable text.
        text = statement.raw.decode()
        self.assertTrue("300.00" in text, "the statement is rendered")
        self.assertFalse("/collections/" in text, "the statement carries a link")


class SecurityLinkCommon(DunningCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._dunning_customer("Acme")
        cls.customer_b = cls._dunning_customer("Initech", company_id=cls.company_b.id)
        cls._dunning_users_around(cls.customer)

    def call_kw(self, model, method, args, kwargs=None):
        return self.make_jsonrpc_request(
            "/web/dataset/call_kw",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )


@tagged("post_install", "-at_install")
class TestInternalFieldsOverRpc(SecurityLinkCommon):
    @mute_logger("odoo.http")
    def test_portal_customer_cannot_read_their_score(self):
        self.authenticate("acme_portal", "acme_portal")
        # What the customer may read of their own company stays readable.
        [own] = self.call_kw("res.partner", "read", [self.customer.ids, ["name"]])
        self.assertEqual(own["name"], "Acme")
        for field in INTERNAL_FIELDS + COLLECTIONS_FIELDS:
            for method, args, kwargs in (
                ("read", [self.customer.ids, [field]], {}),
                ("search_read", [[("id", "=", self.customer.id)], [field]], {}),
                ("web_read", [self.customer.ids], {"specification": {field: {}}}),
            ):
                with (
                    self.subTest(field=field, method=method),
                    self.assertRaises(JsonRpcException) as caught,
                ):
                    self.call_kw("res.partner", method, args, kwargs)
                self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
            with self.subTest(field=field), self.assertRaises(AccessError):
                self.customer.with_user(self.portal_user).read([field])

    def test_employee_without_accounting_rights_cannot_read_them(self):
        for field in INTERNAL_FIELDS + COLLECTIONS_FIELDS:
            with self.subTest(field=field), self.assertRaises(AccessError):
                self.customer.with_user(self.employee).read([field])
        for field in COLLECTIONS_FIELDS:
            with self.subTest(field=field), self.assertRaises(AccessError):
                self.customer.with_user(self.billing).read([field])

    def test_collections_and_accounting_users_read_them(self):
        self.env["res.partner"]._dunning_refresh_segmentation(companies=self.company_a)
        for user in (self.dunning_user_a, self.billing):
            with self.subTest(user=user.login):
                [values] = self.customer.with_user(user).read(INTERNAL_FIELDS)
                self.assertEqual(values["dunning_overdue_amount"], 0.0)
        self.customer.with_user(self.dunning_user_a).read(COLLECTIONS_FIELDS)
        self.authenticate("dunning_user_a", "dunning_user_a")
        [values] = self.call_kw(
            "res.partner", "read", [self.customer.ids, ["dunning_profile"]]
        )
        self.assertIn("dunning_profile", values)

    def test_partner_form_loads_for_each_kind_of_employee(self):
        for user in (self.employee, self.billing, self.dunning_user_a):
            with self.subTest(user=user.login):
                Partner = self.env["res.partner"].with_user(user)
                arch = Partner.get_views([(False, "form")])["views"]["form"]["arch"]
                self.assertEqual(
                    "dunning_score" in arch, user == self.dunning_user_a, user.login
                )
                Partner.browse(self.customer.id).web_read({"name": {}})

    def test_portal_page_still_renders(self):
        self.authenticate("acme_portal", "acme_portal")
        response = self.url_open("/my/collections")
        self.assertEqual(response.status_code, 200)
        self.assertIn("Acme", response.text)
        self.authenticate(None, None)
        url = self.customer.with_company(self.company_a)._dunning_portal_url()
        response = self.url_open(url.removeprefix(self.customer.get_base_url()))
        self.assertEqual(response.status_code, 200)
        self.assertIn("Acme", response.text)


@tagged("post_install", "-at_install")
class TestRevokeLinks(SecurityLinkCommon):
    def nonce(self, partner):
        return partner.sudo().dunning_portal_nonce

    @mute_logger("odoo.http")
    def test_employee_cannot_revoke_over_rpc(self):
        token = self.customer.with_company(self.company_a)._dunning_portal_token()
        for login in ("employee", "billing", "acme_portal"):
            self.authenticate(login, login)
            with (
                self.subTest(login=login),
                self.assertRaises(JsonRpcException) as caught,
            ):
                self.call_kw(
                    "res.partner",
                    "action_dunning_revoke_portal_link",
                    [self.customer.ids],
                )
            self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
        self.assertFalse(self.nonce(self.customer))
        self.assertTrue(self.env["res.partner"]._dunning_portal_check_token(token))
        for user in (self.employee, self.billing):
            with self.assertRaises(AccessError):
                self.customer.with_user(user).action_dunning_revoke_portal_link()
        self.assertFalse(self.nonce(self.customer))

    def test_collections_user_revokes_their_companys_customers(self):
        token = self.customer.with_company(self.company_a)._dunning_portal_token()
        self.authenticate("dunning_user_a", "dunning_user_a")
        self.call_kw(
            "res.partner", "action_dunning_revoke_portal_link", [self.customer.ids]
        )
        self.assertTrue(self.nonce(self.customer))
        self.assertIsNone(self.env["res.partner"]._dunning_portal_check_token(token))
        # Not a customer of another company.
        with self.assertRaises(AccessError):
            self.customer_b.with_user(
                self.dunning_user_a
            ).action_dunning_revoke_portal_link()
        self.assertFalse(self.nonce(self.customer_b))
