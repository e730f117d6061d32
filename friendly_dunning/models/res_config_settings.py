from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    dunning_policy_id = fields.Many2one(
        related="company_id.dunning_policy_id", readonly=False
    )
    dunning_quiet_hour_start = fields.Float(
        related="company_id.dunning_quiet_hour_start", readonly=False
    )
    dunning_quiet_hour_end = fields.Float(
        related="company_id.dunning_quiet_hour_end", readonly=False
    )
    dunning_max_per_day = fields.Integer(
        related="company_id.dunning_max_per_day", readonly=False
    )
    dunning_max_per_week = fields.Integer(
        related="company_id.dunning_max_per_week", readonly=False
    )
    dunning_hold_weekends = fields.Boolean(
        related="company_id.dunning_hold_weekends", readonly=False
    )
    dunning_hold_holidays = fields.Boolean(
        related="company_id.dunning_hold_holidays", readonly=False
    )
    dunning_attach_statement = fields.Boolean(
        related="company_id.dunning_attach_statement", readonly=False
    )
    dunning_portal_link_days = fields.Integer(
        related="company_id.dunning_portal_link_days", readonly=False
    )
