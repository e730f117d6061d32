"""The customer statement: what one customer owes the current company.

Odoo's report routes (``/report/html|pdf/<report>/<ids>``) render a report for
any logged-in user and whatever ids the URL names, without looking at the
report's groups: the statement checks its reader itself. Only who may read
the customer's receivables gets it, for the current company (one of the
reader's own), and it never carries a link its reader could not have made.
"""

import base64

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..models.res_partner import RECEIVABLES_READERS
from ..tools.scoring import AGING_BUCKETS, aging_bucket


class ReportDunningStatement(models.AbstractModel):
    _name = "report.friendly_dunning.report_dunning_statement"
    _description = "Customer Statement"

    @api.model
    def _get_report_values(self, docids, data=None):
        self._check_reader(self.env["res.partner"].browse(docids))
        partners = self.env["res.partner"].browse(docids).commercial_partner_id
        company = self.env.company
        links = self._payment_links(partners, company, data or {})
        return {
            "doc_ids": partners.ids,
            "doc_model": "res.partner",
            "docs": partners,
            "company": company,
            "statements": {
                partner.id: self._statement(partner, company, links.get(partner.id))
                for partner in partners
            },
        }

    @api.model
    def _check_reader(self, partners):
        """Refuse the statement of ``partners`` to a user who may not read
        their receivables: not an accountant nor in the collections team, or
        not allowed to see these customers (record rules: another company's
        customers)."""
        if self.env.su:
            return
        if self.env.user.share or not self.env.user.has_groups(RECEIVABLES_READERS):
            raise AccessError(
                self.env._(
                    "Only accounting and collections users may print a customer's "
                    "statement."
                )
            )
        partners.check_access("read")
        partners.commercial_partner_id.check_access("read")

    @api.model
    def _payment_links(self, partners, company, data):
        """``{commercial partner id: URL}`` of the collections page each
        statement points to; a statement without one shows no link.

        - Read through a collections link (``collections_token``): that same
          link, its expiry unchanged, if it opens this customer's page with
          ``company``. Downloading a statement never renews a link.
        - Read by a logged-in customer (``collections_login``): their
          ``/my/collections`` page, which asks them to log in.
        - ``without_link``: none.
        - Otherwise a link signed now, for a reader who may issue links (the
          company's own processes, its collections team); none for others.
        """
        Partner = self.env["res.partner"]
        token = data.get("collections_token")
        if token:
            found = Partner._dunning_portal_check_token(token)
            return {
                partner.id: f"{partner.get_base_url()}/collections/{token}"
                for partner in partners
                if found and found == (partner, company)
            }
        if data.get("collections_login"):
            return {
                partner.id: f"{partner.get_base_url()}/my/collections"
                for partner in partners
            }
        if not data.get("without_link") and Partner._dunning_may_issue_links():
            return partners._dunning_portal_urls(company)
        return {}

    @api.model
    def _instalment_numbers(self, moves):
        """``{line id: (number, count)}`` for the receivable lines of the
        invoices among ``moves`` that have several due dates, numbered by
        due date; in one query."""
        terms = self.env["account.move.line"].search_fetch(
            [
                ("move_id", "in", moves.ids),
                ("display_type", "=", "payment_term"),
            ],
            ["move_id", "date_maturity"],
            order="date_maturity, id",
        )
        numbers = {}
        for move_terms in terms.grouped("move_id").values():
            if len(move_terms) > 1:
                for number, line in enumerate(move_terms, start=1):
                    numbers[line.id] = (number, len(move_terms))
        return numbers

    @api.model
    def _statement(self, partner, company, payment_url=None):
        """What ``partner`` owes ``company`` today: its open receivable lines
        (each instalment of an invoice with its own due date, credit notes,
        unapplied payments), aged, in company currency,
        with the document currency beside them; read with the reader's rights
        (``_check_reader``)."""
        today = fields.Date.context_today(self)
        lines = self.env["account.move.line"].search(
            [
                ("company_id", "=", company.id),
                ("partner_id", "child_of", partner.id),
                ("account_id.account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
                ("reconciled", "=", False),
                ("amount_residual", "!=", 0),
            ],
            order="date_maturity, id",
        )
        buckets = dict.fromkeys(AGING_BUCKETS, 0.0)
        instalments = self._instalment_numbers(lines.move_id)
        invoices, credits = [], []
        for line in lines:
            due = line.date_maturity or line.date
            days = (today - due).days
            row = {
                "line": line,
                "move": line.move_id,
                "date": line.move_id.invoice_date or line.date,
                "due": due,
                "days_overdue": max(days, 0),
                "total": line.balance,
                "residual": line.amount_residual,
                "currency": line.currency_id,
                "residual_currency": line.amount_residual_currency,
                "foreign": line.currency_id != company.currency_id,
                # "2 of 3" for an instalment of an invoice with several
                # due dates; None for an invoice with one.
                "instalment": instalments.get(line.id),
            }
            if line.amount_residual > 0:
                buckets[aging_bucket(days)] += line.amount_residual
                invoices.append(row)
            else:
                credits.append(row)
        bucket_labels = dict(
            self.env["dunning.report.aging"]
            ._fields["bucket"]
            ._description_selection(self.env)
        )
        open_total = sum(row["residual"] for row in invoices)
        credit_total = sum(row["residual"] for row in credits)
        qr_code = False
        if payment_url:
            qr = self.env["ir.actions.report"].barcode(
                "QR", payment_url, width=180, height=180, quiet=False
            )
            qr_code = "data:image/png;base64," + base64.b64encode(qr).decode()
        return {
            "today": today,
            "invoices": invoices,
            "credits": credits,
            "buckets": [
                (bucket_labels[bucket], amount) for bucket, amount in buckets.items()
            ],
            "open_total": open_total,
            "overdue_total": open_total - buckets["not_due"],
            "credit_total": credit_total,
            "total_due": open_total + credit_total,
            "currency": company.currency_id,
            "payment_url": payment_url,
            "qr_code": qr_code,
        }
