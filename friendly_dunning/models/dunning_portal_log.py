from odoo import fields, models

ACTIONS = [
    ("promise", "Promise to pay"),
    ("plan", "Payment plan"),
    ("payment_reported", "Payment reported"),
    ("dispute", "Dispute"),
    ("not_received", "Invoice not received"),
    ("preferences", "Contact preferences"),
    ("rating", "Rating"),
    ("autopay", "Automatic payments started"),
    ("autopay_stop", "Automatic payments stopped"),
]


class DunningPortalLog(models.Model):
    """What customers did on their collections page: the audit trail (the
    page's rate limits are counted in dunning_portal_rate.py)."""

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
        help="The form was refused (bad input, wrong invoice, wrong file)."
    )
