from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, format_date, formatLang

from .account_move import open_invoice_field_domain
from .dunning_agreement import CRON_BATCH, SOURCES


class DunningPromise(models.Model):
    """A customer's word that they will pay some invoices by a date."""

    _name = "dunning.promise"
    _description = "Promise to Pay"
    _inherit = "dunning.agreement"
    _order = "promised_date desc, id desc"
    _check_company_auto = True

    move_ids = fields.Many2many(
        "account.move",
        "dunning_promise_account_move_rel",
        "promise_id",
        "move_id",
        string="Invoices",
        required=True,
        check_company=True,
        domain=open_invoice_field_domain("('commercial_partner_id', '=', partner_id)"),
    )
    promised_date = fields.Date(string="Pays by", required=True, tracking=True)
    promised_amount = fields.Monetary(
        string="Amount promised",
        tracking=True,
        help="Company currency. Empty: everything the invoices owe.",
    )
    residual_at_promise = fields.Monetary(
        string="Owed when promised",
        readonly=True,
        help="What the invoices owed when the promise was made; payments since "
        "then count towards the promise.",
    )
    grace_date = fields.Date(
        string="Kept if paid by",
        readonly=True,
        help="The promised date plus the grace days of the customer's segment.",
    )
    state = fields.Selection(
        [
            ("open", "Open"),
            ("kept", "Kept"),
            ("broken", "Broken"),
            ("cancelled", "Cancelled"),
        ],
        required=True,
        default="open",
        index=True,
        tracking=True,
    )
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        help="The accountant alerted when the promise is broken.",
    )
    closed_date = fields.Date(
        string="Kept or broken on", readonly=True, index="btree_not_null"
    )
    amount_paid = fields.Monetary(string="Paid since", compute="_compute_amount_paid")

    @api.depends("move_ids.amount_residual_signed", "residual_at_promise")
    def _compute_amount_paid(self):
        for promise in self:
            residual = sum(promise.move_ids.mapped("amount_residual_signed"))
            promise.amount_paid = max(0.0, promise.residual_at_promise - residual)

    @api.depends("partner_id", "promised_date")
    def _compute_display_name(self):
        for promise in self:
            promise.display_name = self.env._(
                "%(partner)s by %(date)s",
                partner=promise.partner_id.name or "",
                date=format_date(self.env, promise.promised_date)
                if promise.promised_date
                else "",
            )

    @api.model_create_multi
    def create(self, vals_list):
        """Promises recorded in the form (taken by phone) pause the invoices
        like the ones made on the customer page."""
        promises = super().create(vals_list)
        for promise in promises.filtered(
            lambda p: p.state == "open" and not p.residual_at_promise
        ):
            promise._dunning_validate()
            promise._dunning_start()
        return promises

    @api.ondelete(at_uninstall=False)
    def _unlink_except_open(self):
        if any(promise.state == "open" for promise in self):
            raise UserError(
                self.env._(
                    "An open promise keeps its invoices paused: cancel it instead "
                    "of deleting it."
                )
            )

    # ------------------------------------------------------------------
    # The contract used by the customer page and replies
    # ------------------------------------------------------------------

    @api.model
    def _dunning_promise(
        self, partner, moves, promised_date, amount=None, source="portal"
    ):
        """Record that ``partner`` will pay ``moves`` (``amount``, default all
        they owe) by ``promised_date``; reminders pause until then plus grace."""
        if source not in dict(SOURCES):
            raise UserError(self.env._("Unknown origin of the promise."))
        partner, moves = self._dunning_check_moves(partner, moves)
        promise = self.sudo().create(
            {
                "partner_id": partner.id,
                "company_id": moves.company_id.id,
                "move_ids": [Command.set(moves.ids)],
                "promised_date": fields.Date.to_date(promised_date),
                "promised_amount": amount or 0.0,
                "source": source,
                "user_id": partner._dunning_responsible_user(moves).id,
            }
        )
        return promise.with_env(self.env)

    def _dunning_validate(self):
        """Refuse promises that cannot be kept as asked, in words a customer
        understands; fill in the amount and the grace date."""
        self.ensure_one()
        partner, moves = self._dunning_check_moves(self.partner_id, self.move_ids)
        if moves.company_id != self.company_id:
            raise UserError(self.env._("These invoices belong to another company."))
        today = fields.Date.context_today(self)
        limits = self._dunning_limits(partner, self.company_id)
        if not self.promised_date or self.promised_date < today:
            raise UserError(self.env._("Please choose a date from today onwards."))
        horizon = today + timedelta(days=limits["promise_max_days"])
        if self.promised_date > horizon:
            raise UserError(
                self.env._(
                    "Please choose a date by %(date)s at the latest; for a longer "
                    "delay, propose a payment plan instead.",
                    date=format_date(self.env, horizon),
                )
            )
        if (
            self.env["dunning.payment.plan"]
            .sudo()
            .search_count(
                [("move_ids", "in", moves.ids), ("state", "in", ("proposed", "active"))]
            )
        ):
            raise UserError(
                self.env._("These invoices are already covered by a payment plan.")
            )
        if self.sudo().search_count(
            [
                ("id", "!=", self.id),
                ("move_ids", "in", moves.ids),
                ("state", "=", "open"),
            ]
        ):
            raise UserError(
                self.env._(
                    "You already promised to pay some of these invoices; we'll "
                    "wait for that payment first."
                )
            )
        currency = self.currency_id
        residual = currency.round(sum(moves.mapped("amount_residual_signed")))
        amount = currency.round(self.promised_amount or residual)
        if (
            amount <= 0
            or float_compare(amount, residual, precision_rounding=currency.rounding) > 0
        ):
            raise UserError(
                self.env._(
                    "Please promise an amount between 0 and %(residual)s.",
                    residual=formatLang(self.env, residual, currency_obj=currency),
                )
            )
        self.write(
            {
                "partner_id": partner.id,
                "promised_amount": amount,
                "residual_at_promise": residual,
                "grace_date": self.promised_date + timedelta(days=limits["grace_days"]),
            }
        )

    def _dunning_start(self):
        self.ensure_one()
        self.move_ids.action_dunning_pause("promise", self.grace_date)
        self._dunning_log(
            self.env._(
                "Promise to pay %(amount)s by %(date)s (%(origin)s). Reminders of "
                "%(invoices)s pause until %(until)s.",
                amount=formatLang(
                    self.env, self.promised_amount, currency_obj=self.currency_id
                ),
                date=format_date(self.env, self.promised_date),
                origin=dict(self._fields["source"]._description_selection(self.env))[
                    self.source
                ],
                invoices=", ".join(self.move_ids.mapped("name")),
                until=format_date(self.env, self.grace_date),
            )
        )

    # ------------------------------------------------------------------
    # Kept, broken, cancelled
    # ------------------------------------------------------------------

    def _dunning_check_kept(self, late=False):
        """Promises whose amount has been paid are kept; a payment after the
        grace date no longer keeps them, unless ``late`` (the scheduled job judging
        what the payments of the last day did)."""
        today = fields.Date.context_today(self)
        kept = self.filtered(
            lambda p: (
                p.state == "open"
                and (late or today <= p.grace_date)
                and float_compare(
                    p.amount_paid,
                    p.promised_amount,
                    precision_rounding=p.currency_id.rounding,
                )
                >= 0
            )
        )
        for promise in kept:
            promise.write({"state": "kept", "closed_date": today})
            promise._dunning_log(
                self.env._(
                    "Promise kept: %(amount)s paid. Thank you!",
                    amount=formatLang(
                        self.env, promise.amount_paid, currency_obj=promise.currency_id
                    ),
                )
            )
        return kept

    @api.model
    def _dunning_expire(self):
        """Judge the open promises whose grace date has passed."""
        today = fields.Date.context_today(self)
        due = self.search([("state", "=", "open"), ("grace_date", "<", today)])
        for start in range(0, len(due), CRON_BATCH):
            batch = due[start : start + CRON_BATCH].try_lock_for_update()
            kept = batch._dunning_check_kept(late=True)
            (batch - kept)._dunning_break()
            self._dunning_commit_progress(len(batch), len(due) - start - len(batch))

    def _dunning_break(self):
        today = fields.Date.context_today(self)
        for promise in self.filtered(lambda p: p.state == "open"):
            promise.write({"state": "broken", "closed_date": today})
            open_moves = promise.move_ids.filtered(
                lambda move: move.dunning_pause_reason == "promise"
            )
            open_moves.action_dunning_resume()
            promise._dunning_log(
                self.env._(
                    "Promise broken: %(amount)s was due by %(date)s. Reminders "
                    "resume with the normal policy.",
                    amount=formatLang(
                        self.env,
                        promise.promised_amount - promise.amount_paid,
                        currency_obj=promise.currency_id,
                    ),
                    date=format_date(self.env, promise.promised_date),
                )
            )
            promise._dunning_activity(
                self.env._(
                    "Broken promise: %(partner)s", partner=promise.partner_id.name
                ),
                self.env._("Call the customer to agree how to go on."),
            )
        # The broken promise counts in the customer's score.
        self.env["res.partner"]._dunning_schedule_refresh(self.move_ids)

    def _dunning_cancel(self, reason):
        for promise in self.filtered(lambda p: p.state == "open"):
            promise.state = "cancelled"
            promise.move_ids.filtered(
                lambda move: move.dunning_pause_reason == "promise"
            ).action_dunning_resume()
            promise._dunning_log(reason)

    def action_cancel(self):
        self._dunning_cancel(
            self.env._("Promise cancelled by %(user)s.", user=self.env.user.name)
        )
        return True

    def action_mark_broken(self):
        """An accountant may judge a promise broken before its grace date."""
        self._dunning_break()
        return True
