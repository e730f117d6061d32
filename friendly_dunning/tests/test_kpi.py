from datetime import date, timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import freeze_time, tagged
from odoo.tools import SQL

from .common import DunningCommon
from .common_kpi import NOW, Q1, KpiScenario


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestDunningKpi(KpiScenario):
    def kpis(self, **kwargs):
        return self.env["dunning.kpi"].get_kpis(*Q1, **kwargs)

    def test_balances_in_company_currency(self):
        kpis = self.kpis()
        # Opening (2025-12-31): inv_0 1,000 + inv_old 400
        self.assertAlmostEqual(kpis["opening_receivables"], 1400)
        # Credit sales: inv_1 2,000 + inv_2 EUR 600 / 2 = 300 + inv_3 800 (the
        # credit note lowers the receivables, not the sales)
        self.assertAlmostEqual(kpis["credit_sales"], 3100)
        # Collected: inv_0 1,000 + inv_1 500 (the credit note is no payment)
        self.assertAlmostEqual(kpis["collected"], 1500)
        # Closing: 1,400 + 3,100 - 1,500; or 1,500 + 300 + 800 + 400 (the
        # credit note, applied to no invoice, is an unapplied credit)
        self.assertAlmostEqual(kpis["receivables"], 3000)
        self.assertAlmostEqual(kpis["current_receivables"], 800)  # inv_3
        self.assertAlmostEqual(kpis["overdue_receivables"], 2200)  # 1,500+300+400
        self.assertAlmostEqual(kpis["receivables_over_90"], 400)  # inv_old
        self.assertAlmostEqual(kpis["unapplied_credits"], 200)
        self.assertEqual(kpis["currency"], self.company_a.currency_id.name)

    def test_dso_cei_and_rates(self):
        kpis = self.kpis()
        self.assertEqual(kpis["days"], 90)
        self.assertAlmostEqual(kpis["dso"], 3000 / 3100 * 90)  # 87.1
        self.assertAlmostEqual(kpis["best_possible_dso"], 800 / 3100 * 90)  # 23.2
        self.assertAlmostEqual(kpis["add"], 2200 / 3100 * 90)  # 63.9
        # Countback from 3,000: March sold 800 (31 days), February 300 (28),
        # January 2,000 of which 1,900 are left: 31 + 28 + 1,900/2,000 x 31
        self.assertAlmostEqual(kpis["dso_countback"], 31 + 28 + 1900 / 2000 * 31)
        # (1,400 + 3,100 - 3,000) / (1,400 + 3,100 - 800) x 100
        self.assertAlmostEqual(kpis["cei"], 1500 / 3700 * 100)
        # 1,500 paid / (1,400 + 3,100)
        self.assertAlmostEqual(kpis["collection_rate"], 1500 / 4500)
        # open invoices 3,000: 2,200 overdue, 400 over 90 days
        self.assertAlmostEqual(kpis["overdue_ratio"], 2200 / 3000)
        self.assertAlmostEqual(kpis["at_risk_ratio"], 400 / 3000)
        # first reminders in Q1: inv_0, inv_1, inv_2; only inv_0 paid in full
        # within 7 days
        self.assertAlmostEqual(kpis["first_reminder_cure_rate"], 1 / 3)
        # invoices dated in Q1: inv_1, inv_2, inv_3; inv_2 disputed
        self.assertAlmostEqual(kpis["dispute_rate"], 1 / 3)
        # Ana settled inv_0 late on 01-20 and bought again (inv_3) on 03-15
        self.assertEqual(kpis["retention_after_collection"], 1.0)
        self.assertIn("credit sales", kpis["help"]["dso"][1])

    def test_promises_plans_and_ratings(self):
        kpis = self.kpis()
        # came due in Q1: Ana's (kept, 1,000) and Bruno's (broken, 1,500)
        self.assertEqual(kpis["promises_due"], 2)
        self.assertEqual(kpis["promise_kept_rate"], 0.5)
        self.assertAlmostEqual(kpis["promise_kept_rate_amount"], 1000 / 2500)
        # ended in Q1: the completed and the broken plan
        self.assertEqual(kpis["plans_ended"], 2)
        self.assertEqual(kpis["plan_completion_rate"], 0.5)
        # (5 + 3) / 2
        self.assertEqual(kpis["csat"], 4.0)
        b = self.kpis(company_ids=self.company_b.ids)
        self.assertEqual((b["promise_kept_rate"], b["csat"]), (1.0, 1.0))

    def test_channels(self):
        channels = self.kpis()["channels"]
        email, whatsapp = channels["email"], channels["whatsapp"]
        self.assertEqual(
            (email["sent"], email["delivered"], email["paid_within_7_days"]),
            (2, 2, 2),
        )
        # inv_0's 1,000 on 01-20 and inv_1's 500 on 02-20, each 5 days after
        self.assertAlmostEqual(email["amount_collected"], 1500)
        self.assertEqual(email["effectiveness"], 1.0)
        self.assertIsNone(email["collected_per_cost"], "nothing was charged")
        self.assertEqual(
            (whatsapp["sent"], whatsapp["delivered"], whatsapp["read"]), (1, 1, 1)
        )
        self.assertEqual(whatsapp["paid_within_7_days"], 0)
        self.assertAlmostEqual(whatsapp["cost"], 0.05)
        self.assertEqual(whatsapp["collected_per_cost"], 0.0)
        self.assertEqual(channels["sms"]["sent"], 0)

    def test_past_period_ignores_later_payments(self):
        # On 2026-01-31 inv_0 was already paid, inv_1 (due 02-09) not yet due
        # and unpaid: open = inv_old 400 + inv_1 2,000, current = 2,000
        kpis = self.env["dunning.kpi"].get_kpis(date(2026, 1, 1), date(2026, 1, 31))
        self.assertAlmostEqual(kpis["receivables"], 2400)
        self.assertAlmostEqual(kpis["current_receivables"], 2000)
        self.assertAlmostEqual(kpis["credit_sales"], 2000)
        self.assertAlmostEqual(kpis["collected"], 1000)

    def test_bank_entry_booked_by_hand_is_collected(self):
        """Money booked straight in the bank journal (no payment record, no
        statement line: a hand-made entry or an import) and reconciled with
        the invoice is collected like a payment; what is left of it is a
        payment on account in the aged receivables."""
        bank = self.env["account.journal"].search(
            [("company_id", "=", self.company_a.id), ("type", "=", "bank")], limit=1
        )
        receivable = self.inv_3.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": bank.id,
                "date": date(2026, 3, 25),
                "line_ids": [
                    fields.Command.create(
                        {
                            "account_id": account.id,
                            "partner_id": self.ana.id,
                            "balance": balance,
                        }
                    )
                    for account, balance in (
                        (bank.default_account_id, 1000),
                        (receivable.account_id, -1000),
                    )
                ],
            }
        )
        entry.action_post()
        (
            receivable
            | entry.line_ids.filtered(
                lambda line: line.account_id == receivable.account_id
            )
        ).reconcile()
        self.assertFalse(self.inv_3.amount_residual)
        # 1,500 from the quarter's payments, 800 of the bank entry
        self.assertAlmostEqual(self.kpis()["collected"], 2300)
        self.env.flush_all()
        aging = self.env["dunning.report.aging"].search(
            [("partner_id", "=", self.ana.id)]
        )
        self.assertEqual(aging.mapped("kind"), ["payment"])
        self.assertAlmostEqual(aging.amount_residual, -200)

    def test_companies_never_mix(self):
        a = self.kpis()
        b = self.kpis(company_ids=self.company_b.ids)
        self.assertAlmostEqual(b["credit_sales"], 5000)
        self.assertAlmostEqual(b["receivables"], 5000)
        self.assertEqual(b["channels"]["email"]["sent"], 0)
        self.assertEqual(self.company_a.currency_id, self.company_b.currency_id)
        both = self.kpis(company_ids=(self.company_a | self.company_b).ids)
        self.assertAlmostEqual(both["credit_sales"], 8100)
        self.assertAlmostEqual(
            both["companies"][self.company_a.id]["dso"], a["dso"], msg="A alone"
        )
        self.assertAlmostEqual(both["companies"][self.company_b.id]["dso"], 90.0)

    def test_segment_filter(self):
        segment = self.env["dunning.segment"].search(
            [("company_id", "=", self.company_a.id)], limit=1
        )
        self.env.execute_query(
            SQL(
                "UPDATE res_partner SET dunning_segment_id = "
                "jsonb_build_object(%s, %s) WHERE id = %s",
                str(self.company_a.id),
                segment.id,
                self.ana.id,
            )
        )
        kpis = self.kpis(segment_ids=segment.ids)
        # Ana only: opening inv_0 1,000; sales inv_3 800; collected 1,000
        self.assertAlmostEqual(kpis["opening_receivables"], 1000)
        self.assertAlmostEqual(kpis["credit_sales"], 800)
        self.assertAlmostEqual(kpis["receivables"], 800)
        self.assertEqual(kpis["channels"]["whatsapp"]["sent"], 0)

    def test_planner_settings_hold_for_the_kpi_queries_only(self):
        def settings():
            return [
                self.env.execute_query(SQL("SHOW jit"))[0][0],
                self.env.execute_query(SQL("SHOW random_page_cost"))[0][0],
            ]

        # Values of this transaction that differ from the KPIs' own.
        self.env.execute_query(
            SQL(
                "SELECT set_config('jit', 'on', true), "
                "set_config('random_page_cost', '3.5', true)"
            )
        )
        Kpi = self.env["dunning.kpi"].with_user(self.dunning_manager_a)
        Kpi.get_kpis(*Q1)
        self.assertEqual(settings(), ["on", "3.5"])
        Kpi.get_dashboard(90)
        self.assertEqual(settings(), ["on", "3.5"])

    def test_user_sees_only_their_companies(self):
        Kpi = self.env["dunning.kpi"].with_user(self.dunning_user_a)
        self.assertAlmostEqual(Kpi.get_kpis(*Q1)["credit_sales"], 3100)
        with self.assertRaises(AccessError):
            Kpi.get_kpis(*Q1, company_ids=self.company_b.ids)
        with self.assertRaises(AccessError):
            Kpi.get_dashboard(90)

    def test_dashboard(self):
        data = (
            self.env["dunning.kpi"].with_user(self.dunning_manager_a).get_dashboard(90)
        )
        self.assertEqual(
            (data["date_from"], data["date_to"]), ("2026-01-01", "2026-03-31")
        )
        # whole months: the three months before
        self.assertEqual(
            (data["previous_from"], data["previous_to"]), ("2025-10-01", "2025-12-31")
        )
        headline = {figure["key"]: figure for figure in data["headline"]}
        # Both periods are read together: each figure is what get_kpis gives
        # for its period on its own.
        Kpi = self.env["dunning.kpi"].with_user(self.dunning_manager_a)
        for key, period in (
            ("value", (data["date_from"], data["date_to"])),
            ("previous", (data["previous_from"], data["previous_to"])),
        ):
            kpis = Kpi.get_kpis(*period)
            for figure in data["headline"]:
                expected = kpis[figure["key"]]
                if expected is None:
                    self.assertIsNone(figure[key], figure["key"])
                else:
                    self.assertAlmostEqual(figure[key], expected, msg=figure["key"])
            self.assertAlmostEqual(
                kpis["collected"], 1500 if key == "value" else 0, msg=period
            )
        self.assertAlmostEqual(data["receivables"], Kpi.get_kpis(*Q1)["receivables"])
        self.assertAlmostEqual(headline["dso"]["value"], 3000 / 3100 * 90)
        self.assertTrue(headline["dso"]["help"])
        # Q4 2025 (92 days): 1,400 owed on 12-31 on sales of 400 + 1,000
        self.assertAlmostEqual(headline["dso"]["previous"], 1400 / 1400 * 92)
        self.assertEqual(len(data["trend"]["labels"]), 12)
        self.assertEqual(data["trend"]["labels"][-1], "2026-03")
        # March: 3,000 owed at its end on 800 of sales over 31 days
        self.assertAlmostEqual(data["trend"]["dso"][-1], 3000 / 800 * 31)
        # March CEI: opened at 1,400 + 2,000 - 1,000 + 300 - 500 = 2,200 (end of
        # February); (2,200 + 800 - 3,000) / (2,200 + 800 - 800) x 100: nothing
        # was applied to an invoice in March
        self.assertAlmostEqual(data["trend"]["cei"][-1], 0.0)
        # Top customer at risk: Bruno, 400 + 1,500 (aged on the database's own
        # date, after 2026-04-14: everything is overdue; his credit note is
        # applied to no invoice)
        self.assertEqual(data["at_risk"][0]["partner_id"], self.bruno.id)
        self.assertAlmostEqual(data["at_risk"][0]["overdue"], 1900)
        self.assertAlmostEqual(data["unapplied_credits"], 200)
        # the aging chart adds up like the aged receivables report, whose
        # unapplied credits are not aged
        report = dict(
            self.env["dunning.report.aging"]._read_group(
                [("company_id", "=", self.company_a.id)],
                ["bucket"],
                ["amount_residual:sum"],
            )
        )
        self.assertAlmostEqual(report.pop("unapplied"), -200)
        self.assertEqual(
            {row["bucket"]: row["amount"] for row in data["aging"] if row["amount"]},
            report,
        )
        self.assertAlmostEqual(sum(report.values()), 3000)
        self.assertAlmostEqual(sum(report.values()), data["receivables"])

    def test_dashboard_trend_month_by_month(self):
        trend = self.env["dunning.kpi"]._dashboard_trend(self.company_a, NOW.date())
        # January: 1,400 opening + 2,000 sold - 1,000 paid = 2,400 at its end,
        # of which inv_1's 2,000 not due yet
        self.assertAlmostEqual(trend["dso"][-3], 2400 / 2000 * 31)
        self.assertAlmostEqual(trend["cei"][-3], 1000 / 1400 * 100)
        # February: 2,400 + 300 - 500 = 2,200 at its end, inv_2's 300 not due
        # (inv_1's 500 came after its due date: it counts as overdue before)
        self.assertAlmostEqual(trend["dso"][-2], 2200 / 300 * 28)
        self.assertAlmostEqual(trend["cei"][-2], 500 / 2400 * 100)

    def test_dashboard_queries_do_not_grow(self):
        Kpi = self.env["dunning.kpi"].with_user(self.dunning_manager_a)

        def queries(function):
            self.env.invalidate_all()
            before = self.cr.sql_log_count
            function()
            return self.cr.sql_log_count - before

        Kpi._dashboard_trend(self.company_a, NOW.date())  # warm the caches
        three = queries(
            lambda: Kpi._dashboard_trend(self.company_a, NOW.date(), None, 3)
        )
        twelve = queries(lambda: Kpi._dashboard_trend(self.company_a, NOW.date()))
        self.assertEqual(three, twelve, "one query whatever the number of months")
        Kpi.get_dashboard(90)  # warm the caches of the first call
        before = queries(lambda: Kpi.get_dashboard(90))
        dora = self._dunning_customer("Dora")
        for day in (3, 10, 17):
            invoice = self._dunning_invoice(dora, date(2026, 3, day), 100)
            self._dunning_pay(invoice, date(2026, 3, day + 5))
        self._dunning_invoice(dora, date(2026, 1, 5), 100, date(2025, 12, 5))
        self.assertEqual(
            queries(lambda: Kpi.get_dashboard(90)),
            before,
            "the dashboard's queries do not grow with the invoices",
        )


