import base64

from odoo import api, fields, models

from ..tools.scoring import AGING_BUCKETS, aging_bucket


class ReportDunningStatement(models.AbstractModel):
    _name = "report.friendly_dunning.report_dunning_statement"
    _description = "Customer Statement"

    @api.model
    def _get_report_values(self, docids, data=None):
        partners = self.env["res.partner"].browse(docids).commercial_partner_id
        company = self.env.company
        return {
            "doc_ids": partners.ids,
            "doc_model": "res.partner",
            "docs": partners,
            "company": company,
            "statements": {
                partner.id: self._statement(partner, company) for partner in partners
            },
        }

    @api.model
    def _statement(self, partner, company):
        """What ``partner`` owes ``company`` today: its open receivable lines
        (invoices, credit notes, unapplied payments), aged, in company currency,
        with the document currency beside them."""
        today = fields.Date.context_today(self)
        lines = (
            self.env["account.move.line"]
            .sudo()
            .search(
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
        )
        buckets = dict.fromkeys(AGING_BUCKETS, 0.0)
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
        url = partner.with_company(company)._dunning_statement_payment_url()
        qr = self.env["ir.actions.report"].barcode(
            "QR", url, width=180, height=180, quiet=False
        )
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
            "payment_url": url,
            "qr_code": "data:image/png;base64," + base64.b64encode(qr).decode(),
        }
