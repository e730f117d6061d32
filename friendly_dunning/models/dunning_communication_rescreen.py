from odoo import fields, models

from .dunning_planner import DunningPlanner


class DunningCommunication(models.Model):
    """A queued message whose text an accountant changed passes the
    compliance guard again before it leaves."""

    _inherit = "dunning.communication"

    def write(self, vals):
        result = super().write(vals)
        if "body" in vals and not self.env.context.get("dunning_rescreened"):
            self.filtered(lambda m: m.state == "queued")._dunning_rescreen()
        return result

    def _dunning_rescreen(self):
        """Add back what the pack of each message's customer requires (the
        creditor's identification, the opt-out line) when the new text lost
        it, and say so in the message's compliance note."""
        now = fields.Datetime.now()
        for company, messages in self.sudo().grouped("company_id").items():
            guard = DunningPlanner(self.env, company, now).guard
            for message in messages:
                body, pack, _outcome, note = guard.complete(
                    message.partner_id,
                    message.partner_id,
                    message.channel,
                    message.body or "",
                )
                message.with_context(dunning_rescreened=True).write(
                    {
                        "body": body,
                        "compliance_pack_id": pack.id or False,
                        "compliance_note": note,
                    }
                )
