from datetime import timedelta

from odoo import api, fields, models

ACTIONS = [
    ("promise", "Promise to pay"),
    ("plan", "Payment plan"),
    ("payment_reported", "Payment reported"),
    ("dispute", "Dispute"),
    ("not_received", "Invoice not received"),
    ("preferences", "Contact preferences"),
    ("rating", "Rating"),
]
# At most this many actions per customer in RATE_WINDOW.
RATE_LIMIT = 10
RATE_WINDOW = timedelta(minutes=10)


class DunningPortalLog(models.Model):
    """What customers did on their collections page: the audit trail, and the
    counter behind the page's rate limit."""

    _name = "dunning.portal.log"
    _description = "Collections Page Action"
    _order = "id desc"

    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one("res.company", required=True, index=True)
    action = fields.Selection(ACTIONS, required=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    move_ids = fields.Many2many("account.move", string="Invoices")
    refused = fields.Boolean(
        help="The form was refused (bad input, wrong invoice, wrong file); "
        "counted in the rate limit all the same."
    )

    @api.model
    def _dunning_rate_limited(self, partner):
        """Whether ``partner`` used up the actions allowed in the window."""
        return (
            self.sudo().search_count(
                [
                    ("partner_id", "=", partner.id),
                    ("date", ">", fields.Datetime.now() - RATE_WINDOW),
                ],
                limit=RATE_LIMIT,
            )
            >= RATE_LIMIT
        )
