import phonenumbers
import pytz

from odoo import fields
from odoo.tests import TransactionCase, tagged

from odoo.addons.base.models.ir_model import MODULE_UNINSTALL_FLAG

# The situations of demo/res_partner_demo.xml, by partner xml id suffix.
EARLY_PAYERS = (
    "bluebird_bakery",
    "hedgerow_gardens",
    "atelier_mirabelle",
    "casa_do_azulejo",
    "sabia_cafe",
    "jacaranda_print",
    "cedar_lane_dental",
    "olivar_del_sur",
)
OCCASIONAL_LATE_PAYERS = (
    "harbor_light_books",
    "thistle_tweed",
    "brisa_marina",
    "petit_four",
    "colibri_verde",
    "montana_azul",
    "libreria_tango",
    "ipe_moveis",
    "mare_alta",
)
CHRONIC_LATE_PAYERS = (
    "rusty_anchor_diner",
    "prairie_wind_events",
    "foxglove_events",
    "fiesta_brava",
    "capivara_construcoes",
    "taller_rambla",
    "pampa_logistica",
    "sabor_caribe",
)
NEW_CUSTOMERS = (
    "sunny_side_yoga",
    "jardins_de_lea",
    "cafe_la_ceiba",
    "lisboa_bike_tours",
    "kite_kettle",
)
OPEN = ("not_paid", "partial")


