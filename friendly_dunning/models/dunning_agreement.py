from odoo import fields, models

SOURCES = [
    ("portal", "Customer page"),
    ("reply", "Customer reply"),
    ("accountant", "Accountant"),
]


class DunningAgreement(models.AbstractModel):
    """What a payment plan and a promise to pay share: an agreement with one
    customer of one company, made somewhere, and logged wherever it matters."""

    _name = "dunning.agreement"
    _description = "Collections Agreement"
    _inherit = ("mail.thread", "mail.activity.mixin")

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        tracking=True,
        # Customers with invoices cannot be deleted; one without any takes its
        # agreements along.
        ondelete="cascade",
        domain="[('parent_id', '=', False)]",
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(
        "res.currency", related="company_id.currency_id", store=True
    )
    source = fields.Selection(SOURCES, required=True, default="accountant")
    note = fields.Text()

    def _dunning_log(self, message):
        """Post ``message`` on the agreement, the customer and every invoice."""
        self.ensure_one()
        author = (
            self.partner_id
            if self.source in ("portal", "reply") and self.env.user._is_public()
            else self.env.user.partner_id
        )
        for record in (self.sudo(), self.partner_id.sudo(), *self.move_ids.sudo()):
            record.message_post(
                body=message, author_id=author.id, subtype_xmlid="mail.mt_note"
            )
