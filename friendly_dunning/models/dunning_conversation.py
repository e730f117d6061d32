"""Where a customer's chat with us stands: one conversation per company,
customer, channel and number, holding what we last offered, what we wait
for and until when. Every reply locks its conversation's row before acting,
so two workers never act on the same conversation at once."""

from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.whatsapp_interactive import option_id, parse_option_id, readable
from .raw_sql import run_sql

# WhatsApp's customer service window, opened by each message of the customer.
SERVICE_WINDOW = timedelta(hours=24)
# How long what we offered can be chosen: dates, amounts and schedules are
# those of the day they were shown.
OFFER_LIFETIME = timedelta(hours=24)
# Offers kept after a newer one: a tap on one of them is honoured while it
# is still valid.
OFFERS_KEPT = 5

FLOWS = [
    ("menu", "Menu"),
    ("more_time", "More time"),
    ("promise", "Promise to pay"),
    ("paid", "Already paid"),
    ("invoices", "Which invoices"),
    ("pay_now", "Pay now"),
    ("talk", "Talk to someone"),
]
EXPECTS = [
    ("nothing", "Nothing"),
    ("choice", "A choice among the options"),
    ("receipt", "A receipt (photo or PDF)"),
]
CONVERSATION_KEY = "(company_id, partner_id, channel, number)"


class DunningCommunication(models.Model):
    _inherit = "dunning.communication"

    conversation_id = fields.Many2one(
        "dunning.conversation", readonly=True, index="btree_not_null"
    )
    wa_interactive = fields.Json(
        string="Interactive message",
        readonly=True,
        help="The buttons, list or link button sent with this answer.",
    )
    wa_interactive_text = fields.Text(
        string="Options sent", compute="_compute_wa_interactive_text"
    )

    @api.depends("wa_interactive")
    def _compute_wa_interactive_text(self):
        for message in self:
            message.wa_interactive_text = readable(message.wa_interactive)