@tagged("post_install", "-at_install")
class TestDunningReports(DunningCommon):
    """The reporting views age on the database's own date."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = cls.env.execute_query(SQL("SELECT CURRENT_DATE"))[0][0]
        cls.customer = cls._dunning_customer("Dora")
        cls.other = cls._dunning_customer("Emil")
        # days overdue -> amount: one invoice per bucket, two in 31-60
        cls.invoices = {
            days: cls._dunning_invoice(
                cls.customer, cls.today - timedelta(days=days), amount
            )
            for days, amount in (
                (-5, 100),
                (10, 200),
                (40, 300),
                (60, 350),
                (61, 400),
                (120, 500),
            )
        }
        cls._dunning_pay(cls.invoices[120], cls.today, amount=125)
        cls.refund = cls._create_invoice_one_line(
            move_type="out_refund",
            price_unit=50,
            tax_ids=[],
            partner_id=cls.other,
            invoice_date=cls.today - timedelta(days=3),
        )
        cls.refund.action_post()
        cls.env["dunning.report.aging"].flush_model()

    def test_channel_funnel_by_whatsapp_template(self):
        channel = self.env["dunning.channel"].create(
            {
                "name": "WhatsApp",
                "channel_type": "whatsapp",
                "company_id": self.company_a.id,
                "wa_phone_number_id": "1001",
                "wa_access_token": "token",
            }
        )
        Template = self.env["dunning.whatsapp.template"]
        gentle, firm = Template.create(
            [
                {"channel_id": channel.id, "name": "gentle", "language": "en"},
                {"channel_id": channel.id, "name": "firm", "language": "en"},
            ]
        )
        sent = fields.Datetime.now()
        self.env["dunning.communication"].create(
            [
                {
                    "company_id": self.company_a.id,
                    "partner_id": self.customer.id,
                    "kind": "reminder",
                    "channel": "whatsapp",
                    "channel_id": channel.id,
                    "wa_template_id": template.id,
                    "state": state,
                    "sent_date": sent,
                }
                for template, state in (
                    (gentle, "read"),
                    (gentle, "sent"),
                    (firm, "replied"),
                )
            ]
        )
        self.env.flush_all()
        rows = self.env["dunning.report.channel"]._read_group(
            [("partner_id", "=", self.customer.id), ("channel", "=", "whatsapp")],
            ["template_id"],
            ["sent_count:sum", "read_count:sum", "replied_count:sum"],
        )
        self.assertEqual(
            {template.name: counts for template, *counts in rows},
            {"gentle": [2, 1, 0], "firm": [1, 1, 1]},
        )

    def test_aging_buckets(self):
        rows = self.env["dunning.report.aging"]._read_group(
            [("partner_id", "=", self.customer.id)], ["bucket"], ["amount_residual:sum"]
        )
        self.assertEqual(
            dict(rows),
            {
                "not_due": 100,
                "1_30": 200,
                "31_60": 650,  # 300 + 350 (60 days is still 31-60)
                "61_90": 400,
                "over_90": 375,  # 500 - 125 paid
            },
        )

    def test_aging_by_bucket_and_month_and_credits(self):
        Aging = self.env["dunning.report.aging"]
        by_month = Aging._read_group(
            [("partner_id", "in", (self.customer | self.other).ids)],
            ["bucket", "invoice_date:month"],
            ["amount_residual:sum"],
        )
        self.assertAlmostEqual(sum(amount for *_keys, amount in by_month), 1725 - 50)
        credit = Aging.search([("partner_id", "=", self.other.id)])
        self.assertEqual(credit.kind, "credit_note")
        self.assertEqual(credit.amount_residual, -50)
        # applied to no invoice: listed apart, not aged
        self.assertEqual(credit.bucket, "unapplied")
        self.assertEqual(credit.amount_unapplied, -50)
        self.assertFalse(credit.days_overdue)
        self.assertEqual(credit.amount_not_due, 0)

    def test_aging_respects_companies(self):
        Aging = self.env["dunning.report.aging"].with_user(self.dunning_user_a)
        self.assertEqual(Aging.search_count([("partner_id", "=", self.customer.id)]), 6)
        self.assertFalse(Aging.search([("company_id", "=", self.company_b.id)]))

    def test_recovery(self):
        Recovery = self.env["dunning.report.recovery"]
        rows = Recovery.search([("partner_id", "=", self.customer.id)])
        # every invoice but the one not due yet went overdue
        self.assertEqual(len(rows), 5)
        paid = rows.filtered(lambda row: row.move_id == self.invoices[120])
        self.assertEqual(
            (paid.amount_overdue, paid.amount_recovered, paid.amount_open),
            (500, 125, 375),
        )
        self.assertEqual(paid.state, "open")


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestKpiDefinitions(DunningCommon):
    """An unapplied payment lowers no figure, so the definitions hold.

    March 2026 (31 days) of one customer: inv_a (500, dated 02-01, due
    03-03) paid in full on 03-10; inv_b (1,000, dated 03-20, due 04-19) not
    due at the end; 300 received on 03-25 and applied to no invoice.
    Opening 500, credit sales 1,000, collected 500, closing 1,000 of which
    1,000 not due. Netting the 300 into the closing receivables only (700)
    gave a CEI of 800 / 500 = 160 %, a best possible DSO of 31 days above a
    DSO of 21.7, and an ADD of -9.3 days."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gus = cls._dunning_customer("Gus")
        cls.inv_a = cls._dunning_invoice(
            cls.gus, date(2026, 3, 3), 500, date(2026, 2, 1)
        )
        cls.inv_b = cls._dunning_invoice(
            cls.gus, date(2026, 4, 19), 1000, date(2026, 3, 20)
        )
        cls._dunning_pay(cls.inv_a, date(2026, 3, 10))
        cls.on_account = cls.init_payment(
            300, post=True, date=date(2026, 3, 25), partner=cls.gus
        )

    def kpis(self):
        return self.env["dunning.kpi"].get_kpis(date(2026, 3, 1), date(2026, 3, 31))

    def test_unapplied_payment_is_booked(self):
        line = self.on_account.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        self.assertAlmostEqual(line.amount_residual, -300)
        self.assertAlmostEqual(self.kpis()["unapplied_credits"], 300)

    def test_receivables_are_open_instalments(self):
        kpis = self.kpis()
        self.assertAlmostEqual(kpis["opening_receivables"], 500)
        self.assertAlmostEqual(kpis["credit_sales"], 1000)
        self.assertAlmostEqual(kpis["collected"], 500)
        self.assertAlmostEqual(kpis["receivables"], 1000)
        self.assertAlmostEqual(kpis["current_receivables"], 1000)
        self.assertAlmostEqual(kpis["overdue_receivables"], 0)

    def test_best_possible_dso_not_above_dso(self):
        kpis = self.kpis()
        self.assertAlmostEqual(kpis["dso"], 1000 / 1000 * 31)
        self.assertAlmostEqual(kpis["best_possible_dso"], 1000 / 1000 * 31)
        self.assertLessEqual(kpis["best_possible_dso"], kpis["dso"])

    def test_average_days_delinquent_not_negative(self):
        self.assertEqual(self.kpis()["add"], 0.0)

    def test_cei_at_most_100(self):
        # (500 + 1,000 - 1,000) / (500 + 1,000 - 1,000) x 100
        self.assertAlmostEqual(self.kpis()["cei"], 100.0)
        self.assertAlmostEqual(self.kpis()["collection_rate"], 500 / 1500)

    def test_applied_later_the_payment_counts_from_its_date(self):
        """Odoo dates a reconciliation by the later of its two documents:
        applied in April, the payment of 03-25 counts from 03-25."""
        receivable = (self.inv_b | self.on_account.move_id).line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        with freeze_time(date(2026, 4, 2)):
            receivable.reconcile()
        kpis = self.kpis()
        self.assertAlmostEqual(kpis["receivables"], 700)
        self.assertAlmostEqual(kpis["collected"], 800)
        self.assertAlmostEqual(kpis["unapplied_credits"], 0)
        # (500 + 1,000 - 700) / (500 + 1,000 - 700)
        self.assertAlmostEqual(kpis["cei"], 100.0)


