from odoo import fields, models
from odoo.tools import SQL


class DunningInvoiceProgress(models.Model):
    """Where an invoice stands in its customer's collections policy: the last
    step done, when, and when the next one falls due. One row per reminded
    invoice, read by the invoice's ``dunning_step_id``, ``dunning_last_date``
    and ``dunning_next_date``.

    The planning run rewrites these values for every invoice it reminds.
    Kept on ``account_move`` they cost a new version of the invoice's wide
    row each time, which (an invoice's row rarely has room beside it on its
    page) also meant a new entry in each of the table's ~30 indexes: 9.3 of
    the 24.5 s of planning 100,000 open invoices. Here a row is narrow and
    has three indexes (its id, its invoice, its company).
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

    def init(self):
        # Databases from before this table kept the values on account_move:
        # bring them over once.
        if self.env.execute_query(
            SQL("SELECT 1 FROM dunning_invoice_progress LIMIT 1")
        ):
            return
        if not self.env.execute_query(
            SQL(
                "SELECT 1 FROM information_schema.columns WHERE table_name = "
                "'account_move' AND column_name = 'dunning_step_id'"
            )
        ):
            return
        self.env.execute_query(
            SQL(
                """
            INSERT INTO dunning_invoice_progress
                   (move_id, company_id, step_id, last_date, next_date,
                    create_uid, create_date, write_uid, write_date)
            SELECT id, company_id, dunning_step_id, dunning_last_date,
                   dunning_next_date, %(uid)s, NOW() AT TIME ZONE 'UTC',
                   %(uid)s, NOW() AT TIME ZONE 'UTC'
              FROM account_move
             WHERE dunning_step_id IS NOT NULL
                """,
                uid=self.env.uid,
            )
        )
