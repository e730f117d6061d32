from datetime import timedelta
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import freeze_time, tagged

from ..models import dunning_payment_forecast_job as forecast_module
from ..models.dunning_planner import DunningPlanner
from ..tools.payment_forecast import PaymentForecaster
from .common import NOW, TODAY, DunningCommon, days


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestPaymentForecastJob(DunningCommon):
    """The scheduled forecast: every open instalment gets a predicted payment
    date, its probabilities and its reasons, learnt from the company's own
    paid invoices; the worklist ranks customers by expected loss."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Forecast = cls.env["dunning.payment.forecast"]
        # Slow Sam always pays about 20 days late; Prompt Pia on the day.
        cls.sam = cls._dunning_customer("Sam")
        cls.pia = cls._dunning_customer("Pia")
        for month in range(8):
            due = days(-240 + 30 * month)
            late = cls._dunning_invoice(cls.sam, due, 100.0, invoice_date=days(-270))
            cls._dunning_pay(late, due + (days(20) - TODAY))
            prompt = cls._dunning_invoice(cls.pia, due, 100.0, invoice_date=days(-270))
            cls._dunning_pay(prompt, due)
        cls.sam_open = cls._dunning_invoice(cls.sam, days(-5), 500.0)
        cls.pia_open = cls._dunning_invoice(cls.pia, days(-5), 500.0)
        cls.newcomer = cls._dunning_customer("Nina")
        cls.nina_open = cls._dunning_invoice(cls.newcomer, days(10), 200.0)

    def _forecast(self, invoice):
        forecast = self.Forecast.search([("move_id", "=", invoice.id)])
        self.assertEqual(len(forecast), 1)
        return forecast

    def test_each_open_instalment_gets_a_forecast_from_the_history(self):
        count = self.Forecast._dunning_refresh(self.company_a)
        self.assertEqual(count, 3, "the three open invoices, not the paid ones")
        sam, pia = self._forecast(self.sam_open), self._forecast(self.pia_open)
        # Sam's invoice, 5 days past due, is expected about 20 days after it.
        self.assertAlmostEqual((sam.payment_date - sam.date_due).days, 20, delta=3)
        self.assertGreater(sam.p30, 0.8)
        self.assertLess(sam.p7, 0.2)
        self.assertIn("usually pays 20 days late", sam.explanation)
        self.assertIn("8 invoices paid so far", sam.explanation)
        # Pia is already later than ever: her own payments say nothing of
        # so late a one, the paid invoices that took as long (Sam's) do.
        self.assertTrue(pia.payment_date)
        self.assertGreater(pia.p30, 0.5)
        self.assertIn("already 5 days past due", pia.explanation)
        self.assertEqual(sam.amount, 500.0)
        # 5 days past due: in time is within the next 30 days.
        self.assertGreater(sam.p_in_time, 0.8)
        self.assertAlmostEqual(sam.expected_loss, round(500.0 * (1 - sam.p_in_time), 2))
        self.assertEqual(sam.partner_id, self.sam)
        self.assertEqual(sam.move_line_id.move_id, self.sam_open)
        self.assertIn(sam, self.sam_open.dunning_forecast_ids)
        summary = str(self.sam_open.dunning_forecast_summary)
        self.assertIn("Expected on", summary)
        self.assertIn("Why: usually pays 20 days late", summary)
        self.assertIn(f"{round(100 * sam.p30)} %", summary)

    def test_a_new_customer_gets_the_groups_behaviour_and_low_confidence(self):
        self.Forecast._dunning_refresh(self.company_a)
        nina = self._forecast(self.nina_open)
        self.assertEqual(nina.confidence, "low")
        self.assertIn("new customer", nina.explanation)
        self.assertTrue(nina.payment_date)
        self.assertGreater(nina.payment_date, nina.date_due - (TODAY - days(-1)))

    def test_reasons_in_words(self):
        words = self.Forecast._reason_words
        self.assertEqual(words(["usual_delay", 1]), "usually pays a day late")
        self.assertEqual(words(["usual_delay", -3]), "usually pays 3 days early")
        self.assertEqual(words(["usual_delay", 0]), "usually pays on the due date")
        self.assertEqual(words(["overdue", 1]), "already a day past due")
        self.assertEqual(words(["recent_later", 3, 9]), "the last 3 were 9 days later")
        self.assertEqual(words(["payment_weekday", 4]), "pays on Fridays")
        self.assertEqual(
            words(["season", 12, 6]), "invoices due in December are paid 6 days later"
        )
        self.assertEqual(
            words(["term", 60, -4]), "with 60 days to pay, paid 4 days earlier"
        )
        self.assertEqual(
            words(["unpaid_share", 20]),
            "20% of their invoices stayed unpaid long past due",
        )
        self.assertEqual(words(["season", 12, 0]), "")
        self.assertEqual(words(["unknown_code", 1]), "")

    def test_reasons_in_the_users_language(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(
            ["friendly_dunning"], ["es_ES"], overwrite=True
        )
        self.Forecast._dunning_refresh(self.company_a)
        sam = self._forecast(self.sam_open)
        self.assertEqual(sam.reasons[0], ["usual_delay", 20])
        words = sam.with_context(lang="es_ES").explanation
        self.assertIn("suele pagar con 20 días de retraso", words)
        self.assertIn("8 facturas pagadas hasta ahora", words)
        # The stored reasons are codes: the same forecast reads in English.
        self.assertIn("usually pays 20 days late", sam.explanation)

    def test_worklist_ranks_by_expected_loss(self):
        self.Forecast._dunning_refresh(self.company_a)
        partners = (self.sam | self.pia).with_company(self.company_a)
        sam, pia = self._forecast(self.sam_open), self._forecast(self.pia_open)
        self.assertAlmostEqual(
            partners[0].dunning_expected_loss, sam.expected_loss, places=2
        )
        self.assertEqual(partners[0].dunning_forecast_date, sam.payment_date)
        self.assertEqual(partners[1].dunning_forecast_date, pia.payment_date)
        ranked = (
            self.env["res.partner"]
            .with_company(self.company_a)
            .search(
                [("id", "in", (self.sam | self.pia | self.newcomer).ids)],
                order="dunning_expected_loss desc",
            )
        )
        losses = ranked.mapped("dunning_expected_loss")
        self.assertEqual(losses, sorted(losses, reverse=True))
        # Nothing is owed by a customer once paid: their figures go.
        self._dunning_pay(self.sam_open, TODAY)
        self.Forecast._dunning_refresh(self.company_a)
        self.assertFalse(self.Forecast.search([("move_id", "=", self.sam_open.id)]))
        self.sam.invalidate_recordset()
        self.assertFalse(self.sam.with_company(self.company_a).dunning_expected_loss)
        self.assertFalse(self.sam.with_company(self.company_a).dunning_forecast_date)

    def test_each_company_learns_from_its_own_ledger(self):
        self.Forecast._dunning_refresh(self.company_a)
        self.assertEqual(self.Forecast._dunning_refresh(self.company_b), 0)
        self.assertEqual(
            set(self.Forecast.search([]).company_id.ids), {self.company_a.id}
        )
        # A collections user of company B sees none of company A's.
        self.dunning_user_b = self._dunning_new_user(
            "dunning_user_b", self.company_b, "friendly_dunning.group_dunning_user"
        )
        self.assertFalse(self.Forecast.with_user(self.dunning_user_b).search([]))

    def test_no_forecast_without_enough_history(self):
        """A company with too few paid instalments (16 here, against a
        minimum raised to 17) gets no forecast rather than a guess, and its
        customers lose their expected loss."""
        self.Forecast._dunning_refresh(self.company_a)
        sam = self.sam.with_company(self.company_a)
        self.assertTrue(sam.dunning_forecast_date)
        with patch.object(forecast_module, "MIN_HISTORY", 17):
            self.assertEqual(self.Forecast._dunning_refresh(self.company_a), 0)
        self.assertFalse(self.Forecast.search([]))
        sam.invalidate_recordset()
        self.assertFalse(sam.dunning_expected_loss)
        self.assertFalse(sam.dunning_forecast_date)

    def test_an_open_promise_moves_the_forecast_to_its_date(self):
        """Sam promised to pay by tomorrow; he kept 3 promises and broke 1:
        trusted at (3 + 1) / (4 + 2), the forecast takes his date and
        weighs its probabilities toward it, and says so."""
        Promise = self.env["dunning.promise"]

        def promise(state, promised, move):
            return Promise.create(
                {
                    "partner_id": self.sam.id,
                    "company_id": self.company_a.id,
                    "move_ids": [(6, 0, move.ids)],
                    "promised_date": promised,
                    "grace_date": promised,
                    "residual_at_promise": 500.0,
                    "state": state,
                }
            )

        paid = self.env["account.move"].search(
            [("partner_id", "=", self.sam.id), ("payment_state", "!=", "not_paid")],
            limit=4,
        )
        for state, move in zip(("kept", "kept", "kept", "broken"), paid, strict=True):
            promise(state, days(-100), move)
        self.Forecast._dunning_refresh(self.company_a)
        before = self._forecast(self.sam_open)
        before_p7, before_p30 = before.p7, before.p30
        promise("open", days(1), self.sam_open)
        self.Forecast._dunning_refresh(self.company_a)
        after = self._forecast(self.sam_open)
        trust = 4 / 6
        self.assertEqual(after.payment_date, days(1))
        # Tomorrow is 6 days after the due date: within 7, 30 and 90 days.
        self.assertAlmostEqual(after.p7, round(trust + (1 - trust) * before_p7, 3))
        self.assertAlmostEqual(after.p30, round(trust + (1 - trust) * before_p30, 3))
        self.assertIn("kept 3 of 4 promises so far", after.explanation)
        self.assertIn("promised to pay by", after.explanation)

    def test_an_open_dispute_is_a_reason(self):
        self.env["dunning.dispute"].create(
            {"partner_id": self.pia.id, "move_id": self.pia_open.id, "amount": 50.0}
        )
        self.Forecast._dunning_refresh(self.company_a)
        self.assertIn(
            "disputed: payment waits for the dispute's outcome",
            self._forecast(self.pia_open).explanation,
        )
        self.assertNotIn("disputed", self._forecast(self.sam_open).explanation)

    def _message(self, invoice, kind, when, state="sent"):
        return self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": invoice.partner_id.id,
                "move_ids": [Command.set(invoice.ids)],
                "kind": kind,
                "channel": "whatsapp",
                "state": state,
                "sent_date": when if kind != "reply" else False,
                "date": when,
            }
        )

    def _prompt_rita(self):
        """Rita pays the day after a reminder, whenever it comes; Sam's
        reminders, 3 days after the due date, are never what makes him pay
        (20 days late)."""
        for move in self.env["account.move"].search(
            [("partner_id", "=", self.sam.id), ("payment_state", "!=", "not_paid")]
        ):
            self._message(move, "reminder", move.invoice_date_due + timedelta(days=3))
        rita = self._dunning_customer("Rita")
        for number in range(6):
            due = days(-200 + 30 * number)
            sent = due + timedelta(days=3 + 4 * (number % 3))
            invoice = self._dunning_invoice(rita, due, 100.0, invoice_date=days(-230))
            self._message(invoice, "reminder", sent)
            self._dunning_pay(invoice, sent + timedelta(days=1))
        return self._dunning_invoice(rita, days(-15), 300.0)

    def test_a_customer_who_pays_after_reminders_is_expected_after_the_last(self):
        """Rita, reminded this morning, is expected tomorrow, and the reason
        says why; the hourly run, after the morning's forecast, sees the
        reminder."""
        forecast_module._TRAINED.clear()
        rita_open = self._prompt_rita()
        self.Forecast._cron_dunning_forecast()
        before = self._forecast(rita_open)
        self.assertNotEqual(before.payment_date, days(1))
        self.assertNotIn("reminded", before.explanation)
        expected_before = before.payment_date
        self._message(rita_open, "reminder", NOW)
        self.Forecast._cron_dunning_forecast()
        after = self._forecast(rita_open)
        self.assertEqual(after.payment_date, days(1))
        self.assertGreater(expected_before, days(1))
        self.assertIn("pays the day after a reminder (6 of 6 times)", after.explanation)
        # A message not sent (failed) is no reminder.
        rita_next = self._dunning_invoice(rita_open.partner_id, days(-15), 50.0)
        self._message(rita_next, "reminder", NOW, state="failed")
        self.Forecast._dunning_refresh(self.company_a)
        self.assertNotIn("reminded", self._forecast(rita_next).explanation)

    def test_a_customer_who_pays_after_replying_is_expected_after_a_reply(self):
        """Pia replied the day before each of her last payments; her reply
        this morning moves her overdue invoice to tomorrow."""
        for move in self.env["account.move"].search(
            [("partner_id", "=", self.pia.id), ("payment_state", "!=", "not_paid")]
        ):
            self._message(move, "reply", move.invoice_date_due - timedelta(days=1))
        for move in self.env["account.move"].search(
            [("partner_id", "=", self.sam.id), ("payment_state", "!=", "not_paid")]
        ):
            self._message(move, "reply", move.invoice_date_due)
        self._message(self.pia_open, "reply", NOW)
        self.Forecast._dunning_refresh(self.company_a)
        pia = self._forecast(self.pia_open)
        self.assertEqual(pia.payment_date, days(1))
        self.assertIn("pays the day after replying (8 of 8 times)", pia.explanation)
        self.assertNotIn("replied", self._forecast(self.sam_open).explanation)

    def test_disputes_of_the_history_are_read(self):
        """The forecaster learns from the invoices that were disputed before
        they were paid, and from the open ones under an open dispute."""
        paid_move = self._dunning_invoice(self.sam, days(-60), 100.0)
        self.env["dunning.dispute"].create(
            {"partner_id": self.sam.id, "move_id": paid_move.id, "amount": 5}
        )
        self._dunning_pay(paid_move, days(-10))
        paid, _open = self.Forecast._dunning_read_ledger(self.company_a)
        disputed = [invoice for invoice in paid if invoice.disputed]
        self.assertEqual(len(disputed), 1)
        self.assertEqual(disputed[0].due_date, paid_move.invoice_date_due)
        self.assertEqual(sum(invoice.customer == self.sam.id for invoice in paid), 9)

    def test_likely_late_payers_get_the_reminder_before_due_earlier(self):
        """The shipped reminder three days before the due date goes ten days
        before it to the instalments likely to be paid late (under 50 %
        within 7 days of the due date): Sam's, not Pia's."""
        step = self.company_a.dunning_policy_id.step_ids.filtered(
            lambda s: s.offset_days == -3
        )
        self.assertEqual(step.likely_late_days_before, 10)
        sam_soon = self._dunning_invoice(self.sam, days(8), 300.0)
        pia_soon = self._dunning_invoice(self.pia, days(8), 300.0)

        def due_steps():
            planner = DunningPlanner(self.env, self.company_a, NOW)
            rows = planner._select(planner._due_invoices_sql())
            return {row[1]: row[3] for row in rows}

        # Before any forecast, nobody is known to be likely late.
        self.assertNotIn(sam_soon.id, due_steps())
        self.Forecast._dunning_refresh(self.company_a)
        self.assertLess(self._forecast(sam_soon).p7, 0.5)
        self.assertGreater(self._forecast(pia_soon).p7, 0.5)
        due = due_steps()
        self.assertEqual(due.get(sam_soon.id), step.id)
        self.assertNotIn(pia_soon.id, due)
        # Three days before the due date Pia's comes too.
        planner = DunningPlanner(self.env, self.company_a, NOW + timedelta(days=5))
        rows = planner._select(planner._due_invoices_sql())
        self.assertIn(pia_soon.id, {row[1] for row in rows})

    def test_only_steps_before_the_due_date_go_earlier(self):
        step = self.company_a.dunning_policy_id.step_ids.filtered(
            lambda s: s.offset_days == -3
        )
        with self.assertRaises(ValidationError):
            step.likely_late_days_before = 2
        overdue = self.company_a.dunning_policy_id.step_ids.filtered(
            lambda s: s.offset_days == 7
        )
        with self.assertRaises(ValidationError):
            overdue.likely_late_days_before = 10

    def test_forecasts_are_read_only_and_not_for_employees(self):
        self.Forecast._dunning_refresh(self.company_a)
        sam = self._forecast(self.sam_open)
        with self.assertRaises(AccessError):
            sam.with_user(self.dunning_user_a).write({"p30": 1.0})
        self._dunning_users_around(self.sam)
        with self.assertRaises(AccessError):
            self.Forecast.with_user(self.employee).search([])
        with self.assertRaises(AccessError):
            self.Forecast.with_user(self.portal_user).search([])
        with self.assertRaises(AccessError):
            self.Forecast.with_user(self.billing).search([])
        self.assertTrue(self.Forecast.with_user(self.dunning_user_a).search([]))
        # The customer's figures on the worklist are the accountants' too.
        self.assertEqual(
            self.sam.with_user(self.billing)
            .with_company(self.company_a)
            .dunning_forecast_date,
            sam.payment_date,
        )

    def test_hourly_runs_forecast_only_what_changed(self):
        """The first run of the day learns from the ledger; the next ones
        forecast the new and changed instalments with that model and drop
        the paid ones, leaving the others as they were."""
        forecast_module._TRAINED.clear()
        trained = []
        original = PaymentForecaster.train.__func__

        def counting(cls, *args, **kwargs):
            trained.append(1)
            return original(cls, *args, **kwargs)

        with patch.object(PaymentForecaster, "train", classmethod(counting)):
            self.Forecast._cron_dunning_forecast()
            first = len(trained)
            pia = self._forecast(self.pia_open)
            self._dunning_pay(self.sam_open, TODAY)
            self._dunning_pay(self.nina_open, TODAY, amount=50.0)
            fresh = self._dunning_invoice(self.pia, days(20), 80.0)
            self.Forecast._cron_dunning_forecast()
        self.assertEqual(len(trained), first, "no training on the second run")
        self.assertFalse(self.Forecast.search([("move_id", "=", self.sam_open.id)]))
        self.assertEqual(self._forecast(self.pia_open), pia, "left as it was")
        self.assertEqual(self._forecast(self.nina_open).amount, 150.0)
        self.assertEqual(self._forecast(fresh).amount, 80.0)
        self.sam.invalidate_recordset()
        self.assertFalse(self.sam.with_company(self.company_a).dunning_expected_loss)
        # The next day learns again.
        with (
            freeze_time(NOW + timedelta(days=1)),
            patch.object(PaymentForecaster, "train", classmethod(counting)),
        ):
            self.Forecast._cron_dunning_forecast()
        self.assertGreater(len(trained), first)

    def test_scheduled_job_refreshes_every_company(self):
        cron = self.env.ref("friendly_dunning.ir_cron_dunning_forecast")
        self.assertTrue(cron.active)
        self.assertEqual(cron.code.strip(), "model._cron_dunning_forecast()")
        self.Forecast._cron_dunning_forecast()
        self.assertEqual(
            self.Forecast.search([]).move_id,
            self.sam_open | self.pia_open | self.nina_open,
        )

    def test_cash_in_forecast_for_the_next_13_weeks(self):
        """The receipts expected each week from the open instalments, with a
        range, per currency: Nina's 200 (due in 10 days) and Sam's and Pia's
        500 each, all likely to come within the quarter."""
        self.Forecast._dunning_refresh(self.company_a)
        Cash = self.env["dunning.cash.forecast"]
        weeks = Cash.search([("company_id", "=", self.company_a.id)])
        self.assertEqual(weeks.mapped("week"), list(range(1, 15)))
        self.assertEqual(set(weeks.currency_id.ids), {self.company_a.currency_id.id})
        coming = weeks.filtered(lambda w: w.week <= 13)
        total = sum(coming.mapped("expected")) + weeks[-1].expected
        self.assertLessEqual(total, 1200.0 + 0.01)
        self.assertGreater(sum(coming.mapped("expected")), 900.0)
        for week in coming:
            self.assertLessEqual(week.low, week.expected + 0.01)
            self.assertGreaterEqual(week.high, week.expected - 0.01)
            self.assertLessEqual(week.date_start, week.date_end)
        self.assertEqual(coming[0].date_start, TODAY + timedelta(days=1))
        self.assertEqual(coming[1].date_start.weekday(), 0, "weeks start on Monday")
        # Sam pays about 20 days after the due date (5 days ago): in 15 days.
        sam_week = coming.filtered(lambda w: w.date_start <= days(15) <= w.date_end)
        self.assertGreater(sam_week.expected, 300.0)
        # The managers' dashboard draws the same weeks.
        dashboard = self.env["dunning.kpi"].with_company(self.company_a)
        cash = dashboard.get_dashboard(30)["cash"]
        self.assertEqual(len(cash["labels"]), 13)
        self.assertEqual(cash["expected"], [round(w.expected, 2) for w in coming])
        self.assertAlmostEqual(cash["total"], sum(coming.mapped("expected")), 1)
        # The range's widening was measured today, once.
        self.assertEqual(self.company_a.dunning_cash_widening_date, TODAY)
        self.assertGreaterEqual(self.company_a.dunning_cash_widening, 1.0)
        # Paid: gone from the next forecast.
        self._dunning_pay(self.sam_open, TODAY)
        self.Forecast._dunning_refresh(self.company_a)
        weeks = Cash.search([("company_id", "=", self.company_a.id)])
        self.assertLessEqual(sum(weeks.mapped("expected")), 700.0 + 0.01)
        # Collections users of another company see none of it.
        user_b = self._dunning_new_user(
            "cash_user_b", self.company_b, "friendly_dunning.group_dunning_user"
        )
        self.assertFalse(Cash.with_user(user_b).search([]))
        self._dunning_users_around(self.sam)
        with self.assertRaises(AccessError):
            Cash.with_user(self.billing).search([])
