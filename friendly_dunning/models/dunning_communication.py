from datetime import datetime, timezone

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import html_escape

from .dunning_step import CHANNELS

# Messages handed to their channel per transaction.
SEND_BATCH = 500

STATES = [
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("replied", "Replied"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]
# How far a message got; a status update never moves it backwards.
STATE_RANK = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "replied": 5,
}


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
            ("manual", "Sent by an accountant"),
            ("reply", "Customer reply"),
            ("installment", "Instalment reminder"),
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
        help="The configured channel that carries it; the sandbox sends nothing.",
    )
    recipient = fields.Char(help="The phone number or e-mail address used.")
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
    cost = fields.Float(readonly=True, help="What the provider charged, if it says.")
    cost_category = fields.Char(readonly=True)

    @api.depends("partner_id", "kind")
    def _compute_display_name(self):
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        for message in self:
            message.display_name = f"{kinds[message.kind]} – {message.partner_id.name}"

    def _advance(self, state, **values):
        """Move to ``state`` unless the message already got further."""
        for message in self:
            if (
                state in STATE_RANK
                and STATE_RANK.get(message.state, 99) >= (STATE_RANK[state])
            ):
                continue
            message.write({"state": state, **values})

    def _apply_provider_status(self, event, error_message=None):
        """Apply one WhatsApp status event. Repeated and out-of-order events are
        harmless: a message never moves backwards, and a delivery after a read
        changes nothing."""
        self.ensure_one()
        when = fields.Datetime.to_datetime(
            datetime.fromtimestamp(event["timestamp"], tz=timezone.utc).replace(
                tzinfo=None
            )
            if event.get("timestamp")
            else fields.Datetime.now()
        )
        values = {}
        pricing = event.get("pricing") or {}
        if pricing:
            values["cost_category"] = pricing.get("category")
            if pricing.get("cost") is not None:
                values["cost"] = pricing["cost"]
        status = event.get("status")
        if status == "failed":
            if self.state not in ("delivered", "read", "replied"):
                values |= {"state": "failed", "error_message": error_message}
            self.write(values)
            return
        if status in ("delivered", "read") and not self.delivered_date:
            values["delivered_date"] = when
        if status == "read" and not self.read_date:
            values["read_date"] = when
        if values:
            self.write(values)
        if status in STATE_RANK:
            self._advance(status)

    def action_approve(self):
        self.filtered("needs_review").write({"needs_review": False})
        self.env.ref("friendly_dunning.ir_cron_dunning")._trigger()
        return True

    def action_cancel(self):
        self.filtered(lambda message: message.state == "queued").write(
            {"state": "cancelled"}
        )
        return True

    def _chatter_body(self):
        self.ensure_one()
        channels = dict(self._fields["channel"]._description_selection(self.env))
        title = (
            self.env._("Reminder by %(channel)s", channel=channels[self.channel])
            if self.channel
            else self.env._("Reminder")
        )
        if self.channel_id.channel_type == "sandbox":
            title = self.env._("%(title)s (sandbox: not sent)", title=title)
        elif self.needs_review:
            title = self.env._("%(title)s, awaiting approval", title=title)
        return Markup("<p><b>%s</b></p><p>%s</p>") % (
            title,
            Markup("<br/>").join(
                html_escape(line) for line in (self.body or "").split("\n")
            ),
        )

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    @api.model
    def _dunning_send_queued(self):
        """Hand every queued, approved message to its channel, batch by batch.

        Each batch is locked (two workers never take the same message) and, when
        run by the scheduled job, committed before the next one.
        """
        domain = [("state", "=", "queued"), ("needs_review", "=", False)]
        while True:
            batch = self.search(domain, limit=SEND_BATCH).try_lock_for_update()
            if not batch:
                return
            batch._dunning_send()
            if self.env.context.get("cron_id"):
                self.env["ir.cron"]._commit_progress(
                    len(batch), remaining=self.search_count(domain)
                )

    def _dunning_send(self):
        now = fields.Datetime.now()
        sandbox = self.filtered(lambda m: m.channel_id.channel_type == "sandbox")
        # The sandbox records the message as sent; nothing leaves the server.
        sandbox.write({"state": "sent", "sent_date": now})
        emails = self.filtered(lambda m: m.channel_id.channel_type == "email")
        if emails:
            mails = (
                self.env["mail.mail"]
                .sudo()
                .create(
                    [
                        {
                            "email_to": message.recipient,
                            "subject": message.subject
                            or self.env._(
                                "Your invoices with %(company)s",
                                company=message.company_id.name,
                            ),
                            "body_html": message._email_body(),
                            "model": "res.partner",
                            "res_id": message.partner_id.id,
                            "email_from": message.company_id.email_formatted
                            or self.env.user.email_formatted,
                            "auto_delete": False,
                        }
                        for message in emails
                    ]
                )
            )
            for message, mail in zip(emails, mails):
                message.write({"state": "sent", "sent_date": now, "mail_id": mail.id})
        texts = self.filtered(lambda m: m.channel_id.channel_type == "sms")
        if texts:
            sms_records = (
                self.env["sms.sms"]
                .sudo()
                .create(
                    [
                        {
                            "number": message.recipient,
                            "partner_id": message.partner_id.id,
                            "body": message._sms_body(),
                        }
                        for message in texts
                    ]
                )
            )
            for message, sms in zip(texts, sms_records):
                message.write({"state": "sent", "sent_date": now, "sms_id": sms.id})
            # Odoo's SMS queue sends them through the company's provider.
            self.env.ref("sms.ir_cron_sms_scheduler_action")._trigger()
        unsendable = self - sandbox - emails - texts
        unsendable.write(
            {
                "state": "failed",
                "error_message": self.env._(
                    "The channel of this message is no longer active."
                ),
            }
        )

    def _sms_body(self):
        """The text, with the opt-out line every SMS carries."""
        self.ensure_one()
        lang = self.partner_id.lang or "en_US"
        stop = self.with_context(lang=lang).env._("Reply STOP to opt out.")
        return f"{self.body or ''}\n{stop}"

    def _email_body(self):
        self.ensure_one()
        return Markup("<div>%s</div>") % Markup("<br/>").join(
            html_escape(line) for line in (self.body or "").split("\n")
        )
