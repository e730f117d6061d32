import logging
import sys
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta, timezone

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_date, formatLang, html_escape

from ..tools.phones import to_e164
from ..tools.whatsapp_cloud import (
    AUTH,
    WhatsAppError,
    backoff_seconds,
    currency_param,
    error_kind,
    template_components,
)
from .dunning_step import CHANNELS

_logger = logging.getLogger(__name__)

# Messages handed to their channel per transaction.
SEND_BATCH = 500
# HTTP calls to WhatsApp in flight at once; the rate limiter sets the pace.
WHATSAPP_WORKERS = 8
# Sends tried before a retryable error (rate limit, server error) is final.
MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 3600
# WhatsApp's customer service window.
SERVICE_WINDOW = timedelta(hours=24)

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
            ("answer", "Answer to a reply"),
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

    def _advance(self, state, **values):
        """Move to ``state`` unless the message already got further."""
        for message in self:
            if (
                state in STATE_RANK
                and STATE_RANK.get(message.state, 99) >= (STATE_RANK[state])
            ):
                continue
            message.write({"state": state, **values})

    @api.model
    def _apply_whatsapp_statuses(self, channels, statuses, company_ids=None):
        """Apply a webhook's status events (``parse_webhook`` dicts) with a
        constant number of queries however many there are: one search, one
        UPDATE. Events are matched by our id (the callback data) or the
        provider's, only within the companies of ``channels`` (who signed
        the request); repeated and out-of-order events are harmless. Answers
        the messages that failed with these events."""
        if not statuses:
            return self.browse()
        our_ids = {
            int(event["callback_data"])
            for event in statuses
            if (event.get("callback_data") or "").isdigit()
            and int(event["callback_data"]) < 2**31
        }
        wamids = {event["wamid"] for event in statuses if event.get("wamid")}
        fields_read = [
            "state",
            "provider_message_id",
            "sent_date",
            "delivered_date",
            "read_date",
            "cost",
            "cost_category",
        ]
        company_ids = set(company_ids or channels.company_id.ids)
        # Looked up by their ids alone (primary key, provider id index); the
        # company is checked here rather than letting PostgreSQL walk the
        # company index of a large outbox.
        messages = self.search_fetch(
            [
                "|",
                ("id", "in", list(our_ids)),
                ("provider_message_id", "in", list(wamids)),
            ],
            [*fields_read, "company_id"],
        ).filtered(lambda message: message.company_id.id in company_ids)
        by_id = {message.id: message for message in messages}
        by_wamid = {m.provider_message_id: m for m in messages if m.provider_message_id}
        current = {
            message.id: {name: message[name] for name in fields_read}
            for message in messages
        }
        failed_before = {i for i, v in current.items() if v["state"] == "failed"}
        changed = {}
        channel = channels[:1]
        for event in sorted(statuses, key=lambda e: e.get("timestamp") or 0):
            callback = event.get("callback_data") or ""
            message = (callback.isdigit() and by_id.get(int(callback))) or by_wamid.get(
                event.get("wamid")
            )
            if not message:
                continue  # not ours, or another company's: ignore
            values = current[message.id]
            before = dict(values)
            self._merge_status(values, event, channel)
            if values != before:
                changed[message.id] = values
        if not changed:
            return self.browse()
        self._write_statuses(changed)
        return self.browse(
            [
                message_id
                for message_id, values in changed.items()
                if values["state"] == "failed" and message_id not in failed_before
            ]
        )

    @api.model
    def _merge_status(self, values, event, channel):
        """Fold one status event into a message's ``values`` (in memory):
        never backwards, a failure only before delivery."""
        when = (
            datetime.fromtimestamp(event["timestamp"], tz=timezone.utc).replace(
                tzinfo=None
            )
            if event.get("timestamp")
            else fields.Datetime.now()
        )
        if event.get("wamid") and not values["provider_message_id"]:
            values["provider_message_id"] = event["wamid"]
        pricing = event.get("pricing") or {}
        if pricing:
            values["cost_category"] = pricing.get("category") or values["cost_category"]
            if pricing.get("cost") is not None:
                values["cost"] = float(pricing["cost"])
        status = event.get("status")
        if status == "failed":
            if values["state"] not in ("delivered", "read", "replied", "failed"):
                code = event.get("error_code")
                values["state"] = "failed"
                values["error_message"] = channel._whatsapp_error_message(
                    WhatsAppError(code, error_kind(code=code), event.get("error_title"))
                )
            return
        if not values["sent_date"]:
            values["sent_date"] = when
        if status in ("delivered", "read") and not values["delivered_date"]:
            values["delivered_date"] = when
        if status == "read" and not values["read_date"]:
            values["read_date"] = when
        if (
            status in STATE_RANK
            and STATE_RANK.get(values["state"], 99) < (STATE_RANK[status])
        ):
            values["state"] = status

    @api.model
    def _write_statuses(self, changed):
        """One UPDATE for every changed message (``{id: values}``)."""
        self.flush_model()
        rows = SQL(", ").join(
            SQL(
                "(%s, %s, %s, %s::timestamp, %s::timestamp, %s::timestamp, "
                "%s::float8, %s, %s)",
                message_id,
                values["state"],
                values["provider_message_id"] or None,
                values["sent_date"] or None,
                values["delivered_date"] or None,
                values["read_date"] or None,
                values["cost"] or 0.0,
                values["cost_category"] or None,
                values.get("error_message"),
            )
            for message_id, values in changed.items()
        )
        self.env.execute_query(
            SQL(
                """
            UPDATE dunning_communication AS message
               SET state = v.state,
                   provider_message_id = v.wamid,
                   sent_date = v.sent_date,
                   delivered_date = v.delivered_date,
                   read_date = v.read_date,
                   cost = v.cost,
                   cost_category = v.cost_category,
                   error_message = COALESCE(v.error_message, message.error_message),
                   write_date = NOW() AT TIME ZONE 'UTC',
                   write_uid = %s
              FROM (VALUES %s) AS v(id, state, wamid, sent_date, delivered_date,
                                    read_date, cost, cost_category, error_message)
             WHERE message.id = v.id
                """,
                self.env.uid,
                rows,
            )
        )
        self.browse(list(changed)).invalidate_recordset(
            [
                "state",
                "provider_message_id",
                "sent_date",
                "delivered_date",
                "read_date",
                "cost",
                "cost_category",
                "error_message",
                "write_date",
                "write_uid",
            ]
        )

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

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    @api.model
    def _dunning_send_queued(self):
        """Hand every queued, approved message to its channel, batch by batch.

        Each batch is locked (two workers never take the same message) and, when
        run by the scheduled job, committed before the next one. WhatsApp
        messages of one batch are on the wire while the next batch is
        prepared, so the number sends at its full rate.
        """
        self._dunning_reconcile_unconfirmed()
        now = fields.Datetime.now()
        domain = [
            ("state", "=", "queued"),
            ("needs_review", "=", False),
            "|",
            ("next_attempt", "=", False),
            ("next_attempt", "<=", now),
        ]
        busy = []
        sender = _WhatsAppSender(self.env)
        try:
            while True:
                batch = self.search(
                    domain + [("id", "not in", busy)], limit=SEND_BATCH
                ).try_lock_for_update()
                if not batch:
                    break
                busy += batch._dunning_send(sender=sender).ids
                # Record what the previous batch's calls answered while this
                # batch's are on the wire.
                sender.collect(keep_latest=True)
                self._dunning_commit(len(batch), remaining=self.search_count(domain))
            sender.collect()
            self._dunning_commit(0)
        finally:
            sender.close()

    def _dunning_commit(self, done, remaining=None):
        """Commit progress when run by the scheduled job (or a benchmark):
        messages marked as being sent are committed before their HTTP calls,
        so a crash can never make us send them again."""
        if self.env.context.get("cron_id") or self.env.context.get("dunning_commit"):
            self.env["ir.cron"]._commit_progress(done, remaining=remaining)

    def _dunning_send(self, sender=None):
        """Hand these messages to their channels. Answers the WhatsApp messages
        left queued because another worker is sending through their number."""
        now = fields.Datetime.now()
        whatsapp = self.filtered(lambda m: m.channel_id.channel_type == "whatsapp")
        busy = self.browse()
        if whatsapp:
            own_sender = sender is None
            sender = sender or _WhatsAppSender(self.env)
            try:
                busy = sender.submit(whatsapp)
                if own_sender:
                    sender.collect()
            finally:
                if own_sender:
                    sender.close()
        sandbox = self.filtered(lambda m: m.channel_id.channel_type == "sandbox")
        # The sandbox records the message as sent; nothing leaves the server.
        sandbox.write({"state": "sent", "sent_date": now})
        emails = self.filtered(lambda m: m.channel_id.channel_type == "email")
        if emails:
            rendered = emails._email_rendered()
            mails = (
                self.env["mail.mail"]
                .sudo()
                .create(
                    [
                        {
                            "email_to": message.recipient,
                            "subject": rendered[message.id][0]
                            or message.subject
                            or self.env._(
                                "Your invoices with %(company)s",
                                company=message.company_id.name,
                            ),
                            "body_html": rendered[message.id][1],
                            "model": "res.partner",
                            "res_id": message.partner_id.id,
                            "email_from": message.company_id.email_formatted
                            or self.env.user.email_formatted,
                            "auto_delete": False,
                            "attachment_ids": [
                                fields.Command.set(message._email_attachments().ids)
                            ],
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
        unsendable = self - sandbox - emails - texts - whatsapp
        unsendable.write(
            {
                "state": "failed",
                "error_message": self.env._(
                    "The channel of this message is no longer active."
                ),
            }
        )

        return busy

    # ------------------------------------------------------------------
    # WhatsApp
    # ------------------------------------------------------------------

    def _whatsapp_plan(self, channel):
        """What to send for each message: ``(plans, skipped)`` where a plan is
        a dict for ``_WhatsAppSender`` and ``skipped`` maps a reason to the
        messages that cannot go out through WhatsApp."""
        skipped = {}

        def skip(message, reason):
            skipped.setdefault(reason, self.browse())
            skipped[reason] |= message

        partners = self.partner_id
        consents = self.env["dunning.consent"].sudo()._current_states(partners)
        numbers = {}
        for message in self:
            contact = message.partner_id
            e164, problem = to_e164(
                message.recipient or contact.phone, contact.country_id.code
            )
            if problem:
                skip(
                    message,
                    self.env._("WhatsApp: no phone number")
                    if problem == "missing"
                    else self.env._(
                        "WhatsApp: the phone number %(number)s is not valid for "
                        "%(country)s",
                        number=message.recipient or contact.phone,
                        country=contact.country_id.name or self.env._("no country"),
                    ),
                )
            elif (
                consents.get((contact.id, "whatsapp")) != "opted_in"
                and consents.get((contact.commercial_partner_id.id, "whatsapp"))
                != "opted_in"
            ):
                skip(
                    message,
                    self.env._(
                        "WhatsApp: the customer has not agreed to receive WhatsApp "
                        "messages"
                    ),
                )
            else:
                numbers[message] = e164
        blocked = set(
            self.env["phone.blacklist"]
            .sudo()
            .search([("number", "in", list(set(numbers.values())))])
            .mapped("number")
        )
        window_open = self._whatsapp_open_windows(set(numbers.values()))
        picked = {}
        plans = []
        for message, e164 in numbers.items():
            if e164 in blocked:
                skip(message, self.env._("WhatsApp: the number opted out"))
                continue
            plan = {"id": message.id, "to": e164, "callback": str(message.id)}
            if e164 in window_open and message.body:
                oldest = message.move_ids.sorted("invoice_date_due")[:1]
                document = (
                    message.attach_invoice
                    and oldest
                    and oldest._get_invoice_legal_documents("pdf", allow_fallback=True)
                )
                if document and document.get("content"):
                    plan["document"] = (
                        document["filename"],
                        document["content"],
                        "application/pdf",
                    )
                plans.append(plan | {"text": message.body})
                continue
            template, problem = message._whatsapp_template_params(picked)
            if problem:
                skip(message, problem)
                continue
            plans.append(plan | template)
        return plans, skipped

    def _whatsapp_open_windows(self, numbers):
        """The numbers that wrote to us in the last 24 hours: inside their
        customer service window, free text may be sent."""
        if not numbers:
            return set()
        since = fields.Datetime.now() - SERVICE_WINDOW
        rows = self._read_group(
            [
                ("kind", "=", "reply"),
                ("channel", "=", "whatsapp"),
                ("company_id", "in", self.company_id.ids),
                ("recipient", "in", list(numbers)),
                ("date", ">=", since),
            ],
            ["recipient"],
            [],
        )
        return {recipient for (recipient,) in rows}

    def _whatsapp_values(self, template):
        """The values our template variables take for this message."""
        self.ensure_one()
        lang = self.partner_id.lang or "en_US"
        env = self.with_context(lang=lang).env
        moves = self.move_ids.sorted("invoice_date_due")
        oldest = moves[:1]
        today = fields.Date.context_today(self)
        by_currency = {}
        for move in moves:
            by_currency[move.currency_id] = (
                by_currency.get(move.currency_id, 0.0) + move.amount_residual
            )
        if len(by_currency) == 1:
            [(currency, total)] = by_currency.items()
            amount = currency_param(
                round(total, currency.decimal_places),
                currency.name,
                formatLang(env, total, currency_obj=currency),
            )
        else:
            amount = ", ".join(
                formatLang(env, total, currency_obj=currency)
                for currency, total in by_currency.items()
            )
        values = {
            "name": self.partner_id.name,
            "amount": amount,
            "invoices": ", ".join(moves.mapped("name")),
            "company": self.company_id.name,
        }
        if oldest.invoice_date_due:
            values["due_date"] = format_date(env, oldest.invoice_date_due)
            values["days_overdue"] = str(max(0, (today - oldest.invoice_date_due).days))
        return values

    def _whatsapp_template_params(self, picked=None):
        """``(plan values, None)`` for the step's template in the customer's
        language, or ``(None, reason)`` when none can be sent. ``picked``
        caches the template chosen per mapped template and language."""
        self.ensure_one()
        picked = {} if picked is None else picked
        mapped = self.step_id.wa_template_id
        key = (mapped.id, self.partner_id.lang)
        if key not in picked:
            picked[key] = mapped and mapped.sudo()._pick(self.partner_id.lang)
        template = picked[key]
        if not template:
            return None, self.env._(
                "WhatsApp: the customer has not written in the last 24 hours and the "
                "step has no approved WhatsApp template"
            )
        values = self._whatsapp_values(template)
        names = template._variable_names()
        missing = [name for name in names if name not in values]
        if missing:
            return None, self.env._(
                "WhatsApp: the template “%(template)s” needs values we cannot fill: "
                "%(missing)s",
                template=template.name,
                missing=", ".join(missing),
            )
        if (template.parameter_format or "").upper() == "NAMED":
            body_params = {name: values[name] for name in names}
        else:
            body_params = [values[name] for name in names]
        plan = {
            "template": template.name,
            "language": template.language,
            "template_id": template.id,
            "body_params": body_params,
            "quick_replies": template._quick_reply_payloads(),
        }
        oldest = self.move_ids.sorted("invoice_date_due")[:1]
        url_button = template._url_button()
        if url_button:
            if not oldest:
                return None, self.env._(
                    "WhatsApp: the template “%(template)s” links to an invoice and "
                    "this message covers none",
                    template=template.name,
                )
            index, url = url_button
            link = oldest.get_base_url() + oldest.get_portal_url()
            prefix = url.split("{{", 1)[0]
            plan["url_button"] = (
                index,
                link[len(prefix) :]
                if prefix and link.startswith(prefix)
                else oldest.get_portal_url().lstrip("/"),
            )
        if (template.header_format or "").upper() == "DOCUMENT" and oldest:
            document = oldest._get_invoice_legal_documents("pdf", allow_fallback=True)
            if document and document.get("content"):
                plan["document"] = (
                    document["filename"],
                    document["content"],
                    "application/pdf",
                )
        return plan, None

    def _whatsapp_record(self, channel, results):
        """Store what WhatsApp answered: ``results`` are ``(plan, wamid,
        error)`` of this channel's calls."""
        now = fields.Datetime.now()
        fall_back = {}
        for plan, wamid, error in results:
            message = self.browse(plan["id"])
            if wamid:
                message.write(
                    {
                        "provider_message_id": message.provider_message_id or wamid,
                        "sent_date": message.sent_date or now,
                        "wa_template_id": plan.get("template_id"),
                        "error_message": False,
                        "next_attempt": False,
                    }
                )
                message._advance("sent")
                continue
            explanation = channel._whatsapp_error_message(error)
            if error.outcome_unknown:
                # Maybe sent: the status webhook will tell (our id rides in the
                # callback data); until then it is never sent again.
                message.error_message = self.env._(
                    "%(explanation)s Waiting for WhatsApp to confirm whether it was "
                    "sent.",
                    explanation=explanation,
                )
            elif error.retryable and message.attempt_count < MAX_ATTEMPTS:
                delay = max(
                    error.retry_after or 0,
                    backoff_seconds(
                        message.attempt_count,
                        base=RETRY_BASE_SECONDS,
                        cap=RETRY_CAP_SECONDS,
                    ),
                )
                message.write(
                    {
                        "state": "queued",
                        "next_attempt": now + timedelta(seconds=delay),
                        "error_message": explanation,
                    }
                )
            else:
                if error.kind == AUTH and channel.wa_token_state != "expired":
                    channel._whatsapp_token_expired(error)
                fall_back.setdefault(explanation, self.browse())
                fall_back[explanation] |= message
        for reason, messages in fall_back.items():
            messages._dunning_fall_back(reason)

    def _dunning_fall_back(self, reason=None):
        """These messages could not go through their channel: mark them failed
        with ``reason`` (else keep their own) and queue the same reminder
        through the next channel of their step that reaches the customer."""
        from .dunning_planner import DunningPlanner

        if reason:
            self.write({"state": "failed", "error_message": reason})
        to_create = []
        for company in self.company_id:
            messages = self.filtered(lambda m, company=company: m.company_id == company)
            planner = DunningPlanner(self.env, company, fields.Datetime.now())
            reach = planner.reach(messages.partner_id)
            for message in messages.filtered("step_id"):
                route = planner.fallback_route(message, reach)
                if route is None:
                    continue
                if route.unreachable_reason:
                    message.error_message = (
                        f"{reason or message.error_message}\n{route.unreachable_reason}"
                    )
                    continue
                to_create.append(
                    {
                        "company_id": company.id,
                        "partner_id": message.partner_id.id,
                        "move_ids": [fields.Command.set(message.move_ids.ids)],
                        "kind": message.kind,
                        "step_id": message.step_id.id,
                        "amount_due": message.amount_due,
                        "subject": message.subject,
                        "body": message.body,
                        "channel": route.channel,
                        "channel_id": route.channel_record.id,
                        "recipient": route.recipient,
                        "fallback_of_id": message.id,
                    }
                )
        fallbacks = self.create(to_create)
        for fallback in fallbacks:
            channels = dict(self._fields["channel"]._description_selection(self.env))
            fallback.fallback_of_id.error_message = self.env._(
                "%(reason)s\nSent by %(channel)s instead.",
                reason=reason or fallback.fallback_of_id.error_message,
                channel=channels[fallback.channel],
            )
        return fallbacks

    @api.model
    def _dunning_reconcile_unconfirmed(self):
        """WhatsApp messages still unconfirmed after their channel's waiting
        time (a crash or a timeout while sending, and no status webhook
        since): failed, for an accountant to check -- never sent again."""
        now = fields.Datetime.now()
        pending = self.search(
            [
                ("state", "=", "sending"),
                ("channel_id.channel_type", "=", "whatsapp"),
            ]
        )
        stale = pending.filtered(
            lambda m: (
                (m.sending_date or m.date)
                <= now - timedelta(minutes=m.channel_id.wa_unknown_timeout or 60)
            )
        )
        stale.write(
            {
                "state": "failed",
                "outcome_unknown": True,
                "error_message": self.env._(
                    "WhatsApp never confirmed whether this message was sent. It will "
                    "not be sent again automatically: check with the customer."
                ),
            }
        )
        return stale

    def _sms_body(self):
        """The text, with the opt-out line every SMS carries."""
        self.ensure_one()
        lang = self.partner_id.lang or "en_US"
        stop = self.with_context(lang=lang).env._("Reply STOP to opt out.")
        return f"{self.body or ''}\n{stop}"

    def _email_rendered(self):
        """``{id: (subject, body)}`` from each step's e-mail template (else
        the standard one), rendered in each customer's language, one
        rendering per template."""
        default = self.env.ref(
            "friendly_dunning.mail_template_dunning_reminder", raise_if_not_found=False
        )
        rendered = {}
        templates = {}
        for message in self:
            template = message.step_id.mail_template_id or default
            templates.setdefault(template, self.browse())
            templates[template] |= message
        for template, messages in templates.items():
            if not template:
                rendered |= {m.id: (None, m._email_body()) for m in messages}
                continue
            template = template.sudo()
            subjects = template._render_field(
                "subject", messages.ids, compute_lang=True
            )
            bodies = template._render_field(
                "body_html",
                messages.ids,
                compute_lang=True,
                options={"post_process": True},
            )
            rendered |= {m.id: (subjects[m.id], bodies[m.id]) for m in messages}
        return rendered

    def _email_attachments(self):
        """The PDFs of the invoices this e-mail is about, and for a reminder
        the customer's statement when the company attaches it."""
        self.ensure_one()
        documents = [
            move._get_invoice_legal_documents("pdf", allow_fallback=True)
            for move in self.move_ids
        ]
        if self.kind == "reminder" and self.company_id.dunning_attach_statement:
            partner = self.partner_id.commercial_partner_id.with_company(
                self.company_id
            ).with_context(lang=self.partner_id.lang)
            documents.append(
                {
                    "filename": self.env._(
                        "Statement - %(name)s.pdf", name=partner.name
                    ),
                    "content": partner._dunning_statement_pdf(),
                }
            )
        return (
            self.env["ir.attachment"]
            .sudo()
            .create(
                [
                    {
                        "name": document["filename"],
                        "raw": document["content"],
                        "mimetype": "application/pdf",
                        "res_model": self._name,
                        "res_id": self.id,
                    }
                    for document in documents
                    if document and document.get("content")
                ]
            )
        )

    def _email_body(self):
        self.ensure_one()
        return Markup("<div>%s</div>") % Markup("<br/>").join(
            html_escape(line) for line in (self.body or "").split("\n")
        )


class _WhatsAppSender:
    """Sends WhatsApp messages from a small thread pool while every database
    write stays in the caller's thread.

    ``submit`` plans a batch, marks it as being sent (committed by the caller
    before any answer is recorded) and hands the HTTP calls to the pool;
    ``collect`` waits for answers and records them. Each channel sends from
    one worker at a time (an advisory lock) and never faster than its rate.
    """

    # While messages are on the wire, the interpreter hands over between
    # threads every half millisecond rather than every 5 ms: a sender thread
    # whose slot came (12.5 ms apart at 80 a second) then writes on the
    # socket at once instead of after the database thread's next slice,
    # which is what bunched arrivals at the provider.
    SWITCH_INTERVAL = 0.0005

    def __init__(self, env, workers=WHATSAPP_WORKERS):
        self.env = env
        self.workers = workers
        self._pool = None
        self._switch_interval = None
        self._channels = {}  # id -> (client, limiter) or None when busy
        self._batches = []  # [(channel, [future, ...]), ...] in submit order

    def _channel(self, channel):
        if channel.id not in self._channels:
            if not channel._whatsapp_sender_lock():
                self._channels[channel.id] = None
            else:
                try:
                    client = channel._whatsapp_client(pool_size=self.workers)
                except UserError as error:
                    client = error
                self._channels[channel.id] = (
                    client,
                    channel._whatsapp_rate_limiter(),
                )
        return self._channels[channel.id]

    def submit(self, messages):
        """Start sending ``messages`` (queued WhatsApp messages, locked by the
        caller); answers those left queued because their number is busy."""
        Communication = messages.browse()
        busy = Communication
        for channel in messages.channel_id:
            channel = channel.sudo()
            batch = messages.filtered(
                lambda m, channel=channel: m.channel_id == channel
            )
            state = self._channel(channel)
            if state is None:
                busy |= batch
                continue
            client, limiter = state
            if isinstance(client, UserError):
                batch._dunning_fall_back(str(client))
                continue
            if channel.wa_token_state == "expired":
                batch._dunning_fall_back(
                    channel.wa_last_error
                    or channel._whatsapp_error_message(
                        WhatsAppError(190, AUTH, "token expired")
                    )
                )
                continue
            plans, skipped = batch._whatsapp_plan(channel)
            for reason, skipped_messages in skipped.items():
                skipped_messages._dunning_fall_back(reason)
            if not plans:
                continue
            planned = Communication.browse([plan["id"] for plan in plans])
            planned.flush_recordset()
            self.env.execute_query(
                SQL(
                    "UPDATE dunning_communication SET state = 'sending', "
                    "sending_date = NOW() AT TIME ZONE 'UTC', "
                    "attempt_count = COALESCE(attempt_count, 0) + 1 "
                    "WHERE id = ANY(%s)",
                    planned.ids,
                )
            )
            planned.invalidate_recordset(["state", "sending_date", "attempt_count"])
            # Marked as being sent, durably, before anything goes on the wire.
            planned._dunning_commit(0)
            if self._pool is None:
                self._switch_interval = sys.getswitchinterval()
                sys.setswitchinterval(min(self._switch_interval, self.SWITCH_INTERVAL))
                self._pool = ThreadPoolExecutor(
                    self.workers, thread_name_prefix="dunning_whatsapp"
                )
            futures = [
                self._pool.submit(_deliver, client, limiter, plan) for plan in plans
            ]
            self._batches.append((channel, futures))
        return busy

    def collect(self, keep_latest=False):
        """Record the answers of the submitted batches (all but the latest
        one with ``keep_latest``)."""
        keep = 1 if keep_latest else 0
        while len(self._batches) > keep:
            channel, futures = self._batches.pop(0)
            wait(futures)
            results = [future.result() for future in futures]
            self.env["dunning.communication"].sudo()._whatsapp_record(channel, results)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        for channel_id, state in self._channels.items():
            if state is not None:
                self.env["dunning.channel"].browse(channel_id)._whatsapp_sender_unlock()
        self._channels = {}


def _deliver(client, limiter, plan):
    """One message on the wire (runs in a pool thread: no database access).
    Answers ``(plan, wamid, error)``."""
    try:
        if "text" in plan and plan.get("document"):
            media_id = client.upload_media(*plan["document"])
            wamid = client.send_document(
                plan["to"],
                media_id,
                plan["document"][0],
                caption=plan["text"],
                callback_data=plan["callback"],
                gate=limiter.acquire,
            )
            return plan, wamid, None
        if "text" in plan:
            wamid = client.send_text(
                plan["to"], plan["text"], plan["callback"], gate=limiter.acquire
            )
            return plan, wamid, None
        media_id = None
        if plan.get("document"):
            media_id = client.upload_media(*plan["document"])
        url_index, url_suffix = plan.get("url_button") or (0, None)
        components = template_components(
            body_params=plan.get("body_params"),
            url_button_suffix=url_suffix,
            url_button_index=url_index,
            document_media_id=media_id,
            document_filename=plan["document"][0] if media_id else None,
            quick_reply_payloads=plan.get("quick_replies"),
        )
        wamid = client.send_template(
            plan["to"],
            plan["template"],
            plan["language"],
            components,
            plan["callback"],
            gate=limiter.acquire,
        )
        return plan, wamid, None
    except WhatsAppError as error:
        return plan, None, error
    except Exception as error:
        _logger.exception("WhatsApp message %s could not be sent", plan["id"])
        return plan, None, WhatsAppError(None, "invalid_request", str(error))
