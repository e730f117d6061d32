from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..tools.rate_limiter import backoff_seconds
from ..tools.uploads import MAX_UPLOAD_BYTES, UploadRefused, check_upload
from ..tools.whatsapp_client import AUTH, RETRYABLE_KINDS, WhatsAppError

RECEIPT_STATES = [
    ("pending", "To fetch"),
    ("attached", "Attached"),
    ("refused", "Refused"),
    ("failed", "Could not be fetched"),
]
# WhatsApp keeps a media id valid far longer than these retries take
# (1 minute, doubling up to an hour: about eight hours in all).
MAX_RECEIPT_ATTEMPTS = 12
RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 3600


class DunningCommunication(models.Model):
    _inherit = "dunning.communication"

    receipt_media_id = fields.Char(
        string="WhatsApp media ID",
        readonly=True,
        copy=False,
        help="The file the customer sent in this reply, as WhatsApp knows it.",
    )
    receipt_filename = fields.Char(string="File name", readonly=True, copy=False)
    receipt_state = fields.Selection(
        RECEIPT_STATES,
        string="Receipt",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="To fetch: WhatsApp could not hand the file over yet; it is fetched "
        "again automatically. Refused: not a PDF, PNG or JPEG of at most 5 MB "
        "(the customer was told). Could not be fetched: ask the customer for it.",
    )
    receipt_attempts = fields.Integer(string="Fetch attempts", readonly=True)
    receipt_retry_date = fields.Datetime(string="Next fetch", readonly=True)

    def action_fetch_receipt(self):
        """Fetch the file again (e.g. once the channel's token is renewed)."""
        self.check_access("write")
        Reply = self.env["dunning.reply"].sudo()
        for reply in self.sudo().filtered(
            lambda r: r.receipt_state in ("pending", "failed")
        ):
            invoices = Reply._open_invoices(reply.partner_id, reply.company_id)
            Reply._fetch_receipt(reply, invoices)
        return True


