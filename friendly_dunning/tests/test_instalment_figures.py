"""Instalments in what the accountant and the customer see: each receivable
line of an invoice (its due date, its residual) is the unit of due and
overdue in the customer's figures and score, the worklist, the customer's
page and the statement."""

from datetime import date, timedelta
from urllib.parse import urlsplit

from lxml import etree

from odoo import fields
from odoo.tests import freeze_time, tagged
from odoo.tools.safe_eval import safe_eval

from .common import DunningCommon
from .common_portal import PortalPageCommon, shown

TODAY = date(2026, 12, 2)


def days(offset):
    return TODAY + timedelta(days=offset)


class InstalmentCommon(DunningCommon):
    """A "50 % now, 50 % in 60 days" term."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.half_now_half_60 = cls.env["account.payment.term"].create(
            {
                "name": "50% now, 50% in 60 days",
                "line_ids": [
                    fields.Command.create(
                        {"value": "percent", "value_amount": 50.0, "nb_days": 0}
                    ),
                    fields.Command.create(
                        {"value": "percent", "value_amount": 50.0, "nb_days": 60}
                    ),
                ],
            }
        )

    @classmethod
    def _instalment_invoice(cls, partner, invoice_date, amount=1000.0):
        invoice = cls._create_invoice_one_line(
            price_unit=amount,
            tax_ids=[],
            partner_id=partner,
            invoice_date=invoice_date,
            invoice_payment_term_id=cls.half_now_half_60.id,
        )
        invoice.action_post()
        return invoice


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestInstalmentFigures(InstalmentCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # First instalment (500) due 40 days ago, the second in 20 days.
        cls.parcelas = cls._dunning_customer("Parcelas")
        cls.invoice = cls._instalment_invoice(cls.parcelas, days(-40))
        # Paid its first instalment 10 days late, its second on time.
        cls.late_once = cls._dunning_customer("Late once")
        cls.paid_invoice = cls._instalment_invoice(cls.late_once, days(-100))
        cls._dunning_pay(cls.paid_invoice, days(-90), amount=500.0)
        cls._dunning_pay(cls.paid_invoice, days(-41), amount=500.0)
        cls.env["res.partner"]._dunning_refresh_segmentation(companies=cls.company_a)

    def test_invoice_has_two_instalments_its_due_date_is_the_last(self):
        self.assertEqual(
            sorted(
                self.invoice.line_ids.filtered(
                    lambda line: line.display_type == "payment_term"
                ).mapped("date_maturity")
            ),
            [days(-40), days(20)],
        )
        self.assertEqual(self.invoice.invoice_date_due, days(20))

    def test_overdue_instalment_counts_as_overdue(self):
        partner = self.parcelas
        self.assertAlmostEqual(partner.dunning_overdue_amount, 500.0)
        self.assertEqual(partner.dunning_max_days_overdue, 40)
        self.assertEqual(partner.dunning_aging_bucket, "31_60")
        # One instalment came due, is open and 40 days late; the exposure
        # is half of the year's invoicing.
        self.assertEqual(partner.dunning_on_time_ratio, 0.0)
        self.assertEqual(partner.dunning_avg_days_late, 40.0)
        self.assertEqual(partner.dunning_overdue_share, 0.5)

    def test_lateness_is_measured_per_instalment(self):
        partner = self.late_once
        # The first instalment was paid 10 days after its own due date, the
        # second 19 days before its own: one of two on time, 10 days late on
        # average, although the invoice was paid before its last due date.
        self.assertEqual(self.paid_invoice.payment_state, "paid")
        self.assertEqual(partner.dunning_on_time_ratio, 0.5)
        self.assertEqual(partner.dunning_avg_days_late, 10.0)
        self.assertEqual(partner.dunning_overdue_amount, 0.0)

    def test_open_instalments_listed_for_the_accountant(self):
        action = self.parcelas.action_dunning_open_instalments()
        lines = self.env["account.move.line"].search(action["domain"])
        self.assertEqual(lines.mapped("date_maturity"), [days(-40), days(20)])
        self.assertEqual(lines.mapped("amount_residual"), [500.0, 500.0])
        self._dunning_pay(self.invoice, TODAY, amount=500.0)
        self.assertEqual(
            self.env["account.move.line"].search(action["domain"]).date_maturity,
            days(20),
        )

    def test_overdue_invoices_list_finds_an_overdue_first_instalment(self):
        action = self.env.ref("friendly_dunning.action_dunning_worklist")
        self.assertIn(
            "search_default_dunning_instalment_overdue", safe_eval(action.context)
        )
        arch = self.env["account.move"].get_view(action.search_view_id.id, "search")[
            "arch"
        ]
        domain = (
            etree.fromstring(arch)
            .xpath("//filter[@name='dunning_instalment_overdue']")[0]
            .get("domain")
        )
        late = self.env["account.move"].search(
            safe_eval(action.domain) + safe_eval(domain)
        )
        self.assertIn(self.invoice, late)
        self.assertNotIn(self.paid_invoice, late)

    def test_statement_shows_each_instalment_with_its_due_date(self):
        statement = self.env[
            "report.friendly_dunning.report_dunning_statement"
        ]._statement(self.parcelas, self.company_a)
        rows = [
            (row["due"], row["residual"], row["days_overdue"], row["instalment"])
            for row in statement["invoices"]
        ]
        self.assertEqual(
            rows, [(days(-40), 500.0, 40, (1, 2)), (days(20), 500.0, 0, (2, 2))]
        )
        buckets = dict(statement["buckets"])
        self.assertEqual(buckets["31-60 days"], 500.0)
        self.assertEqual(buckets["Not due"], 500.0)
        self.assertEqual(statement["overdue_total"], 500.0)
        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html(
                "friendly_dunning.action_report_dunning_statement", self.parcelas.ids
            )[0]
            .decode()
        )
        self.assertIn("Instalment 1 of 2", html)
        self.assertIn("Instalment 2 of 2", html)


@tagged("post_install", "-at_install")
@freeze_time(TODAY)
class TestWorklistOrder(DunningCommon):
    """What needs doing first: the customers a reminder is due for, the
    largest overdue amount first, then those reminded later."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env["res.partner"].with_company(cls.company_a)
        cls.due_small = cls._dunning_customer("Due small")
        cls.due_big = cls._dunning_customer("Due big")
        cls.later_big = cls._dunning_customer("Later big")
        cls.later_soon = cls._dunning_customer("Later soon")
        cls.nothing = cls._dunning_customer("Nothing")
        for partner, next_date, overdue in [
            (cls.due_small, days(-127), 100.0),  # "Jul 28 on Dec 2"
            (cls.due_big, TODAY, 900.0),
            (cls.later_big, days(10), 5000.0),
            (cls.later_soon, days(3), 10.0),
        ]:
            partner.with_company(cls.company_a).write(
                {"dunning_next_date": next_date, "dunning_overdue_amount": overdue}
            )
        cls.partners = Partner.browse(
            (
                cls.due_small
                | cls.due_big
                | cls.later_big
                | cls.later_soon
                | cls.nothing
            ).ids
        )

    def _worklist_order(self):
        arch = self.env.ref("friendly_dunning.view_partner_list_dunning_worklist").arch
        order = arch.split('default_order="', 1)[1].split('"', 1)[0]
        return (
            self.env["res.partner"]
            .with_company(self.company_a)
            .search([("id", "in", self.partners.ids)], order=order)
        )

    def test_due_now_shown_instead_of_a_past_date(self):
        partners = self.partners
        self.assertEqual(
            partners.mapped("dunning_due_now"), [True, True, False, False, False]
        )
        self.assertEqual(partners[0].dunning_next_label, "Due now")
        self.assertEqual(partners[1].dunning_next_label, "Due now")
        self.assertEqual(partners[2].dunning_next_label, "12/12/2026")
        self.assertFalse(partners[4].dunning_next_label)

    def test_worklist_sorted_by_what_needs_doing_first(self):
        self.assertEqual(
            self._worklist_order().mapped("name"),
            ["Due big", "Due small", "Later big", "Later soon", "Nothing"],
        )

    def test_due_now_filter(self):
        Partner = self.env["res.partner"].with_company(self.company_a)
        domain = [("id", "in", self.partners.ids)]
        self.assertEqual(
            Partner.search([*domain, ("dunning_due_now", "=", True)]),
            self.due_small | self.due_big,
        )
        self.assertEqual(
            Partner.search([*domain, ("dunning_due_now", "=", False)]),
            self.later_big | self.later_soon | self.nothing,
        )

    def test_due_now_follows_today(self):
        with freeze_time(days(3)):
            self.partners.invalidate_recordset(["dunning_due_now"])
            self.assertTrue(
                self.later_soon.with_company(self.company_a).dunning_due_now
            )
            self.assertEqual(
                self._worklist_order().mapped("name")[:3],
                ["Due big", "Due small", "Later soon"],
            )


