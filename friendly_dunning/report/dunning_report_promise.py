from odoo import fields, models, tools
from odoo.tools import SQL

from ..models.dunning_segment import partner_segment_sql


class DunningReportPromise(models.Model):
    """Promises to pay and payment plans side by side, by how they ended."""

    _name = "dunning.report.promise"
    _description = "Promises and Plans Outcomes"
    _auto = False
    _order = "date desc, id desc"
    _rec_name = "partner_id"

    kind = fields.Selection(
        [("promise", "Promise to pay"), ("plan", "Payment plan")], readonly=True
    )
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    segment_id = fields.Many2one("dunning.segment", readonly=True)
    source = fields.Selection(
        [
            ("portal", "Customer page"),
            ("reply", "Customer reply"),
            ("accountant", "Accountant"),
        ],
        readonly=True,
    )
    outcome = fields.Selection(
        [
            ("kept", "Kept or completed"),
            ("broken", "Broken"),
            ("running", "Running"),
            ("cancelled", "Cancelled"),
        ],
        readonly=True,
        help="Kept: a promise paid by its date (plus grace) or a plan paid to "
        "the end. Running: not judged yet.",
    )
    date = fields.Date(
        string="Comes due",
        readonly=True,
        help="A promise's date plus grace; a plan's last instalment.",
    )
    amount = fields.Monetary(
        readonly=True, help="Promised, or the plan's instalments, in company currency."
    )
    amount_kept = fields.Monetary(
        string="Amount kept",
        readonly=True,
        help="The amount of the kept promises and completed plans.",
    )
    promise_id = fields.Many2one("dunning.promise", readonly=True)
    plan_id = fields.Many2one("dunning.payment.plan", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
            CREATE VIEW %(table)s AS (
                WITH outcome AS (
                    SELECT p.id * 2 AS id, 'promise' AS kind, p.company_id,
                           p.currency_id, p.partner_id, p.source,
                           CASE WHEN p.state = 'kept' THEN 'kept'
                                WHEN p.state = 'open' THEN 'running'
                                ELSE p.state END AS outcome,
                           COALESCE(p.grace_date, p.promised_date) AS date,
                           COALESCE(NULLIF(p.promised_amount, 0),
                                    p.residual_at_promise, 0) AS amount,
                           p.id AS promise_id, NULL::int AS plan_id
                      FROM dunning_promise p
                 UNION ALL
                    SELECT plan.id * 2 + 1, 'plan', plan.company_id,
                           plan.currency_id, plan.partner_id, plan.source,
                           CASE WHEN plan.state = 'completed' THEN 'kept'
                                WHEN plan.state IN ('broken', 'cancelled')
                                THEN plan.state
                                ELSE 'running' END,
                           (SELECT MAX(i.date_due)
                              FROM dunning_payment_plan_installment i
                             WHERE i.plan_id = plan.id),
                           COALESCE(plan.amount_due, 0),
                           NULL::int, plan.id
                      FROM dunning_payment_plan plan
                )
                SELECT outcome.*,
                       CASE WHEN outcome.outcome = 'kept' THEN outcome.amount
                            ELSE 0 END AS amount_kept,
                       %(segment)s AS segment_id
                  FROM outcome
             LEFT JOIN res_partner partner ON partner.id = outcome.partner_id
            )
                """,
                table=SQL.identifier(self._table),
                segment=partner_segment_sql(SQL("partner"), SQL("outcome.company_id")),
            )
        )
