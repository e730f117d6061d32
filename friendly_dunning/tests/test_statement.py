import re
from datetime import datetime

from odoo import fields
from odoo.tests import HttpCase, freeze_time, tagged

from .common_kpi import NOW, KpiScenario


def _text(html):
    text = re.sub(r"<[^>]+>", " ", html).replace("\xa0", " ").replace("\ufeff", "")
    return re.sub(r"\s+", " ", text)


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestDunningStatement(KpiScenario, HttpCase):
    def render(self, partner):
        html, _type = self.env["ir.actions.report"]._render_qweb_html(
            "friendly_dunning.action_report_dunning_statement", partner.ids
        )
        return html.decode()

    def amount_in(self, html, css_class):
        match = re.search(rf'class="{css_class}"[^>]*>(.*?)</span>', html, re.DOTALL)
        return _text(match.group(1)).strip()

    def test_totals_aging_and_credits(self):
        html = self.render(self.bruno)
        # Bruno on 03-31: inv_1 2,000 - 500 = 1,500 (50 days late, 31-60),
        # inv_old 400 (151 days late), the credit note -200 not yet applied.
        self.assertEqual(self.amount_in(html, "o_dunning_open_total"), "$ 1,900.00")
        self.assertEqual(self.amount_in(html, "o_dunning_overdue_total"), "$ 1,900.00")
        self.assertEqual(self.amount_in(html, "o_dunning_credit_total"), "$ -200.00")
        self.assertEqual(self.amount_in(html, "o_dunning_total_due"), "$ 1,700.00")
        text = _text(html)
        self.assertIn(self.inv_1.name, text)
        self.assertIn(self.refund.name, text)
        self.assertNotIn(self.inv_0.name, text, "paid invoices are not listed")
        self.assertIn("31-60 days", text)
        # the collections page link, and its QR code inline
        self.assertIn("/collections/", html)
        self.assertIn('src="data:image/png;base64,', html)

    def test_foreign_currency_invoice(self):
        html = self.render(self.chloe)
        # EUR 600 at 2 EUR per USD: 300 in company currency, the euros beside
        self.assertEqual(self.amount_in(html, "o_dunning_total_due"), "$ 300.00")
        self.assertIn("600.00", _text(html))
        self.assertIn("€", html)

    def test_companies_never_mix(self):
        html = self.render(self.customer_b)
        self.assertEqual(self.amount_in(html, "o_dunning_total_due"), "$ 0.00")
        html_b = self.env["ir.actions.report"].with_company(self.company_b)
        html_b, _type = html_b._render_qweb_html(
            "friendly_dunning.action_report_dunning_statement", self.customer_b.ids
        )
        self.assertEqual(
            self.amount_in(html_b.decode(), "o_dunning_total_due"), "$ 5,000.00"
        )

    def test_pdf_for_reminders(self):
        pdf = self.bruno.with_context(
            force_report_rendering=True
        )._dunning_statement_pdf()
        self.assertTrue(pdf.startswith(b"%PDF"))

    def test_print_action_from_the_partner(self):
        self.env.company.external_report_layout_id = self.env.ref(
            "web.external_layout_standard"
        )
        action = self.bruno.action_dunning_print_statement()
        self.assertEqual(
            action["report_name"], "friendly_dunning.report_dunning_statement"
        )
        self.assertEqual(action["context"]["active_ids"], self.bruno.ids)

    def test_download_from_the_customer_page(self):
        token = self.bruno._dunning_portal_token(now=datetime.now().timestamp())
        self.url_open(f"/collections/{token}")  # the link opens a session
        response = self.url_open("/my/collections/statement.pdf")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "application/pdf")
        self.assertIn("Statement", response.headers["Content-Disposition"])
        # tests render the report as HTML instead of PDF: the totals are there
        self.assertIn("1,700.00", response.text)
        self.opener.cookies.clear()
        bad = self.url_open(f"/collections/{token[:-4]}abcd")
        self.assertEqual(bad.status_code, 403)
        anonymous = self.url_open(
            "/my/collections/statement.pdf", allow_redirects=False
        )
        self.assertIn(anonymous.status_code, (302, 303))
        self.assertIn("/web/login", anonymous.headers["Location"])

    def _reminder(self):
        channel = self.env["dunning.channel"].search(
            [("company_id", "=", self.company_a.id), ("channel_type", "=", "email")]
        )
        return self.env["dunning.communication"].create(
            {
                "company_id": self.company_a.id,
                "partner_id": self.bruno.id,
                "kind": "reminder",
                "move_ids": [fields.Command.set(self.inv_1.ids)],
                "channel": "email",
                "channel_id": channel.id,
                "recipient": "bruno@example.com",
                "subject": "Your invoice",
                "body": "Hi Bruno",
            }
        )

    def test_statement_attached_to_email_reminders(self):
        self.assertTrue(self.company_a.dunning_attach_statement, "on by default")
        message = self._reminder()
        message._dunning_send()
        attachments = message.mail_id.attachment_ids
        statement = attachments.filtered(lambda a: a.name.startswith("Statement"))
        self.assertEqual(len(attachments), 2, "the invoice and the statement")
        self.assertEqual(statement.name, "Statement - Bruno.pdf")
        self.assertEqual(statement.mimetype, "application/pdf")
        # tests render reports as HTML: Bruno's total due is in it
        self.assertIn("1,700.00", _text(statement.raw.decode()))

    def test_statement_not_attached_when_switched_off(self):
        settings = self.env["res.config.settings"].create({})
        settings.dunning_attach_statement = False
        settings.execute()
        self.assertFalse(self.company_a.dunning_attach_statement)
        message = self._reminder()
        message._dunning_send()
        names = message.mail_id.attachment_ids.mapped("name")
        self.assertEqual(len(names), 1, "only the invoice")
        self.assertFalse([name for name in names if name.startswith("Statement")])

    def test_customer_page_links_the_statement(self):
        token = self.bruno._dunning_portal_token(now=datetime.now().timestamp())
        page = self.url_open(f"/collections/{token}")
        self.assertEqual(page.status_code, 200)
        self.assertIn('href="/my/collections/statement.pdf"', page.text)
        self.assertNotIn(token, page.text)
        self.assertIn("Download my statement", page.text)