@tagged("post_install", "-at_install")
class TestDemoData(TransactionCase):
    """The demo data tells the collections story it is meant to tell."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.with_demo = cls.env.ref("base.module_friendly_dunning").demo
        if not cls.with_demo:
            return
        tag = cls.env.ref("friendly_dunning.demo_category_collections")
        cls.customers = cls.env["res.partner"].search([("category_id", "in", tag.ids)])
        demo_moves = cls.env["ir.model.data"].search(
            [("module", "=", "friendly_dunning"), ("model", "=", "account.move")]
        )
        cls.demo_moves = cls.env["account.move"].browse(demo_moves.mapped("res_id"))
        cls.invoices = cls.demo_moves.filtered(lambda m: m.move_type == "out_invoice")
        # The demo is dated relative to the day it was installed: measure from
        # that day, so that the test holds on a database tested days later.
        cls.install_day = fields.Date.context_today(
            cls.demo_moves[:1], timestamp=min(cls.demo_moves.mapped("create_date"))
        )

    def setUp(self):
        super().setUp()
        if not self.with_demo:
            self.skipTest("friendly_dunning was installed without demo data")

    def _partner(self, slug):
        return self.env.ref(f"friendly_dunning.demo_partner_{slug}")

    def _invoices_of(self, slug):
        return self.invoices.filtered(lambda m: m.partner_id == self._partner(slug))

    def _days_overdue(self, invoice):
        return (self.install_day - invoice.invoice_date_due).days

    def _days_paid_after_due(self, invoice):
        """Days between the due date and the last payment (< 0: paid early)."""
        last_payment = max(invoice._get_reconciled_payments().mapped("date"))
        return (last_payment - invoice.invoice_date_due).days

    def test_customers(self):
        self.assertTrue(28 <= len(self.customers) <= 40, len(self.customers))
        situations = (
            EARLY_PAYERS + OCCASIONAL_LATE_PAYERS + CHRONIC_LATE_PAYERS + NEW_CUSTOMERS
        )
        for slug in situations:
            self.assertIn(self._partner(slug), self.customers)
        self.assertTrue(all(self.customers.mapped("is_company")))
        self.assertGreaterEqual(len(self.customers.country_id), 4)
        languages = set(self.customers.mapped("lang"))
        self.assertGreaterEqual(len(languages), 3)
        active_codes = {code for code, _name in self.env["res.lang"].get_installed()}
        self.assertLessEqual(languages, active_codes)
        for customer in self.customers:
            with self.subTest(customer=customer.name):
                self.assertTrue(customer.email)
                self.assertTrue(customer.street and customer.city)
                self.assertIn(
                    customer.tz, pytz.country_timezones[customer.country_id.code]
                )
                self.assertTrue(customer.property_payment_term_id)

    def test_phones_valid_for_country(self):
        contacts = self.customers | self.customers.child_ids
        self.assertGreater(len(contacts), len(self.customers))
        for partner in contacts:
            with self.subTest(partner=partner.name):
                country_code = partner.country_id.code
                number = phonenumbers.parse(partner.phone, country_code)
                self.assertTrue(phonenumbers.is_valid_number(number), partner.phone)
                self.assertEqual(
                    phonenumbers.region_code_for_number(number), country_code
                )

    def test_invoices_posted(self):
        self.assertGreaterEqual(len(self.invoices), 60)
        self.assertEqual(set(self.demo_moves.mapped("state")), {"posted"})
        self.assertEqual(self.demo_moves.company_id, self.env.ref("base.main_company"))
        self.assertLessEqual(self.demo_moves.partner_id, self.customers)
        self.assertTrue(all(line.product_id for line in self.invoices.invoice_line_ids))
        payments = self.invoices._get_reconciled_payments()
        self.assertTrue(payments)
        self.assertLessEqual(max(payments.mapped("date")), self.install_day)

    def test_open_invoices_spread_over_ageing_buckets(self):
        open_invoices = self.invoices.filtered(lambda m: m.payment_state in OPEN)
        ages = sorted(self._days_overdue(invoice) for invoice in open_invoices)
        buckets = {
            "due within 5 days": (-5, -1),
            "1-30 days overdue": (1, 30),
            "31-60 days overdue": (31, 60),
            "61-90 days overdue": (61, 90),
            "over 90 days overdue": (91, 1000),
        }
        for bucket, (low, high) in buckets.items():
            with self.subTest(bucket=bucket):
                self.assertTrue(any(low <= age <= high for age in ages), ages)
        self.assertTrue(115 <= ages[-1] <= 125, "the oldest is about 120 days")

    def test_early_payers_pay_before_due(self):
        for slug in EARLY_PAYERS:
            with self.subTest(customer=slug):
                invoices = self._invoices_of(slug)
                paid = invoices.filtered(lambda m: m.payment_state == "paid")
                self.assertGreaterEqual(len(paid), 2)
                for invoice in paid:
                    self.assertLess(self._days_paid_after_due(invoice), 0)
                unpaid = invoices - paid
                self.assertTrue(all(self._days_overdue(m) < 0 for m in unpaid))

    def test_occasional_late_payers(self):
        for slug in OCCASIONAL_LATE_PAYERS:
            with self.subTest(customer=slug):
                invoices = self._invoices_of(slug)
                paid = invoices.filtered(lambda m: m.payment_state == "paid")
                late = paid.filtered(lambda m: self._days_paid_after_due(m) > 0)
                self.assertTrue(late, "sometimes late")
                self.assertGreaterEqual(len(paid - late), len(late), "mostly on time")
                overdue = [
                    self._days_overdue(m)
                    for m in invoices
                    if m.payment_state in OPEN and self._days_overdue(m) > 0
                ]
                self.assertTrue(overdue, "one current invoice is overdue")
                self.assertLessEqual(max(overdue), 30, "only slightly")

    def test_chronic_late_payers(self):
        for slug in CHRONIC_LATE_PAYERS:
            with self.subTest(customer=slug):
                invoices = self._invoices_of(slug)
                paid = invoices.filtered(lambda m: m.payment_state == "paid")
                self.assertTrue(paid)
                self.assertTrue(all(self._days_paid_after_due(m) > 30 for m in paid))
                overdue = invoices.filtered(
                    lambda m: m.payment_state in OPEN and self._days_overdue(m) > 30
                )
                self.assertGreaterEqual(len(overdue), 2)
                self.assertGreater(sum(overdue.mapped("amount_residual")), 1000)
        partial = self.invoices.filtered(lambda m: m.payment_state == "partial")
        self.assertTrue(partial._get_reconciled_payments(), "some paid in part")

    def test_new_customers_have_one_invoice_not_due(self):
        for slug in NEW_CUSTOMERS:
            with self.subTest(customer=slug):
                invoices = self._invoices_of(slug)
                self.assertEqual(len(invoices), 1)
                self.assertEqual(invoices.payment_state, "not_paid")
                self.assertLess(self._days_overdue(invoices), 0)

    def test_segmentation_recognises_each_situation(self):
        """The payer profiles computed from the demo history tell its story."""
        situations = {
            "reliable": EARLY_PAYERS,
            "occasional": OCCASIONAL_LATE_PAYERS,
            "chronic": CHRONIC_LATE_PAYERS,
            "new": NEW_CUSTOMERS,
        }
        for profile, slugs in situations.items():
            for slug in slugs:
                with self.subTest(customer=slug):
                    self.assertEqual(self._partner(slug).dunning_profile, profile)

    def test_foreign_currency_and_credit_note(self):
        company_currency = self.env.ref("base.main_company").currency_id
        in_euros = self.invoices.filtered(lambda m: m.currency_id != company_currency)
        self.assertGreaterEqual(len(in_euros), 2)
        self.assertEqual(in_euros.currency_id, self.env.ref("base.EUR"))
        self.assertIn("paid", in_euros.mapped("payment_state"))

        credit_note = self.env.ref(
            "friendly_dunning.demo_credit_note_harbor_light_books_5"
        )
        invoice = credit_note.reversed_entry_id
        self.assertEqual(credit_note.move_type, "out_refund")
        self.assertEqual(credit_note.payment_state, "paid", "applied to the invoice")
        self.assertEqual(invoice.payment_state, "partial")
        self.assertAlmostEqual(
            invoice.amount_residual, invoice.amount_total - credit_note.amount_total
        )

    def test_demo_accounting_unloads_for_uninstall(self):
        """Once the uninstall hook has removed the demo entries, nothing keeps
        the uninstallation from deleting the demo customers."""
        self.env["dunning.demo"]._unload_demo_accounting()
        self.assertFalse(self.demo_moves.exists())
        contacts = self.customers | self.customers.child_ids
        self.assertFalse(
            self.env["account.payment"].search([("partner_id", "in", contacts.ids)])
        )
        contacts.with_context(**{MODULE_UNINSTALL_FLAG: True}).unlink()
        self.assertFalse(contacts.exists())
