from odoo import fields, models, tools
from odoo.tools import SQL

from ..models.dunning_segment import partner_segment_sql
from .ledger_sql import invoice_instalment


class DunningReportRecovery(models.Model):
    """Recovery: one row per customer invoice with an instalment still unpaid
    when it came due, with what was recovered after the instalments' due
    dates and the last collections step it reached. Each instalment counts on
    its own due date; what went overdue is what was recovered plus what is
    still open, so the recovery rate lies between 0 and 100 %."""

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
    date_due = fields.Date(
        string="Due date",
        readonly=True,
        help="The due date of the first instalment that went overdue.",
    )
    state = fields.Selection(
        [("recovered", "Recovered"), ("open", "Still open")],
        readonly=True,
    )
    amount_overdue = fields.Monetary(
        string="Went overdue",
        readonly=True,
        help="What the instalments that came due still owed on their due dates, "
        "in company currency.",
    )
    amount_recovered = fields.Monetary(
        string="Recovered",
        readonly=True,
        help="Payments and credit notes applied to those instalments after their "
        "due dates.",
    )
    amount_open = fields.Monetary(
        string="Still open",
        readonly=True,
        help="What remains unpaid today of the instalments that went overdue.",
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
                WITH instalment AS (
                    -- The instalments that came due before today.
                    SELECT l.id, l.move_id, COALESCE(l.date_maturity, l.date) AS due,
                           l.balance, l.amount_residual
                      FROM account_move_line l
                      JOIN account_move m ON m.id = l.move_id
                     WHERE %(instalment)s
                       AND m.state = 'posted'
                       AND m.payment_state != 'reversed'
                       AND COALESCE(l.date_maturity, l.date) < CURRENT_DATE
                ), applied AS (
                    SELECT instalment.id,
                           SUM(pr.amount) FILTER (
                               WHERE pr.max_date <= instalment.due) AS before_due,
                           SUM(pr.amount) FILTER (
                               WHERE pr.max_date > instalment.due) AS after_due,
                           MAX(pr.max_date) AS last_date
                      FROM instalment
                      JOIN account_partial_reconcile pr
                        ON pr.debit_move_id = instalment.id
                  GROUP BY instalment.id
                ), late AS (
                    -- Each instalment still owed (in part) on its due date.
                    SELECT instalment.move_id, instalment.due,
                           instalment.balance - COALESCE(applied.before_due, 0)
                               AS amount_overdue,
                           COALESCE(applied.after_due, 0) AS amount_recovered,
                           instalment.amount_residual AS amount_open,
                           applied.last_date
                      FROM instalment
                 LEFT JOIN applied ON applied.id = instalment.id
                     WHERE instalment.balance - COALESCE(applied.before_due, 0) > 0
                ), late_invoice AS (
                    SELECT move_id, MIN(due) AS date_due,
                           SUM(amount_overdue) AS amount_overdue,
                           SUM(amount_recovered) AS amount_recovered,
                           SUM(amount_open) AS amount_open,
                           MAX(last_date) AS last_date
                      FROM late
                  GROUP BY move_id
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
                           late.date_due, late.amount_overdue, late.amount_recovered,
                           late.amount_open, late.last_date,
                           COALESCE(reminders.reminder_count, 0) AS reminder_count
                      FROM late_invoice late
                      JOIN account_move m ON m.id = late.move_id
                      JOIN res_company comp ON comp.id = m.company_id
                 LEFT JOIN reminders ON reminders.move_id = m.id
                 -- The firmest step done on any of the invoice's instalments.
                 LEFT JOIN LATERAL (
                        SELECT step.id, step.policy_id
                          FROM dunning_invoice_progress progress
                          JOIN dunning_step step ON step.id = progress.step_id
                         WHERE progress.move_id = m.id
                      ORDER BY step.offset_days DESC
                         LIMIT 1) step ON TRUE
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
            )
                """,
                instalment=invoice_instalment("l", "m"),
                table=SQL.identifier(self._table),
                segment=partner_segment_sql(SQL("p"), SQL("invoice.company_id")),
            )
        )
