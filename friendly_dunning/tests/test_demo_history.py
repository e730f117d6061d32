from datetime import datetime, time, timedelta

from odoo import fields
from odoo.tests import TransactionCase, freeze_time, tagged

CHANNEL_TYPES = ("whatsapp", "sms", "email")


@tagged("post_install", "-at_install")
class TestDemoHistory(TransactionCase):
    """The demo database opens on months of collections: every dashboard card
    and report has figures, dated from the day the demo was installed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.with_demo = cls.env.ref("base.module_friendly_dunning").demo
        data = cls.env["ir.model.data"].search(
            [
                ("module", "=", "friendly_dunning"),
                ("model", "=", "dunning.communication"),
            ]
        )
        cls.messages = cls.env["dunning.communication"].browse(data.mapped("res_id"))
        if not cls.with_demo:
            return
        demo_moves = cls.env["ir.model.data"].search(
            [("module", "=", "friendly_dunning"), ("model", "=", "account.move")]
        )
        moves = cls.env["account.move"].browse(demo_moves.mapped("res_id"))
        # Measured from the day the demo was installed, so that the tests hold
        # on a database tested days later.
        cls.install_day = fields.Date.context_today(
            moves[:1], timestamp=min(moves.mapped("create_date"))
        )
        cls.manager = cls.env.ref("base.user_admin")

    def setUp(self):
        super().setUp()
        if not self.with_demo:
            self.skipTest("friendly_dunning was installed without demo data")

    def _kpis(self, days):
        return (
            self.env["dunning.kpi"]
            .with_user(self.manager)
            .get_kpis(self.install_day - timedelta(days=days - 1), self.install_day)
        )

    def test_history_spans_months_up_to_install_day(self):
        reminders = self.messages.filtered(lambda m: m.kind == "reminder")
        self.assertGreaterEqual(len(reminders), 100)
        sent = sorted(reminders.mapped("sent_date"))
        self.assertLess(sent[-1].date(), self.install_day)
        self.assertGreaterEqual(sent[-1].date(), self.install_day - timedelta(days=7))
        self.assertLessEqual(sent[0].date(), self.install_day - timedelta(days=120))
        months = {day.strftime("%Y-%m") for day in sent}
        self.assertGreaterEqual(len(months), 5)

    def test_messages_go_through_real_channel_types(self):
        """Sent through the demo's WhatsApp, SMS and e-mail channels, which
        are archived: no reminder of the history went through the sandbox,
        and nothing can be sent from a trial database."""
        reminders = self.messages.filtered(lambda m: m.kind == "reminder")
        channels = reminders.channel_id
        self.assertEqual(set(channels.mapped("channel_type")), set(CHANNEL_TYPES))
        self.assertFalse(any(channels.mapped("active")))
        for message in reminders:
            with self.subTest(message=message.id):
                self.assertEqual(message.channel, message.channel_id.channel_type)
                self.assertIn(message.state, ("sent", "delivered", "read", "replied"))
                self.assertTrue(message.body and message.step_id and message.move_ids)
                self.assertLess(message.date, message.sent_date)
                if message.delivered_date:
                    self.assertLessEqual(message.sent_date, message.delivered_date)
                if message.read_date:
                    self.assertLessEqual(message.delivered_date, message.read_date)
                # WhatsApp charges delivered templates only.
                if message.channel == "email" or (
                    message.channel == "whatsapp" and not message.delivered_date
                ):
                    self.assertFalse(message.cost)
                else:
                    self.assertGreater(message.cost, 0)
        self.assertIn("read", reminders.mapped("state"))

    def test_the_first_run_shows_in_the_sandbox_what_it_would_send(self):
        company = self.env.ref("base.main_company")
        sandbox = self.env["dunning.channel"].search(
            [("company_id", "=", company.id), ("channel_type", "=", "sandbox")]
        )
        self.assertEqual(len(sandbox), 1, "the demo company has its sandbox")
        company.write(
            {
                "dunning_hold_weekends": False,
                "dunning_hold_holidays": False,
                "dunning_quiet_hour_start": 0.0,
                "dunning_quiet_hour_end": 24.0,
            }
        )
        now = datetime.combine(self.install_day, time(12))
        with freeze_time(now):
            run = self.env["dunning.run"]._run_company(company, now=now)
        messages = self.env["dunning.communication"].search(
            [("company_id", "=", company.id), ("date", "=", run.date)]
        )
        queued = messages.filtered(lambda m: m.state == "queued")
        self.assertGreaterEqual(run.queued_count, 5)
        self.assertGreater(run.queued_count, run.unreachable_count)
        self.assertEqual(queued.channel_id, sandbox, "a trial database sends nothing")

    def test_replies_answer_read_messages(self):
        replies = self.messages.filtered(lambda m: m.kind == "reply")
        replied = self.messages.filtered(
            lambda m: m.kind == "reminder" and m.state == "replied"
        )
        self.assertGreaterEqual(len(replies), 5)
        self.assertEqual(len(replies), len(replied))
        for reply in replies:
            with self.subTest(reply=reply.id):
                answered = replied.filtered(
                    lambda m, reply=reply: (
                        m.partner_id == reply.partner_id
                        and m.read_date
                        and m.read_date <= reply.date
                    )
                )
                self.assertTrue(answered)
                self.assertEqual(reply.state, "replied")
                self.assertTrue(reply.body)

    def test_dashboard_cards_have_figures(self):
        """The dashboard opened on the install day: a funnel for each
        channel, promises kept and broken, a completed plan, ratings and the
        payments that followed reminders."""
        with freeze_time(self.install_day):
            dashboard = (
                self.env["dunning.kpi"].with_user(self.manager).get_dashboard(30)
            )
        figures = {card["key"]: card["value"] for card in dashboard["headline"]}
        self.assertGreater(figures["promise_kept_rate"], 0)
        self.assertLess(figures["promise_kept_rate"], 1)
        self.assertEqual(figures["plan_completion_rate"], 1.0)
        self.assertTrue(1 <= figures["csat"] <= 5)
        self.assertGreater(figures["first_reminder_cure_rate"], 0)
        self.assertGreater(figures["collection_rate"], 0)
        channels = {row["channel"]: row for row in dashboard["channels"]}
        for channel in CHANNEL_TYPES:
            with self.subTest(channel=channel):
                self.assertGreater(channels[channel]["sent"], 0)
                self.assertGreater(channels[channel]["delivered"], 0)
                self.assertGreater(channels[channel]["paid_within_7_days"], 0)
        self.assertGreater(channels["whatsapp"]["read"], 0)
        self.assertGreater(channels["whatsapp"]["cost"], 0)

    def test_year_of_kpis(self):
        kpis = self._kpis(365)
        self.assertGreaterEqual(kpis["promises_due"], 6)
        self.assertTrue(0 < kpis["promise_kept_rate"] < 1)
        self.assertGreaterEqual(kpis["plans_ended"], 1)
        self.assertGreaterEqual(kpis["ratings"], 5)
        for channel in CHANNEL_TYPES:
            with self.subTest(channel=channel):
                figures = kpis["channels"][channel]
                self.assertGreater(figures["paid_within_7_days"], 0)
                self.assertGreater(figures["amount_collected"], 0)
                self.assertTrue(0 < figures["effectiveness"] < 1)

    def test_invoices_paid_after_reminders(self):
        """Recovered invoices were reminded first and paid by payments
        reconciled with them, after their due date."""
        recovered = self.env["dunning.report.recovery"].search(
            [("state", "=", "recovered"), ("reminder_count", ">", 0)]
        )
        self.assertGreaterEqual(len(recovered), 10)
        self.assertGreater(sum(recovered.mapped("days_to_recover")) / len(recovered), 7)
        for row in recovered:
            with self.subTest(invoice=row.move_id.name):
                payments = row.move_id._get_reconciled_payments()
                self.assertTrue(payments)
                self.assertGreater(max(payments.mapped("date")), row.date_due)
                first_reminder = min(
                    self.messages.filtered(
                        lambda m, move=row.move_id: move in m.move_ids
                    ).mapped("sent_date")
                )
                self.assertLess(first_reminder.date(), max(payments.mapped("date")))

    def test_promises_kept_and_broken(self):
        promises = self.env["dunning.promise"].search(
            [
                ("partner_id.category_id", "in", self._demo_tag().ids),
                ("state", "in", ("kept", "broken")),
            ]
        )
        kept = promises.filtered(lambda p: p.state == "kept")
        broken = promises - kept
        self.assertGreaterEqual(len(kept), 4)
        self.assertGreaterEqual(len(broken), 2)
        for promise in kept:
            with self.subTest(promise=promise.display_name):
                made = promise.create_date.date()
                paid = [
                    payment.amount_company_currency_signed
                    for payment in promise.move_ids._get_reconciled_payments()
                    if made <= payment.date <= promise.grace_date
                ]
                self.assertAlmostEqual(sum(paid), promise.promised_amount)
                self.assertLess(made, promise.promised_date)
                self.assertLess(promise.grace_date, self.install_day)
        for promise in broken:
            with self.subTest(promise=promise.display_name):
                self.assertNotEqual(promise.move_ids.payment_state, "paid")
                self.assertLessEqual(promise.closed_date, self.install_day)

    def test_completed_plan_paid_by_reconciled_payments(self):
        plan = self.env.ref("friendly_dunning.demo_plan_prairie_wind_events")
        self.assertEqual(plan.state, "completed")
        self.assertEqual(set(plan.installment_ids.mapped("state")), {"paid"})
        self.assertEqual(plan.amount_paid, plan.amount_due)
        invoice = plan.move_ids
        self.assertEqual(invoice.payment_state, "paid")
        payments = invoice._get_reconciled_payments().sorted("date")
        self.assertEqual(len(payments), len(plan.installment_ids))
        for payment, line in zip(
            payments, plan.installment_ids.sorted("date_due"), strict=True
        ):
            self.assertAlmostEqual(payment.amount, line.amount)
            self.assertLessEqual(payment.date, line.date_due)
        self.assertLess(plan.closed_date, self.install_day)
        self.assertGreaterEqual(plan.closed_date, self.install_day - timedelta(days=30))

    def test_instalment_invoice_first_instalment_overdue(self):
        invoice = self.env.ref("friendly_dunning.demo_invoice_capivara_construcoes_5")
        self.assertEqual(
            invoice.invoice_payment_term_id,
            self.env.ref("account.account_payment_term_advance_60days"),
        )
        instalments = invoice.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        ).sorted("date_maturity")
        self.assertEqual(len(instalments), 2)
        first, balance = instalments
        self.assertFalse(first.reconciled)
        self.assertGreater((self.install_day - first.date_maturity).days, 30)
        self.assertGreater(balance.date_maturity, self.install_day)
        self.assertAlmostEqual(
            first.balance, invoice.amount_total_signed * 0.3, delta=0.01
        )

    def test_reminded_invoices_stand_at_their_last_step(self):
        """The next run goes on from the history: open invoices remember the
        last step they got, and paid ones are not thanked again."""
        reminders = self.messages.filtered(lambda m: m.kind == "reminder")
        for invoice in reminders.move_ids:
            with self.subTest(invoice=invoice.name):
                last = reminders.filtered(
                    lambda m, invoice=invoice: invoice in m.move_ids
                )
                last = max(last, key=lambda m: m.sent_date)
                self.assertEqual(invoice.dunning_step_id, last.step_id)
                self.assertEqual(invoice.dunning_last_date, last.sent_date.date())
                if invoice.payment_state == "paid":
                    self.assertTrue(invoice.dunning_thanked)

    def test_disputes_one_waiting_one_resolved(self):
        """The disputes queue holds a dispute waiting for an answer, and the
        dashboard counts one resolved weeks before the install."""
        waiting = self.env.ref("friendly_dunning.demo_dispute_colibri_verde")
        self.assertEqual(waiting.state, "open")
        self.assertTrue(waiting.description)
        self.assertEqual(waiting.move_id.dunning_pause_reason, "dispute")
        resolved = self.env.ref("friendly_dunning.demo_dispute_montana_azul")
        self.assertEqual(resolved.state, "resolved")
        self.assertTrue(resolved.resolution)
        self.assertFalse(resolved.move_id.dunning_pause_reason)
        self.assertEqual((resolved.date_closed - resolved.date_opened).days, 5)
        self.assertLess(resolved.date_closed, self.install_day)

    def _demo_tag(self):
        return self.env.ref("friendly_dunning.demo_category_collections")


@tagged("post_install", "-at_install")
class TestNoHistoryWithoutDemo(TransactionCase):
    def test_no_history_without_demo(self):
        if self.env.ref("base.module_friendly_dunning").demo:
            self.skipTest("friendly_dunning was installed with demo data")
        self.assertFalse(
            self.env["ir.model.data"].search_count(
                [
                    ("module", "=", "friendly_dunning"),
                    (
                        "model",
                        "in",
                        ("dunning.communication", "dunning.promise", "dunning.channel"),
                    ),
                    ("name", "=like", "demo_%"),
                ]
            )
        )
        self.assertFalse(
            self.env["dunning.communication"].search_count([("kind", "=", "reminder")])
        )
