from odoo import api, fields, models
from odoo.exceptions import UserError

from .dunning_segment import PLAN_DEFAULTS

SOURCES = [
    ("portal", "Customer page"),
    ("reply", "Customer reply"),
    ("accountant", "Accountant"),
]
# Plans and promises handled per transaction by the scheduled job.
CRON_BATCH = 200


class DunningAgreement(models.AbstractModel):
    """What a payment plan and a promise to pay share: an agreement with one
    customer of one company, made somewhere, and logged wherever it matters."""

    _name = "dunning.agreement"
    _description = "Collections Agreement"
    _inherit = ("mail.thread", "mail.activity.mixin")

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        tracking=True,
        # Customers with invoices cannot be deleted; one without any takes its
        # agreements along.
        ondelete="cascade",
        domain="[('parent_id', '=', False)]",
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(
        "res.currency", related="company_id.currency_id", store=True
    )
    source = fields.Selection(SOURCES, required=True, default="accountant")
    note = fields.Text()

    def _dunning_log(self, message):
        """Post ``message`` on the agreement, the customer and every invoice."""
        self.ensure_one()
        author = (
            self.partner_id
            if self.source in ("portal", "reply") and self.env.user._is_public()
            else self.env.user.partner_id
        )
        for record in (self.sudo(), self.partner_id.sudo(), *self.move_ids.sudo()):
            record.message_post(
                body=message, author_id=author.id, subtype_xmlid="mail.mt_note"
            )

    def _dunning_activity(self, summary, note=None):
        """A to-do for the accountant responsible for the agreement."""
        self.ensure_one()
        self.sudo().activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note=note or "",
            user_id=self.user_id.id or self.env.ref("base.user_admin").id,
        )

    # ------------------------------------------------------------------
    # Checks and limits shared by plans and promises
    # ------------------------------------------------------------------

    @api.model
    def _dunning_limits(self, partner, company=None):
        """What the customer may agree on without an accountant: their segment's
        limits, or the defaults when they have none."""
        company = company or self.env.company
        segment = (
            partner.commercial_partner_id.with_company(company)
            .sudo()
            .dunning_segment_id
        )
        if not segment:
            return dict(PLAN_DEFAULTS)
        return {
            "max_installments": segment.plan_max_installments,
            "max_days": segment.plan_max_days,
            "min_down_payment": segment.plan_min_down_payment,
            "max_discount": segment.plan_max_discount,
            "grace_days": segment.plan_grace_days,
            "promise_max_days": segment.promise_max_days,
        }

    @api.model
    def _dunning_check_moves(self, partner, moves):
        """The commercial partner and the invoices, once sure they are open
        invoices of that customer in one company."""
        partner = partner.commercial_partner_id
        moves = moves.sudo().exists()
        if not moves:
            raise UserError(self.env._("Please choose at least one invoice."))
        if any(move.commercial_partner_id != partner for move in moves):
            raise UserError(
                self.env._("Some of these invoices are not addressed to you.")
            )
        if len(moves.company_id) > 1:
            raise UserError(
                self.env._(
                    "These invoices come from different companies; please choose "
                    "the invoices of one company."
                )
            )
        if moves - moves.filtered_domain(moves._dunning_open_invoice_domain()):
            raise UserError(
                self.env._(
                    "Some of these invoices are already paid or no longer open: "
                    "please refresh the page and choose again."
                )
            )
        disputed = moves.filtered(lambda move: move.dunning_pause_reason == "dispute")
        if disputed:
            raise UserError(
                self.env._(
                    "You disputed %(invoices)s: we'll sort that out with you first.",
                    invoices=", ".join(disputed.mapped("name")),
                )
            )
        return partner, moves

    # ------------------------------------------------------------------
    # Payments on the invoices of plans and promises
    # ------------------------------------------------------------------

    @api.model
    def _dunning_schedule_payment_check(self, invoices):
        """Match payments on ``invoices`` to their plans and promises, and
        honour the waivers of late charges they were offered, once, just before
        the transaction commits, after the reconciliation is complete."""
        pending = self.env.cr.precommit.data.setdefault("friendly_dunning.plans", set())
        if not pending:
            self.env.cr.precommit.add(self._dunning_payment_check_pending)
        pending.update(invoices.ids)

    @api.model
    def _dunning_payment_check_pending(self):
        move_ids = self.env.cr.precommit.data.pop("friendly_dunning.plans", set())
        # Leave behind the context of the reconciliation that registered us
        # (it skips the invoice line synchronisation a credit note needs).
        env = self.env(context={"lang": self.env.context.get("lang")}, su=True)
        moves = env["account.move"].browse(move_ids).exists()
        if not moves:
            return
        env["dunning.payment.plan"].search(
            [("move_ids", "in", moves.ids), ("state", "=", "active")]
        )._dunning_match_payments()
        env["dunning.promise"].search(
            [("move_ids", "in", moves.ids), ("state", "=", "open")]
        )._dunning_check_kept()
        moves.filtered("dunning_waiver_until")._dunning_waive_if_paid_in_time()

    @api.model
    def _dunning_commit_progress(self, done, remaining):
        if self.env.context.get("cron_id"):
            self.env["ir.cron"]._commit_progress(done, remaining=remaining)
