import json
import logging
from datetime import datetime, timedelta, timezone

from odoo import api, fields, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from ..tools.rate_limiter import backoff_seconds
from .raw_sql import run_sql

_logger = logging.getLogger(__name__)

INBOUND_STATES = [
    ("pending", "To handle"),
    ("done", "Handled"),
    ("failed", "Failed"),
]
# A message whose handling raises is tried again this many times in all,
# 1 minute later, then doubling up to 15 minutes; then it stays failed for
# an accountant to read.
MAX_INBOUND_ATTEMPTS = 4
RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 900
# The advisory lock a webhook holds while it handles its messages itself
# (the first key; the channels' locks use theirs).
INBOUND_LOCK_CLASS = 7_346_002
# WhatsApp messages whose file is a receipt (see dunning.reply._on_receipt).
RECEIPT_TYPES = ("image", "document")


def _utc(timestamp):
    """A provider's Unix time as a naive UTC datetime (``None`` stays)."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


class DunningInbound(models.Model):
    """The customers' WhatsApp messages as they arrive, before they are acted
    on: recorded by the webhook in one statement, handled right away when
    nothing waits before them, else by the scheduled job, in the order the
    customers sent them."""

    _name = "dunning.inbound"
    _description = "Collections inbound message"
    _order = "sent_date desc, id desc"

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True
    )
    channel_id = fields.Many2one(
        "dunning.channel",
        string="Received by",
        required=True,
        readonly=True,
        ondelete="cascade",
    )
    sender = fields.Char(string="From", readonly=True)
    provider_message_id = fields.Char(string="Provider message ID", readonly=True)
    sent_date = fields.Datetime(
        string="Sent",
        readonly=True,
        help="When the customer sent it, by the provider's clock (when it was "
        "received, if the provider did not say).",
    )
    event = fields.Json(readonly=True)
    state = fields.Selection(
        INBOUND_STATES, default="pending", required=True, readonly=True
    )
    attempts = fields.Integer(readonly=True)
    next_attempt = fields.Datetime(
        string="Next attempt",
        readonly=True,
        help="Set after a failed attempt: when it is tried again.",
    )
    error_message = fields.Text(string="Error", readonly=True)

    # A delivery repeated by the provider is dropped at the door.
    _provider_message_uniq = models.UniqueIndex(
        "(channel_id, provider_message_id)", "This message was already received."
    )
    _pending_idx = models.Index(
        "(sent_date, id) WHERE state = 'pending'",
    )

    @api.model
    def _record_whatsapp(self, messages):
        """Record ``messages``, ``(channel id, company id, event)`` of the
        webhook, in one statement; a message already received is skipped.
        Returns the new records, in the order they were sent."""
        if not messages:
            return self.browse()
        now = fields.Datetime.now()
        rows = [
            SQL(
                "(%s, %s, %s, %s, %s, %s::jsonb, 'pending', 0, %s, %s, %s, %s)",
                company_id,
                channel_id,
                "+" + event["from"].lstrip("+"),
                event["wamid"],
                _utc(event.get("timestamp")) or now,
                json.dumps(event),
                self.env.uid,
                now,
                self.env.uid,
                now,
            )
            for channel_id, company_id, event in messages
        ]
        inserted = run_sql(
            self.env,
            SQL(
                "INSERT INTO dunning_inbound (company_id, channel_id, sender, "
                "provider_message_id, sent_date, event, state, attempts, "
                "create_uid, create_date, write_uid, write_date) VALUES %s "
                "ON CONFLICT (channel_id, provider_message_id) DO NOTHING "
                "RETURNING id, sent_date",
                SQL(", ").join(rows),
            ),
            reads={"dunning.inbound": ["provider_message_id"]},
        )
        return self.browse(row[0] for row in sorted(inserted, key=lambda r: r[1:]))

    def _handle_now(self):
        """Whether the webhook that recorded these messages handles them
        itself, in one query: only when no other message waits for its first
        handling (committed by another request) and no other request is
        handling messages at this moment (a lock held until the end of the
        request). A message waiting for its retry does not count: it would
        hold up every new reply until then."""
        return run_sql(
            self.env,
            SQL(
                "SELECT NOT EXISTS (SELECT 1 FROM dunning_inbound "
                "WHERE state = 'pending' AND next_attempt IS NULL "
                "AND id != ALL(%s)) AND pg_try_advisory_xact_lock(%s, 0)",
                self.ids,
                INBOUND_LOCK_CLASS,
            ),
            reads={"dunning.inbound": ["state", "next_attempt"]},
        )[0][0]

    def _dispatch(self):
        """Handle these new messages now in a quiet moment (the customer is
        answered within the webhook's request), else leave them to the
        scheduled job, which takes them in the order they were sent: under a
        burst each webhook only records, and is answered at once."""
        if not self:
            return
        if not self._handle_now():
            self._wake_job()
            return
        for message in self:
            message._handle_one()

    def _inbound_job(self, xmlid="ir_cron_dunning_inbound"):
        """A scheduled job that handles waiting messages (the first by
        default), found through the registry's cache of XML ids (``env.ref``
        would also query that the record exists, on every webhook of a
        burst)."""
        return (
            self.env["ir.cron"]
            .sudo()
            .browse(
                self.env["ir.model.data"]._xmlid_to_res_id(
                    f"friendly_dunning.{xmlid}", raise_if_not_found=True
                )
            )
        )

    def _wake_job(self, job=None):
        """Make sure ``job`` (the first inbound job by default) runs after
        this transaction commits, in one query under a burst: a trigger that
        is due and that no running job has taken yet is locked until the
        commit (a job that starts meanwhile waits for it before it clears its
        triggers, then sees these messages); only when there is none is a new
        trigger created, which notifies the cron workers. Each webhook of a
        burst creating its own trigger (an insert and a notification) would
        cost more than recording its messages."""
        job = job or self._inbound_job()
        claimed = self.env.execute_query(
            SQL(
                "SELECT id FROM ir_cron_trigger WHERE cron_id = %s "
                "AND call_at <= %s LIMIT 1 FOR UPDATE SKIP LOCKED",
                job.id,
                fields.Datetime.now(),
            )
        )
        if not claimed:
            job._trigger()

    def _handle_one(self):
        """Act on this message through ``dunning.reply._handle``; an error
        rolls back what it did, and the message is tried again later (at most
        ``MAX_INBOUND_ATTEMPTS`` times in all). A clash with another worker
        on the same chat is no error: the webhook's request is retried whole
        (the record included), and the job takes the message again after
        its commit, with a fresh snapshot."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                self._handle_event()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            if not self.env.context.get("cron_id"):
                raise
            return
        # Whatever goes wrong is kept on the message, which is tried again.
        except Exception as error:
            _logger.exception("Inbound message %s could not be handled", self.id)
            self._attempt_failed(error)
            return
        self.write(
            {
                "state": "done",
                "attempts": self.attempts + 1,
                "next_attempt": False,
                "error_message": False,
            }
        )

    def _handle_event(self):
        event = self.event
        channel = self.channel_id.sudo()
        # A photo or a PDF the customer sends is their receipt.
        media = (
            event if event["type"] in RECEIPT_TYPES and event.get("media_id") else None
        )
        # The answers leave within the handling: never committed half-way by
        # the sending's own progress commits when run by the scheduled job.
        self.env["dunning.reply"].sudo().with_context(cron_id=None)._handle(
            channel.company_id,
            self.sender,
            event.get("text") or event.get("title"),
            payload=event.get("payload"),
            provider_id=event.get("wamid"),
            replied_to=event.get("context_wamid"),
            receiver=channel,
            sent_at=_utc(event.get("timestamp")),
            media=media,
        )

    def _attempt_failed(self, error):
        attempts = self.attempts + 1
        values = {"attempts": attempts, "error_message": str(error) or repr(error)}
        if attempts >= MAX_INBOUND_ATTEMPTS:
            self.write(values | {"state": "failed", "next_attempt": False})
            return
        retry = fields.Datetime.now() + timedelta(
            seconds=backoff_seconds(
                attempts, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS
            )
        )
        self.write(values | {"next_attempt": retry})
        self._inbound_job()._trigger(at=retry)

    def _next_waiting(self, now):
        """The next message a job may handle, locked, or ``None``: the oldest
        sent whose chat (channel and sender) has no older message waiting.
        A chat whose first waiting message another job is handling (its row
        locked) is skipped whole, so two jobs share the queue and a chat's
        messages are still acted on in the order the customer sent them. A
        message waiting for its retry holds up nobody."""
        due = SQL(
            "state = 'pending' AND (next_attempt IS NULL OR next_attempt <= %s)", now
        )
        rows = run_sql(
            self.env,
            SQL(
                "SELECT id FROM dunning_inbound message WHERE %s AND NOT EXISTS ("
                "SELECT 1 FROM dunning_inbound older WHERE %s "
                "AND older.channel_id = message.channel_id "
                "AND older.sender = message.sender "
                "AND (older.sent_date, older.id) < (message.sent_date, message.id)) "
                "ORDER BY sent_date, id LIMIT 1 FOR UPDATE SKIP LOCKED",
                SQL("message.%s", due),
                SQL("older.%s", due),
            ),
            reads={
                "dunning.inbound": [
                    "state",
                    "next_attempt",
                    "sent_date",
                    "channel_id",
                    "sender",
                ]
            },
        )
        return self.browse(rows[0][0]) if rows else None

    @api.model
    def _cron_handle_inbound(self):
        """Handle the waiting messages (see ``_next_waiting``), each committed
        on its own: its answer has left already. With several waiting, the
        first job wakes the second, and both take from the queue."""
        now = fields.Datetime.now()
        cron_id = self.env.context.get("cron_id")
        if cron_id == self._inbound_job().id and self._waiting_count(now) > 1:
            self._wake_job(self._inbound_job("ir_cron_dunning_inbound_second"))
            self.env["ir.cron"]._commit_progress()
        while True:
            try:
                message = self._next_waiting(now)
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                # A message the other job finished after this transaction
                # began: looked for again with a fresh snapshot.
                if not cron_id:
                    raise
                self.env.cr.rollback()
                continue
            if not message:
                return
            message.invalidate_recordset()
            message._handle_one()
            if not cron_id:
                continue
            remaining = self._waiting_count(now)
            left = self.env["ir.cron"]._commit_progress(1, remaining=remaining)
            if remaining and not left:
                # Out of time: woken again at once for the others (a job left
                # partially done otherwise waits for the cron worker's next
                # poll).
                self.env["ir.cron"].browse(cron_id)._trigger()
                self.env["ir.cron"]._commit_progress()
                return

    def _waiting_count(self, now):
        return self.search_count(
            [
                ("state", "=", "pending"),
                "|",
                ("next_attempt", "=", False),
                ("next_attempt", "<=", now),
            ]
        )

    def action_retry(self):
        """Try these failed messages again now."""
        self.check_access("write")
        failed = self.filtered(lambda m: m.state == "failed")
        failed.sudo().write(
            {"state": "pending", "attempts": 0, "next_attempt": fields.Datetime.now()}
        )
        if failed:
            self._inbound_job()._trigger()
        return True
