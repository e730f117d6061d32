from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from ..models.dunning_planner import DunningPlanner
from .common_portal import PortalPageCommon


@tagged("post_install", "-at_install")
class TestEarlyDiscount(PortalPageCommon):
    """An invoice under a payment term with Odoo's early-payment discount
    (2 % within 10 days): the customer's page and the reminders offer the
    saving until the discount date, and paying the discounted amount from
    the page settles the invoice."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.term = cls.env["account.payment.term"].create(
            {
                "name": "2/10 net 30",
                "early_discount": True,
                "discount_percentage": 2.0,
                "discount_days": 10,
                "line_ids": [
                    fields.Command.create(
                        {"value": "percent", "value_amount": 100.0, "nb_days": 30}
                    )
                ],
            }
        )
        cls.customer.lang = "en_US"
        cls.fresh = cls._discounted_invoice(cls.today)
        cls.stale = cls._discounted_invoice(cls.today - timedelta(days=11))
        cls.step = cls.company_a.dunning_policy_id.step_ids.sorted("offset_days")[0]
        cls.step.body = "Hello {name}.{early_discount}"

    @classmethod
    def _discounted_invoice(cls, invoice_date):
        invoice = cls._create_invoice_one_line(
            price_unit=1000.0,
            tax_ids=[],
            partner_id=cls.customer,
            invoice_date=invoice_date,
            invoice_payment_term_id=cls.term.id,
        )
        invoice.action_post()
        return invoice

    def _card(self, page, invoice):
        start = page.index(f'data-invoice-id="{invoice.id}"')
        return page[start : page.index("</details>", start)]

    def test_the_page_offers_the_saving_until_the_discount_date(self):
        page = self.open_page().text
        date = self.fresh.line_ids.filtered("discount_date")[0].discount_date
        self.assertEqual(date, self.today + timedelta(days=10))
        self.assertIn(
            f"Pay by {date.strftime('%m/%d/%Y')} and save $\u00a020.00.",
            self._card(page, self.fresh),
        )
        self.assertNotIn("o_dunning_early_discount", self._card(page, self.stale))
        self.assertNotIn("o_dunning_early_discount", self._card(page, self.late))

    def test_paying_before_the_date_charges_the_discounted_amount_and_settles(self):
        pay_page = self.url_open(f"{self.page_base()}/invoice/{self.fresh.id}/pay").text
        self.assertIn("the early-payment discount saves you $\u00a020.00", pay_page)
        transaction = self._pay_from_the_page(self.fresh)
        self.assertEqual(transaction.amount, 980.0)
        # Registered as Odoo registers a payment of that amount on the day.
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=self.fresh.ids
        ).create(
            {"amount": transaction.amount, "payment_date": self.today}
        )._create_payments()
        self.assertIn(self.fresh.payment_state, ("paid", "in_payment"))
        self.assertFalse(self.fresh.amount_residual)

    def test_paying_after_the_date_charges_the_full_amount(self):
        pay_page = self.url_open(f"{self.page_base()}/invoice/{self.stale.id}/pay").text
        self.assertNotIn("o_dunning_pay_discount", pay_page)
        self.assertEqual(self._pay_from_the_page(self.stale).amount, 1000.0)

    def test_paying_several_invoices_together_charges_them_in_full(self):
        transaction = self._pay_from_the_page(None)
        self.assertIn(self.fresh, transaction.invoice_ids)
        self.assertEqual(transaction.amount, 550.0 + 2000.0)

    def _pay_from_the_page(self, invoice):
        return self.pay_from_page(
            f"invoice/{invoice.id}/transaction"
            if invoice
            else f"transaction/{self.late.currency_id.id}"
        )

    def _reminder(self, invoices, now=None):
        planner = DunningPlanner(self.env, self.company_a, now or fields.Datetime.now())
        return planner.manual_decision(self.customer, invoices, self.step, "email")

    def test_the_placeholder_offers_the_saving_until_the_date(self):
        date = (self.today + timedelta(days=10)).strftime("%m/%d/%Y")
        self.assertEqual(
            self._reminder(self.fresh).body,
            f"Hello Acme.Pay by {date} and save $\u00a020.00.",
        )
        self.assertEqual(self._reminder(self.stale).body, "Hello Acme.")
        self.assertEqual(self._reminder(self.late).body, "Hello Acme.")
        later = fields.Datetime.now() + timedelta(days=11)
        self.assertEqual(self._reminder(self.fresh, later).body, "Hello Acme.")
