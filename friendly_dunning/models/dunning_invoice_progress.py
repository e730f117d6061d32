from odoo import fields, models
from odoo.tools import SQL

from .raw_sql import run_sql


class DunningInvoiceProgress(models.Model):
    """Where an invoice stands in its customer's collections policy: the last
    step done, when, and when the next one falls due. One row per reminded
    invoice, read by the invoice's ``dunning_step_id``, ``dunning_last_date``
    and ``dunning_next_date``.

    The planning run rewrites these values for every invoice it reminds.
    Kept on ``account_move`` they would cost a new version of the invoice's
    wide row each time, and (an invoice's row rarely has room beside it on
    its page) a new entry in each of the table's many indexes. Here a row is
    narrow and has three indexes (its id, its invoice, its company).
    """

    _name = "dunning.invoice.progress"
    _description = "Invoice Collections Progress"

    move_id = fields.Many2one(
        "account.move", string="Invoice", required=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, index=True)
    step_id = fields.Many2one("dunning.step", string="Last step", ondelete="set null")
    last_date = fields.Date(string="Last reminder")
    next_date = fields.Date(
        string="Next reminder",
        help="When the policy's next step falls due for this invoice, before "
        "any pause.",
    )

    _move_uniq = models.Constraint(
        "UNIQUE(move_id)", "An invoice has one collections progress."
    )

    def _dunning_record_steps(self, company, day, steps):
        """Record that the invoices of ``company`` reached a step on ``day``:
        ``steps`` maps an invoice id to ``(step id, next reminder date)``.

        One INSERT for them all, creating or updating each invoice's row. No
        create_uid / write_uid: it is the run's own bookkeeping, and each of
        them would cost a foreign-key check per row."""
        if not steps:
            return
        now = self.env.cr.now()
        run_sql(
            self.env,
            SQL(
                """
            INSERT INTO dunning_invoice_progress AS progress
                   (move_id, company_id, step_id, last_date, next_date,
                    create_date, write_date)
            SELECT v.move_id, %(company)s, v.step_id, %(day)s, v.next_date,
                   %(now)s, %(now)s
              FROM unnest(%(move_ids)s::int[], %(step_ids)s::int[],
                          %(next_dates)s::date[]) AS v(move_id, step_id, next_date)
                ON CONFLICT (move_id) DO UPDATE
               SET step_id = EXCLUDED.step_id,
                   last_date = EXCLUDED.last_date,
                   next_date = EXCLUDED.next_date,
                   write_date = EXCLUDED.write_date
                """,
                company=company.id,
                day=day,
                now=now,
                move_ids=list(steps),
                step_ids=[step_id for step_id, _next in steps.values()],
                next_dates=[next_date for _step, next_date in steps.values()],
            ),
            writes={
                "dunning.invoice.progress": None,
                "account.move": [
                    "dunning_step_id",
                    "dunning_last_date",
                    "dunning_next_date",
                ],
            },
        )
