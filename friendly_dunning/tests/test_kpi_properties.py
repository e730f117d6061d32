from contextlib import closing
from datetime import timedelta

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from .common import DunningCommon

# Few examples, each a whole ledger booked through Odoo's accounting; the
# same ones on every run. No shrinking: each try books a ledger again, and a
# failing example is reported as it was generated.
LEDGERS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CUSTOMERS = 3


def events(max_size):
    """(days after the invoice, share of what is left in percent)"""
    return st.lists(
        st.tuples(st.integers(0, 120), st.integers(1, 100)), max_size=max_size
    )


invoices = st.lists(
    st.fixed_dictionaries(
        {
            "customer": st.integers(0, CUSTOMERS - 1),
            "age": st.integers(0, 200),  # days before today
            "term": st.integers(0, 2),  # single due date, 50/50, 30/30/40
            "due_in": st.integers(0, 45),  # single due date: days after the invoice
            "cents": st.integers(100, 500_000),
            "payments": events(2),
            # (days after the invoice, share, applied to it)
            "credit_notes": st.lists(
                st.tuples(st.integers(0, 120), st.integers(1, 100), st.booleans()),
                max_size=1,
            ),
        }
    ),
    min_size=1,
    max_size=3,
)
on_account = st.lists(
    st.tuples(
        st.integers(0, CUSTOMERS - 1), st.integers(0, 200), st.integers(1, 10**5)
    ),
    max_size=2,
)
promises = st.lists(
    st.tuples(st.sampled_from(["kept", "broken", "open"]), st.integers(0, 200)),
    max_size=3,
)


