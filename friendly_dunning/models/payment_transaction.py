from odoo import fields, models


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    dunning_autopay_charge_id = fields.Many2one(
        "dunning.autopay.charge",
        string="Automatic payment charge",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        help="The instalment charged automatically by this transaction.",
    )
