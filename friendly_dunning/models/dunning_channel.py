from odoo import api, fields, models


class DunningChannel(models.Model):
    """How a company reaches its customers: one record per configured channel.

    The sandbox channel renders and records messages without sending anything
    anywhere; it is active on install so that a trial database can run the whole
    collections flow safely. Provider channels (WhatsApp, SMS) extend the
    selection in their own modules of this addon.
    """

    _name = "dunning.channel"
    _description = "Collections Channel"
    _order = "company_id, sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    channel_type = fields.Selection(
        [("sandbox", "Sandbox (nothing leaves the server)"), ("email", "E-mail")],
        required=True,
        default="sandbox",
        help="Sandbox renders and records every message without sending it: use it "
        "for demos and trials. E-mail sends through the company's mail servers.",
    )
    note = fields.Text(help="Internal notes about this channel's set-up.")

    _name_company_uniq = models.Constraint(
        "UNIQUE(company_id, channel_type, name)",
        "A company cannot have two channels of the same type with the same name.",
    )

    @api.model
    def _dunning_default_channel_values(self, company):
        """Values of the channels every company starts with."""
        return [
            {
                "name": self.env._("Sandbox"),
                "channel_type": "sandbox",
                "sequence": 1,
                "company_id": company.id,
            },
            {
                "name": self.env._("E-mail"),
                "channel_type": "email",
                "sequence": 30,
                "company_id": company.id,
            },
        ]