class DunningReply(models.AbstractModel):
    _inherit = "dunning.reply"

    def _intent_label(self, intent):
        if intent == "receipt":
            return self.env._("sent a receipt")
        return super()._intent_label(intent)

    def _on_receipt(self, partner, invoices, channel, media):
        """The customer sent a file (``media``, the webhook's event: its
        ``wamid``, ``media_id``, ``filename``, caption as ``text``) to the
        channel ``dunning_reply_receiver_id`` (context): fetched from
        WhatsApp through that number, checked like an upload of the
        customer's page, then attached to their invoices as the proof of a
        payment they report. Kept on the reply and fetched again later when
        WhatsApp cannot hand it over now."""
        receiver_id = self.env.context["dunning_reply_receiver_id"]
        # The reply ``_handle`` claimed for this message, before acting.
        reply = (
            self.env["dunning.communication"]
            .sudo()
            .search(
                [
                    ("kind", "=", "reply"),
                    ("channel", "=", channel),
                    ("channel_id", "=", receiver_id),
                    ("provider_message_id", "=", media["wamid"]),
                ],
                limit=1,
            )
        )
        reply.write(
            {
                "receipt_media_id": media.get("media_id") or False,
                "receipt_filename": media.get("filename") or False,
                "receipt_state": "pending",
            }
        )
        self._fetch_receipt(reply, invoices)

    def _fetch_receipt(self, reply, invoices):
        """One attempt at fetching the file of ``reply``; ``invoices`` are the
        customer's open ones. Answers through the number that received it."""
        replier = self.with_context(dunning_reply_receiver_id=reply.channel_id.id)
        first = not reply.receipt_attempts
        reply.receipt_attempts += 1
        try:
            content = replier._receipt_client(reply).download_media(
                reply.receipt_media_id, MAX_UPLOAD_BYTES
            )
            proof = check_upload(
                reply.receipt_filename, content, default_stem=self.env._("receipt")
            )
        except UploadRefused:
            reply.write({"receipt_state": "refused", "receipt_retry_date": False})
            replier._answer_receipt(reply, invoices, "refused")
            return
        except WhatsAppError as error:
            replier._receipt_not_fetched(reply, invoices, error, first)
            return
        targets = invoices.filtered(
            lambda m: m.dunning_pause_reason in (False, "payment_reported")
        )
        replier._report_receipt(reply, targets, proof)
        reply.write(
            {
                "receipt_state": "attached",
                "receipt_retry_date": False,
                "error_message": False,
            }
        )
        replier._answer_receipt(reply, targets or invoices, "attached")

    def _receipt_client(self, reply):
        channel = reply.channel_id.sudo()
        if channel.channel_type != "whatsapp" or not channel.active:
            raise WhatsAppError(
                None, "invalid_request", "The WhatsApp number is no longer set up."
            )
        try:
            return channel._whatsapp_client()
        except UserError as error:
            raise WhatsAppError(None, "invalid_request", str(error)) from None

    def _report_receipt(self, reply, invoices, proof):
        """Report the payment as the customer's page does, with the file as
        its proof; with no invoice left open, the file goes on the
        customer."""
        partner = reply.partner_id.with_company(reply.company_id)
        note = Markup("%s<br/>%s") % (
            self.env._(
                "Sent by WhatsApp the receipt of a payment of %(invoices)s.",
                invoices=", ".join(invoices.mapped("name")) or "-",
            ),
            reply.body or self.env._("Proof attached."),
        )
        if invoices:
            partner._dunning_report_payment(invoices, note=note, proof=proof)
            return
        attachments = partner._dunning_attach(partner, proof)
        partner._message_log(
            body=note, author_id=partner.id, attachment_ids=attachments.ids
        )
        partner._dunning_todo(
            self.env._("Check the payment the customer reported"), note=note
        )

    def _receipt_not_fetched(self, reply, invoices, error, first):
        """WhatsApp did not hand the file over: tried again later when that
        may help, else the accountant gets a to-do. The customer hears once
        that we have their file."""
        channel = reply.channel_id.sudo()
        if error.kind == AUTH:
            channel._whatsapp_token_expired(error)
        # The client's own words say which step failed (never the token).
        reason = f"{channel._whatsapp_error_message(error)} {error.message}"
        partner = reply.partner_id
        if (
            error.kind in RETRYABLE_KINDS
            and reply.receipt_attempts < MAX_RECEIPT_ATTEMPTS
        ):
            delay = max(
                backoff_seconds(
                    reply.receipt_attempts,
                    base=RETRY_BASE_SECONDS,
                    cap=RETRY_CAP_SECONDS,
                ),
                error.retry_after or 0,
            )
            retry_date = fields.Datetime.now() + timedelta(seconds=delay)
            reply.write(
                {
                    "receipt_state": "pending",
                    "receipt_retry_date": retry_date,
                    "error_message": reason,
                }
            )
            self.env.ref("friendly_dunning.ir_cron_dunning_receipts")._trigger(
                at=retry_date
            )
            if first:
                partner.sudo()._message_log(
                    body=self.env._(
                        "The customer sent a receipt by WhatsApp; WhatsApp could "
                        "not hand the file over yet, so it is fetched again "
                        "automatically."
                    )
                )
        else:
            reply.write(
                {
                    "receipt_state": "failed",
                    "receipt_retry_date": False,
                    "error_message": reason,
                }
            )
            partner._dunning_todo(
                self.env._("Get the receipt the customer sent by WhatsApp"),
                invoices=invoices,
                note=self.env._(
                    "The file could not be fetched from WhatsApp: %(reason)s",
                    reason=reason,
                ),
            )
        if first:
            self._answer_receipt(reply, invoices, "received")

    def _answer_receipt(self, reply, invoices, outcome):
        partner = reply.partner_id
        env = self.with_context(lang=partner.lang or "en_US").env
        text = {
            "attached": lambda: env._(
                "Thank you, %(name)s! We have your receipt and have paused our "
                "reminders while we check your payment.",
                name=partner.name,
            ),
            "refused": lambda: env._(
                "Sorry, %(name)s, we cannot use this file. Please send your "
                "receipt as a PDF, PNG or JPEG of at most 5 MB.",
                name=partner.name,
            ),
            "received": lambda: env._(
                "Thank you, %(name)s! We received your file and will check it shortly.",
                name=partner.name,
            ),
        }[outcome]()
        company = self._company(partner, invoices)
        self._answer(partner, invoices, "whatsapp", company, text)

    @api.model
    def _cron_fetch_receipts(self):
        """Fetch again the files WhatsApp could not hand over, once their
        time has come."""
        Communication = self.env["dunning.communication"].sudo()
        now = fields.Datetime.now()
        domain = [
            ("receipt_state", "=", "pending"),
            ("receipt_retry_date", "<=", now),
        ]
        pending = Communication.search(domain, order="receipt_retry_date, id")
        for index, reply in enumerate(pending):
            # Each one committed on its own: its answer has left already.
            if not reply.try_lock_for_update():
                continue  # another worker is fetching it
            reply.invalidate_recordset()
            if reply.receipt_state == "pending" and reply.receipt_retry_date <= now:
                invoices = self._open_invoices(reply.partner_id, reply.company_id)
                self._fetch_receipt(reply, invoices)
            if self.env.context.get("cron_id"):
                self.env["ir.cron"]._commit_progress(
                    1, remaining=len(pending) - index - 1
                )
