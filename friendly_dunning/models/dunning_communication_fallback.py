from odoo import fields, models

from .dunning_planner import DunningPlanner


class DunningCommunication(models.Model):
    """A message its channel could not carry goes through the step's next
    channel that reaches the customer."""

    _inherit = "dunning.communication"

    def _dunning_fall_back(self, reason=None):
        """These messages could not go through their channel: mark them failed
        with ``reason`` (else keep their own) and queue the same reminder
        through the next channel of their step that reaches the customer."""
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
                # The next channel may ask for more (an opt-out line).
                body, pack, _outcome, note = planner.guard.complete(
                    message.partner_id,
                    reach.contacts[message.partner_id.id],
                    route.channel,
                    message.body,
                )
                to_create.append(
                    {
                        "company_id": company.id,
                        "partner_id": message.partner_id.id,
                        "move_ids": [fields.Command.set(message.move_ids.ids)],
                        "kind": message.kind,
                        "step_id": message.step_id.id,
                        "amount_due": message.amount_due,
                        "subject": message.subject,
                        "body": body,
                        "compliance_pack_id": pack.id,
                        "compliance_note": note,
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
