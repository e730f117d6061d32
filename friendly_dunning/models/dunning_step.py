from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools.messages import PLACEHOLDERS, TemplateError, check_template

CHANNELS = [("whatsapp", "WhatsApp"), ("sms", "SMS"), ("email", "E-mail")]


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
        help="When this step happens, counted from the due date of each "
        "instalment (of the invoice, when it has one due date): -3 is three "
        "days before it (a preventive reminder), 0 the due date itself, 30 a "
        "month after it. Past the due date a customer reaches the steps one "
        "at a time, never skipping one, however late the instalment is.",
    )
    likely_late_days_before = fields.Integer(
        string="Earlier for likely late payers",
        help="Days before the due date this step goes to the instalments the "
        "payment forecast says will probably not be paid within 7 days of "
        "their due date: a preventive nudge, earlier than for the others. 0: "
        "the same day for everyone. Only for steps before the due date.",
    )
    tone = fields.Selection(
        [("friendly", "Friendly"), ("neutral", "Neutral"), ("firm", "Firm")],
        required=True,
        default="friendly",
        help="How the message speaks to the customer: friendly for casual late "
        "payers and reminders before the due date, firm only when the debt is old.",
    )
    channel_first = fields.Selection(
        CHANNELS,
        string="First try",
        required=True,
        default="whatsapp",
        help="The channel tried first. When the customer cannot be reached "
        "through it (no valid number, no e-mail, opted out), the next one is used.",
    )
    channel_second = fields.Selection(CHANNELS, string="Then", default="sms")
    channel_third = fields.Selection(CHANNELS, string="Finally", default="email")
    subject = fields.Char(
        translate=True,
        help="Subject of the e-mail. Same placeholders as the message.",
    )
    body = fields.Text(
        string="Message",
        translate=True,
        help="What the customer reads. Placeholders: "
        + ", ".join("{" + name + "}" for name in PLACEHOLDERS),
    )
    create_activity = fields.Boolean(
        string="Schedule an activity",
        help="Also schedule a to-do for the customer's responsible accountant.",
    )
    offer_payment_plan = fields.Boolean(
        string="Offer a payment plan",
        help="The message invites the customer to propose a payment plan.",
    )
    offer_charge_waiver = fields.Boolean(
        string="Offer to waive the late charges",
        help="The message tells a customer whose invoices carry late-payment "
        "interest or a fee that paying in full within the company's waiver days "
        "waives them ({waiver_offer}, added at the end when the text lacks it); "
        "a payment by that date waives them without anyone's action.",
    )
    invoice_late_charges = fields.Boolean(
        string="Invoice the late charges",
        help="When the company invoices its late-payment charges, reaching this "
        "step raises a separate interest invoice for the interest and fee owed "
        "so far (not while a waiver offer runs: then once it has lapsed).",
    )
    wa_template_name = fields.Char(
        string="WhatsApp template name",
        help="Sent when the customer has not written to us in the last 24 hours: "
        "the approved template of this name in the customer's language, as soon "
        "as Meta approves it. When the customer's template is paused or "
        "rejected, the step's next channel is used.",
    )
    wa_template_id = fields.Many2one(
        "dunning.whatsapp.template",
        string="WhatsApp template (override)",
        domain="[('company_id', '=', company_id), ('status', '=', 'APPROVED')]",
        help="A template chosen by hand instead of the one named above. The same "
        "template in the customer's language is used when Meta has it.",
    )
    mail_template_id = fields.Many2one(
        "mail.template",
        string="E-mail template",
        domain=[("model", "=", "dunning.communication")],
        help="How the e-mail looks, in each customer's language; the step's "
        "message is its text. Empty: the standard collections e-mail.",
    )
    manual_review = fields.Boolean(
        string="Review before sending",
        help="Messages of this step wait in the approval queue until an "
        "accountant approves them.",
    )

    _offset_per_policy_uniq = models.Constraint(
        "UNIQUE(policy_id, offset_days)",
        "A policy cannot have two steps on the same day.",
    )

    @api.constrains("likely_late_days_before", "offset_days")
    def _check_likely_late_days_before(self):
        for step in self.filtered("likely_late_days_before"):
            if (
                step.likely_late_days_before < 0
                or step.offset_days > 0
                or -step.likely_late_days_before >= step.offset_days
            ):
                raise ValidationError(
                    self.env._(
                        "Step %(step)s: only a step before the due date can go "
                        "earlier to likely late payers, and then more days before "
                        "the due date than for the others (%(days)s).",
                        step=step.name,
                        days=-step.offset_days,
                    )
                )

    @api.constrains("body", "subject")
    def _check_placeholders(self):
        for step in self:
            for text in (step.body, step.subject):
                try:
                    check_template(text or "")
                except TemplateError as error:
                    raise ValidationError(
                        step._template_error_message(error)
                    ) from error

    def _template_error_message(self, error):
        self.ensure_one()
        if error.malformed:
            return self.env._(
                "The message of step “%(step)s” has a brace that does not close or "
                "open a placeholder (%(detail)s). Write placeholders like {name}.",
                step=self.name,
                detail=error.malformed,
            )
        return self.env._(
            "The message of step “%(step)s” uses unknown placeholders: "
            "%(unknown)s. Available: %(available)s.",
            step=self.name,
            unknown=", ".join("{" + name + "}" for name in error.unknown),
            available=", ".join("{" + name + "}" for name in PLACEHOLDERS),
        )

    def _channel_preference(self):
        self.ensure_one()
        ordered = [self.channel_first, self.channel_second, self.channel_third]
        return list(dict.fromkeys(channel for channel in ordered if channel))
