import time

from markupsafe import Markup

from odoo import api, fields, models
from odoo.fields import Command, Domain
from odoo.tools import SQL, html_escape

from ..tools.intents import STOP, detect_intent
from .raw_sql import run_sql

# The "I have already paid" form of the customer's page
# (views/portal_templates.xml).
PAYMENT_REPORT_ANCHOR = "dunning_report_payment"
# An answer whose number is busy sending (another worker's answer) is tried
# again this many times, this many seconds apart; then it waits queued for
# the worker sending through the number, or the next run.
ANSWER_SEND_ATTEMPTS = 10
ANSWER_SEND_PAUSE = 0.02
# One reply per provider message id, company and channel: the unique index,
# and the conflict target of the insert that claims a reply.
REPLY_UNIQUE_KEY = (
    "(company_id, channel, provider_message_id) "
    "WHERE kind = 'reply' AND provider_message_id IS NOT NULL"
)


class DunningCommunication(models.Model):
    _inherit = "dunning.communication"

    # A provider delivers a message again when we answered late or not at
    # all: the reply is recorded, and acted on, once.
    _reply_provider_message_uniq = models.UniqueIndex(
        REPLY_UNIQUE_KEY, "This reply was already received."
    )


class DunningReply(models.AbstractModel):
    """What a customer's reply to a reminder sets in motion."""

    _name = "dunning.reply"
    _description = "Collections reply handling"

    @api.model
    def _handle(
        self,
        companies,
        sender_e164,
        text,
        payload=None,
        channel="whatsapp",
        provider_id=None,
        replied_to=None,
        receiver=None,
        sent_at=None,
        media=None,
    ):
        """Log the reply on the customer and act on what it says, at most
        once per provider message id. ``receiver`` is the channel whose number
        received the reply (its company must be in ``companies``); ``sent_at``
        when the customer sent it, by the provider's clock: an older opt-in or
        opt-out never undoes a newer one. ``media``, the webhook's event of a
        file the customer sent (``media_id``, ``filename``, ``text`` its
        caption), is taken as a receipt (``_on_receipt``). Returns the
        intent, or ``None`` when the number belongs to no customer of
        ``companies`` or the reply was seen before."""
        intent, _rule = detect_intent(text or "", payload=payload)
        if media:
            intent = "receipt"
        partner = self._find_customer(companies, sender_e164)
        if not partner:
            # Nobody to log it on, so nothing to tell a repeat from a first
            # delivery: only a STOP is honoured, as adding a number to the
            # blacklist twice is the same as once.
            if intent == STOP and channel == "sms":
                self.env["phone.blacklist"].sudo().add(sender_e164)
            return None
        reply = self._claim(
            {
                "company_id": companies[:1].id,
                "partner_id": partner.id,
                "channel": channel,
                "channel_id": receiver.id if receiver else None,
                "recipient": sender_e164,
                "body": text or payload,
                "provider_message_id": provider_id,
            }
        )
        if not reply:
            return None  # a webhook delivered twice, or by two workers at once
        if replied_to:
            Communication = self.env["dunning.communication"].sudo()
            domain = Domain("provider_message_id", "=", replied_to) & Domain(
                "kind", "!=", "reply"
            )
            domain &= (
                Domain("channel_id", "=", receiver.id)
                if receiver
                else Domain("company_id", "in", companies.ids)
            )
            Communication.search(domain, limit=1)._advance("replied")
        invoices = self._open_invoices(partner, companies)
        channels = {"whatsapp": "WhatsApp", "sms": "SMS"}
        body = Markup("<p><b>%s</b></p><p>%s</p>") % (
            self.env._(
                "Reply by %(channel)s: %(intent)s",
                channel=channels.get(channel, channel),
                intent=self._intent_label(intent),
            ),
            html_escape(text or payload or ""),
        )
        partner._message_log(body=body)
        invoices._message_log_batch(bodies=dict.fromkeys(invoices.ids, body))
        replier = self.with_context(
            dunning_reply_text=text or payload,
            dunning_reply_date=sent_at,
            dunning_reply_receiver_id=receiver.id if receiver else None,
            dunning_reply_number=sender_e164,
            dunning_reply_provider_id=provider_id,
        )
        replier._converse(
            partner, invoices, channel, intent, text=text, payload=payload, media=media
        )
        return intent

    @api.model
    def _claim(self, values):
        """Insert the reply record unless one with the same provider id was
        already received by the same company on the same channel (the unique
        index): the insert comes first, so of two deliveries handled at once
        only one gets the record and acts. Returns it, or an empty
        recordset for a repeat."""
        Communication = self.env["dunning.communication"].sudo()
        now = fields.Datetime.now()
        values = values | {
            "kind": "reply",
            "state": "replied",
            "date": now,
            "create_uid": self.env.uid,
            "create_date": now,
            "write_uid": self.env.uid,
            "write_date": now,
        }
        columns = list(values)
        rows = run_sql(
            self.env,
            SQL(
                "INSERT INTO dunning_communication (%s) VALUES (%s) "
                "ON CONFLICT %s DO NOTHING RETURNING id",
                SQL(", ").join(SQL.identifier(column) for column in columns),
                SQL(", ").join(values[column] for column in columns),
                SQL(REPLY_UNIQUE_KEY),
            ),
            reads={"dunning.communication": ["provider_message_id"]},
        )
        return Communication.browse(row[0] for row in rows)

    @api.model
    def _find_customer(self, companies, sender_e164):
        return (
            self.env["res.partner"]
            .sudo()
            .search(
                [
                    ("phone_sanitized", "=", sender_e164),
                    "|",
                    ("company_id", "=", False),
                    ("company_id", "in", companies.ids),
                ],
                limit=1,
            )
            .commercial_partner_id
        )

    @api.model
    def _open_invoices(self, partner, companies):
        Move = self.env["account.move"].sudo()
        return Move.search(
            Domain("commercial_partner_id", "=", partner.id)
            & Domain("company_id", "in", companies.ids)
            & Move._dunning_open_invoice_domain()
        )

    def _intent_label(self, intent):
        return {
            "paid": self.env._("says they already paid"),
            "more_time": self.env._("needs more time"),
            "no_invoice": self.env._("did not get the invoice"),
            "dispute": self.env._("disputes the amount"),
            "stop": self.env._("asks to stop messages"),
            "start": self.env._("agrees to receive messages again"),
            "talk": self.env._("wants to talk to someone"),
            "pay_now": self.env._("wants to pay now"),
            "help": self.env._("asks for help"),
        }.get(intent, self.env._("a message to read"))

    def _company(self, partner, invoices):
        """The company the reply is answered for."""
        return invoices.company_id[:1] or partner.company_id or self.env.company

    def _not_paused(self, invoices):
        """The invoices a reply about payment or a dispute concerns: it names
        none, and those already paused stay as they are (a plan, a promise)."""
        return invoices.filtered(lambda m: not m.dunning_pause_reason)

    def _on_dispute(self, partner, invoices, channel):
        """A dispute of each invoice not paused otherwise, in the customer's
        words; what they write about invoices already disputed goes to those
        disputes."""
        company = self._company(partner, invoices)
        partner.with_company(company)._dunning_open_dispute(
            invoices.filtered(lambda m: m.dunning_pause_reason in (False, "dispute")),
            words=self.env.context.get("dunning_reply_text") or False,
            source=channel if channel in ("whatsapp", "sms") else "accountant",
        )

    def _record_consent(self, partner, channel, state):
        """Record the opt-in or opt-out as of when the customer sent it;
        ``False`` when the customer's ledger already holds a later choice."""
        return bool(
            self.env["dunning.consent"]._record(
                partner,
                channel,
                state,
                "reply",
                date=self.env.context.get("dunning_reply_date"),
            )
        )

    def _on_stop(self, partner, invoices, channel):
        recorded = self._record_consent(partner, channel, "opted_out")
        if recorded and channel == "sms" and partner.phone_sanitized:
            self.env["phone.blacklist"].sudo().add(partner.phone_sanitized)

    def _on_start(self, partner, invoices, channel):
        recorded = self._record_consent(partner, channel, "opted_in")
        if recorded and channel == "sms" and partner.phone_sanitized:
            self.env["phone.blacklist"].sudo().remove(partner.phone_sanitized)

    def _answer(
        self,
        partner,
        invoices,
        channel,
        company,
        text,
        attach_invoice=False,
        interactive=None,
    ):
        """Send ``text`` back through the channel the customer wrote on, now
        (inside WhatsApp's 24-hour window, opened by their message to that
        number: the number that received it answers). ``interactive``: the
        buttons, list or link button sent on WhatsApp instead of the plain
        ``text`` (which says the same, for the accountant and other
        channels). Answers the message, if one could be made."""
        channels = (
            self.env["dunning.channel"]
            .sudo()
            .search([("company_id", "=", company.id), ("active", "=", True)])
        )
        receiver = channels.filtered(
            lambda c: c.id == self.env.context.get("dunning_reply_receiver_id")
        )
        # As for reminders, a real channel carries its own type before the
        # sandbox: the number the customer wrote to answers them.
        carrier = (
            receiver.filtered(lambda c: c.channel_type == channel)
            or channels.filtered(lambda c: c.channel_type == channel)[:1]
            or channels.filtered(lambda c: c.channel_type == "sandbox")[:1]
        )
        if not carrier or not partner.phone_sanitized:
            partner._dunning_todo(
                self.env._("Answer the customer's reply"), invoices=invoices
            )
            return None
        message = (
            self.env["dunning.communication"]
            .sudo()
            .create(
                {
                    "company_id": company.id,
                    "partner_id": partner.id,
                    "move_ids": [Command.set(invoices.ids)],
                    "kind": "answer",
                    "channel": channel,
                    "channel_id": carrier.id,
                    "recipient": partner.phone_sanitized,
                    "body": text,
                    "attach_invoice": attach_invoice,
                    "wa_interactive": interactive if channel == "whatsapp" else False,
                    "conversation_id": self.env.context.get("dunning_conversation_id"),
                }
            )
        )
        busy = message._dunning_send()
        # Another worker is answering through the same number: its send takes
        # a moment, and the hourly job is too late for a chat.
        for _attempt in range(ANSWER_SEND_ATTEMPTS):
            if not busy:
                break
            time.sleep(ANSWER_SEND_PAUSE)
            busy = busy._dunning_send()
        return message
