from odoo import api, fields, models

from .dunning_communication_whatsapp import WhatsAppSender

# Messages handed to their channel per transaction.
SEND_BATCH = 500


class DunningCommunication(models.Model):
    """The outbox: queued messages handed to their channel, batch by batch."""

    _inherit = "dunning.communication"

    @api.model
    def _dunning_send_queued(self):
        """Hand every queued, approved message to its channel, batch by batch.

        Each batch is locked (two workers never take the same message) and, when
        run by the scheduled job, committed before the next one. WhatsApp
        messages go on the wire a few at a time, each committed as being
        sent just before, its answer committed as it comes (see
        ``WhatsAppSender``); the last few are on the wire while the next
        batch is prepared, so the number sends at its full rate.
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
        sender = WhatsAppSender(self.env)
        try:
            while True:
                batch = self.search(
                    domain + [("id", "not in", busy)], limit=SEND_BATCH
                ).try_lock_for_update()
                if not batch:
                    break
                busy += batch._dunning_send(sender=sender).ids
                sender.flush()
                self._dunning_commit(len(batch), remaining=self.search_count(domain))
            sender.collect()
            self._dunning_commit(0)
        finally:
            sender.close()

    def _dunning_commit(self, done, remaining=None):
        """Commit progress when run by the scheduled job (or a benchmark):
        messages marked as being sent are committed before their HTTP calls,
        so that after a crash only those can be in doubt, and never sent
        again before their status or waiting time says so."""
        if self.env.context.get("cron_id") or self.env.context.get("dunning_commit"):
            self.env["ir.cron"]._commit_progress(done, remaining=remaining)

    def _dunning_send(self, sender=None):
        """Hand these messages to their channels: ``_send_<channel type>()``
        for each type. ``sender``, a ``WhatsAppSender``, keeps WhatsApp
        answers to collect later (else they are collected here). Answers the
        WhatsApp messages left queued because another worker is sending
        through their number."""
        busy = self.browse()
        for channel_type, messages in self._split_by_channel_type():
            if channel_type == "whatsapp":
                busy |= messages._send_whatsapp(sender=sender)
            elif channel_type:
                getattr(messages, f"_send_{channel_type}")()
            else:
                messages.write(
                    {
                        "state": "failed",
                        "error_message": self.env._(
                            "The channel of this message is no longer active."
                        ),
                    }
                )
        return busy

    def _split_by_channel_type(self):
        """``(channel type, messages)`` pairs, WhatsApp first so that its
        calls are on the wire while the others are prepared; ``False`` for
        messages without a channel that can send them."""
        known = dict(self.env["dunning.channel"]._fields["channel_type"].selection)
        grouped = self.grouped(
            lambda message: (
                message.channel_id.channel_type
                if message.channel_id.channel_type in known
                else False
            )
        )
        for channel_type in ("whatsapp", *known, False):
            if channel_type in grouped:
                yield channel_type, grouped.pop(channel_type)

    def _send_sandbox(self):
        """The sandbox records the message and sends nothing: it is not sent
        (no sent date), so that nobody, and no KPI, takes it for sent."""
        self.write({"state": "sandbox"})
