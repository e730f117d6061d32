from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.messages import PLACEHOLDERS, TemplateError, check_template


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
    escalation_gap_days = fields.Integer(
        string="Days between overdue steps",
        default=7,
        required=True,
        help="A customer moves on to a firmer step only after the previous "
        "overdue step was sent to them and this many days passed, however late "
        "the invoice is: nobody receives the last step first, and no step is "
        "skipped.",
    )
    thank_you = fields.Boolean(
        string="Thank customers who pay late invoices",
        default=True,
        help="When a reminded, late invoice gets paid and nothing else is "
        "overdue, the customer receives a short thank-you.",
    )
    thank_you_subject = fields.Char(translate=True)
    thank_you_body = fields.Text(
        string="Thank-you message",
        translate=True,
        help="Same placeholders as the reminders: "
        + ", ".join("{" + name + "}" for name in PLACEHOLDERS),
    )

    reliable_thanks = fields.Boolean(
        string="Thank reliable payers",
        help="A customer with a payer score at least the minimum below who "
        "paid an invoice by its due date receives the company's thanks, at "
        "most once in the days set, and only while nothing of theirs is "
        "overdue.",
    )
    reliable_min_score = fields.Integer(
        string="Minimum payer score",
        default=80,
        help="The payer score (0 to 100) from which a customer is thanked.",
    )
    reliable_thanks_days = fields.Integer(
        string="At most once every",
        default=90,
        help="Days that pass at least between two thanks to the same customer.",
    )
    reliable_thanks_subject = fields.Char(string="Thanks subject", translate=True)
    reliable_thanks_body = fields.Text(
        string="Thanks message",
        translate=True,
        help="What a reliable payer reads. Same placeholders as the reminders: "
        + ", ".join("{" + name + "}" for name in PLACEHOLDERS),
    )

    _reliable_thanks_figures_valid = models.Constraint(
        "CHECK(reliable_min_score BETWEEN 0 AND 100 AND reliable_thanks_days >= 1)",
        "The minimum payer score is between 0 and 100, and thanks are sent at "
        "most once a day.",
    )
    _escalation_gap_positive = models.Constraint(
        "CHECK(escalation_gap_days >= 0)",
        "The days between overdue steps cannot be negative.",
    )

    @api.constrains(
        "thank_you_subject",
        "thank_you_body",
        "reliable_thanks_subject",
        "reliable_thanks_body",
    )
    def _check_placeholders(self):
        for policy in self:
            for text in (
                policy.thank_you_subject,
                policy.thank_you_body,
                policy.reliable_thanks_subject,
                policy.reliable_thanks_body,
            ):
                try:
                    check_template(text or "")
                except TemplateError as error:
                    raise ValidationError(
                        policy._template_error_message(error)
                    ) from error

    def _template_error_message(self, error):
        self.ensure_one()
        return self.env._(
            "A thank-you message of policy “%(policy)s” cannot be used: "
            "%(problem)s. Write placeholders like {name}; available: %(available)s.",
            policy=self.name,
            problem=error.malformed
            or ", ".join("{" + name + "}" for name in error.unknown),
            available=", ".join("{" + name + "}" for name in PLACEHOLDERS),
        )

    def _compute_step_count(self):
        counts = dict(
            self.env["dunning.step"]._read_group(
                [("policy_id", "in", self.ids)], ["policy_id"], ["__count"]
            )
        )
        for policy in self:
            policy.step_count = counts.get(policy, 0)
