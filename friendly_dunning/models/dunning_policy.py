from odoo import fields, models


class DunningPolicy(models.Model):
    """A follow-up policy: the ordered steps a customer goes through, from a
    friendly reminder before the due date to firm words long after it."""

    _name = "dunning.policy"
    _description = "Collections Policy"
    _order = "company_id, sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    description = fields.Text(translate=True)
    company_id = fields.Many2one(
        "res.company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )
    step_ids = fields.One2many("dunning.step", "policy_id", string="Steps", copy=True)
    step_count = fields.Integer(compute="_compute_step_count")

    def _compute_step_count(self):
        counts = dict(
            self.env["dunning.step"]._read_group(
                [("policy_id", "in", self.ids)], ["policy_id"], ["__count"]
            )
        )
        for policy in self:
            policy.step_count = counts.get(policy, 0)
