from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..tools import compliance
from ..tools.messages import TemplateError

CHANNEL_FLAGS = {
    "optout": {
        "email": "optout_email",
        "sms": "optout_sms",
        "whatsapp": "optout_whatsapp",
    },
    # WhatsApp always needs an opt-in (see ``DunningPlanner.route``).
    "consent": {"email": "consent_email", "sms": "consent_sms"},
}


class DunningCompliancePack(models.Model):
    """The contact rules of one country, applied by the compliance guard to
    every message to a customer there once a manager enables the pack. The
    packs shipped are a starting point documented with their sources, not
    legal advice."""

    _name = "dunning.compliance.pack"
    _description = "Collections Compliance Pack"
    _order = "country_id, id"

    name = fields.Char(required=True, translate=True)
    country_id = fields.Many2one(
        "res.country",
        required=True,
        index=True,
        help="The pack applies to messages to a contact in this country (the "
        "contact written to, else the customer).",
    )
    enabled = fields.Boolean(
        help="Only enabled packs are applied. One enabled pack per country."
    )
    covers = fields.Selection(
        [
            (compliance.CONSUMERS, "Consumers only"),
            (compliance.EVERYONE, "Consumers and businesses"),
        ],
        required=True,
        default=compliance.CONSUMERS,
        help="A consumer is a customer who is not a company.",
    )
    hour_start = fields.Float(
        string="Contact from",
        default=8.0,
        help="No message before this hour in the customer's local time (their "
        "time zone, else every time zone of their country).",
    )
    hour_end = fields.Float(
        string="Contact until",
        default=21.0,
        help="No message at or after this hour in the customer's local time.",
    )
    max_per_day = fields.Integer(
        string="Messages per day",
        help="At most this many messages to one customer in a day; 0: only the "
        "company's cap applies. The stricter of the pack and the company wins.",
    )
    max_per_week = fields.Integer(
        string="Messages per 7 days",
        help="At most this many messages to one customer in any 7 days; 0: only "
        "the company's cap applies. The stricter of the pack and the company wins.",
    )
    required_content = fields.Text(
        string="Required content",
        translate=True,
        help="Added to every message. Placeholders: {creditor_name}, "
        "{creditor_address}, {creditor_vat} (the company's name, address and "
        "tax id). A message is held while the company lacks one of them.",
    )
    optout_line = fields.Text(
        string="Opt-out line",
        translate=True,
        help="Added to the messages of the channels ticked below. SMS carry "
        "their own opt-out line already.",
    )
    optout_email = fields.Boolean(string="Opt-out line on e-mail")
    optout_sms = fields.Boolean(string="Opt-out line on SMS")
    optout_whatsapp = fields.Boolean(string="Opt-out line on WhatsApp")
    consent_email = fields.Boolean(
        string="E-mail needs prior consent",
        help="E-mail only to customers who opted in (consent ledger); else the "
        "next channel of the step.",
    )
    consent_sms = fields.Boolean(string="SMS needs prior consent")
    sources = fields.Text(help="The laws and rules the pack follows, with links.")
    notes = fields.Text(help="Why the pack's values are what they are.")

    _hours_valid = models.Constraint(
        "CHECK(hour_start >= 0 AND hour_end <= 24 AND hour_start < hour_end)",
        "The contact hours must start before they end, within the day (0 to 24).",
    )
    _caps_valid = models.Constraint(
        "CHECK(max_per_day >= 0 AND max_per_week >= 0)",
        "A frequency cap cannot be negative (0: none of the pack's own).",
    )
    _one_enabled_per_country = models.UniqueIndex(
        "(country_id) WHERE enabled",
        "Only one compliance pack can be enabled per country.",
    )

    @api.constrains("required_content", "optout_line")
    def _check_placeholders(self):
        for pack in self:
            for text in (pack.required_content, pack.optout_line):
                try:
                    compliance.check_content(text)
                except TemplateError as error:
                    raise ValidationError(
                        self.env._(
                            "Pack %(pack)s: only {creditor_name}, {creditor_address} "
                            "and {creditor_vat} can be used (%(problem)s).",
                            pack=pack.name,
                            problem=str(error),
                        )
                    ) from error

    def _rules(self):
        """The pack as :class:`~..tools.compliance.PackRules`."""
        self.ensure_one()
        return compliance.PackRules(
            name=self.name,
            covers=self.covers,
            hour_start=self.hour_start,
            hour_end=self.hour_end,
            max_per_day=self.max_per_day,
            max_per_week=self.max_per_week,
            optout_channels=frozenset(
                channel
                for channel, flag in CHANNEL_FLAGS["optout"].items()
                if self[flag]
            ),
            consent_channels=frozenset(
                channel
                for channel, flag in CHANNEL_FLAGS["consent"].items()
                if self[flag]
            ),
        )
