from datetime import timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, TransactionCase, freeze_time, tagged

from ..tools.scoring import PaymentFacts
from .common import NOW, TODAY, days
from .common_plans import PlanCommon


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestPromises(PlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Promise = cls.env["dunning.promise"]
        cls.grace = cls.env["dunning.payment.plan"]._dunning_limits(cls.paula)[
            "grace_days"
        ]

    def _score_facts(self, partner):
        self.env["res.partner"]._dunning_refresh_segmentation(
            companies=self.company_a, partners=partner
        )
        return partner.with_company(self.company_a)

    def test_a_promise_pauses_the_invoices_until_its_date_plus_grace(self):
        promise = self.Promise._dunning_promise(self.paula, self.paula_moves, days(5))
        self.assertEqual(promise.state, "open")
        self.assertEqual(promise.source, "portal")
        self.assertEqual(promise.company_id, self.company_a)
        self.assertAlmostEqual(promise.promised_amount, 500.01)
        self.assertEqual(promise.grace_date, days(5 + self.grace))
        self.assertEqual(
            self.paula_moves.mapped("dunning_pause_reason"), ["promise", "promise"]
        )
        self.assertEqual(
            self.paula_moves.mapped("dunning_pause_until"),
            [days(5 + self.grace)] * 2,
        )
        self.assertIn("Promise to pay", self._notes(self.paula))
        self.assertIn("Promise to pay", self._notes(self.paula_new))

    def test_refusals(self):
        paid = self._dunning_invoice(self.paula, days(-3), 40.0)
        self._dunning_pay(paid, TODAY)
        cases = {
            "date in the past": (self.paula_moves, days(-1), None),
            "date too far": (self.paula_moves, days(60), None),
            "foreign invoice": (self.paula_old | self.oscar_invoice, days(3), None),
            "closed invoice": (paid, days(3), None),
            "amount above what is owed": (self.paula_old, days(3), 300.01),
            "negative amount": (self.paula_old, days(3), -5.0),
        }
        for label, (moves, date, amount) in cases.items():
            with self.subTest(label), self.assertRaises(UserError):
                self.Promise._dunning_promise(self.paula, moves, date, amount)
        self.assertFalse(self.Promise.search([("partner_id", "=", self.paula.id)]))
        self.assertFalse(any(self.paula_moves.mapped("dunning_pause_reason")))
        # The horizon itself is fine; a second promise on the same invoice is not.
        limits = self.env["dunning.payment.plan"]._dunning_limits(self.paula)
        with self.assertRaises(UserError):
            self.Promise._dunning_promise(
                self.paula, self.paula_old, days(limits["promise_max_days"] + 1)
            )
        self.Promise._dunning_promise(
            self.paula, self.paula_old, days(limits["promise_max_days"])
        )
        with self.assertRaises(UserError):
            self.Promise._dunning_promise(self.paula, self.paula_moves, days(2))

    def test_paid_by_the_date_the_promise_is_kept(self):
        promise = self.Promise._dunning_promise(
            self.paula, self.paula_moves, days(5), amount=250.0
        )
        self._dunning_pay(self.paula_old, TODAY, 100.0)
        self._settle_payments()
        self.assertEqual(promise.state, "open")
        self._dunning_pay(self.paula_old, TODAY, 150.0)
        self._settle_payments()
        self.assertEqual(promise.state, "kept")
        self.assertEqual(promise.closed_date, TODAY)
        self.assertIn("Promise kept", self._notes(self.paula))
        with freeze_time(NOW + timedelta(days=30)):
            self.env["dunning.payment.plan"]._cron_dunning_plans()
        self.assertEqual(promise.state, "kept")
        self.assertEqual(self._score_facts(self.paula).dunning_broken_promises, 0)

    def test_unpaid_after_the_grace_days_the_promise_is_broken(self):
        promise = self.Promise._dunning_promise(self.paula, self.paula_moves, days(5))
        self._dunning_pay(self.paula_old, TODAY, 100.0)
        self._settle_payments()
        with freeze_time(NOW + timedelta(days=5 + self.grace)):
            self.env["dunning.payment.plan"]._cron_dunning_plans()
        self.assertEqual(promise.state, "open")
        before = self._score_facts(self.paula).dunning_score
        with freeze_time(NOW + timedelta(days=6 + self.grace)):
            self.env["dunning.payment.plan"]._cron_dunning_plans()
            self.assertEqual(promise.state, "broken")
            self.assertEqual(promise.closed_date, days(6 + self.grace))
            self.assertFalse(any(self.paula_moves.mapped("dunning_pause_reason")))
            self.assertTrue(promise.activity_ids)
            self.assertIn("Promise broken", self._notes(self.paula_old))
            partner = self._score_facts(self.paula)
            self.assertEqual(partner.dunning_broken_promises, 1)
            self.assertLess(partner.dunning_score, before)
            self.assertIn("promise", str(partner.dunning_score_explanation).lower())

    def test_broken_promises_count_for_twelve_months_and_per_company(self):
        old = self.Promise._dunning_promise(self.paula, self.paula_old, days(2))
        recent = self.Promise._dunning_promise(self.paula, self.paula_new, days(2))
        old._dunning_break()
        recent._dunning_break()
        old.closed_date = days(-400)
        self.assertEqual(self._score_facts(self.paula).dunning_broken_promises, 1)
        self.assertFalse(
            self.paula.with_company(self.company_b).dunning_broken_promises
        )

    def test_broken_promises_are_counted_in_one_query(self):
        customers = self.paula | self.oscar
        for partner, moves in (
            (self.paula, self.paula_old),
            (self.oscar, self.oscar_invoice),
        ):
            self.Promise._dunning_promise(partner, moves, days(2))._dunning_break()
        facts = {partner.id: PaymentFacts() for partner in customers}
        self.env.flush_all()
        with self.assertQueryCount(1):
            self.env["res.partner"]._dunning_add_broken_promises(self.company_a, facts)
        self.assertEqual(
            {partner_id: fact.broken_promises for partner_id, fact in facts.items()},
            {self.paula.id: 1, self.oscar.id: 1},
        )

    def test_the_scheduled_job_is_idempotent(self):
        promise = self.Promise._dunning_promise(self.paula, self.paula_moves, days(1))
        with freeze_time(NOW + timedelta(days=2 + self.grace)):
            Plan = self.env["dunning.payment.plan"]
            Plan._cron_dunning_plans()
            Plan._cron_dunning_plans()
        self.assertEqual(promise.state, "broken")
        self.assertEqual(len(promise.activity_ids), 1)
        broken_notes = [
            body
            for body in self.env["mail.message"]
            .search([("model", "=", "dunning.promise"), ("res_id", "=", promise.id)])
            .mapped("body")
            if "Promise broken" in str(body)
        ]
        self.assertEqual(len(broken_notes), 1)

    def test_accountant_records_a_promise_taken_by_phone(self):
        form = Form(
            self.Promise.with_user(self.dunning_user_a).with_context(
                default_source="accountant"
            )
        )
        form.partner_id = self.paula
        form.move_ids.add(self.paula_old)
        form.promised_date = days(3)
        promise = form.save()
        self.assertEqual(promise.source, "accountant")
        self.assertEqual(promise.user_id, self.dunning_user_a)
        self.assertAlmostEqual(promise.promised_amount, 300.0)
        self.assertEqual(self.paula_old.dunning_pause_reason, "promise")
        self.assertFalse(self.paula_new.dunning_pause_reason)
        with self.assertRaises(UserError):
            promise.unlink()
        promise.with_user(self.dunning_user_a).action_cancel()
        self.assertEqual(promise.state, "cancelled")
        self.assertFalse(self.paula_old.dunning_pause_reason)

    def test_a_plan_replaces_an_open_promise(self):
        promise = self.Promise._dunning_promise(self.paula, self.paula_old, days(3))
        plan = self.env["dunning.payment.plan"]._dunning_propose(
            self.paula, self.paula_moves, 2, days(3)
        )
        self.assertEqual(promise.state, "cancelled")
        self.assertEqual(plan.state, "active")
        self.assertEqual(self.paula_moves.mapped("dunning_pause_reason"), ["plan"] * 2)
        with self.assertRaises(UserError):
            self.Promise._dunning_promise(self.paula, self.paula_old, days(3))

    def test_users_see_only_their_companys_promises(self):
        customer_b = self._dunning_customer("Bea")
        invoice_b = self._dunning_invoice_b(customer_b, days(-10), 90.0)
        promise_b = self.Promise.with_company(self.company_b)._dunning_promise(
            customer_b, invoice_b, days(2)
        )
        self.assertEqual(promise_b.company_id, self.company_b)
        promise_a = self.Promise._dunning_promise(self.paula, self.paula_old, days(2))
        Promise = self.Promise.with_user(self.dunning_user_a)
        self.assertEqual(
            Promise.search([("id", "in", (promise_a | promise_b).ids)]), promise_a
        )
        with self.assertRaises(AccessError):
            promise_b.with_user(self.dunning_user_a).read(["promised_date"])


@tagged("post_install", "-at_install")
class TestPlanDemoData(TransactionCase):
    """The demo shows each situation an accountant meets."""

    def setUp(self):
        super().setUp()
        if not self.env.ref("base.module_friendly_dunning").demo:
            self.skipTest("friendly_dunning was installed without demo data")

    def test_demo_plans_promises_and_dispute(self):
        running = self.env.ref("friendly_dunning.demo_plan_pampa_logistica")
        self.assertEqual(running.state, "active")
        self.assertEqual(len(running.installment_ids), 3)
        self.assertEqual(set(running.move_ids.mapped("dunning_pause_reason")), {"plan"})
        waiting = self.env.ref("friendly_dunning.demo_plan_taller_rambla")
        self.assertEqual(waiting.state, "proposed")
        self.assertTrue(waiting.needs_approval_reason)
        self.assertEqual(
            self.env.ref("friendly_dunning.demo_promise_thistle_tweed").state, "open"
        )
        broken = self.env.ref("friendly_dunning.demo_promise_foxglove_events")
        self.assertEqual(broken.state, "broken")
        self.assertFalse(broken.move_ids.dunning_pause_reason)
        disputed = self.env.ref("friendly_dunning.demo_invoice_colibri_verde_5")
        self.assertEqual(disputed.dunning_pause_reason, "dispute")
