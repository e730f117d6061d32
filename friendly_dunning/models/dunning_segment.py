from odoo import fields, models
from odoo.tools import SQL

PROFILES = [
    ("new", "New customer"),
    ("reliable", "Reliable payer"),
    ("occasional", "Occasional late payer"),
    ("chronic", "Chronic late payer"),
]


# Limits for customers without a segment, and defaults of new segments.
PLAN_DEFAULTS = {
    "max_installments": 6,
    "max_days": 180,
    "min_down_payment": 10.0,
    "max_discount": 0.0,
    "grace_days": 5,
    "promise_max_days": 14,
}


def partner_segment_sql(partner, company):
    """SQL for the id of the segment a customer has in a company.

    ``dunning_segment_id`` is company-dependent (a JSON object keyed by company
    id); ``partner`` is the SQL of the partner table alias and ``company`` the
    SQL of a company id (a column or a value)."""
    return SQL("(%s.dunning_segment_id ->> (%s)::text)::int", partner, company)


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
    # Payment plans and promises: what customers of this segment may agree on
    # their own; anything beyond waits for an accountant's approval.
    plan_max_installments = fields.Integer(
        string="Instalments up to",
        default=PLAN_DEFAULTS["max_installments"],
        help="The most instalments a plan approved at once may have.",
    )
    plan_max_days = fields.Integer(
        string="Plan duration up to (days)",
        default=PLAN_DEFAULTS["max_days"],
        help="The last instalment of a plan approved at once falls at most this "
        "many days from today.",
    )
    plan_min_down_payment = fields.Float(
        string="Down payment from (%)",
        default=PLAN_DEFAULTS["min_down_payment"],
        help="The first instalment is at least this share of the amount due.",
    )
    plan_max_discount = fields.Float(
        string="Settlement discount up to (%)",
        default=PLAN_DEFAULTS["max_discount"],
        help="The largest discount a one-time settlement approved at once may get.",
    )
    plan_grace_days = fields.Integer(
        string="Grace days",
        default=PLAN_DEFAULTS["grace_days"],
        help="Days after an instalment or a promised date before a missing payment "
        "breaks the plan or the promise.",
    )
    promise_max_days = fields.Integer(
        string="Promise horizon (days)",
        default=PLAN_DEFAULTS["promise_max_days"],
        help="How far ahead a customer may promise to pay.",
    )

    _score_range = models.Constraint(
        "CHECK(min_score >= 0 AND max_score <= 100 AND min_score <= max_score)",
        "A segment's score range must lie within 0 and 100, lowest first.",
    )
    _plan_limits = models.Constraint(
        "CHECK(plan_max_installments >= 1 AND plan_max_days >= 0 "
        "AND plan_min_down_payment >= 0 AND plan_min_down_payment <= 100 "
        "AND plan_max_discount >= 0 AND plan_max_discount < 100 "
        "AND plan_grace_days >= 0 AND promise_max_days >= 0)",
        "Plan limits must be positive: at least one instalment, percentages "
        "between 0 and 100.",
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
