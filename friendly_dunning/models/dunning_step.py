from odoo import fields, models


class DunningStep(models.Model):
    """One moment of a policy, placed relative to the invoice due date."""

    _name = "dunning.step"
    _description = "Collections Policy Step"
    _order = "policy_id, offset_days, sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    policy_id = fields.Many2one(
        "dunning.policy", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(
        related="policy_id.company_id", store=True, index=True, precompute=True
    )
    offset_days = fields.Integer(
        string="Days from due date",
        required=True,
        help="When this step happens, counted from the invoice due date: -3 is "
        "three days before it (a preventive reminder), 0 the due date itself, "
        "30 a month after it.",
    )
    tone = fields.Selection(
        [("friendly", "Friendly"), ("neutral", "Neutral"), ("firm", "Firm")],
        required=True,
        default="friendly",
        help="How the message speaks to the customer: friendly for casual late "
        "payers and reminders before the due date, firm only when the debt is old.",
    )

    _offset_per_policy_uniq = models.Constraint(
        "UNIQUE(policy_id, offset_days)",
        "A policy cannot have two steps on the same day.",
    )