@tagged("post_install", "-at_install")
class TestPortalInstalments(PortalPageCommon, InstalmentCommon):
    """The customer's page lists the instalments due with their amounts and
    pays the one due, or everything."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.parcelas = cls._dunning_customer("Parcelas")
        cls.invoice = cls._instalment_invoice(
            cls.parcelas, cls.today - timedelta(days=40)
        )
        # Due after the first instalment, before the last.
        cls.single = cls._dunning_invoice(
            cls.parcelas, cls.today - timedelta(days=20), 70.0
        )

    def test_page_lists_each_instalment(self):
        page = self.open_page(self.page_url(self.parcelas)).text
        self.assertIn(shown(self.invoice), page)
        self.assertIn("Instalment 1 of 2", page)
        self.assertIn("Instalment 2 of 2", page)
        self.assertIn("40 days late", page)
        self.assertIn("Not due yet", page)
        base = "/my/collections"
        self.assertIn(f"{base}/invoice/{self.invoice.id}/pay-due", page)
        self.assertIn(f"{base}/pay-due/{self.invoice.currency_id.id}", page)
        # The summary: 500 + 70 overdue (and due now), 500 coming due.
        summary = page.split("o_dunning_summary", 1)[1].split("o_dunning_invoices")[0]
        self.assertEqual(summary.count("570.00"), 2)
        self.assertEqual(summary.count("500.00"), 1)
        # The invoice whose oldest unpaid instalment is oldest comes first.
        self.assertLess(page.index(shown(self.invoice)), page.index(shown(self.single)))
        self.assertNotIn(f"/invoice/{self.single.id}/pay-due", page)

    def test_single_due_invoice_page_offers_no_instalments(self):
        page = self.open_page().text
        self.assertNotIn("Instalment 1 of", page)
        self.assertNotIn(f"/invoice/{self.late.id}/pay-due", page)

    def _pay(self, route):
        return self.pay_from_page(route, self.page_url(self.parcelas))

    def test_pay_the_instalment_that_is_due(self):
        base = urlsplit(self.open_page(self.page_url(self.parcelas)).url).path
        self._provider()
        pay_page = self.url_open(f"{base}/invoice/{self.invoice.id}/pay-due")
        self.assertEqual(pay_page.status_code, 200)
        self.assertIn("Pay what is due", pay_page.text)
        self.assertIn(
            f"{base}/invoice/{self.invoice.id}/transaction-due", pay_page.text
        )
        transaction = self._pay(f"invoice/{self.invoice.id}/transaction-due")
        self.assertEqual(transaction.invoice_ids, self.invoice)
        self.assertEqual(transaction.amount, 500.0)
        self.assertEqual(transaction.partner_id, self.parcelas)

    def test_pay_everything_due_or_the_whole_invoice(self):
        currency = self.invoice.currency_id.id
        transaction = self._pay(f"transaction-due/{currency}")
        self.assertEqual(transaction.invoice_ids, self.invoice | self.single)
        self.assertEqual(transaction.amount, 570.0)
        transaction = self._pay(f"invoice/{self.invoice.id}/transaction")
        self.assertEqual(transaction.amount, 1000.0)

    def test_pay_due_needs_the_session(self):
        base = urlsplit(self.open_page(self.page_url(self.parcelas)).url).path
        self.url_open("/collections/1-1-1-" + "0" * 64)  # drops the session
        response = self.url_open(
            f"{base}/invoice/{self.invoice.id}/pay-due", allow_redirects=False
        )
        self.assertEqual(response.status_code, 303)
        self.assertIn("/web/login", response.headers["Location"])

    def test_pay_due_of_another_customers_invoice_goes_back(self):
        self.open_page(self.page_url(self.parcelas))
        response = self.url_open(
            f"/my/collections/invoice/{self.late.id}/pay-due", allow_redirects=False
        )
        self.assertEqual(response.status_code, 303)
        self.assertNotIn("o_payment_form", response.text)
