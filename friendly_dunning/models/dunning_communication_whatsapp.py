from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_date, formatLang

from ..tools.phones import to_e164
from ..tools.rate_limiter import backoff_seconds
from ..tools.whatsapp_client import AUTH, WhatsAppError
from ..tools.whatsapp_payloads import currency_param
from ..tools.whatsapp_pricing import template_category
from ..tools.whatsapp_sender import WhatsAppPool
from .dunning_decision import instalments_due
from .raw_sql import run_sql

# HTTP calls to WhatsApp in flight at once; the rate limiter sets the pace.
WHATSAPP_WORKERS = 8
# Messages marked as being sent ahead of their answers, per worker: the most
# whose outcome a crash can leave unknown is the workers times this. Three
# keep enough waiting behind the running calls to cover the database
# thread's pauses (planning, commits), so the number keeps its full rate.
IN_FLIGHT_PER_WORKER = 3
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
        """Mark those of these messages still queued as being sent, one more
        attempt each (the caller commits this before their calls); answers
        them. One statement checks and marks, so that a message cancelled
        since it was taken is never sent."""
        rows = run_sql(
            self.env,
            SQL(
                "UPDATE dunning_communication SET state = 'sending', "
                "sending_date = NOW() AT TIME ZONE 'UTC', "
                "attempt_count = COALESCE(attempt_count, 0) + 1 "
                "WHERE id = ANY(%s) AND state = 'queued' RETURNING id",
                self.ids,
            ),
            writes={
                "dunning.communication": ["state", "sending_date", "attempt_count"]
            },
        )
        return self.browse([message_id for (message_id,) in rows])

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
            if e164 in window_open and message.wa_interactive:
                plans.append(plan | {"interactive": message.wa_interactive})
                continue
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
        today = fields.Date.context_today(self)
        # The instalments due, not the invoices' totals.
        lines = instalments_due(self.move_ids, today)
        by_currency = {}
        for line in lines:
            by_currency[line.currency_id] = (
                by_currency.get(line.currency_id, 0.0) + line.residual
            )
        currencies = self.env["res.currency"].browse(list(by_currency))
        if len(by_currency) == 1:
            [total] = by_currency.values()
            amount = currency_param(
                round(total, currencies.decimal_places),
                currencies.name,
                formatLang(env, total, currency_obj=currencies),
            )
        else:
            amount = ", ".join(
                formatLang(env, by_currency[currency.id], currency_obj=currency)
                for currency in currencies
            )
        values = {
            "name": self.partner_id.name,
            "amount": amount,
            "invoices": ", ".join(dict.fromkeys(line.name for line in lines)),
            "company": self.company_id.name,
        }
        if lines and lines[0].due:
            oldest_due = lines[0].due
            values["due_date"] = format_date(env, oldest_due)
            values["days_overdue"] = str(max(0, (today - oldest_due).days))
        return values

    def _whatsapp_template_params(self, picked=None):
        """``(plan values, None)`` for the step's template in the customer's
        language, or ``(None, reason)`` when none can be sent. ``picked``
        caches the template chosen per mapped template and language."""
        self.ensure_one()
        picked = {} if picked is None else picked
        mapped = self.step_id.wa_template_id
        name = mapped.name or self.step_id.wa_template_name
        channel = mapped.channel_id or self.channel_id
        key = (channel.id, name, mapped.id, self.partner_id.lang)
        if key not in picked:
            picked[key] = (
                self.env["dunning.whatsapp.template"]
                .sudo()
                ._find(channel, name, self.partner_id.lang, mapped.sudo())
                if name
                else (mapped, mapped)
            )
        template, unusable = picked[key]
        if unusable:
            return None, self.env._(
                "WhatsApp: the customer has not written in the last 24 hours and "
                "the template “%(template)s” (%(language)s) cannot be sent: "
                "%(why)s",
                template=unusable.name,
                language=unusable.language,
                why=unusable._why_unusable(),
            )
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
            plan["url_button"] = (index, self._whatsapp_url_suffix(url, oldest))
        if (template.header_format or "").upper() == "DOCUMENT" and oldest:
            document = oldest._get_invoice_legal_documents("pdf", allow_fallback=True)
            if document and document.get("content"):
                plan["document"] = (
                    document["filename"],
                    document["content"],
                    "application/pdf",
                )
        return plan, None

    def _whatsapp_url_suffix(self, url, invoice):
        """The variable end of a template's link button: the token of the
        customer's collections page when the link leads there, else the part
        of the invoice's page the link does not already hold."""
        self.ensure_one()
        prefix = url.split("{{", 1)[0]
        if prefix.endswith("/collections/"):
            partner = self.partner_id.commercial_partner_id.sudo()
            return partner._dunning_portal_token(self.company_id)
        link = invoice.get_base_url() + invoice.get_portal_url()
        if prefix and link.startswith(prefix):
            return link[len(prefix) :]
        return invoice.get_portal_url().lstrip("/")

    def _whatsapp_record(self, channel, results):
        """Store what WhatsApp answered: ``results`` are ``(plan, wamid,
        error)`` of this channel's calls."""
        now = fields.Datetime.now()
        Template = self.env["dunning.whatsapp.template"].sudo()
        fall_back = {}
        for plan, wamid, error in results:
            message = self.browse(plan["id"])
            if wamid:
                template = Template.browse(plan.get("template_id"))
                message.write(
                    {
                        "provider_message_id": message.provider_message_id or wamid,
                        "sent_date": message.sent_date or now,
                        "wa_template_id": template.id,
                        # Meta's own category, from a status that came first,
                        # stays.
                        "cost_category": message.cost_category
                        or template_category(template.category),
                        "error_message": False,
                        "next_attempt": False,
                    }
                )
                message._advance("sent")
                continue
            explanation = channel._whatsapp_error_message(error)
            if error.outcome_unknown:
                # Maybe sent: the status webhook will tell (our id rides in the
                # callback data); without one it is sent once more after the
                # channel's waiting time (_dunning_reconcile_unconfirmed).
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

    ``submit`` takes the messages of a batch; ``flush`` puts them on the
    wire a chunk at a time: each chunk is planned, marked as being sent and
    committed (by the caller's job) right before the pool gets it, and
    answers are recorded and committed as they come. A chunk starts only
    when the answers before it left room in the window, so a crash leaves at
    most ``window`` messages whose outcome is unknown; the status webhook or
    the one automatic resend settles them
    (``_dunning_reconcile_unconfirmed``). Each channel sends from one worker
    at a time (an advisory lock) and never faster than its rate: the lock,
    and the mark that checks each message is still queued, keep the rest of
    a batch safe once the first commit has ended the caller's row locks.
    """

    def __init__(self, env, workers=WHATSAPP_WORKERS):
        self.env = env
        self.workers = workers
        self.window = workers * IN_FLIGHT_PER_WORKER
        self._pool = WhatsAppPool(workers)
        self._channels = {}  # id -> (client, limiter) or None when busy
        self._pending = []  # [[channel, client, limiter, message ids], ...]
        self._in_flight = {}  # future -> channel

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
        """Take ``messages`` (queued WhatsApp messages, locked by the caller)
        to send at the next ``flush``; answers those left queued because
        their number is busy."""
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
            self._pending.append([channel, client, limiter, batch.ids])
        return busy

    def flush(self):
        """Put every submitted message on the wire, recording answers as
        they come; returns with at most ``window`` messages still on the
        wire, so that the caller can prepare its next batch meanwhile."""
        while self._pending:
            room = self.window - len(self._in_flight)
            # Chunks of a worker's share at least, to keep commits few.
            if room >= min(self.workers, self.window):
                self._start_chunk(room)
            else:
                self._record_answers()

    def collect(self):
        """Send everything submitted and record every answer."""
        self.flush()
        while self._in_flight:
            self._record_answers()

    def _start_chunk(self, size):
        """Plan the next ``size`` pending messages, mark them as being sent,
        commit, and hand them to the pool."""
        channel, client, limiter, ids = self._pending[0]
        chunk_ids, ids[:] = ids[:size], ids[size:]
        if not ids:
            self._pending.pop(0)
        Communication = self.env["dunning.communication"].sudo()
        chunk = Communication.browse(chunk_ids)
        chunk.invalidate_recordset(["state"])
        chunk = chunk.filtered(lambda message: message.state == "queued")
        plans, skipped = chunk._whatsapp_plan(channel)
        for reason, skipped_messages in skipped.items():
            skipped_messages._dunning_fall_back(reason)
        marked = set(
            Communication.browse([plan["id"] for plan in plans])
            ._whatsapp_mark_sending()
            .ids
        )
        plans = [plan for plan in plans if plan["id"] in marked]
        # Marked as being sent, durably, before anything goes on the wire:
        # after a crash these wait for their status (or the waiting time)
        # rather than going out again with the next run.
        Communication._dunning_commit(0)
        for future in self._pool.submit(client, limiter, plans):
            self._in_flight[future] = channel

    def _record_answers(self):
        """Wait for at least one answer, record every answer in, commit."""
        done = self._pool.wait_any(self._in_flight)
        by_channel = {}
        for future in done:
            channel = self._in_flight.pop(future)
            by_channel.setdefault(channel, []).append(future.result())
        Communication = self.env["dunning.communication"].sudo()
        for channel, results in by_channel.items():
            Communication._whatsapp_record(channel, results)
        Communication._dunning_commit(0)

    def close(self):
        self._pool.close()
        for channel_id, state in self._channels.items():
            if state is not None:
                self.env["dunning.channel"].browse(channel_id)._whatsapp_sender_unlock()
        self._channels = {}
