from odoo import fields, models, tools
from odoo.tools import SQL

from ..models.account_move import open_instalment_sql
from ..models.dunning_segment import partner_segment_sql
from ..models.res_partner import AGING_BUCKET_LABELS
from .ledger_sql import aging_bucket, payment_entry

# The lines of the receivable accounts that are no invoice instalment.
UNAPPLIED_BUCKET = "unapplied"


class DunningReportAging(models.Model):
    """Aged receivables: one row per open receivable line. The instalments of
    the open invoices are aged today on their own due dates; credit notes
    and payments not applied to an invoice (and other entries) have no due
    date: they are listed apart, in the unapplied bucket, so that the aged
    buckets add up to the receivables of the KPIs."""

    _name = "dunning.report.aging"
    _description = "Aged Receivables"
    _auto = False
    _order = "date_maturity, id"
    _rec_name = "move_id"

    company_id = fields.Many2one("res.company", readonly=True)
    company_currency_id = fields.Many2one(
        "res.currency", string="Company currency", readonly=True
    )
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    segment_id = fields.Many2one("dunning.segment", readonly=True)
    user_id = fields.Many2one("res.users", string="Salesperson", readonly=True)
    currency_id = fields.Many2one(
        "res.currency",
        readonly=True,
        help="The currency the document was issued in.",
    )
    move_id = fields.Many2one("account.move", string="Document", readonly=True)
    kind = fields.Selection(
        [
            ("invoice", "Invoice"),
            ("credit_note", "Credit note"),
            ("payment", "Unapplied payment"),
            ("other", "Other entry"),
        ],
        readonly=True,
    )
    invoice_date = fields.Date(string="Date", readonly=True)
    date_maturity = fields.Date(string="Due date", readonly=True)
    days_overdue = fields.Integer(
        readonly=True,
        aggregator="max",
        help="Days since the instalment's due date, today; zero or less: not due yet.",
    )
    bucket = fields.Selection(
        [*AGING_BUCKET_LABELS.items(), (UNAPPLIED_BUCKET, "Unapplied")],
        string="Aging",
        readonly=True,
        help="For an invoice instalment: not due, 1-30, 31-60, 61-90 or over 90 "
        "days past its due date, today. Unapplied: a credit note or payment not "
        "applied to an invoice, or another entry; it is not aged and the KPIs "
        "do not deduct it.",
    )
    amount_residual = fields.Monetary(
        string="Open amount",
        currency_field="company_currency_id",
        readonly=True,
        help="What is still open on this line, in company currency. Credit notes "
        "and payments not yet applied to an invoice are negative.",
    )
    amount_residual_currency = fields.Monetary(
        string="Open amount in document currency",
        currency_field="currency_id",
        readonly=True,
        aggregator=None,
    )
    amount_not_due = fields.Monetary(
        string="Not due", currency_field="company_currency_id", readonly=True
    )
    amount_1_30 = fields.Monetary(
        string="1-30", currency_field="company_currency_id", readonly=True
    )
    amount_31_60 = fields.Monetary(
        string="31-60", currency_field="company_currency_id", readonly=True
    )
    amount_61_90 = fields.Monetary(
        string="61-90", currency_field="company_currency_id", readonly=True
    )
    amount_over_90 = fields.Monetary(
        string="Over 90", currency_field="company_currency_id", readonly=True
    )
    amount_unapplied = fields.Monetary(
        string="Unapplied",
        currency_field="company_currency_id",
        readonly=True,
        help="Credit notes and payments not applied to an invoice (negative), "
        "and other entries on the receivable account.",
    )

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
            CREATE VIEW %(table)s AS (
                WITH line AS (
                    SELECT l.id, l.company_id, l.company_currency_id,
                           COALESCE(m.commercial_partner_id, l.partner_id)
                               AS partner_id,
                           m.invoice_user_id AS user_id, l.currency_id, l.move_id,
                           CASE WHEN m.move_type = 'out_invoice' THEN 'invoice'
                                WHEN m.move_type = 'out_refund' THEN 'credit_note'
                                WHEN %(payment)s THEN 'payment'
                                ELSE 'other'
                           END AS kind,
                           COALESCE(m.invoice_date, l.date) AS invoice_date,
                           COALESCE(l.date_maturity, l.date) AS date_maturity,
                           CASE WHEN %(instalment)s
                                THEN CURRENT_DATE - COALESCE(l.date_maturity, l.date)
                           END AS days_overdue,
                           l.amount_residual, l.amount_residual_currency
                      FROM account_move_line l
                      JOIN account_account a ON a.id = l.account_id
                      JOIN account_move m ON m.id = l.move_id
                     WHERE a.account_type = 'asset_receivable'
                       AND l.parent_state = 'posted'
                       AND l.reconciled IS NOT TRUE
                       AND l.amount_residual != 0
                )
                SELECT line.*,
                       %(segment)s AS segment_id,
                       CASE WHEN days_overdue IS NULL THEN %(unapplied)s
                            ELSE %(bucket)s END AS bucket,
                       CASE WHEN days_overdue <= 0 THEN amount_residual ELSE 0 END
                           AS amount_not_due,
                       CASE WHEN days_overdue BETWEEN 1 AND 30
                            THEN amount_residual ELSE 0 END AS amount_1_30,
                       CASE WHEN days_overdue BETWEEN 31 AND 60
                            THEN amount_residual ELSE 0 END AS amount_31_60,
                       CASE WHEN days_overdue BETWEEN 61 AND 90
                            THEN amount_residual ELSE 0 END AS amount_61_90,
                       CASE WHEN days_overdue > 90
                            THEN amount_residual ELSE 0 END AS amount_over_90,
                       CASE WHEN days_overdue IS NULL
                            THEN amount_residual ELSE 0 END AS amount_unapplied
                  FROM line
             LEFT JOIN res_partner p ON p.id = line.partner_id
            )
                """,
                table=SQL.identifier(self._table),
                bucket=aging_bucket(SQL("days_overdue")),
                unapplied=UNAPPLIED_BUCKET,
                instalment=open_instalment_sql("l", "m"),
                payment=payment_entry("m"),
                segment=partner_segment_sql(SQL("p"), SQL("line.company_id")),
            )
        )