@tagged("post_install", "-at_install")
class TestKpiProperties(DunningCommon):
    """Every KPI obeys its definition on random ledgers booked through Odoo's
    accounting: invoices of one or several instalments, payments in part or
    in full before or after the due dates, credit notes applied or not,
    payments on account, over several periods. Amounts that can be worked
    out from the ledger itself are compared exactly."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = cls.env.execute_query(SQL("SELECT CURRENT_DATE"))[0][0]
        cls.customers = [
            cls._dunning_customer(f"Customer {index}") for index in range(CUSTOMERS)
        ]
        cls.terms = [False] + [
            cls.env["account.payment.term"].create(
                {
                    "name": name,
                    "line_ids": [
                        fields.Command.create(
                            {"value": "percent", "value_amount": share, "nb_days": days}
                        )
                        for share, days in lines
                    ],
                }
            )
            for name, lines in (
                ("50/50", [(50, 0), (50, 60)]),
                ("30/30/40", [(30, 0), (30, 30), (40, 60)]),
            )
        ]

    def periods(self):
        today = self.today
        return [
            (today - timedelta(days=29), today),
            (today - timedelta(days=89), today),
            (today - timedelta(days=150), today - timedelta(days=100)),
        ]

    @LEDGERS
    @given(invoices, on_account, promises)
    def test_kpis_obey_their_definitions(
        self, invoice_specs, payment_specs, promise_specs
    ):
        with closing(self.env.cr.savepoint()):
            ledger = self._book(invoice_specs, payment_specs, promise_specs)
            self.env.flush_all()
            for period in self.periods():
                self._check_period(ledger, *period)
            self._check_aging_and_recovery()
        self.env.invalidate_all()

    # ------------------------------------------------------------------
    # Booking the ledger
    # ------------------------------------------------------------------

    def _day(self, age, after=0):
        return min(self.today - timedelta(days=age) + timedelta(days=after), self.today)

    def _book(self, invoice_specs, payment_specs, promise_specs):
        """Book the ledger; returns what the KPIs must find, as ``(date,
        amount)`` lists: ``sales``, ``applied`` (payments and credit notes
        applied to invoices), ``collected`` (the payments among them),
        ``unapplied`` (credits applied to nothing) and ``promises``."""
        ledger = {key: [] for key in ("sales", "applied", "collected", "unapplied")}
        for spec in invoice_specs:
            issued = self._day(spec["age"])
            term = self.terms[spec["term"]]
            values = {"invoice_payment_term_id": term.id if term else False}
            if not term:
                values["invoice_date_due"] = issued + timedelta(days=spec["due_in"])
            invoice = self._create_invoice_one_line(
                price_unit=spec["cents"] / 100,
                tax_ids=[],
                partner_id=self.customers[spec["customer"]],
                invoice_date=issued,
                **values,
            )
            invoice.action_post()
            ledger["sales"].append((issued, invoice.amount_total))
            for after, share in spec["payments"]:
                amount = invoice.currency_id.round(
                    invoice.amount_residual * share / 100
                )
                if amount <= 0:
                    continue
                paid = self._day(spec["age"], after)
                self._dunning_pay(invoice, paid, amount=amount)
                ledger["applied"].append((paid, amount))
                ledger["collected"].append((paid, amount))
            for after, share, applied in spec["credit_notes"]:
                amount = invoice.currency_id.round(
                    invoice.amount_residual * share / 100
                )
                if amount <= 0:
                    continue
                day = self._day(spec["age"], after)
                refund = self._create_invoice_one_line(
                    move_type="out_refund",
                    price_unit=amount,
                    tax_ids=[],
                    partner_id=invoice.partner_id,
                    invoice_date=day,
                )
                refund.action_post()
                if applied:
                    (refund | invoice).line_ids.filtered(
                        lambda line: (
                            line.account_type == "asset_receivable"
                            and not line.reconciled
                        )
                    ).reconcile()
                    ledger["applied"].append((day, amount))
                else:
                    ledger["unapplied"].append((day, amount))
        for customer, age, cents in payment_specs:
            day = self._day(age)
            self.init_payment(
                cents / 100, post=True, date=day, partner=self.customers[customer]
            )
            ledger["unapplied"].append((day, cents / 100))
        ledger["promises"] = [(self._day(age), state) for state, age in promise_specs]
        self.env["dunning.promise"].create(
            [
                {
                    "partner_id": self.customers[0].id,
                    "company_id": self.company_a.id,
                    "promised_date": day,
                    "grace_date": day,
                    "promised_amount": 100,
                    "residual_at_promise": 100,
                    "state": state,
                }
                for day, state in ledger["promises"]
            ]
        )
        return ledger

    # ------------------------------------------------------------------
    # Checks
    # ------------------------------------------------------------------

    def _check_period(self, ledger, date_from, date_to):
        kpis = self.env["dunning.kpi"].get_kpis(date_from, date_to)
        msg = f"{date_from} - {date_to}"

        def total(key, start, end):
            return round(sum(a for day, a in ledger[key] if start <= day <= end), 2)

        def owed(day):
            sold = total("sales", self.today.min, day)
            return round(sold - total("applied", self.today.min, day), 2)

        opening = date_from - timedelta(days=1)
        # What the ledger says, worked out without the KPI service.
        self.assertAlmostEqual(kpis["credit_sales"], total("sales", date_from, date_to))
        self.assertAlmostEqual(
            kpis["collected"], total("collected", date_from, date_to)
        )
        self.assertAlmostEqual(kpis["opening_receivables"], owed(opening), msg=msg)
        self.assertAlmostEqual(kpis["receivables"], owed(date_to), msg=msg)
        self.assertAlmostEqual(
            kpis["unapplied_credits"], total("unapplied", self.today.min, date_to)
        )
        # The definitions.
        self.assertAlmostEqual(
            kpis["receivables"],
            kpis["current_receivables"] + kpis["overdue_receivables"],
        )
        for key in (
            "current_receivables",
            "overdue_receivables",
            "receivables_over_90",
        ):
            self.assertGreaterEqual(kpis[key], 0, key)
        self.assertLessEqual(kpis["receivables_over_90"], kpis["overdue_receivables"])
        self.assertLessEqual(
            kpis["receivables"], kpis["opening_receivables"] + kpis["credit_sales"]
        )
        if kpis["credit_sales"]:
            self.assertGreaterEqual(kpis["dso"], 0, msg)
            self.assertLessEqual(kpis["best_possible_dso"], kpis["dso"], msg)
            self.assertGreaterEqual(kpis["best_possible_dso"], 0, msg)
            self.assertGreaterEqual(kpis["add"], 0, msg)
        else:
            self.assertIsNone(kpis["dso"])
        if kpis["dso_countback"] is not None:
            self.assertGreaterEqual(kpis["dso_countback"], 0)
        shares = {
            "cei": 100,
            "collection_rate": 1,
            "overdue_ratio": 1,
            "at_risk_ratio": 1,
            "promise_kept_rate": 1,
            "promise_kept_rate_amount": 1,
            "first_reminder_cure_rate": 1,
            "dispute_rate": 1,
        }
        for key, top in shares.items():
            if kpis[key] is not None:
                self.assertGreaterEqual(kpis[key], 0, f"{key} {msg}")
                self.assertLessEqual(kpis[key], top, f"{key} {msg}")
        judged = [
            state
            for day, state in ledger["promises"]
            if date_from <= day <= date_to and state != "open"
        ]
        self.assertEqual(kpis["promises_due"], len(judged))
        if judged:
            self.assertEqual(
                kpis["promise_kept_rate"], judged.count("kept") / len(judged)
            )

    def _check_aging_and_recovery(self):
        kpis = self.env["dunning.kpi"].get_kpis(self.today, self.today)
        rows = dict(
            self.env["dunning.report.aging"]._read_group(
                [("company_id", "=", self.company_a.id)],
                ["bucket"],
                ["amount_residual:sum"],
            )
        )
        unapplied = rows.pop("unapplied", 0.0)
        self.assertAlmostEqual(sum(rows.values()), kpis["receivables"])
        self.assertAlmostEqual(rows.get("not_due", 0.0), kpis["current_receivables"])
        self.assertAlmostEqual(rows.get("over_90", 0.0), kpis["receivables_over_90"])
        self.assertAlmostEqual(-unapplied, kpis["unapplied_credits"])
        for amount in rows.values():
            self.assertGreaterEqual(amount, 0)
        aging, _at_risk = self.env["dunning.kpi"]._dashboard_aging(self.company_a)
        self.assertAlmostEqual(sum(row["amount"] for row in aging), kpis["receivables"])
        for row in self.env["dunning.report.recovery"].search(
            [("company_id", "=", self.company_a.id)]
        ):
            self.assertGreater(row.amount_overdue, 0)
            self.assertGreaterEqual(row.amount_recovered, 0)
            self.assertGreaterEqual(row.amount_open, 0)
            self.assertAlmostEqual(
                row.amount_recovered + row.amount_open, row.amount_overdue
            )
