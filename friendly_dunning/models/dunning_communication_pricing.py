from odoo import api, fields, models
from odoo.tools import SQL

from ..tools import whatsapp_pricing as pricing
from ..tools.phones import region_of
from .dunning_communication_whatsapp import SERVICE_WINDOW
from .raw_sql import run_sql

CHARGES = [
    (pricing.CHARGED, "Charged"),
    (pricing.NO_RATE, "Charged: no price on the rate card"),
    (
        pricing.FREE_WINDOW,
        "Free: utility template inside the customer's 24-hour window",
    ),
    (
        pricing.FREE_SERVICE,
        "Free: not a template, inside the customer's 24-hour window",
    ),
    (pricing.FREE_ENTRY_POINT, "Free: the customer came from an ad or a page button"),
    (pricing.FREE_PROVIDER, "Free: WhatsApp did not bill it"),
]


class DunningCommunication(models.Model):
    """What a message costs: WhatsApp messages by Meta's per-message pricing
    (the rate card's price for the market and category, when Meta charges
    the delivered message at all), SMS as the provider reports, e-mail and
    the sandbox nothing."""

    _inherit = "dunning.communication"

    charge = fields.Selection(
        CHARGES,
        string="WhatsApp charge",
        readonly=True,
        index="btree_not_null",
        help="Whether WhatsApp charges this delivered message, and why not.",
    )
    wa_pricing_type = fields.Char(
        string="WhatsApp pricing",
        readonly=True,
        help="What WhatsApp's status updates said of the price: regular, "
        "free_customer_service, free_entry_point, or not_billable.",
    )
    charge_label = fields.Char(
        string="Charge",
        compute="_compute_charge_label",
        help="Charged or free, and why.",
    )

    @api.depends(
        "kind", "charge", "cost", "channel", "channel_id.channel_type", "state"
    )
    def _compute_charge_label(self):
        charges = dict(self._fields["charge"]._description_selection(self.env))
        for message in self:
            channel = message.channel_id.channel_type or message.channel
            if message.kind == "reply":
                label = False
            elif message.charge:
                label = charges[message.charge]
            elif channel == "sandbox" or message.state == "sandbox":
                label = self.env._("Free: sandbox, not sent")
            elif channel == "email":
                label = self.env._("Free: e-mail")
            elif message.state in ("queued", "sending", "cancelled", "failed"):
                label = self.env._("Not charged: not delivered")
            elif channel == "sms":
                label = (
                    self.env._("Charged")
                    if message.cost
                    else self.env._("Charged by the SMS provider (no price reported)")
                )
            else:
                label = self.env._("Charged on delivery, if WhatsApp bills it")
            message.charge_label = label

    @api.model
    def _whatsapp_charges(self, priced):
        """Set ``charge``, ``cost`` and ``cost_category`` in ``priced``
        (``{message id: status values}`` of delivered WhatsApp messages, in
        memory): Meta's pricing when a webhook gave it, else our rule, with
        the customer's 24-hour window as it was when the message was sent;
        the cost from the rate card for the recipient's market, in the
        company's currency. One query for the batch, however large."""
        if not priced:
            return
        rows = SQL(", ").join(
            SQL(
                "(%s, %s::timestamp)",
                message_id,
                values["sent_date"] or values["delivered_date"],
            )
            for message_id, values in priced.items()
        )
        facts = run_sql(
            self.env,
            SQL(
                """
            SELECT m.id, m.company_id, comp.currency_id, m.channel_id,
                   COALESCE(m.recipient, p.phone_sanitized), country.code,
                   t.category,
                   EXISTS (
                       SELECT 1
                         FROM dunning_communication r
                        WHERE r.kind = 'reply'
                          AND r.channel = 'whatsapp'
                          AND r.company_id = m.company_id
                          AND r.recipient = COALESCE(m.recipient, p.phone_sanitized)
                          AND r.date <= v.sent
                          AND r.date > v.sent - %s
                   )
              FROM (VALUES %s) AS v(id, sent)
              JOIN dunning_communication m ON m.id = v.id
              JOIN res_company comp ON comp.id = m.company_id
              JOIN res_partner p ON p.id = m.partner_id
         LEFT JOIN res_country country ON country.id = p.country_id
         LEFT JOIN dunning_whatsapp_template t ON t.id = m.wa_template_id
                """,
                SERVICE_WINDOW,
                rows,
            ),
            reads={
                "dunning.communication": [
                    "kind",
                    "channel",
                    "company_id",
                    "recipient",
                    "date",
                    "partner_id",
                    "channel_id",
                    "wa_template_id",
                ],
                "res.partner": ["phone_sanitized", "country_id"],
                "dunning.whatsapp.template": ["category"],
            },
        )
        rates = self.env["dunning.whatsapp.rate"]._rate_table()
        conversions = {}
        for (
            message_id,
            company_id,
            company_currency_id,
            channel_id,
            number,
            partner_country,
            template_category,
            window_open,
        ) in facts:
            values = priced[message_id]
            category = values["cost_category"] or pricing.template_category(
                template_category
            )
            charge = pricing.charge_of(category, values["wa_pricing_type"], window_open)
            cost = 0.0
            if charge == pricing.CHARGED:
                rate = pricing.pick_rate(
                    rates,
                    company_id,
                    channel_id,
                    region_of(number) or partner_country,
                    category,
                )
                if not rate:
                    charge = pricing.NO_RATE
                else:
                    day = fields.Date.to_date(values["delivered_date"])
                    key = (rate["currency_id"], company_currency_id, company_id, day)
                    if key not in conversions:
                        conversions[key] = self._conversion_rate(*key)
                    cost = rate["price"] * conversions[key]
            values.update(cost_category=category, charge=charge, cost=cost)

    @api.model
    def _conversion_rate(self, from_currency_id, to_currency_id, company_id, day):
        Currency = self.env["res.currency"]
        return Currency._get_conversion_rate(
            Currency.browse(from_currency_id),
            Currency.browse(to_currency_id),
            self.env["res.company"].browse(company_id),
            day,
        )
