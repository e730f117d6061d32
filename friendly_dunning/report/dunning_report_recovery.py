from odoo import fields, models, tools
from odoo.tools import SQL

from ..models.dunning_segment import partner_segment_sql


class DunningReportRecovery(models.Model):
    """Recovery: one row per customer invoice that was still unpaid when it
    came due, with what was recovered after the due date and the last
    collections step it reached."""

    _name = "dunning.report.recovery"
    _description = "Collections Recovery"
    _auto = False
    _order = "date_due desc, id desc"
    _rec_name = "move_id"

    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    segment_id = fields.Many2one("dunning.segment", readonly=True)
    step_id = fields.Many2one(
        "dunning.step",
        string="Last step reached",
        readonly=True,
        help="The last reminder step done for the invoice (empty: none yet).",
    )
    policy_id = fields.Many2one("dunning.policy", readonly=True)
    date_due = fields.Date(string="Due date", readonly=True)
    state = fields.Selection(
        [("recovered", "Recovered"), ("open", "Still open")],
        readonly=True,
    )
    amount_overdue = fields.Monetary(
        string="Went overdue",
        readonly=True,
        help="What was still unpaid on the due date, in company currency.",
    )
    amount_recovered = fields.Monetary(
        string="Recovered",
        readonly=True,
        help="Payments and credit notes applied after the due date.",
    )
    amount_open = fields.Monetary(
        string="Still open", readonly=True, help="What remains unpaid today."
    )
    days_to_recover = fields.Integer(
        readonly=True,
        aggregator="avg",
        help="Days from the due date to the last payment, for recovered invoices.",
    )
    reminder_count = fields.Integer(string="Reminders", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
            CREATE VIEW %(table)s AS (
                WITH applied AS (
                    SELECT l.move_id,
                           SUM(pr.amount) FILTER (
                               WHERE pr.max_date <= m.invoice_date_due) AS before_due,
                           SUM(pr.amount) FILTER (
                               WHERE pr.max_date > m.invoice_date_due) AS after_due,
                           MAX(pr.max_date) AS last_date
                      FROM account_move m
                      JOIN account_move_line l ON l.move_id = m.id AND l.balance > 0
                      JOIN account_partial_reconcile pr ON pr.debit_move_id = l.id
                     WHERE m.move_type = 'out_invoice' AND m.state = 'posted'
                  GROUP BY l.move_id
                ), reminders AS (
                    SELECT rel.move_id, COUNT(*) AS reminder_count
                      FROM dunning_communication_account_move_rel rel
                      JOIN dunning_communication c ON c.id = rel.communication_id
                     WHERE c.kind = 'reminder' AND c.sent_date IS NOT NULL
                  GROUP BY rel.move_id
                ), invoice AS (
                    SELECT m.id, m.company_id, comp.currency_id, m.id AS move_id,
                           m.commercial_partner_id AS partner_id,
                           step.id AS step_id, step.policy_id,
                           m.invoice_date_due AS date_due,
                           ABS(m.amount_total_signed)
                               - COALESCE(applied.before_due, 0) AS amount_overdue,
                           COALESCE(applied.after_due, 0) AS amount_recovered,
                           ABS(m.amount_residual_signed) AS amount_open,
                           applied.last_date,
                           COALESCE(reminders.reminder_count, 0) AS reminder_count
                      FROM account_move m
                      JOIN res_company comp ON comp.id = m.company_id
                 LEFT JOIN applied ON applied.move_id = m.id
                 LEFT JOIN reminders ON reminders.move_id = m.id
                 -- The firmest step done on any of the invoice's instalments.
                 LEFT JOIN LATERAL (
                        SELECT step.id, step.policy_id
                          FROM dunning_invoice_progress progress
                          JOIN dunning_step step ON step.id = progress.step_id
                         WHERE progress.move_id = m.id
                      ORDER BY step.offset_days DESC
                         LIMIT 1) step ON TRUE
                     WHERE m.move_type = 'out_invoice'
                       AND m.state = 'posted'
                       AND m.invoice_date_due < CURRENT_DATE
                       AND m.payment_state != 'reversed'
                )
                SELECT invoice.id, invoice.company_id, invoice.currency_id,
                       invoice.move_id, invoice.partner_id,
                       %(segment)s AS segment_id,
                       invoice.step_id, invoice.policy_id, invoice.date_due,
                       CASE WHEN invoice.amount_open = 0 THEN 'recovered'
                            ELSE 'open' END AS state,
                       invoice.amount_overdue, invoice.amount_recovered,
                       invoice.amount_open,
                       CASE WHEN invoice.amount_open = 0
                            THEN invoice.last_date - invoice.date_due END
                           AS days_to_recover,
                       invoice.reminder_count
                  FROM invoice
             LEFT JOIN res_partner p ON p.id = invoice.partner_id
                 WHERE invoice.amount_overdue > 0
            )
                """,
                table=SQL.identifier(self._table),
                segment=partner_segment_sql(SQL("p"), SQL("invoice.company_id")),
            )
        )
