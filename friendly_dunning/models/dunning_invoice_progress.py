from odoo import fields, models
from odoo.tools import SQL, sql

from .raw_sql import run_sql


class DunningInvoiceProgress(models.Model):
    """Where an instalment stands in its customer's collections policy: the
    last step done, when, and when the next one falls due. One row per
    reminded instalment (a receivable line of an invoice; an invoice with a
    single due date has one), read by the invoice's ``dunning_step_id``,
    ``dunning_last_date`` and ``dunning_next_date``. Each instalment goes
    through the policy on its own: when the first one is paid and the second
    falls due, the second starts from the policy's first step.

    The planning run rewrites these values for every instalment it reminds.
    Kept on ``account_move`` or ``account_move_line`` they would cost a new
    version of a wide row each time, and (such a row rarely has room beside
    it on its page) a new entry in each of the table's many indexes. Here a
    row is narrow and has three indexes (its id, its invoice and instalment,
    its company).
    """

    _name = "dunning.invoice.progress"
    _description = "Invoice Collections Progress"

    move_id = fields.Many2one(
        "account.move", string="Invoice", required=True, ondelete="cascade"
    )
    # The id rather than a many2one: a foreign key to the journal items would
    # cost a lookup in their large table for every row the run writes. The
    # invoice's foreign key removes the rows with their invoice.
    line_id = fields.Integer(
        string="Instalment",
        help="The receivable line (journal item) of the invoice this progress "
        "is about.",
    )
    company_id = fields.Many2one("res.company", required=True, index=True)
    step_id = fields.Many2one("dunning.step", string="Last step", ondelete="set null")
    last_date = fields.Date(string="Last reminder")
    next_date = fields.Date(
        string="Next reminder",
        help="When the policy's next step falls due for this instalment, "
        "before any pause.",
    )

    # Also the index the invoice's progress is read by.
    _instalment_uniq = models.Constraint(
        "UNIQUE(move_id, line_id)", "An instalment has one collections progress."
    )

    def init(self):
        res = super().init()
        # Progress kept per invoice (one row for all its instalments) becomes
        # one row per receivable line, each next date moved by the gap
        # between the line's due date and the invoice's.
        per_invoice = f"{self._table}_move_uniq"
        if sql.constraint_definition(self.env.cr, self._table, per_invoice):
            sql.drop_constraint(self.env.cr, self._table, per_invoice)
        self.env.cr.execute(
            SQL(
                """
            INSERT INTO dunning_invoice_progress
                   (move_id, line_id, company_id, step_id, last_date, next_date,
                    create_date, write_date)
            SELECT progress.move_id, line.id, progress.company_id,
                   progress.step_id, progress.last_date,
                   progress.next_date + (line.date_maturity - move.invoice_date_due),
                   progress.create_date, progress.write_date
              FROM dunning_invoice_progress progress
              JOIN account_move move ON move.id = progress.move_id
              JOIN account_move_line line
                ON line.move_id = progress.move_id
               AND line.display_type = 'payment_term'
             WHERE progress.line_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM dunning_invoice_progress done
                                WHERE done.move_id = line.move_id
                                  AND done.line_id = line.id);
            DELETE FROM dunning_invoice_progress WHERE line_id IS NULL;
                """
            )
        )
        return res

    def _dunning_record_steps(self, company, day, steps):
        """Record that instalments of ``company`` reached a step on ``day``:
        ``steps`` maps a receivable line id to ``(invoice id, step id, next
        reminder date)``.

        One INSERT for them all, creating or updating each instalment's row.
        No create_uid / write_uid: it is the run's own bookkeeping, and each of
        them would cost a foreign-key check per row."""
        if not steps:
            return
        now = self.env.cr.now()
        run_sql(
            self.env,
            SQL(
                """
            INSERT INTO dunning_invoice_progress AS progress
                   (line_id, move_id, company_id, step_id, last_date, next_date,
                    create_date, write_date)
            SELECT v.line_id, v.move_id, %(company)s, v.step_id, %(day)s,
                   v.next_date, %(now)s, %(now)s
              FROM unnest(%(line_ids)s::int[], %(move_ids)s::int[],
                          %(step_ids)s::int[], %(next_dates)s::date[])
                   AS v(line_id, move_id, step_id, next_date)
                ON CONFLICT (move_id, line_id) DO UPDATE
               SET step_id = EXCLUDED.step_id,
                   last_date = EXCLUDED.last_date,
                   next_date = EXCLUDED.next_date,
                   write_date = EXCLUDED.write_date
                """,
                company=company.id,
                day=day,
                now=now,
                line_ids=list(steps),
                move_ids=[move_id for move_id, _step, _next in steps.values()],
                step_ids=[step_id for _move, step_id, _next in steps.values()],
                next_dates=[next_date for _move, _step, next_date in steps.values()],
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
