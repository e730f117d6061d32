from odoo import api, fields, models
from odoo.tools import frozendict, ormcache

CATEGORIES = [
    ("utility", "Utility"),
    ("marketing", "Marketing"),
    ("authentication", "Authentication"),
    ("authentication_international", "Authentication (international)"),
    ("service", "Service"),
]


class DunningWhatsAppRate(models.Model):
    """The price Meta charges per delivered WhatsApp message, by market and
    category: the rate card the manager keeps, from which each delivered
    message's cost is taken."""

    _name = "dunning.whatsapp.rate"
    _description = "WhatsApp Message Rate"
    _order = "company_id, channel_id, country_id, category"
    _check_company_auto = True

    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", index=True, help="Empty: the rate of every company."
    )
    channel_id = fields.Many2one(
        "dunning.channel",
        ondelete="cascade",
        check_company=True,
        domain="[('channel_type', '=', 'whatsapp')]",
        help="Empty: every WhatsApp channel of the company.",
    )
    country_id = fields.Many2one(
        "res.country",
        string="Market",
        help="The recipient's country, read from their phone number's country "
        "code. Empty: every market without a rate of its own.",
    )
    category = fields.Selection(
        CATEGORIES,
        required=True,
        default="utility",
        help="The template's category as Meta bills it. Payment reminders are "
        "utility templates.",
    )
    price = fields.Float(
        string="Price per message",
        digits=(16, 6),
        required=True,
        help="What Meta charges for one delivered message, in the currency beside it.",
    )
    currency_id = fields.Many2one(
        "res.currency",
        required=True,
        default=lambda self: self.env.ref("base.USD", raise_if_not_found=False),
        help="The currency of Meta's invoice; costs are converted to the "
        "company's currency on the day of delivery.",
    )
    note = fields.Char()

    _rate_uniq = models.UniqueIndex(
        "(COALESCE(company_id, 0), COALESCE(channel_id, 0), "
        "COALESCE(country_id, 0), category) WHERE active",
        "The rate card already has a price for this market and category.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()  # _rate_table
        return super().create(vals_list)

    def write(self, vals):
        self.env.registry.clear_cache()  # _rate_table
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()  # _rate_table
        return super().unlink()

    @api.model
    @ormcache()
    def _rate_table(self):
        """The active rates as plain dicts (``company_id``, ``channel_id``,
        ``country``, ``category``, ``price``, ``currency_id``), kept in
        memory: pricing a batch of messages reads no rate from the
        database."""
        rates = (
            self.sudo()
            .with_context(active_test=True)
            .search_fetch(
                [],
                [
                    "company_id",
                    "channel_id",
                    "country_id",
                    "category",
                    "price",
                    "currency_id",
                ],
            )
        )
        return tuple(
            frozendict(
                {
                    "company_id": rate.company_id.id or None,
                    "channel_id": rate.channel_id.id or None,
                    "country": rate.country_id.code or None,
                    "category": rate.category,
                    "price": rate.price,
                    "currency_id": rate.currency_id.id,
                }
            )
            for rate in rates
        )
