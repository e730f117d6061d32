from datetime import datetime, timedelta, timezone

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.whatsapp_client import WhatsAppError, error_kind
from ..tools.whatsapp_pricing import fold_pricing
from .raw_sql import run_sql

# How far a message got; a status update never moves it backwards.
STATE_RANK = {
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "replied": 5,
}

# What a status event can change on a message.
STATUS_FIELDS = (
    "state",
    "provider_message_id",
    "sent_date",
    "delivered_date",
    "read_date",
    "cost",
    "cost_category",
    "charge",
    "wa_pricing_type",
)
# What a delivered WhatsApp message's charge follows.
PRICING_INPUTS = ("delivered_date", "cost_category", "wa_pricing_type")


class DunningCommunication(models.Model):
    """What the providers tell us of each message: statuses applied in order
    of progress, never backwards, only by the number that sent the message,
    and messages never confirmed."""

    _inherit = "dunning.communication"

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
    def _apply_whatsapp_statuses(self, channels, statuses):
        """Apply a webhook's status events (``parse_webhook`` dicts) with a
        constant number of queries however many there are: one search, one
        UPDATE. An event acts only for the channel of ``channels`` that owns
        its ``phone_number_id`` (the number that sent the message), on that
        channel's messages, matched by our id (the callback data) or the
        provider's; repeated and out-of-order events are harmless. Answers
        the messages that failed with these events."""
        by_number = {channel.wa_phone_number_id: channel for channel in channels}
        statuses = [e for e in statuses if e.get("phone_number_id") in by_number]
        if not statuses:
            return self.browse()
        our_ids = {
            int(event["callback_data"])
            for event in statuses
            if (event.get("callback_data") or "").isdigit()
            and int(event["callback_data"]) < 2**31
        }
        wamids = {event["wamid"] for event in statuses if event.get("wamid")}
        # Looked up by their ids alone (primary key, provider id index); the
        # channel is checked here rather than letting PostgreSQL walk the
        # channel of a large outbox.
        messages = self.search_fetch(
            [
                "|",
                ("id", "in", list(our_ids)),
                ("provider_message_id", "in", list(wamids)),
            ],
            [*STATUS_FIELDS, "channel_id"],
        ).filtered(lambda message: message.channel_id in channels)
        by_id = {message.id: message for message in messages}
        by_wamid = {m.provider_message_id: m for m in messages if m.provider_message_id}
        current = {
            message.id: {name: message[name] for name in STATUS_FIELDS}
            for message in messages
        }
        failed_before = {i for i, v in current.items() if v["state"] == "failed"}
        original = {message_id: dict(values) for message_id, values in current.items()}
        changed = {}
        for event in sorted(statuses, key=lambda e: e.get("timestamp") or 0):
            channel = by_number[event["phone_number_id"]]
            callback = event.get("callback_data") or ""
            message = (callback.isdigit() and by_id.get(int(callback))) or by_wamid.get(
                event.get("wamid")
            )
            if not message or message.channel_id != channel:
                continue  # not ours, or another number's: ignore
            values = current[message.id]
            before = dict(values)
            self._merge_status(values, event, channel)
            if values != before:
                changed[message.id] = values
        if not changed:
            return self.browse()
        # Priced once delivered, and again only when a webhook tells more of
        # the price: a repeated status prices nothing twice.
        self._whatsapp_charges(
            {
                message_id: values
                for message_id, values in changed.items()
                if values["delivered_date"]
                and any(
                    values[name] != original[message_id][name]
                    for name in PRICING_INPUTS
                )
            }
        )
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
        values["cost_category"], values["wa_pricing_type"] = fold_pricing(
            event.get("pricing"), values["cost_category"], values["wa_pricing_type"]
        )
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
        rows = SQL(", ").join(
            SQL(
                "(%s, %s, %s, %s::timestamp, %s::timestamp, %s::timestamp, "
                "%s::float8, %s, %s, %s, %s)",
                message_id,
                values["state"],
                values["provider_message_id"] or None,
                values["sent_date"] or None,
                values["delivered_date"] or None,
                values["read_date"] or None,
                values["cost"] or 0.0,
                values["cost_category"] or None,
                values["charge"] or None,
                values["wa_pricing_type"] or None,
                values.get("error_message"),
            )
            for message_id, values in changed.items()
        )
        run_sql(
            self.env,
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
                   charge = v.charge,
                   wa_pricing_type = v.wa_pricing_type,
                   error_message = COALESCE(v.error_message, message.error_message),
                   write_date = NOW() AT TIME ZONE 'UTC',
                   write_uid = %s
              FROM (VALUES %s) AS v(id, state, wamid, sent_date, delivered_date,
                                    read_date, cost, cost_category, charge,
                                    wa_pricing_type, error_message)
             WHERE message.id = v.id
                """,
                self.env.uid,
                rows,
            ),
            writes={
                "dunning.communication": [
                    *STATUS_FIELDS,
                    "error_message",
                    "write_date",
                    "write_uid",
                ]
            },
        )

    @api.model
    def _dunning_reconcile_unconfirmed(self):
        """WhatsApp messages still unconfirmed after their channel's waiting
        time (a crash or a timeout while sending, and no status webhook
        since): queued to be sent once more, carrying the same id so that a
        late status of the first send still settles it; unconfirmed again
        after that, failed for an accountant to check. Answers the failed
        ones."""
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
        given_up = stale.filtered("resent_unconfirmed")
        (stale - given_up).write(
            {
                "state": "queued",
                "resent_unconfirmed": True,
                "next_attempt": False,
                "error_message": self.env._(
                    "WhatsApp never confirmed whether this message was sent: it is "
                    "sent once more."
                ),
            }
        )
        given_up.write(
            {
                "state": "failed",
                "outcome_unknown": True,
                "error_message": self.env._(
                    "WhatsApp never confirmed whether this message was sent, even "
                    "when sent a second time. It will not be sent again "
                    "automatically: check with the customer."
                ),
            }
        )
        return given_up
