from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain

from ..models.account_move import open_invoice_field_domain
from ..models.dunning_planner import DunningPlanner
from ..models.dunning_step import CHANNELS


class DunningSendWizard(models.TransientModel):
    """Send a reminder now, through the channel the accountant picks, after
    seeing exactly what the customer will read."""

    _name = "dunning.send.wizard"
    _description = "Send a collections reminder now"

    partner_id = fields.Many2one("res.partner", string="Customer", required=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        domain=open_invoice_field_domain(
            "('commercial_partner_id', '=', partner_id)",
            "('company_id', '=', company_id)",
        ),
    )
    step_id = fields.Many2one(
        "dunning.step",
        string="Wording",
        domain="[('company_id', '=', company_id)]",
        help="The step whose message and tone to use.",
    )
    channel = fields.Selection(CHANNELS, required=True, default="whatsapp")
    recipient = fields.Char(compute="_compute_preview", store=True)
    subject = fields.Char(compute="_compute_preview", readonly=False, store=True)
    body = fields.Text(
        string="Message", compute="_compute_preview", readonly=False, store=True
    )
    problem = fields.Char(compute="_compute_preview", store=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        partner = (
            self.env["res.partner"]
            .browse(values.get("partner_id") or self.env.context.get("active_id"))
            .commercial_partner_id
        )
        company = self.env["res.company"].browse(values.get("company_id")) or (
            self.env.company
        )
        Move = self.env["account.move"]
        moves = Move.search(
            Move._dunning_open_invoice_domain()
            & Domain("commercial_partner_id", "=", partner.id)
            & Domain("company_id", "=", company.id),
            order="invoice_date_due",
        )
        policy = partner.with_company(company).dunning_policy_id
        # The step for the oldest instalment still owed, not for the invoice's
        # last due date.
        oldest_due = (
            self.env["account.move.line"]
            .search(
                Move._dunning_open_instalment_domain()
                & Domain("move_id", "in", moves.ids),
                order="date_maturity",
                limit=1,
            )
            .date_maturity
        )
        step = (
            policy.step_ids.filtered(
                lambda s: (
                    oldest_due
                    and s.offset_days
                    <= (fields.Date.context_today(self) - oldest_due).days
                )
            ).sorted("offset_days")[-1:]
            or policy.step_ids[:1]
        )
        values.update(
            partner_id=partner.id,
            move_ids=[fields.Command.set(moves.ids)],
            step_id=step.id,
        )
        return values

    @api.depends("partner_id", "move_ids", "step_id", "channel")
    def _compute_preview(self):
        for wizard in self:
            wizard.recipient = wizard.problem = False
            if not (wizard.partner_id and wizard.move_ids and wizard.step_id):
                wizard.subject = wizard.body = False
                continue
            planner = wizard._planner()
            decision = planner.manual_decision(
                wizard.partner_id,
                wizard.move_ids._origin,
                wizard.step_id,
                wizard.channel,
            )
            if decision.is_unreachable:
                problem = decision.unreachable_reason
            else:
                # Outside the contact hours of the customer's pack, say so
                # before the accountant tries to send.
                screening = planner.guard.screen(decision.partner, decision.contact)
                problem = screening.hold_reason and screening.note
            if problem:
                wizard.problem = problem
                wizard.subject = wizard.body = False
                continue
            wizard.recipient = decision.recipient
            wizard.subject = decision.subject
            wizard.body = decision.body

    def _planner(self):
        return DunningPlanner(
            self.env,
            self.move_ids.company_id[:1] or self.env.company,
            fields.Datetime.now(),
        )

    def action_send(self):
        self.ensure_one()
        if not self.move_ids:
            raise UserError(self.env._("Choose at least one invoice to remind."))
        planner = self._planner()
        decision = planner.manual_decision(
            self.partner_id, self.move_ids, self.step_id, self.channel
        )
        if decision.is_unreachable:
            raise UserError(decision.unreachable_reason)
        # Sent now, so never held: refused outside the contact hours of the
        # customer's compliance pack (or while it lacks what it needs).
        screening = planner.guard.screen(decision.partner, decision.contact)
        if screening.hold_reason:
            raise UserError(screening.note)
        _counts, message = planner.queue([decision.with_text(self.subject, self.body)])
        message._dunning_send()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._(
                    "Reminder sent to %(recipient)s.", recipient=message.recipient
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
