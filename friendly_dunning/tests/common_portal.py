"""The collections page's shared scenario: a customer with three open
invoices (late, less late, not due), another customer, another company, and
the helpers that go through the page as a browser does (the link, then the
session it is exchanged for)."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import fields
from odoo.tests import HttpCase

from .common import DunningCommon

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def shown(invoice):
    """How the page marks an invoice it lists."""
    return f'data-invoice-id="{invoice.id}"'


def logged(record, text):
    return record.message_ids.filtered(lambda message: text in (message.body or ""))


class PortalPageCommon(DunningCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        today = fields.Date.today()
        cls.today = today
        cls.customer = cls._dunning_customer("Acme")
        cls.other = cls._dunning_customer("Globex")
        cls.late = cls._dunning_invoice(cls.customer, today - timedelta(days=20), 300)
        cls.later = cls._dunning_invoice(cls.customer, today - timedelta(days=5), 200)
        cls.coming = cls._dunning_invoice(cls.customer, today + timedelta(days=10), 50)
        cls.foreign = cls._dunning_invoice(cls.other, today - timedelta(days=20), 999)
        cls.other_company_invoice = cls._dunning_invoice(
            cls.customer,
            today - timedelta(days=20),
            777,
            company_id=cls.company_b.id,
        )

    def _provider(self):
        method = self.env.ref("payment.payment_method_unknown")
        redirect_form = self.env["ir.ui.view"].create(
            {
                "name": "Loopback redirect form",
                "type": "qweb",
                "arch": '<form action="/loopback" method="post"/>',
            }
        )
        provider = self.env["payment.provider"].create(
            {
                "redirect_form_view_id": redirect_form.id,
                "name": "Loopback",
                "code": "none",
                "state": "test",
                "is_published": True,
                "company_id": self.company_a.id,
                "payment_method_ids": [fields.Command.set(method.ids)],
            }
        )
        method.active = True
        return provider

    def page_url(self, partner=None, company=None):
        partner = (partner or self.customer).with_company(company or self.company_a)
        return partner._dunning_portal_url().removeprefix(partner.get_base_url())

    def open_page(self, url=None):
        """Open the page (through the link: its session cookie is kept)."""
        response = self.url_open(url or self.page_url())
        self.assertEqual(response.status_code, 200, response.text[:500])
        return response

    def page_base(self, url=None):
        """The path the page's actions hang off, once the link is opened."""
        return urlsplit(self.open_page(url).url).path

    def post(self, action, data=None, files=None, url=None, csrf=True):
        page = self.open_page(url)
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = CSRF.search(page.text).group(1)
        return self.url_open(
            f"{urlsplit(page.url).path}/{action}",
            data=data,
            files=files,
            allow_redirects=False,
        )

    def pay_from_page(self, route, url=None):
        """Start paying through the page's ``route`` (relative to the page,
        e.g. ``invoice/<id>/transaction``) with the loopback provider, as the
        payment form does; returns the transaction. The amount the browser
        sends is ignored: the page's route decides it."""
        provider = self._provider()
        page = self.open_page(url)
        base = urlsplit(page.url).path
        response = self.make_jsonrpc_request(
            f"{base}/{route}",
            {
                "provider_id": provider.id,
                "payment_method_id": self.env.ref("payment.payment_method_unknown").id,
                "token_id": None,
                "amount": 1.0,
                "flow": "redirect",
                "tokenization_requested": False,
                "landing_route": base,
                "is_validation": False,
                "csrf_token": CSRF.search(page.text).group(1),
            },
        )
        return self.env["payment.transaction"].search(
            [("reference", "=", response["reference"])]
        )


PAGE_COOKIE = "fd_collections"


def page_links(html):
    """Every address a page hands the browser: links, form actions, the
    payment form's transaction route."""
    return sorted(
        set(re.findall(r'(?:href|action|data-transaction-route)="([^"#]+)', html))
        - {"/", "#"}
    )
