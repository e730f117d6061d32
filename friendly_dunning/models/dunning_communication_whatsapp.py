from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_date, formatLang

from ..tools.phones import to_e164
from ..tools.rate_limiter import backoff_seconds
from ..tools.whatsapp_client import AUTH, WhatsAppError
from ..tools.whatsapp_payloads import currency_param
from ..tools.whatsapp_sender import WhatsAppPool
from .raw_sql import run_sql

# HTTP calls to WhatsApp in flight at once; the rate limiter sets the pace.
WHATSAPP_WORKERS = 8
# Sends tried before a retryable error (rate limit, server error) is final.
MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 3600
# WhatsApp's customer service window.
SERVICE_WINDOW = timedelta(hours=24)


class DunningCommunication(models.Model):
    """Sending through WhatsApp: a template, or free text inside the
    customer service window; what WhatsApp answered; retries."""

    _inherit = "dunning.communication"

    def _send_whatsapp(self, sender=None):
        """Send these messages through their WhatsApp channels. ``sender``
        (a ``WhatsAppSender``) keeps the answers for its caller to collect;
        without one they are recorded before returning. Answers the messages
        left queued because another worker is sending through their number."""
        if sender is not None:
            return sender.submit(self)
        sender = WhatsAppSender(self.env)
        try:
            busy = sender.submit(self)
            sender.collect()
        finally:
            sender.close()
        return busy

    def _whatsapp_mark_sending(self):
        """Mark these messages as being sent, one more attempt each."""
        run_sql(
            self.env,
            SQL(
                "UPDATE dunning_communication SET state = 'sending', "
                "sending_date = NOW() AT TIME ZONE 'UTC', "
                "attempt_count = COALESCE(attempt_count, 0) + 1 "
                "WHERE id = ANY(%s)",
                self.ids,
            ),
            writes={
                "dunning.communication": ["state", "sending_date", "attempt_count"]
            },
        )

    def _whatsapp_plan(self, channel):
        """What to send for each message: ``(plans, skipped)`` where a plan is
        a dict for ``WhatsAppSender`` and ``skipped`` maps a reason to the
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


class WhatsAppSender:
    """Sends WhatsApp messages through a ``WhatsAppPool`` while every database
    write stays in the caller's thread.

    ``submit`` plans a batch, marks it as being sent (committed by the caller
    before any answer is recorded) and hands the HTTP calls to the pool;
    ``collect`` waits for answers and records them. Each channel sends from
    one worker at a time (an advisory lock) and never faster than its rate.
    """

    def __init__(self, env, workers=WHATSAPP_WORKERS):
        self.env = env
        self.workers = workers
        self._pool = WhatsAppPool(workers)
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
            planned._whatsapp_mark_sending()
            # Marked as being sent, durably, before anything goes on the wire.
            planned._dunning_commit(0)
            futures = self._pool.submit(client, limiter, plans)
            self._batches.append((channel, futures))
        return busy

    def collect(self, keep_latest=False):
        """Record the answers of the submitted batches (all but the latest
        one with ``keep_latest``)."""
        keep = 1 if keep_latest else 0
        while len(self._batches) > keep:
            channel, futures = self._batches.pop(0)
            results = self._pool.results(futures)
            self.env["dunning.communication"].sudo()._whatsapp_record(channel, results)

    def close(self):
        self._pool.close()
        for channel_id, state in self._channels.items():
            if state is not None:
                self.env["dunning.channel"].browse(channel_id)._whatsapp_sender_unlock()
        self._channels = {}
