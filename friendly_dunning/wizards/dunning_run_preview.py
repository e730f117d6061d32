from odoo import api, fields, models

from ..models.dunning_step import CHANNELS

OUTCOMES = [
    ("send", "Will be sent"),
    ("review", "Waits for approval"),
    ("hold", "Held for now"),
    ("unreachable", "Cannot be reached"),
]


class DunningRunPreview(models.TransientModel):
    """Exactly what the next run would send, computed without sending or
    changing anything."""

    _name = "dunning.run.preview"
    _description = "Preview of the next collections run"

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    line_ids = fields.One2many("dunning.run.preview.line", "preview_id")

    @api.model
    def action_open(self):
        preview = self.create({})
        preview._compute_lines()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Next run"),
            "res_model": "dunning.run.preview.line",
            "view_mode": "list",
            "domain": [("preview_id", "=", preview.id)],
            "context": {"search_default_group_outcome": 1},
        }

    def _compute_lines(self):
        holds = {
            "quiet_hours": self.env._("Outside the sending window in their time zone"),
            "daily_cap": self.env._("Already received a message today"),
            "weekly_cap": self.env._("Reached the weekly message limit"),
            "weekend": self.env._("Messages are held on weekends"),
            "holiday": self.env._("Messages are held on public holidays"),
        }
        for preview in self:
            decisions = self.env["dunning.run"].sudo()._preview(preview.company_id)
            lines = []
            for decision in decisions:
                if decision.is_held:
                    outcome, reason = "hold", holds[decision.hold_reason]
                elif decision.is_unreachable:
                    outcome, reason = "unreachable", decision.unreachable_reason
                elif decision.step.manual_review:
                    outcome, reason = "review", False
                else:
                    outcome, reason = "send", False
                lines.append(
                    {
                        "preview_id": preview.id,
                        "partner_id": decision.partner.id,
                        "step_id": decision.step.id,
                        "move_count": len(decision.invoices),
                        "amount_due": sum(
                            line.residual_signed for line in decision.lines
                        ),
                        "channel": decision.channel or False,
                        "recipient": decision.recipient or False,
                        "body": decision.body or False,
                        "outcome": outcome,
                        "reason": reason,
                    }
                )
            self.env["dunning.run.preview.line"].create(lines)


class DunningRunPreviewLine(models.TransientModel):
    _name = "dunning.run.preview.line"
    _description = "What the next collections run would do for one customer"
    _order = "outcome, amount_due desc"

    preview_id = fields.Many2one(
        "dunning.run.preview", required=True, ondelete="cascade"
    )
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    step_id = fields.Many2one("dunning.step", readonly=True)
    move_count = fields.Integer(string="Invoices", readonly=True)
    amount_due = fields.Float(readonly=True)
    channel = fields.Selection(CHANNELS, readonly=True)
    recipient = fields.Char(readonly=True)
    body = fields.Text(string="Message", readonly=True)
    outcome = fields.Selection(OUTCOMES, readonly=True)
    reason = fields.Char(readonly=True)
