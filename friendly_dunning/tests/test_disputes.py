from datetime import date, timedelta

from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import freeze_time, new_test_user, tagged
from odoo.tools import mute_logger
from odoo.tools.safe_eval import safe_eval

from .common import DunningCommon
from .common_portal import PDF, PNG, PortalPageCommon

TODAY = date(2026, 6, 30)  # a Tuesday


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestDisputes(DunningCommon):
    """A dispute from the customer's message to the accountant's answer."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._dunning_customer(
            "Nora",
            phone="+34 612 00 00 09",
            country_id=cls.env.ref("base.es").id,
            user_id=cls.dunning_user_a.id,
        )
        cls.invoice = cls._dunning_invoice(cls.customer, date(2026, 5, 1), 300.0)
        cls.Dispute = cls.env["dunning.dispute"]

    def _dispute(self, invoice=None, **values):
        return self.customer._dunning_open_dispute(
            invoice or self.invoice, words="The price is wrong", **values
        )

    def _answers(self):
        return self.env["dunning.communication"].search(
            [("partner_id", "=", self.customer.id), ("kind", "=", "dispute")]
        )

    # -- opening ------------------------------------------------------

    def test_whatsapp_reply_opens_a_dispute_for_the_owner(self):
        intent = self.env["dunning.reply"]._handle(
            self.company_a,
            "+34612000009",
            "This invoice is wrong, we returned the goods",
            channel="whatsapp",
            provider_id="wamid.dispute-1",
        )
        self.assertEqual(intent, "dispute")
        dispute = self.Dispute.search([("partner_id", "=", self.customer.id)])
        self.assertEqual(
            (dispute.move_id, dispute.amount, dispute.state, dispute.source),
            (self.invoice, 300.0, "open", "whatsapp"),
        )
        self.assertEqual(
            dispute.description, "This invoice is wrong, we returned the goods"
        )
        self.assertEqual(dispute.user_id, self.dunning_user_a)
        # Five working days from Tuesday 30 June: Tuesday 7 July.
        self.assertEqual(dispute.date_deadline, date(2026, 7, 7))
        self.assertEqual(dispute.activity_ids.user_id, self.dunning_user_a)
        self.assertEqual(dispute.activity_ids.date_deadline, date(2026, 7, 7))
        self.assertEqual(self.invoice.dunning_pause_reason, "dispute")
        # A second reply adds to the same dispute.
        self.env["dunning.reply"]._handle(
            self.company_a,
            "+34612000009",
            "The invoice is wrong, the goods went back on Monday",
            channel="whatsapp",
            provider_id="wamid.dispute-2",
        )
        self.assertEqual(
            self.Dispute.search([("partner_id", "=", self.customer.id)]), dispute
        )
        self.assertTrue(
            dispute.message_ids.filtered(lambda m: "back on Monday" in m.body)
        )

    def test_the_todo_follows_owner_and_answer_date(self):
        dispute = self._dispute()
        dispute.write({"user_id": self.dunning_manager_a.id})
        dispute.date_deadline = date(2026, 7, 20)
        self.assertEqual(
            (dispute.activity_ids.user_id, dispute.activity_ids.date_deadline),
            (self.dunning_manager_a, date(2026, 7, 20)),
        )

    def test_policy_sets_the_days_to_answer(self):
        self.customer.with_company(
            self.company_a
        ).dunning_policy_id.dispute_answer_days = 2
        self.assertEqual(self._dispute().date_deadline, date(2026, 7, 2))

    def test_double_submit_keeps_one_dispute(self):
        proof = ("order.pdf", PDF, "application/pdf")
        first = self._dispute(proof=proof, reason="price")
        again = self._dispute(proof=proof, reason="price")
        self.assertEqual(again, first)
        self.assertEqual(self.Dispute.search_count([]), 1)
        self.assertEqual(len(first.attachment_ids), 1)
        self.assertEqual(len(first.activity_ids), 1)
        more = self.customer._dunning_open_dispute(
            self.invoice, words="And the quantity too"
        )
        self.assertEqual(more, first)
        self.assertTrue(first.message_ids.filtered(lambda m: "quantity too" in m.body))
        # Two submissions at once: the second insert is refused by the database.
        with (
            self.assertRaises(IntegrityError),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            self.Dispute.create(
                {
                    "partner_id": self.customer.id,
                    "move_id": self.invoice.id,
                    "amount": 10.0,
                }
            )
            self.env.flush_all()

    def test_a_closed_dispute_lets_a_new_one_open(self):
        first = self._dispute()
        first.resolution = "Explained on the phone"
        first.action_resolve()
        self.assertNotEqual(self._dispute(), first)

    def test_amount_never_above_what_is_owed(self):
        dispute = self._dispute()
        with self.assertRaisesRegex(ValidationError, "cannot be more"):
            dispute.amount = 300.01
        dispute.amount = 120.0
        self.assertEqual(dispute.amount, 120.0)

    # -- the queue ----------------------------------------------------

    def test_the_queue_replaces_the_review_list_for_disputes(self):
        dispute = self._dispute()
        review = self.env.ref("friendly_dunning.action_dunning_review")
        self.assertFalse(
            self.env["account.move"].search(
                [("id", "=", self.invoice.id), *safe_eval(review.domain)]
            )
        )
        queue = self.env.ref("friendly_dunning.action_dunning_dispute")
        self.assertEqual(queue.res_model, "dunning.dispute")
        self.assertEqual(
            self.Dispute.search([("state", "in", ("open", "review"))]), dispute
        )

    def test_answer_overdue_filter(self):
        dispute = self._dispute()
        self.assertFalse(self.Dispute.search([("is_late", "=", True)]))
        with freeze_time(date(2026, 7, 8)):
            self.assertEqual(self.Dispute.search([("is_late", "=", True)]), dispute)
            self.assertFalse(self.Dispute.search([("is_late", "=", False)]))

    def test_accept_in_full_credits_the_invoice(self):
        dispute = self._dispute().with_user(self.dunning_user_a)
        dispute.action_accept()
        refund = dispute.credit_note_id
        self.assertEqual(
            (refund.move_type, refund.state, refund.reversed_entry_id),
            ("out_refund", "posted", self.invoice),
        )
        self.assertEqual(refund.amount_total, 300.0)
        self.assertEqual(self.invoice.amount_residual, 0.0)
        self.assertEqual(
            (dispute.state, dispute.date_closed, dispute.amount_credited),
            ("accepted", TODAY, 300.0),
        )
        self.assertFalse(dispute.activity_ids)
        self.assertFalse(self.invoice.dunning_pause_reason)
        answer = self._answers()
        self.assertEqual(len(answer), 1)
        self.assertIn(refund.name, answer.body)
        self.assertIn("Nothing is left to pay", answer.body)
        self.assertTrue(dispute.message_ids.filtered(lambda m: refund.name in m.body))

    def test_accept_part_credits_that_part_and_reminders_resume(self):
        tax = self.env["account.tax"].create(
            {"name": "Tax 15", "amount": 15.0, "company_id": self.company_a.id}
        )
        invoice = self._create_invoice_one_line(
            price_unit=100.0,
            tax_ids=tax.ids,
            partner_id=self.customer,
            invoice_date=date(2026, 5, 1),
            invoice_date_due=date(2026, 5, 31),
            invoice_payment_term_id=False,
        )
        invoice.action_post()
        dispute = self._dispute(invoice)
        self.assertEqual(dispute.amount, 115.0)
        dispute.amount = 33.33
        dispute.with_user(self.dunning_user_a).action_accept()
        refund = dispute.credit_note_id
        self.assertEqual(refund.amount_total, 33.33)
        self.assertEqual(refund.reversed_entry_id, invoice)
        self.assertEqual(invoice.amount_residual, 81.67)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertFalse(invoice.dunning_pause_reason)
        self.assertIn("81.67", self._answers().body)

    def test_accept_an_instalment_credits_that_instalment(self):
        term = self.env["account.payment.term"].create(
            {
                "name": "Half now, half in 60 days",
                "line_ids": [
                    Command.create(
                        {"value": "percent", "value_amount": 50, "nb_days": 0}
                    ),
                    Command.create(
                        {"value": "percent", "value_amount": 50, "nb_days": 60}
                    ),
                ],
            }
        )
        invoice = self._create_invoice_one_line(
            price_unit=1000.0,
            tax_ids=[],
            partner_id=self.customer,
            invoice_date=date(2026, 5, 21),
            invoice_payment_term_id=term.id,
        )
        invoice.action_post()
        first, second = invoice.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        ).sorted("date_maturity")
        dispute = self._dispute(invoice, line=first)
        self.assertEqual((dispute.line_id, dispute.amount), (first, 500.0))
        dispute.amount = 200.0
        dispute.with_user(self.dunning_user_a).action_accept()
        self.assertEqual(dispute.credit_note_id.amount_total, 200.0)
        self.assertEqual(first.amount_residual, 300.0)
        self.assertEqual(second.amount_residual, 500.0)
        self.assertEqual(invoice.amount_residual, 800.0)

    def test_reject_explains_on_the_customers_channel_and_pauses_for_grace(self):
        self.env["dunning.reply"]._handle(
            self.company_a,
            "+34612000009",
            "The amount is wrong",
            channel="sms",
            provider_id="SM-dispute-1",
        )
        dispute = self.Dispute.search([("partner_id", "=", self.customer.id)])
        dispute = dispute.with_user(self.dunning_user_a)
        with self.assertRaisesRegex(UserError, "why the dispute is rejected"):
            dispute.action_reject()
        dispute.resolution = "The price is the one of your order 42."
        dispute.action_reject()
        self.assertEqual(dispute.state, "rejected")
        self.assertEqual(
            (self.invoice.dunning_pause_reason, self.invoice.dunning_pause_until),
            ("dispute", TODAY + timedelta(days=7)),
        )
        answer = self._answers()
        self.assertEqual(
            (answer.channel, answer.recipient, answer.move_ids),
            ("sms", "+34612000009", self.invoice),
        )
        self.assertIn("order 42", answer.body)
        self.assertIn("07/07/2026", answer.body)
        self.assertNotIn(answer.state, ("failed", "cancelled"))
        self.assertTrue(dispute.message_ids.filtered(lambda m: "order 42" in m.body))

    def test_reject_grace_follows_the_policy(self):
        policy = self.customer.with_company(self.company_a).dunning_policy_id
        policy.dispute_grace_days = 3
        dispute = self._dispute()
        dispute.resolution = "Delivered, signed for."
        dispute.action_reject()
        self.assertEqual(self.invoice.dunning_pause_until, TODAY + timedelta(days=3))

    def test_resolve_otherwise_notes_and_resumes(self):
        dispute = self._dispute()
        with self.assertRaisesRegex(UserError, "how it was resolved"):
            dispute.action_resolve()
        dispute.resolution = "Replacement sent"
        dispute.action_resolve()
        self.assertEqual(dispute.state, "resolved")
        self.assertFalse(self.invoice.dunning_pause_reason)
        self.assertFalse(self._answers())
        self.assertTrue(dispute.message_ids.filtered(lambda m: "Replacement" in m.body))
        with self.assertRaisesRegex(UserError, "closed already"):
            dispute.action_accept()

    # -- who may -------------------------------------------------------

    def test_only_the_collections_team_of_the_company_works_disputes(self):
        dispute = self._dispute()
        self._dunning_users_around(self.customer)
        for user in (self.billing, self.employee, self.portal_user):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                dispute.with_user(user).action_accept()
        self.assertEqual(dispute.state, "open")
        self.assertFalse(dispute.credit_note_id)
        user_b = self._dunning_new_user(
            "dunning_user_b", self.company_b, "friendly_dunning.group_dunning_user"
        )
        self.assertFalse(self.Dispute.with_user(user_b).search([]))
        with self.assertRaises(AccessError):
            dispute.with_user(user_b).action_review()

    # -- KPIs ---------------------------------------------------------

    def test_kpis_time_to_resolve_and_outcomes(self):
        invoices = [
            self._dunning_invoice(self.customer, date(2026, 5, 1), 100.0)
            for _index in range(4)
        ]
        opened = {}
        for invoice, day in zip(invoices, (1, 2, 3, 4), strict=True):
            with freeze_time(date(2026, 6, day)):
                opened[invoice] = self._dispute(invoice)
        # accepted after 2 days, rejected after 6, resolved after 11; one open
        outcomes = [
            (invoices[0], date(2026, 6, 3), "action_accept"),
            (invoices[1], date(2026, 6, 8), "action_reject"),
            (invoices[2], date(2026, 6, 14), "action_resolve"),
        ]
        for invoice, day, action in outcomes:
            dispute = opened[invoice]
            dispute.resolution = "Answered"
            with freeze_time(day):
                getattr(dispute, action)()
        figures = self.env["dunning.kpi"]._kpi_disputes(
            self.company_a, date(2026, 6, 1), date(2026, 6, 30)
        )
        self.assertEqual(
            {key: figures[key] for key in figures},
            {
                "closed": 3,
                "accepted": 1,
                "rejected": 1,
                "resolved": 1,
                "median_days": 6,
                "average_days": 19 / 3,
                "amount_credited": 100.0,
                "open": 1,
                "late": 1,  # opened 4 June, to answer by 11 June
            },
        )
        june_first_week = self.env["dunning.kpi"]._kpi_disputes(
            self.company_a, date(2026, 6, 1), date(2026, 6, 7)
        )
        self.assertEqual(
            (june_first_week["closed"], june_first_week["median_days"]), (1, 2)
        )
        self.assertFalse(
            self.env["dunning.kpi"]._kpi_disputes(
                self.company_b, date(2026, 6, 1), date(2026, 6, 30)
            )["closed"]
        )

    def test_dashboard_shows_the_disputes(self):
        self._dispute()
        data = self.env["dunning.kpi"].with_company(self.company_a).get_dashboard(30)
        self.assertEqual((data["disputes"]["open"], data["disputes"]["closed"]), (1, 0))


@tagged("post_install", "-at_install")
class TestDisputePage(PortalPageCommon):
    """The page's dispute form and the customer's disputes on their page."""

    def test_page_form_opens_a_dispute_once(self):
        data = {
            "invoice_id": self.late.id,
            "category": "quality",
            "reason": "Half of the boxes arrived broken",
        }
        files = {"attachment": ("boxes.png", PNG, "image/png")}
        for _attempt in range(2):
            response = self.post("dispute", data, files=files)
            self.assertEqual(response.status_code, 303)
        dispute = self.env["dunning.dispute"].search([("move_id", "=", self.late.id)])
        self.assertEqual(len(dispute), 1)
        self.assertEqual(
            (dispute.reason, dispute.description, dispute.source),
            ("quality", "Half of the boxes arrived broken", "portal"),
        )
        self.assertEqual(dispute.amount, 300.0)
        self.assertEqual(dispute.attachment_ids.mimetype, "image/png")
        self.assertEqual(self.late.dunning_pause_reason, "dispute")

    def test_page_form_refuses_an_unknown_category(self):
        response = self.post(
            "dispute",
            {"invoice_id": self.late.id, "category": "bribe", "reason": "Wrong"},
        )
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.env["dunning.dispute"].search([]))
        self.assertFalse(self.late.dunning_pause_reason)

    def test_page_shows_each_dispute_and_its_state(self):
        page = self.open_page().text
        self.assertNotIn("Your disputes", page)
        self.assertIn('name="category"', page)
        dispute = self.customer._dunning_open_dispute(self.late, words="Wrong")
        page = self.open_page().text
        self.assertIn("Your disputes", page)
        self.assertIn(f'data-dispute-id="{dispute.id}"', page)
        self.assertIn("New", page)
        dispute.resolution = "The price is the one of your order."
        dispute.action_reject()
        page = self.open_page().text
        self.assertIn("Rejected", page)
        self.assertIn("the one of your order", page)

    def test_another_customer_sees_nor_works_the_dispute(self):
        dispute = self.customer._dunning_open_dispute(
            self.late, words="Wrong", proof=("order.pdf", PDF, "application/pdf")
        )
        globex_portal = new_test_user(
            self.env, login="globex_portal", groups="base.group_portal"
        )
        globex_portal.partner_id.parent_id = self.other
        self.authenticate("globex_portal", "globex_portal")
        page = self.open_page("/my/collections").text
        self.assertIn(self.foreign.name, page)
        self.assertNotIn(f'data-dispute-id="{dispute.id}"', page)
        self.assertNotIn("Your disputes", page)
        with self.assertRaises(AccessError):
            dispute.with_user(globex_portal).read(["description"])
        with self.assertRaises(AccessError):
            dispute.with_user(globex_portal).action_accept()
        with self.assertRaises(AccessError):
            dispute.attachment_ids.with_user(globex_portal).read(["raw"])
        self.assertEqual(dispute.state, "open")
