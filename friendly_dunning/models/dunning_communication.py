from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import html_escape

from .dunning_step import CHANNELS

STATES = [
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("replied", "Replied"),
    # Went through the sandbox channel: recorded, never sent to anyone.
    ("sandbox", "Sandbox (not sent)"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]


class DunningCommunication(models.Model):
    """The outbox and the audit trail: one record per message to a customer."""

    _name = "dunning.communication"
    _description = "Collections Message"
    _order = "date desc, id desc"
    _rec_name = "display_name"

    company_id = fields.Many2one("res.company", required=True, index=True)
    date = fields.Datetime(
        required=True,
        index=True,
        default=fields.Datetime.now,
        help="When the message was decided and queued.",
    )
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True
    )
    move_ids = fields.Many2many(
        "account.move",
        "dunning_communication_account_move_rel",
        "communication_id",
        "move_id",
        string="Invoices",
    )
    kind = fields.Selection(
        [
            ("reminder", "Reminder"),
            ("thank_you", "Thank you"),
            ("reliable_thanks", "Thanks to a reliable payer"),
            ("manual", "Sent by an accountant"),
            ("reply", "Customer reply"),
            ("installment", "Instalment reminder"),
            ("answer", "Answer to a reply"),
            ("autopay", "Automatic payment"),
        ],
        required=True,
        default="reminder",
    )
    step_id = fields.Many2one("dunning.step", index="btree_not_null")
    policy_id = fields.Many2one(related="step_id.policy_id", store=True)
    tone = fields.Selection(related="step_id.tone")
    channel = fields.Selection(CHANNELS, help="How the message reaches the customer.")
    channel_id = fields.Many2one(
        "dunning.channel",
        string="Sent through",
        help="The configured channel that carries it; the sandbox sends nothing "
        "(its messages end in the state Sandbox (not sent)).",
    )
    recipient = fields.Char(
        help="The phone number or e-mail address used.", index="btree_not_null"
    )
    state = fields.Selection(STATES, required=True, default="queued", index=True)
    needs_review = fields.Boolean(
        string="Awaiting approval",
        index="btree_not_null",
        help="Waits in the approval queue until an accountant approves it.",
    )
    subject = fields.Char()
    body = fields.Text(string="Message")
    error_message = fields.Text(
        string="Reason", help="Why the message was not sent, in plain words."
    )
    compliance_pack_id = fields.Many2one(
        "dunning.compliance.pack",
        string="Compliance pack",
        readonly=True,
        help="The compliance pack of the customer's country the message passed.",
    )
    compliance_note = fields.Text(
        string="Compliance",
        readonly=True,
        help="Why the compliance guard allowed the message, or what it added.",
    )
    amount_due = fields.Float(
        string="Amount covered",
        help="Residual of the covered invoices, in company currency.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    sent_date = fields.Datetime(string="Sent", readonly=True)
    delivered_date = fields.Datetime(string="Delivered", readonly=True)
    read_date = fields.Datetime(string="Read", readonly=True)
    mail_id = fields.Many2one("mail.mail", string="E-mail", readonly=True)
    sms_id = fields.Many2one("sms.sms", string="SMS", readonly=True)
    provider_message_id = fields.Char(
        string="Provider message ID", readonly=True, index="btree_not_null", copy=False
    )
    cost = fields.Float(
        readonly=True,
        help="What the provider charges for this message, in the company's "
        "currency: for WhatsApp the rate card's price once delivered, unless "
        "the message is free; for SMS the provider's price when it gives one; "
        "e-mail and the sandbox cost nothing.",
    )
    cost_category = fields.Char(
        readonly=True,
        help="How WhatsApp prices the message: utility, marketing or "
        "authentication for a template, service for any other message; "
        "WhatsApp's own category once it reports one.",
    )
    payment_link = fields.Char(
        compute="_compute_payment_link",
        help="The page where the customer sees and pays the oldest invoice.",
    )
    email_body_html = fields.Html(compute="_compute_email_body_html", sanitize=False)
    attach_invoice = fields.Boolean(
        help="On WhatsApp, the oldest invoice's PDF is sent with the text."
    )
    attempt_count = fields.Integer(
        string="Attempts", readonly=True, help="How many times sending was tried."
    )
    next_attempt = fields.Datetime(
        string="Next attempt",
        readonly=True,
        index="btree_not_null",
        help="When the provider asked us to wait, the message is tried again then.",
    )
    sending_date = fields.Datetime(
        string="Handed to the provider", readonly=True, copy=False
    )
    outcome_unknown = fields.Boolean(
        string="Unconfirmed",
        readonly=True,
        help="The provider never confirmed whether it sent this message: check "
        "with the customer before sending it again.",
    )
    resent_unconfirmed = fields.Boolean(
        string="Sent again",
        readonly=True,
        copy=False,
        help="WhatsApp never confirmed the first send, so the message was sent "
        "once more, automatically.",
    )
    wa_template_id = fields.Many2one(
        "dunning.whatsapp.template", string="WhatsApp template", readonly=True
    )
    fallback_of_id = fields.Many2one(
        "dunning.communication",
        string="Instead of",
        readonly=True,
        index="btree_not_null",
        help="The message its first channel could not carry.",
    )

    def _compute_payment_link(self):
        for message in self:
            oldest = message.move_ids.sorted("invoice_date_due")[:1]
            message.payment_link = (
                oldest.get_base_url() + oldest.get_portal_url() if oldest else False
            )

    @api.depends("body")
    def _compute_email_body_html(self):
        for message in self:
            message.email_body_html = message._email_body()

    @api.depends("partner_id", "kind")
    def _compute_display_name(self):
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        for message in self:
            message.display_name = f"{kinds[message.kind]} – {message.partner_id.name}"

    def action_approve(self):
        self.filtered("needs_review").write({"needs_review": False})
        self.env.ref("friendly_dunning.ir_cron_dunning")._trigger()
        return True

    def action_cancel(self):
        self.filtered(lambda message: message.state == "queued").write(
            {"state": "cancelled"}
        )
        return True

    @api.model
    def _chatter_note(self, channel, sandbox, needs_review, body, titles=None):
        """The note logged on the customer for a message of ``channel`` (through
        the sandbox or not, awaiting approval or not) saying ``body``.
        ``titles``, a dict kept by the caller, spares looking the same few
        titles up again for each message of a batch."""
        key = (channel, sandbox, needs_review)
        titles = {} if titles is None else titles
        if key not in titles:
            titles[key] = self._chatter_title(*key)
        # Escaped whole, then its line breaks as <br/> (escaping leaves them).
        return Markup("<p><b>%s</b></p><p>%s</p>") % (
            titles[key],
            html_escape(body or "").replace("\n", Markup("<br/>")),
        )

    def _chatter_title(self, channel, sandbox, needs_review):
        channels = dict(self._fields["channel"]._description_selection(self.env))
        title = (
            self.env._("Reminder by %(channel)s", channel=channels[channel])
            if channel
            else self.env._("Reminder")
        )
        if sandbox:
            title = self.env._("%(title)s (sandbox: not sent)", title=title)
        elif needs_review:
            title = self.env._("%(title)s, awaiting approval", title=title)
        return title
