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
    dunning_autopay_retry_days = fields.Char(
        related="company_id.dunning_autopay_retry_days", readonly=False
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
    dunning_interest_rule = fields.Selection(
        related="company_id.dunning_interest_rule", readonly=False
    )
    dunning_interest_rate = fields.Float(
        related="company_id.dunning_interest_rate", readonly=False
    )
    dunning_interest_points = fields.Float(
        related="company_id.dunning_interest_points", readonly=False
    )
    dunning_recovery_fee = fields.Float(
        related="company_id.dunning_recovery_fee", readonly=False
    )
    dunning_recovery_fee_currency_id = fields.Many2one(
        related="company_id.dunning_recovery_fee_currency_id", readonly=False
    )
    dunning_interest_consumers = fields.Boolean(
        related="company_id.dunning_interest_consumers", readonly=False
    )
    dunning_interest_use = fields.Selection(
        related="company_id.dunning_interest_use", readonly=False
    )
    dunning_waiver_days = fields.Integer(
        related="company_id.dunning_waiver_days", readonly=False
    )
    dunning_auto_send = fields.Boolean(related="company_id.dunning_auto_send")
    dunning_auto_send_user_id = fields.Many2one(
        related="company_id.dunning_auto_send_user_id"
    )
    dunning_auto_send_date = fields.Datetime(
        related="company_id.dunning_auto_send_date"
    )

    def action_dunning_review_next_run(self):
        """Automatic sending is turned on from the preview of the next run,
        never from a box here."""
        return self.env["dunning.run.preview"].action_open()

    def action_dunning_turn_off_auto_send(self):
        self.company_id._dunning_set_auto_send(False)
        return {"type": "ir.actions.client", "tag": "reload"}
