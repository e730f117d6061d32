"""Meta's review of WhatsApp templates, as its webhooks report it: the
status and the category of each template, each change applied once and
never one older than what is known."""

import logging
from datetime import datetime, timezone

from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# Review outcomes a webhook may set. PENDING is ours to set when we submit:
# a late PENDING never undoes an outcome.
REVIEW_EVENTS = frozenset({"APPROVED", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL"})


def _event_time(timestamp):
    if not timestamp:
        return fields.Datetime.now()
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


class DunningWhatsAppTemplate(models.Model):
    _inherit = "dunning.whatsapp.template"

    @api.model
    def _apply_review_events(self, channels, events):
        """Apply the ``templates`` events of a webhook (see
        ``parse_webhook``) to the templates of ``channels``: each change at
        most once, and never one older than what is known (a late or
        repeated event changes nothing). Events for templates we do not know
        are ignored. Answers the templates changed."""
        by_id = {}
        for event in events:
            by_id.setdefault(event["template_id"], []).append(event)
        if not by_id or not channels:
            return self.browse()
        templates = self.with_context(active_test=False).search(
            Domain("channel_id", "in", channels.ids)
            & Domain("meta_id", "in", list(by_id))
        )
        unknown = set(by_id) - set(templates.mapped("meta_id"))
        if unknown:
            _logger.info(
                "WhatsApp template events for %s unknown templates ignored",
                len(unknown),
            )
        if not templates:
            return self.browse()
        # Two deliveries at once wait for each other here.
        self.env.execute_query(
            SQL(
                "SELECT id FROM dunning_whatsapp_template WHERE id IN %s "
                "FOR NO KEY UPDATE",
                tuple(templates.ids),
            )
        )
        templates.invalidate_recordset()
        changed = self.browse()
        for template in templates:
            for event in sorted(
                by_id[template.meta_id], key=lambda e: e["timestamp"] or 0
            ):
                if template._apply_review_event(event):
                    changed |= template
        for channel, channel_templates in changed.grouped("channel_id").items():
            channel.wa_template_last_event = "; ".join(
                template._review_summary() for template in channel_templates
            )[:500]
        return changed

    def _apply_review_event(self, event):
        """Apply one event; answers whether anything changed."""
        self.ensure_one()
        when = _event_time(event["timestamp"])
        if event["kind"] == "category":
            if self.category_date and when < self.category_date:
                return False
            values = {
                "category": event["new_category"],
                "upcoming_category": event["upcoming_category"],
            }
            if all((self[key] or None) == value for key, value in values.items()):
                return False
            self.write(values | {"category_date": when})
            return True
        status = event["event"]
        if status not in REVIEW_EVENTS:
            return False
        if self.status_date and when < self.status_date:
            return False
        reason = event.get("reason")
        reason = None if (reason or "").upper() in ("", "NONE") else reason
        if event.get("details"):
            reason = f"{reason}: {event['details']}" if reason else event["details"]
        if self.status == status and (self.status_reason or None) == reason:
            return False
        self.write({"status": status, "status_reason": reason, "status_date": when})
        return True

    def _review_summary(self):
        self.ensure_one()
        # Why it cannot be sent names the state already ("rejected by Meta:
        # INVALID_FORMAT"); a template that can be sent shows its state.
        return self.env._(
            "%(date)s %(name)s (%(language)s): %(state)s",
            date=fields.Datetime.to_string(self.status_date or fields.Datetime.now()),
            name=self.name,
            language=self.language,
            state=self.unusable_reason
            or dict(self._fields["state"]._description_selection(self.env)).get(
                self.state, self.status
            ),
        )