class DunningConversation(models.Model):
    _name = "dunning.conversation"
    _description = "Collections conversation"
    _order = "last_inbound_date desc, id desc"
    _rec_name = "partner_id"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, readonly=True)
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, readonly=True, index=True
    )
    channel = fields.Selection(
        [("whatsapp", "WhatsApp"), ("sms", "SMS")], required=True, readonly=True
    )
    number = fields.Char(required=True, readonly=True)
    channel_id = fields.Many2one(
        "dunning.channel",
        string="Our number",
        readonly=True,
        help="The number the customer wrote to, which answers.",
    )
    flow = fields.Selection(FLOWS, default="menu", required=True, readonly=True)
    step = fields.Char(readonly=True)
    expects = fields.Selection(
        EXPECTS, string="Waiting for", default="nothing", required=True, readonly=True
    )
    offers = fields.Json(
        readonly=True,
        help="What was offered, newest first: each offer's number, flow, step, "
        "expiry and options (id, title and value).",
    )
    offer_count = fields.Integer(
        string="Offers made", readonly=True, help="The number of the last offer."
    )
    offer_text = fields.Text(string="Options offered", compute="_compute_offer_text")
    expires_at = fields.Datetime(
        string="Offer expires",
        readonly=True,
        help="After this, the options offered "
        "last are replaced by the current menu when chosen.",
    )
    window_until = fields.Datetime(
        string="WhatsApp window until",
        readonly=True,
        help="24 hours after the customer's last message: until then we may "
        "answer with free text and interactive messages.",
    )
    last_inbound_date = fields.Datetime(
        string="Last message acted on", readonly=True, index=True
    )
    last_inbound_id = fields.Char(string="Its provider id", readonly=True)
    message_ids = fields.One2many(
        "dunning.communication", "conversation_id", string="Answers", readonly=True
    )

    _conversation_uniq = models.UniqueIndex(
        CONVERSATION_KEY, "One conversation per customer, channel and number."
    )

    @api.depends("offers")
    def _compute_offer_text(self):
        for conversation in self:
            offer = (conversation.offers or [{}])[0]
            conversation.offer_text = "\n".join(
                f"{option['n']}. {option['title']}"
                for option in offer.get("options") or ()
            )

    # ------------------------------------------------------------------
    # Opening and locking
    # ------------------------------------------------------------------

    @api.model
    def _dunning_lock(self, company, partner, channel, number, receiver=None):
        """The conversation of ``partner`` on ``channel`` and ``number``,
        created if needed and locked until the end of the transaction: a
        second worker acting on the same conversation waits, then sees what
        the first one did (or retries, the request being retried by Odoo on
        a serialization failure)."""
        now = fields.Datetime.now()
        values = {
            "company_id": company.id,
            "partner_id": partner.id,
            "channel": channel,
            "number": number,
            "channel_id": receiver.id if receiver else None,
            "flow": "menu",
            "expects": "nothing",
            "offer_count": 0,
            "create_uid": self.env.uid,
            "create_date": now,
            "write_uid": self.env.uid,
            "write_date": now,
        }
        columns = list(values)
        run_sql(
            self.env,
            SQL(
                "INSERT INTO dunning_conversation (%s) VALUES (%s) "
                "ON CONFLICT %s DO NOTHING",
                SQL(", ").join(SQL.identifier(column) for column in columns),
                SQL(", ").join(values[column] for column in columns),
                SQL(CONVERSATION_KEY),
            ),
        )
        rows = run_sql(
            self.env,
            SQL(
                "SELECT id FROM dunning_conversation WHERE company_id = %s "
                "AND partner_id = %s AND channel = %s AND number = %s "
                "FOR NO KEY UPDATE",
                company.id,
                partner.id,
                channel,
                number,
            ),
        )
        conversation = self.sudo().browse(rows[0][0])
        conversation.invalidate_recordset()
        return conversation

    def _dunning_is_stale(self, sent_at):
        """Whether a message sent at ``sent_at`` (provider clock) is older
        than the last one acted on: it arrived out of order."""
        self.ensure_one()
        return bool(
            sent_at and self.last_inbound_date and sent_at < self.last_inbound_date
        )

    def _dunning_received(self, sent_at, provider_id, receiver=None):
        """Note the customer's message acted on; it opens a new window."""
        self.ensure_one()
        now = fields.Datetime.now()
        moment = sent_at or now
        if self.last_inbound_date and self.last_inbound_date > moment:
            moment = self.last_inbound_date
        values = {
            "last_inbound_date": moment,
            "last_inbound_id": provider_id or False,
            "window_until": now + SERVICE_WINDOW,
        }
        if receiver and receiver != self.channel_id:
            values["channel_id"] = receiver.id
        self.write(values)

    # ------------------------------------------------------------------
    # What we offer, and what comes back
    # ------------------------------------------------------------------

    def _dunning_offer(self, flow, step, options, expects="choice"):
        """Store a new offer: ``options`` are ``(key, title, description,
        value)`` with ``value`` a JSON-able dict saying what the option does.
        Answers the options as ``(id, title, description)`` to send, the id
        naming this offer."""
        self.ensure_one()
        number = self.offer_count + 1
        now = fields.Datetime.now()
        stored = [
            {
                "id": option_id(number, key),
                "n": index,
                "title": title,
                "value": value,
            }
            for index, (key, title, _description, value) in enumerate(options, start=1)
        ]
        offer = {
            "ref": number,
            "flow": flow,
            "step": step,
            "expires": fields.Datetime.to_string(now + OFFER_LIFETIME),
            "options": stored,
        }
        self.write(
            {
                "offer_count": number,
                "offers": [offer, *(self.offers or [])][:OFFERS_KEPT],
                "flow": flow,
                "step": step,
                "expects": expects if options else "nothing",
                "expires_at": now + OFFER_LIFETIME if options else False,
            }
        )
        return [
            (option["id"], title, description)
            for option, (_key, title, description, _value) in zip(
                stored, options, strict=True
            )
        ]

    def _dunning_settle(self, flow, step=False, expects="nothing"):
        """The conversation moves on without new options."""
        self.ensure_one()
        self.write(
            {
                "flow": flow,
                "step": step,
                "expects": expects,
                "expires_at": fields.Datetime.now() + OFFER_LIFETIME
                if expects != "nothing"
                else False,
            }
        )

    def _dunning_option(self, ident=None, number=None):
        """``(status, option)`` for the option the customer chose, by the id
        that came back (WhatsApp) or its number in the last offer (SMS).
        ``status``: ``current`` (of the last offer, still open),
        ``superseded`` (of an earlier offer still open), ``expired`` or
        ``unknown`` (no offer of ours has it: never acted on)."""
        self.ensure_one()
        offers = self.offers or []
        now = fields.Datetime.now()
        if number is not None:
            options = offers[0]["options"] if offers else []
            found = [(offers[0], o) for o in options if o["n"] == number]
        else:
            parsed = parse_option_id(ident)
            found = [
                (offer, option)
                for offer in offers
                if parsed and offer["ref"] == parsed[0]
                for option in offer["options"]
                if option["id"] == ident
            ]
        if not found:
            return "unknown", None
        offer, option = found[0]
        option = option | {"flow": offer["flow"], "step": offer["step"]}
        if fields.Datetime.to_datetime(offer["expires"]) < now:
            return "expired", option
        if offer["ref"] != offers[0]["ref"]:
            return "superseded", option
        return "current", option
