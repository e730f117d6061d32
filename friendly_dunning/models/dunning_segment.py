from odoo import fields, models

PROFILES = [
    ("new", "New customer"),
    ("reliable", "Reliable payer"),
    ("occasional", "Occasional late payer"),
    ("chronic", "Chronic late payer"),
]


class DunningSegment(models.Model):
    """A group of customers that share a follow-up policy.

    Each customer lands in the first segment, by priority, whose every rule it
    meets; rules left empty match everyone.
    """

    _name = "dunning.segment"
    _description = "Collections Segment"
    _order = "company_id, sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(
        string="Priority", default=10, help="Lower numbers are tried first."
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    policy_id = fields.Many2one(
        "dunning.policy",
        required=True,
        domain="[('company_id', '=', company_id)]",
        check_company=True,
        help="The follow-up policy for the customers of this segment.",
    )
    description = fields.Text(translate=True)
    profile = fields.Selection(
        PROFILES, help="Only customers of this payment profile (empty: any)."
    )
    min_score = fields.Integer(string="Score from", default=0)
    max_score = fields.Integer(string="Score up to", default=100)
    min_overdue_amount = fields.Float(
        string="Overdue amount from",
        help="Only customers whose overdue amount, in company currency, is at "
        "least this much.",
    )
    min_days_overdue = fields.Integer(
        string="Days overdue from",
        help="Only customers whose oldest overdue invoice is at least this late.",
    )
    country_ids = fields.Many2many(
        "res.country", string="Countries", help="Only customers of these countries."
    )
    category_ids = fields.Many2many(
        "res.partner.category",
        string="Tags",
        help="Only customers with at least one of these tags.",
    )
    partner_count = fields.Integer(compute="_compute_partner_count")

    _score_range = models.Constraint(
        "CHECK(min_score >= 0 AND max_score <= 100 AND min_score <= max_score)",
        "A segment's score range must lie within 0 and 100, lowest first.",
    )

    def _compute_partner_count(self):
        for segment in self:
            segment.partner_count = (
                self.env["res.partner"]
                .with_company(segment.company_id)
                .search_count([("dunning_segment_id", "=", segment.id)])
            )

    def _matches(self, facts):
        """Whether a customer, described by ``facts`` (a dict of their profile,
        score, overdue amount and days, country id and tag ids), belongs here."""
        self.ensure_one()
        return (
            (not self.profile or self.profile == facts["profile"])
            and self.min_score <= facts["score"] <= self.max_score
            and facts["overdue_amount"] >= self.min_overdue_amount
            and facts["max_days_overdue"] >= self.min_days_overdue
            and (not self.country_ids or facts["country_id"] in self.country_ids.ids)
            and (
                not self.category_ids
                or not set(self.category_ids.ids).isdisjoint(facts["category_ids"])
            )
        )

    def _find_for(self, facts):
        """The first of these segments, in order, that ``facts`` match."""
        return next((segment for segment in self if segment._matches(facts)), None)

    def action_open_partners(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.name,
            "res_model": "res.partner",
            "view_mode": "list,form",
            "domain": [("dunning_segment_id", "=", self.id)],
            "context": {"allowed_company_ids": self.company_id.ids},
        }
