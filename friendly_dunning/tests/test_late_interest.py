from datetime import date

from psycopg2 import IntegrityError

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Command
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import DunningCommon


@tagged("post_install", "-at_install")
class TestLateInterest(DunningCommon):
    """Late-payment interest and the recovery fee of each invoice, against
    figures computed by hand: interest per instalment, day by day on what was
    still owed, from the day after its due date; the fee once per late
    invoice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.company_a
        cls.usd = cls.env.ref("base.USD")
        cls.eur = cls.env.ref("base.EUR")
        cls.company.write(
            {
                "dunning_interest_rule": "fixed",
                "dunning_interest_rate": 10.0,
                "dunning_recovery_fee": 40.0,
                "dunning_recovery_fee_currency_id": cls.usd.id,
            }
        )
        cls.business = cls._dunning_customer("Acme")
        cls.consumer = cls._dunning_customer("Jane", is_company=False)

    def _charges(self, invoice, as_of):
        return invoice._dunning_late_charges(as_of)[invoice]

    def test_unpaid_31_days_at_a_fixed_rate(self):
        self.assertEqual(self.company.currency_id, self.usd)
        invoice = self._dunning_invoice(self.business, date(2024, 3, 1), 1000.0)
        charges = self._charges(invoice, date(2024, 4, 1))
        # 2 March to 1 April: 31 days on 1,000 at 10 % a year.
        self.assertEqual(charges["interest"], round(1000 * 10 / 100 * 31 / 365, 2))
        self.assertEqual(charges["interest"], 8.49)
        self.assertEqual(charges["fee"], 40.0)
        [instalment] = charges["instalments"]
        [period] = instalment["accrual"].periods
        self.assertEqual(
            (period.start, period.end, period.days, period.balance, period.rate),
            (date(2024, 3, 2), date(2024, 4, 1), 31, 1000.0, 10.0),
        )

    def test_two_partial_payments_under_the_statutory_rule_across_1_july(self):
        self.company.write(
            {"dunning_interest_rule": "eu_statutory", "dunning_recovery_fee": 0.0}
        )
        invoice = self._dunning_invoice(self.business, date(2024, 6, 20), 1000.0)
        self._dunning_pay(invoice, date(2024, 6, 25), 300.0)
        self._dunning_pay(invoice, date(2024, 7, 10), 200.0)
        charges = self._charges(invoice, date(2024, 7, 31))
        # The ECB rate in force on 1 January 2024 was 4.50 %, on 1 July 2024
        # 4.25 % (it fell on 12 June): 12.50 % a year up to 30 June, then
        # 12.25 %. Each payment still bears interest for the day it is made.
        expected = (
            1000 * 12.50 / 100 * 5 / 365  # 21-25 June
            + 700 * 12.50 / 100 * 5 / 365  # 26-30 June
            + 700 * 12.25 / 100 * 10 / 365  # 1-10 July
            + 500 * 12.25 / 100 * 21 / 365  # 11-31 July
        )
        self.assertEqual(charges["interest"], round(expected, 2))
        self.assertEqual(charges["interest"], 8.78)
        self.assertEqual(charges["fee"], 0.0)
        periods = charges["instalments"][0]["accrual"].periods
        self.assertEqual(
            [(p.days, p.balance, p.rate) for p in periods],
            [
                (5, 1000.0, 12.5),
                (5, 700.0, 12.5),
                (10, 700.0, 12.25),
                (21, 500.0, 12.25),
            ],
        )

    def test_the_fee_is_converted_from_euros_at_the_due_date(self):
        self.eur.active = True
        self.company.dunning_recovery_fee_currency_id = self.eur
        self.env["res.currency.rate"].create(
            [
                # 1 USD = 0.80 EUR on the due date, 0.50 EUR later on.
                {
                    "currency_id": self.eur.id,
                    "name": date(2024, 3, 1),
                    "rate": 0.80,
                    "company_id": self.company.id,
                },
                {
                    "currency_id": self.eur.id,
                    "name": date(2024, 3, 20),
                    "rate": 0.50,
                    "company_id": self.company.id,
                },
            ]
        )
        invoice = self._dunning_invoice(self.business, date(2024, 3, 1), 1000.0)
        self.assertEqual(invoice.currency_id, self.usd)
        self.assertEqual(self._charges(invoice, date(2024, 4, 1))["fee"], 40 / 0.80)

    def test_a_consumer_is_charged_only_when_the_company_says_so(self):
        invoice = self._dunning_invoice(self.consumer, date(2024, 3, 1), 1000.0)
        charges = self._charges(invoice, date(2024, 4, 1))
        self.assertEqual((charges["interest"], charges["fee"]), (0.0, 0.0))
        self.company.dunning_interest_consumers = True
        charges = self._charges(invoice, date(2024, 4, 1))
        self.assertEqual((charges["interest"], charges["fee"]), (8.49, 40.0))

    def test_a_contact_of_a_business_customer_is_charged(self):
        contact = self._dunning_customer(
            "Bob", is_company=False, parent_id=self.business.id
        )
        invoice = self._dunning_invoice(contact, date(2024, 3, 1), 1000.0)
        self.assertEqual(self._charges(invoice, date(2024, 4, 1))["interest"], 8.49)

    def test_nothing_under_the_rule_no_interest(self):
        self.company.dunning_interest_rule = "none"
        invoice = self._dunning_invoice(self.business, date(2024, 3, 1), 1000.0)
        charges = self._charges(invoice, date(2024, 4, 1))
        self.assertEqual((charges["interest"], charges["fee"]), (0.0, 0.0))

    def test_only_the_late_instalment_bears_interest(self):
        term = self.env["account.payment.term"].create(
            {
                "name": "Half now, half in 30 days",
                "line_ids": [
                    Command.create(
                        {"value": "percent", "value_amount": 50, "nb_days": 0}
                    ),
                    Command.create(
                        {"value": "percent", "value_amount": 50, "nb_days": 30}
                    ),
                ],
            }
        )
        invoice = self._create_invoice_one_line(
            price_unit=10000.0,
            tax_ids=[],
            partner_id=self.business,
            invoice_date=date(2024, 1, 1),
            invoice_payment_term_id=term.id,
        )
        invoice.action_post()
        charges = self._charges(invoice, date(2024, 1, 21))
        first, second = charges["instalments"]
        self.assertEqual(
            (first["due"], second["due"]), (date(2024, 1, 1), date(2024, 1, 31))
        )
        # The first half, 20 days late; the second not due yet.
        self.assertEqual(first["accrual"].total, 5000 * 10 / 100 * 20 / 365)
        self.assertEqual(second["accrual"].periods, ())
        self.assertEqual(charges["interest"], 27.40)
        self.assertEqual(charges["fee"], 40.0)

    def test_paid_on_time_is_not_late(self):
        invoice = self._dunning_invoice(self.business, date(2024, 3, 1), 1000.0)
        self._dunning_pay(invoice, date(2024, 3, 1))
        charges = self._charges(invoice, date(2024, 4, 1))
        self.assertEqual((charges["interest"], charges["fee"]), (0.0, 0.0))

    def test_a_half_year_without_a_reference_rate_is_refused(self):
        self.company.dunning_interest_rule = "eu_statutory"
        self.env["dunning.reference.rate"].search(
            [("date_from", ">=", date(2025, 1, 1))]
        ).unlink()
        invoice = self._dunning_invoice(self.business, date(2024, 12, 20), 1000.0)
        # Up to 31 December the second half of 2024 is covered.
        self.assertTrue(self._charges(invoice, date(2024, 12, 31))["interest"])
        with self.assertRaises(UserError) as raised:
            self._charges(invoice, date(2025, 1, 10))
        self.assertIn("01/01/2025", str(raised.exception))
        self.assertIn("06/30/2025", str(raised.exception))

    def test_queries_do_not_grow_with_the_invoices(self):
        invoices = self.env["account.move"]
        for day in (1, 2, 3):
            invoice = self._dunning_invoice(self.business, date(2024, 3, day), 1000.0)
            self._dunning_pay(invoice, date(2024, 3, 10), 100.0)
            invoices |= invoice

        def queries(moves):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            moves._dunning_late_charges(date(2024, 4, 1))
            return self.env.cr.sql_log_count - before

        queries(invoices)  # fills the caches every later call shares
        self.assertEqual(queries(invoices[0]), queries(invoices))

    def test_settings_refuse_a_fixed_rule_without_a_rate(self):
        with self.assertRaises(ValidationError):
            self.company.write(
                {"dunning_interest_rule": "fixed", "dunning_interest_rate": 0.0}
            )

    def test_collections_users_read_the_reference_rates_and_managers_keep_them(self):
        as_user = self.env["dunning.reference.rate"].with_user(self.dunning_user_a)
        self.assertEqual(
            as_user.search([("date_from", "=", date(2024, 6, 12))]).rate, 4.25
        )
        with self.assertRaises(AccessError):
            as_user.create({"date_from": date(2030, 1, 1), "rate": 1.0})
        as_manager = self.env["dunning.reference.rate"].with_user(
            self.dunning_manager_a
        )
        as_manager.create({"date_from": date(2030, 1, 1), "rate": 1.0})
        self.assertEqual(
            as_user.search([("date_from", "=", date(2030, 1, 1))]).rate, 1.0
        )
        views = as_manager.get_views([(False, "list"), (False, "search")])
        self.assertEqual(set(views["views"]), {"list", "search"})

    def test_negative_figures_and_a_second_rate_on_one_day_are_refused(self):
        self.company.dunning_interest_rule = "none"
        for field in (
            "dunning_interest_rate",
            "dunning_interest_points",
            "dunning_recovery_fee",
        ):
            with (
                self.subTest(field=field),
                self.assertRaises(IntegrityError),
                mute_logger("odoo.sql_db"),
                self.env.cr.savepoint(),
            ):
                self.company.write({field: -1.0})
                self.env.flush_all()
        with (
            self.assertRaises(IntegrityError),
            mute_logger("odoo.sql_db"),
            self.env.cr.savepoint(),
        ):
            self.env["dunning.reference.rate"].create(
                {"date_from": date(2024, 6, 12), "rate": 1.0}
            )
            self.env.flush_all()
        self.assertEqual(self.company.dunning_recovery_fee, 40.0)
