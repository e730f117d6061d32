from datetime import datetime, timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import freeze_time, tagged

from .common import NOW, TODAY, days
from .common_plans import PlanCommon


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestPaymentPlans(PlanCommon):
    def test_schedule_sums_to_the_residual_with_rounding_on_the_last(self):
        schedule = self.Plan._dunning_schedule(self.paula, self.paula_moves, 3, days(2))
        self.assertEqual(
            [line["date_due"] for line in schedule],
            [days(2), datetime(2026, 8, 2).date(), datetime(2026, 9, 2).date()],
        )
        self.assertEqual(
            [line["amount"] for line in schedule], [166.67, 166.67, 166.67]
        )
        schedule = self.Plan._dunning_schedule(self.paula, self.paula_moves, 7, days(0))
        amounts = [line["amount"] for line in schedule]
        self.assertAlmostEqual(sum(amounts), 500.01, places=2)
        self.assertEqual(amounts[:6], [71.43] * 6)
        self.assertAlmostEqual(amounts[-1], 71.43, places=2)
        # Previewing writes nothing.
        self.assertFalse(self.Plan.search([("partner_id", "=", self.paula.id)]))
        self.assertFalse(self.paula_old.dunning_pause_reason)

    def test_first_instalment_is_at_least_the_down_payment(self):
        segment = self.env["dunning.segment"].search(
            [("company_id", "=", self.company_a.id), ("profile", "=", "chronic")]
        )
        segment.plan_min_down_payment = 50
        self.paula.with_company(self.company_a).dunning_segment_id = segment
        schedule = self.Plan._dunning_schedule(self.paula, self.paula_moves, 4, days(1))
        amounts = [line["amount"] for line in schedule]
        self.assertEqual(amounts, [250.01, 83.33, 83.33, 83.34])
        self.assertAlmostEqual(sum(amounts), 500.01, places=2)
        limits = self.Plan._dunning_limits(self.paula)
        self.assertEqual(limits["min_down_payment"], 50)
        self.assertEqual(limits["max_installments"], segment.plan_max_installments)

    def test_extension_and_settlement_schedules(self):
        extension = self.Plan._dunning_schedule(
            self.paula, self.paula_moves, 5, days(20), plan_type="extension"
        )
        self.assertEqual(extension, [{"date_due": days(20), "amount": 500.01}])
        settlement = self.Plan._dunning_schedule(
            self.paula, self.paula_old, 1, days(3), "settlement", discount_percent=10
        )
        self.assertEqual(settlement, [{"date_due": days(3), "amount": 270.0}])

    def test_inside_the_limits_the_plan_starts_at_once(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 3, days(2))
        self.assertEqual(plan.state, "active")
        self.assertFalse(plan.needs_approval_reason)
        self.assertEqual(plan.partner_id, self.paula)
        self.assertEqual(plan.move_ids, self.paula_moves)
        self.assertEqual(plan.source, "portal")
        self.assertAlmostEqual(plan.amount_total, 500.01)
        self.assertEqual(len(plan.installment_ids), 3)
        self.assertEqual(plan.installment_ids.mapped("state"), ["pending"] * 3)
        self.assertEqual(self.paula_moves.mapped("dunning_pause_reason"), ["plan"] * 2)
        self.assertFalse(any(self.paula_moves.mapped("dunning_next_date")))
        self.assertIn(plan.name, self._notes(self.paula))
        self.assertIn(plan.name, self._notes(self.paula_old))
        self.assertFalse(plan.activity_ids)

    def test_outside_the_limits_it_waits_for_the_accountant(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 12, days(2))
        self.assertEqual(plan.state, "proposed")
        self.assertIn("12 instalments", plan.needs_approval_reason)
        self.assertIn("days away", plan.needs_approval_reason)
        self.assertEqual(self.paula_moves.mapped("dunning_pause_reason"), ["plan"] * 2)
        self.assertTrue(plan.activity_ids)
        plan.with_user(self.dunning_user_a).action_approve()
        self.assertEqual(plan.state, "active")
        self.assertIn("approved", self._notes(plan))

    def test_rejecting_a_plan_resumes_reminders(self):
        plan = self.Plan._dunning_propose(
            self.paula, self.paula_old, 1, days(3), "settlement", discount_percent=20
        )
        self.assertEqual(plan.state, "proposed")
        self.assertIn("discount", plan.needs_approval_reason)
        plan.with_user(self.dunning_user_a).action_reject()
        self.assertEqual(plan.state, "cancelled")
        self.assertFalse(self.paula_old.dunning_pause_reason)
        self.assertTrue(self.paula_old.dunning_next_date)
        with self.assertRaises(UserError):
            plan.action_approve()

    def test_refusals_change_nothing(self):
        paid = self._dunning_invoice(self.paula, days(-3), 40.0)
        self._dunning_pay(paid, TODAY)
        cases = {
            "foreign invoice": (self.paula, self.paula_old | self.oscar_invoice),
            "paid invoice": (self.paula, paid),
            "no invoice": (self.paula, self.env["account.move"]),
        }
        for label, (partner, moves) in cases.items():
            with self.subTest(label), self.assertRaises(UserError):
                self.Plan._dunning_propose(partner, moves, 3, days(2))
        with self.assertRaises(UserError):
            self.Plan._dunning_propose(self.paula, self.paula_moves, 3, days(-1))
        self.paula_new.action_dunning_pause("dispute")
        with self.assertRaisesRegex(UserError, "disputed"):
            self.Plan._dunning_propose(self.paula, self.paula_moves, 3, days(1))
        self.paula_new.action_dunning_resume()
        with self.assertRaises(UserError):
            self.Plan._dunning_propose(self.paula, self.paula_moves, 0, days(1))
        self.assertFalse(self.Plan.search([("partner_id", "=", self.paula.id)]))
        self.assertFalse(self.paula_old.dunning_pause_reason)
        # An invoice belongs to one running plan at a time.
        self.Plan._dunning_propose(self.paula, self.paula_old, 2, days(1))
        with self.assertRaises(UserError):
            self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(1))
        self.assertEqual(
            self.Plan.search_count([("partner_id", "=", self.paula.id)]), 1
        )

    def test_payments_fill_the_instalments_oldest_first(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 3, days(2))
        first, second, third = plan.installment_ids.sorted("date_due")
        self._dunning_pay(self.paula_old, TODAY, 200.0)
        self._settle_payments()
        self.assertEqual(first.state, "paid")
        self.assertAlmostEqual(first.amount_paid, 166.67)
        self.assertEqual(second.state, "pending")
        self.assertAlmostEqual(second.amount_paid, 33.33)
        self.assertEqual(third.amount_paid, 0)
        self.assertEqual(plan.state, "active")
        self.assertAlmostEqual(plan.amount_paid, 200.0)
        self.assertEqual(plan.next_date_due, second.date_due)

    def test_a_completed_plan_thanks_the_customer(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(2))
        self._dunning_pay(self.paula_old, TODAY)
        self._dunning_pay(self.paula_new, TODAY)
        self._settle_payments()
        self.assertEqual(plan.state, "completed")
        self.assertEqual(plan.closed_date, TODAY)
        self.assertEqual(plan.installment_ids.mapped("state"), ["paid", "paid"])
        self.assertFalse(any(self.paula_moves.mapped("dunning_pause_reason")))
        thanks = self._messages(self.paula, "thank_you")
        self.assertEqual(len(thanks), 1)
        self.assertEqual(thanks.move_ids, self.paula_moves)
        self.assertIn("Paula", thanks.body)
        self.assertIn("completed", self._notes(self.paula))
        # The engine does not thank them a second time for the same invoices.
        self.assertTrue(all(self.paula_moves.mapped("dunning_thanked")))

    def test_a_missed_instalment_breaks_the_plan_after_the_grace_days(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 3, days(2))
        grace = self.Plan._dunning_limits(self.paula)["grace_days"]
        with freeze_time(NOW + timedelta(days=2 + grace)):
            self.Plan._cron_dunning_plans()
        self.assertEqual(plan.state, "active")
        with freeze_time(NOW + timedelta(days=3 + grace)):
            self.Plan._cron_dunning_plans()
        self.assertEqual(plan.state, "broken")
        self.assertEqual(plan.closed_date, days(3 + grace))
        self.assertEqual(
            plan.installment_ids.mapped("state"), ["missed", "missed", "missed"]
        )
        self.assertFalse(any(self.paula_moves.mapped("dunning_pause_reason")))
        self.assertTrue(plan.activity_ids)
        self.assertIn("broken", self._notes(self.paula_old))

    def test_a_paid_instalment_does_not_break_the_plan(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 3, days(2))
        self._dunning_pay(self.paula_old, TODAY, 170.0)
        self._settle_payments()
        with freeze_time(NOW + timedelta(days=10)):
            self.Plan._cron_dunning_plans()
        self.assertEqual(plan.state, "active")

    def test_a_settlement_books_its_discount_as_a_credit_note(self):
        plan = self.Plan._dunning_propose(
            self.paula, self.paula_old, 1, days(3), "settlement", discount_percent=10
        )
        plan.action_approve()
        self.assertAlmostEqual(plan.amount_due, 270.0)
        self._dunning_pay(self.paula_old, TODAY, 270.0)
        self._settle_payments()
        self.assertEqual(plan.state, "completed")
        refund = plan.credit_note_id
        self.assertEqual(refund.move_type, "out_refund")
        self.assertEqual(refund.state, "posted")
        self.assertAlmostEqual(refund.amount_total, 30.0)
        self.assertEqual(refund.partner_id, self.paula)
        # The invoice itself is untouched, and settled by payment plus credit note.
        self.assertAlmostEqual(self.paula_old.amount_total, 300.0)
        self.assertIn(self.paula_old.payment_state, ("paid", "in_payment"))
        self.assertEqual(refund.payment_state, "paid")

    def test_instalment_reminders_are_queued_once(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(3))
        first = plan.installment_ids.sorted("date_due")[0]
        self.Plan._cron_dunning_plans()
        self.Plan._cron_dunning_plans()
        reminders = self._messages(self.paula, "installment")
        self.assertEqual(len(reminders), 1)
        self.assertIn("250.01", reminders.body)
        self.assertIn("instalment 1", reminders.body)
        self.assertEqual(reminders.move_ids, self.paula_moves)
        self.assertTrue(first.reminded_before)
        with freeze_time(NOW + timedelta(days=3)):
            self.Plan._cron_dunning_plans()
            self.Plan._cron_dunning_plans()
        reminders = self._messages(self.paula, "installment")
        self.assertEqual(len(reminders), 2)
        self.assertTrue(any("due today" in message.body for message in reminders))

    def test_instalment_reminders_wait_for_the_sending_window(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(3))
        first = plan.installment_ids.sorted("date_due")[0]
        with freeze_time(NOW.replace(hour=23)):
            self.Plan._cron_dunning_plans()
        self.assertFalse(self._messages(self.paula, "installment"))
        self.assertFalse(first.reminded_before)
        with freeze_time(NOW.replace(hour=9)):
            self.Plan._cron_dunning_plans()
        self.assertEqual(len(self._messages(self.paula, "installment")), 1)
        self.assertTrue(first.reminded_before)

    def test_a_thank_you_waits_for_the_sending_window_and_goes_once(self):
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(2))
        with freeze_time(NOW.replace(hour=23)):
            self._dunning_pay(self.paula_old, TODAY)
            self._dunning_pay(self.paula_new, TODAY)
            self._settle_payments()
            self.assertEqual(plan.state, "completed")
            self.assertFalse(self._messages(self.paula, "thank_you"), "quiet hours")
            self.assertTrue(plan.thank_you_pending)
            self.Plan._cron_dunning_plans()
            self.assertFalse(self._messages(self.paula, "thank_you"))
        with freeze_time(NOW + timedelta(days=1)):
            self.Plan._cron_dunning_plans()
            self.Plan._cron_dunning_plans()
        thanks = self._messages(self.paula, "thank_you")
        self.assertEqual(len(thanks), 1)
        self.assertEqual(thanks.state, "queued")
        self.assertEqual(thanks.move_ids, self.paula_moves)
        self.assertIn("Paula", thanks.body)
        self.assertFalse(plan.thank_you_pending)

    def test_a_thank_you_respects_the_daily_cap(self):
        self.company_a.dunning_max_per_day = 1
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(2))
        self.Plan._cron_dunning_plans()
        self.assertEqual(len(self._messages(self.paula, "installment")), 1)
        self._dunning_pay(self.paula_old, TODAY)
        self._dunning_pay(self.paula_new, TODAY)
        self._settle_payments()
        self.assertEqual(plan.state, "completed")
        self.assertFalse(self._messages(self.paula, "thank_you"), "one a day")
        self.assertTrue(plan.thank_you_pending)
        with freeze_time(NOW + timedelta(days=1)):
            self.Plan._cron_dunning_plans()
        self.assertEqual(len(self._messages(self.paula, "thank_you")), 1)
        self.assertFalse(plan.thank_you_pending)

    def test_an_unreachable_customer_is_recorded_once_per_reminder(self):
        self.paula.email = False
        plan = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(3))
        first = plan.installment_ids.sorted("date_due")[0]
        self.Plan._cron_dunning_plans()
        self.Plan._cron_dunning_plans()
        failed = self._messages(self.paula, "installment")
        self.assertEqual(len(failed), 1, "recorded once, not at every run")
        self.assertEqual(failed.state, "failed")
        self.assertIn("No channel", failed.error_message)
        self.assertIn("e-mail: no valid address", failed.error_message)
        self.assertEqual(failed.move_ids, self.paula_moves)
        self.assertTrue(first.reminded_before)
        # The reminder on the day is a message of its own, failed in turn.
        with freeze_time(NOW + timedelta(days=3)):
            self.Plan._cron_dunning_plans()
            self.Plan._cron_dunning_plans()
        failed = self._messages(self.paula, "installment")
        self.assertEqual(failed.mapped("state"), ["failed", "failed"])

    def test_accountant_draws_up_a_plan(self):
        plan = self.Plan.with_user(self.dunning_user_a).create(
            {
                "partner_id": self.paula.id,
                "move_ids": [(6, 0, self.paula_moves.ids)],
                "installment_count": 2,
                "first_date": days(1),
            }
        )
        self.assertEqual(plan.state, "draft")
        self.assertTrue(plan.name.startswith("PLAN/"))
        plan.action_generate_schedule()
        self.assertEqual(plan.installment_ids.mapped("amount"), [250.01, 250.0])
        plan.installment_ids[0].amount = 100.0
        with self.assertRaises(UserError):
            plan.action_activate()
        plan.action_generate_schedule()
        plan.action_activate()
        self.assertEqual(plan.state, "active")
        self.assertEqual(self.paula_moves.mapped("dunning_pause_reason"), ["plan"] * 2)
        with self.assertRaises(UserError):
            plan.installment_ids[0].unlink()
        with self.assertRaises(UserError):
            plan.unlink()
        plan.action_cancel()
        self.assertEqual(plan.state, "cancelled")
        self.assertFalse(any(self.paula_moves.mapped("dunning_pause_reason")))


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestPaymentPlanLanguages(PlanCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("es_ES")
        cls.env["ir.module.module"]._load_module_terms(
            ["friendly_dunning"], ["es_ES"], overwrite=True
        )

    def test_reminders_and_refusals_speak_the_customers_language(self):
        self.paula.lang = "es_ES"
        self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(2))
        self.Plan._cron_dunning_plans()
        reminder = self._messages(self.paula, "installment")
        self.assertIn("la cuota 1 de tu plan de pagos", reminder.body)
        with self.assertRaisesRegex(UserError, "no están a tu nombre"):
            self.Plan.with_context(lang="es_ES")._dunning_propose(
                self.paula, self.oscar_invoice, 2, days(2)
            )


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestPaymentPlanAccess(PlanCommon):
    def test_users_see_only_their_companys_plans(self):
        customer_b = self._dunning_customer("Bea")
        invoice_b = self._dunning_invoice_b(customer_b, days(-10), 90.0)
        plan_b = self.Plan.with_company(self.company_b)._dunning_propose(
            customer_b, invoice_b, 2, days(1)
        )
        self.assertEqual(plan_b.company_id, self.company_b)
        plan_a = self.Plan._dunning_propose(self.paula, self.paula_moves, 2, days(1))
        Plan = self.Plan.with_user(self.dunning_user_a)
        self.assertEqual(Plan.search([("id", "in", (plan_a | plan_b).ids)]), plan_a)
        with self.assertRaises(AccessError):
            plan_b.with_user(self.dunning_user_a).read(["name"])
        with self.assertRaises(AccessError):
            plan_b.installment_ids.with_user(self.dunning_user_a).read(["amount"])
        # A collections user works the plans of their company.
        plan_a.with_user(self.dunning_user_a).action_cancel()
        self.assertEqual(plan_a.state, "cancelled")
        # Invoices of two companies never share a plan.
        paula_b = self._dunning_invoice_b(self.paula, days(-4), 60.0)
        with self.assertRaisesRegex(UserError, "different companies"):
            self.Plan._dunning_propose(self.paula, paula_b | self.paula_new, 2, days(1))