@tagged("post_install", "-at_install")
class TestKpiInstalments(DunningCommon):
    """Each instalment is due on its own date, in the aging, the KPIs and the
    recovery report: an invoice of 1,000 on "50 % now, 50 % in 60 days"
    issued 40 days ago owes 500 for 40 days and 500 not yet due. Aged on the
    database's own date, like the reports."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = cls.env.execute_query(SQL("SELECT CURRENT_DATE"))[0][0]
        cls.half_now = cls.env["account.payment.term"].create(
            {
                "name": "50 % now, 50 % in 60 days",
                "line_ids": [
                    fields.Command.create(
                        {"value": "percent", "value_amount": 50, "nb_days": days}
                    )
                    for days in (0, 60)
                ],
            }
        )
        cls.hana = cls._dunning_customer("Hana")
        cls.invoice = cls._create_invoice_one_line(
            price_unit=1000,
            tax_ids=[],
            partner_id=cls.hana,
            invoice_date=cls.today - timedelta(days=40),
            invoice_payment_term_id=cls.half_now,
        )
        cls.invoice.action_post()
        cls.env["dunning.report.aging"].flush_model()

    def test_invoice_has_two_instalments(self):
        self.assertEqual(
            sorted(
                self.invoice.line_ids.filtered(
                    lambda line: line.display_type == "payment_term"
                ).mapped("date_maturity")
            ),
            [self.today - timedelta(days=40), self.today + timedelta(days=20)],
        )
        # Odoo's due date of the invoice is the last instalment's
        self.assertEqual(self.invoice.invoice_date_due, self.today + timedelta(days=20))

    def test_aging(self):
        rows = self.env["dunning.report.aging"]._read_group(
            [("partner_id", "=", self.hana.id)], ["bucket"], ["amount_residual:sum"]
        )
        self.assertEqual(dict(rows), {"31_60": 500, "not_due": 500})
        aging, at_risk = self.env["dunning.kpi"]._dashboard_aging(self.company_a)
        amounts = {row["bucket"]: row["amount"] for row in aging}
        self.assertEqual((amounts["31_60"], amounts["not_due"]), (500, 500))
        self.assertEqual(
            [(row["partner_id"], row["overdue"], row["days"]) for row in at_risk],
            [(self.hana.id, 500, 40)],
        )

    def test_kpis(self):
        kpis = self.env["dunning.kpi"].get_kpis(
            self.today - timedelta(days=29), self.today
        )
        self.assertAlmostEqual(kpis["overdue_receivables"], 500)
        self.assertAlmostEqual(kpis["current_receivables"], 500)
        self.assertAlmostEqual(kpis["receivables"], 1000)
        # 40 days ago it was issued: 1,000 owed at the start of the 30 days
        self.assertAlmostEqual(kpis["opening_receivables"], 1000)
        self.assertIsNone(kpis["dso"], "nothing sold in the period")
        # (1,000 + 0 - 1,000) / (1,000 + 0 - 500)
        self.assertEqual(kpis["cei"], 0.0)

    def test_recovery_counts_the_first_instalment(self):
        recovery = self.env["dunning.report.recovery"].search(
            [("move_id", "=", self.invoice.id)]
        )
        self.assertEqual(recovery.date_due, self.today - timedelta(days=40))
        self.assertEqual(
            (recovery.amount_overdue, recovery.amount_recovered, recovery.amount_open),
            (500, 0, 500),
        )
        self._dunning_pay(self.invoice, self.today - timedelta(days=10), amount=500)
        self.env.flush_all()
        recovery.invalidate_recordset()
        self.assertEqual(
            (recovery.amount_overdue, recovery.amount_recovered, recovery.amount_open),
            (500, 500, 0),
        )
        self.assertEqual((recovery.state, recovery.days_to_recover), ("recovered", 30))
        kpis = self.env["dunning.kpi"].get_kpis(
            self.today - timedelta(days=29), self.today
        )
        self.assertAlmostEqual(kpis["overdue_receivables"], 0)
        self.assertAlmostEqual(kpis["current_receivables"], 500)
        self.assertAlmostEqual(kpis["collected"], 500)

    def test_retention_counts_a_late_instalment(self):
        """The first instalment paid 30 days late, the second before its due
        date: the invoice was settled late, and the customer bought again."""
        self._dunning_pay(self.invoice, self.today - timedelta(days=10), amount=500)
        self._dunning_pay(self.invoice, self.today - timedelta(days=5))
        self.assertEqual(self.invoice.payment_state, "paid")
        self._dunning_invoice(
            self.hana, self.today, 100, self.today - timedelta(days=2)
        )
        kpis = self.env["dunning.kpi"].get_kpis(
            self.today - timedelta(days=29), self.today
        )
        self.assertEqual(kpis["retention_after_collection"], 1.0)
