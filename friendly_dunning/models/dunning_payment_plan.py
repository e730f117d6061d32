from datetime import timedelta

from dateutil.relativedelta import relativedelta
from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, float_compare, float_is_zero, format_date, formatLang

from .dunning_agreement import SOURCES
from .dunning_planner import Decision, DunningPlanner
from .dunning_segment import PLAN_DEFAULTS

PLAN_TYPES = [
    ("installments", "Instalments"),
    ("extension", "Due-date extension"),
    ("settlement", "One-time settlement"),
]
PLAN_STATES = [
    ("draft", "Draft"),
    ("proposed", "To approve"),
    ("active", "Active"),
    ("completed", "Completed"),
    ("broken", "Broken"),
    ("cancelled", "Cancelled"),
]
# Plans handled per transaction by the scheduled job.
CRON_BATCH = 200
# Days before an instalment's date when the customer gets a heads-up.
REMINDER_DAYS_BEFORE = 3


class DunningPaymentPlan(models.Model):
    """An agreement with a customer to pay their open invoices on a schedule."""

    _name = "dunning.payment.plan"
    _description = "Payment Plan"
    _inherit = "dunning.agreement"
    _order = "create_date desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        required=True, readonly=True, copy=False, default=lambda self: self.env._("New")
    )
    move_ids = fields.Many2many(
        "account.move",
        "dunning_payment_plan_account_move_rel",
        "plan_id",
        "move_id",
        string="Invoices",
        check_company=True,
        domain="[('move_type', '=', 'out_invoice'), ('state', '=', 'posted'), "
        "('payment_state', 'in', ('not_paid', 'partial')), "
        "('commercial_partner_id', '=', partner_id)]",
    )
    plan_type = fields.Selection(
        PLAN_TYPES, string="Type", required=True, default="installments", tracking=True
    )
    state = fields.Selection(
        PLAN_STATES, required=True, default="draft", index=True, tracking=True
    )
    installment_ids = fields.One2many(
        "dunning.payment.plan.installment", "plan_id", string="Instalments"
    )
    amount_total = fields.Monetary(
        string="Amount owed",
        readonly=True,
        help="What the invoices still owed when the plan was agreed, in company "
        "currency.",
    )
    discount_percent = fields.Float(
        string="Discount (%)", help="Settlement only: the share of the amount waived."
    )
    amount_due = fields.Monetary(
        string="Amount to pay",
        compute="_compute_amounts",
        store=True,
        help="The sum of the instalments.",
    )
    amount_paid = fields.Monetary(compute="_compute_amounts", store=True)
    needs_approval_reason = fields.Char(
        string="Why it needs approval",
        readonly=True,
        help="The limits of the customer's segment that this plan exceeds.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        tracking=True,
        help="The accountant alerted when the plan needs approval or breaks.",
    )
    installment_count = fields.Integer(
        string="Number of instalments",
        default=3,
        help="Used to generate the schedule of a draft plan.",
    )
    first_date = fields.Date(
        string="First payment",
        default=fields.Date.context_today,
        help="Used to generate the schedule of a draft plan.",
    )
    next_date_due = fields.Date(
        string="Next instalment", compute="_compute_amounts", store=True
    )
    credit_note_id = fields.Many2one(
        "account.move",
        string="Discount credit note",
        readonly=True,
        copy=False,
        check_company=True,
    )
    closed_date = fields.Date(
        string="Ended on",
        readonly=True,
        copy=False,
        help="When the plan was completed, broken, rejected or cancelled.",
    )
    thank_you_pending = fields.Boolean(
        string="Thank-you waiting",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The plan is completed; its thank-you waits for the sending window "
        "(quiet hours, quiet days, how many messages a customer gets).",
    )

    _discount_range = models.Constraint(
        "CHECK(discount_percent >= 0 AND discount_percent < 100)",
        "A settlement discount lies between 0 and 100 percent.",
    )

    @api.depends("installment_ids.amount", "installment_ids.amount_paid")
    def _compute_amounts(self):
        for plan in self:
            plan.amount_due = sum(plan.installment_ids.mapped("amount"))
            plan.amount_paid = sum(plan.installment_ids.mapped("amount_paid"))
            pending = plan.installment_ids.filtered(lambda i: i.state == "pending")
            plan.next_date_due = min(pending.mapped("date_due"), default=False)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("name") or vals["name"] == self.env._("New"):
                vals["name"] = self.env["ir.sequence"].sudo().next_by_code(
                    "dunning.payment.plan"
                ) or self.env._("New")
        return super().create(vals_list)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_running(self):
        if any(plan.state in ("proposed", "active") for plan in self):
            raise UserError(
                self.env._(
                    "A running payment plan keeps its invoices paused: cancel it "
                    "instead of deleting it."
                )
            )

    # ------------------------------------------------------------------
    # The contract used by the customer page and replies
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
    def _dunning_schedule(
        self,
        partner,
        moves,
        installments,
        first_date,
        plan_type="installments",
        discount_percent=0.0,
    ):
        """The instalments a plan would have, without creating anything:
        ``[{'date_due': date, 'amount': float}]`` in company currency, summing to
        what the invoices owe (less the discount of a settlement)."""
        partner, moves = self._dunning_check_moves(partner, moves)
        company = moves.company_id
        currency = company.currency_id
        first_date = fields.Date.to_date(first_date)
        today = fields.Date.context_today(self)
        if not first_date or first_date < today:
            raise UserError(
                self.env._("Please choose a first payment date from today.")
            )
        if plan_type not in dict(PLAN_TYPES):
            raise UserError(self.env._("This kind of payment plan does not exist."))
        residual = currency.round(sum(moves.mapped("amount_residual_signed")))
        if plan_type == "extension":
            return [{"date_due": first_date, "amount": residual}]
        if plan_type == "settlement":
            if not 0 <= (discount_percent or 0.0) < 100:
                raise UserError(
                    self.env._("A settlement discount lies between 0 and 100 percent.")
                )
            if len(moves.currency_id) > 1:
                raise UserError(
                    self.env._(
                        "A settlement covers invoices of a single currency; please "
                        "choose invoices in the same currency."
                    )
                )
            amount = currency.round(residual * (1 - (discount_percent or 0.0) / 100))
            return [{"date_due": first_date, "amount": amount}]
        installments = int(installments or 0)
        if installments < 1:
            raise UserError(self.env._("A plan has at least one instalment."))
        if installments > 60:
            raise UserError(self.env._("A plan has at most 60 instalments."))
        limits = self._dunning_limits(partner, company)
        down_payment = currency.round(residual * limits["min_down_payment"] / 100)
        even = currency.round(residual / installments)
        first = max(even, down_payment) if installments > 1 else residual
        amounts = [first]
        if installments > 1:
            rest = currency.round(residual - first)
            each = currency.round(rest / (installments - 1))
            amounts += [each] * (installments - 2)
            # Rounding differences all land on the last instalment.
            amounts.append(currency.round(rest - each * (installments - 2)))
        return [
            {"date_due": first_date + relativedelta(months=index), "amount": amount}
            for index, amount in enumerate(amounts)
        ]

    @api.model
    def _dunning_propose(
        self,
        partner,
        moves,
        installments,
        first_date,
        plan_type="installments",
        source="portal",
        discount_percent=0.0,
    ):
        """Create a plan for ``moves``: active at once when it stays within the
        customer's limits, otherwise proposed to an accountant. The invoices'
        reminders pause either way."""
        if source not in dict(SOURCES):
            raise UserError(self.env._("Unknown origin of the payment plan."))
        schedule = self._dunning_schedule(
            partner, moves, installments, first_date, plan_type, discount_percent
        )
        partner, moves = self._dunning_check_moves(partner, moves)
        self._dunning_check_not_covered(moves)
        company = moves.company_id
        reasons = self._dunning_limit_breaches(
            partner, company, moves, schedule, plan_type, discount_percent
        )
        plan = self.sudo().create(
            {
                "partner_id": partner.id,
                "company_id": company.id,
                "move_ids": [Command.set(moves.ids)],
                "plan_type": plan_type,
                "source": source,
                "discount_percent": discount_percent
                if plan_type == "settlement"
                else 0.0,
                "amount_total": company.currency_id.round(
                    sum(moves.mapped("amount_residual_signed"))
                ),
                "installment_count": len(schedule),
                "first_date": schedule[0]["date_due"],
                "needs_approval_reason": "; ".join(reasons) or False,
                "user_id": self._dunning_responsible(partner, moves).id,
                "installment_ids": [
                    Command.create(
                        {
                            "sequence": index,
                            "date_due": line["date_due"],
                            "amount": line["amount"],
                        }
                    )
                    for index, line in enumerate(schedule, start=1)
                ],
            }
        )
        plan._dunning_start(proposed=bool(reasons))
        return plan.with_env(self.env)

    # ------------------------------------------------------------------
    # Checks shared with promises
    # ------------------------------------------------------------------

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
        if any(
            move.move_type != "out_invoice"
            or move.state != "posted"
            or move.payment_state not in ("not_paid", "partial")
            for move in moves
        ):
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

    @api.model
    def _dunning_check_not_covered(self, moves):
        """Refuse invoices already under a running plan."""
        running = (
            self.sudo()
            .search(
                [
                    ("move_ids", "in", moves.ids),
                    ("state", "in", ("draft", "proposed", "active")),
                ]
            )
            .filtered(lambda plan: plan.id not in self.ids)
        )
        if running:
            raise UserError(
                self.env._(
                    "Already part of a payment plan: %(invoices)s.",
                    invoices=", ".join((running.move_ids & moves).mapped("name")),
                )
            )

    @api.model
    def _dunning_responsible(self, partner, moves):
        """Who hears about it: the customer's salesperson, the invoices'
        salesperson, or the current accountant."""
        user = partner.user_id or moves.invoice_user_id[:1]
        if not user and not self.env.user._is_public() and self.env.user._is_internal():
            user = self.env.user
        return user or self.env.ref("base.user_admin", raise_if_not_found=False)

    def _dunning_limit_breaches(
        self, partner, company, moves, schedule, plan_type, discount_percent
    ):
        """Why the schedule needs an accountant's approval, in plain words."""
        limits = self._dunning_limits(partner, company)
        currency = company.currency_id
        today = fields.Date.context_today(self)
        residual = sum(moves.mapped("amount_residual_signed"))
        reasons = []
        if len(schedule) > limits["max_installments"]:
            reasons.append(
                self.env._(
                    "%(count)s instalments, more than the %(limit)s allowed",
                    count=len(schedule),
                    limit=limits["max_installments"],
                )
            )
        last = schedule[-1]["date_due"]
        if (last - today).days > limits["max_days"]:
            reasons.append(
                self.env._(
                    "last payment %(days)s days away, beyond %(limit)s",
                    days=(last - today).days,
                    limit=limits["max_days"],
                )
            )
        down_payment = residual * limits["min_down_payment"] / 100
        if (
            plan_type == "installments"
            and float_compare(
                schedule[0]["amount"],
                down_payment,
                precision_rounding=currency.rounding,
            )
            < 0
        ):
            reasons.append(
                self.env._(
                    "down payment below %(percent)s%%",
                    percent=limits["min_down_payment"],
                )
            )
        if plan_type == "settlement" and discount_percent > limits["max_discount"]:
            reasons.append(
                self.env._(
                    "discount of %(percent)s%%, above %(limit)s%%",
                    percent=discount_percent,
                    limit=limits["max_discount"],
                )
            )
        return reasons

    # ------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------

    def _dunning_start(self, proposed):
        """Pause the invoices and tell everyone what was agreed."""
        for plan in self:
            plan.write({"state": "proposed" if proposed else "active"})
            plan.move_ids.action_dunning_pause("plan", None)
            self.env["dunning.promise"].sudo().search(
                [("move_ids", "in", plan.move_ids.ids), ("state", "=", "open")]
            )._dunning_cancel(
                self.env._("Replaced by the payment plan %(plan)s.", plan=plan.name)
            )
            if proposed:
                message = self.env._(
                    "Payment plan %(plan)s proposed: %(schedule)s. It waits for an "
                    "accountant's approval (%(reasons)s).",
                    plan=plan.name,
                    schedule=plan._dunning_schedule_text(),
                    reasons=plan.needs_approval_reason,
                )
                plan._dunning_activity(
                    self.env._(
                        "Approve or reject payment plan %(plan)s", plan=plan.name
                    ),
                    plan.needs_approval_reason,
                )
            else:
                message = self.env._(
                    "Payment plan %(plan)s agreed: %(schedule)s. Reminders of its "
                    "invoices pause while it runs.",
                    plan=plan.name,
                    schedule=plan._dunning_schedule_text(),
                )
            plan._dunning_log(message)

    def _dunning_schedule_text(self):
        self.ensure_one()
        return ", ".join(
            self.env._(
                "%(amount)s on %(date)s",
                amount=formatLang(self.env, line.amount, currency_obj=self.currency_id),
                date=format_date(self.env, line.date_due),
            )
            for line in self.installment_ids.sorted("sequence")
        )

    def _dunning_activity(self, summary, note=None):
        self.ensure_one()
        self.sudo().activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note=note or "",
            user_id=self.user_id.id or self.env.ref("base.user_admin").id,
        )

    def action_generate_schedule(self):
        """Draft plans: build the instalments from the number and first date."""
        for plan in self:
            if plan.state != "draft":
                raise UserError(self.env._("Only a draft plan can be rescheduled."))
            schedule = self._dunning_schedule(
                plan.partner_id,
                plan.move_ids,
                plan.installment_count,
                plan.first_date,
                plan.plan_type,
                plan.discount_percent,
            )
            plan.write(
                {
                    "amount_total": plan.currency_id.round(
                        sum(plan.move_ids.mapped("amount_residual_signed"))
                    ),
                    "installment_ids": [Command.clear()]
                    + [
                        Command.create(
                            {
                                "sequence": index,
                                "date_due": line["date_due"],
                                "amount": line["amount"],
                            }
                        )
                        for index, line in enumerate(schedule, start=1)
                    ],
                }
            )
        return True

    def action_activate(self):
        """Draft plans drawn up by an accountant start at once."""
        for plan in self:
            if plan.state != "draft":
                raise UserError(self.env._("Only a draft plan can be activated."))
            plan._dunning_check_moves(plan.partner_id, plan.move_ids)
            plan._dunning_check_not_covered(plan.move_ids)
            if not plan.installment_ids:
                plan.action_generate_schedule()
            residual = plan.currency_id.round(
                sum(plan.move_ids.mapped("amount_residual_signed"))
            )
            plan.amount_total = residual
            expected = (
                residual
                if plan.plan_type != "settlement"
                else plan.currency_id.round(
                    residual * (1 - plan.discount_percent / 100)
                )
            )
            if float_compare(
                plan.amount_due, expected, precision_rounding=plan.currency_id.rounding
            ):
                raise UserError(
                    self.env._(
                        "The instalments add up to %(planned)s but %(expected)s is "
                        "due: please adjust them.",
                        planned=formatLang(
                            self.env, plan.amount_due, currency_obj=plan.currency_id
                        ),
                        expected=formatLang(
                            self.env, expected, currency_obj=plan.currency_id
                        ),
                    )
                )
            plan._dunning_start(proposed=False)
        return True

    def action_approve(self):
        for plan in self:
            if plan.state != "proposed":
                raise UserError(self.env._("Only a proposed plan can be approved."))
            plan.state = "active"
            plan.activity_feedback(["mail.mail_activity_data_todo"])
            plan._dunning_log(
                self.env._(
                    "Payment plan %(plan)s approved by %(user)s.",
                    plan=plan.name,
                    user=self.env.user.name,
                )
            )
            # Payments made while it waited count from now on.
            plan._dunning_match_payments()
        return True

    def action_reject(self):
        for plan in self:
            if plan.state != "proposed":
                raise UserError(self.env._("Only a proposed plan can be rejected."))
            plan._dunning_stop("cancelled")
            plan.activity_unlink(["mail.mail_activity_data_todo"])
            plan._dunning_log(
                self.env._(
                    "Payment plan %(plan)s rejected by %(user)s; reminders resume.",
                    plan=plan.name,
                    user=self.env.user.name,
                )
            )
        return True

    def action_cancel(self):
        for plan in self:
            if plan.state not in ("draft", "proposed", "active"):
                raise UserError(self.env._("Only a running plan can be cancelled."))
            plan._dunning_stop("cancelled")
            plan.activity_unlink(["mail.mail_activity_data_todo"])
            plan._dunning_log(
                self.env._(
                    "Payment plan %(plan)s cancelled by %(user)s; reminders resume.",
                    plan=plan.name,
                    user=self.env.user.name,
                )
            )
        return True

    def _dunning_stop(self, state):
        """End the plan and hand its open invoices back to the normal policy."""
        self.ensure_one()
        self.write({"state": state, "closed_date": fields.Date.context_today(self)})
        if state == "broken":
            self.installment_ids.filtered(lambda line: line.state == "pending").write(
                {"state": "missed"}
            )
        self.move_ids.filtered(
            lambda move: move.dunning_pause_reason == "plan"
        ).action_dunning_resume()

    # ------------------------------------------------------------------
    # Payments
    # ------------------------------------------------------------------

    @api.model
    def _dunning_schedule_payment_check(self, invoices):
        """Match payments on ``invoices`` to their plans and promises once, just
        before the transaction commits, after the reconciliation is complete."""
        pending = self.env.cr.precommit.data.setdefault("friendly_dunning.plans", set())
        if not pending:
            self.env.cr.precommit.add(self._dunning_payment_check_pending)
        pending.update(invoices.ids)

    @api.model
    def _dunning_payment_check_pending(self):
        move_ids = self.env.cr.precommit.data.pop("friendly_dunning.plans", set())
        # Leave behind the context of the reconciliation that registered us
        # (it skips the invoice line synchronisation a credit note needs).
        Plan = self.with_env(
            self.env(context={"lang": self.env.context.get("lang")}, su=True)
        )
        moves = Plan.env["account.move"].browse(move_ids).exists()
        if not moves:
            return
        Plan.search(
            [("move_ids", "in", moves.ids), ("state", "=", "active")]
        )._dunning_match_payments()
        Plan.env["dunning.promise"].search(
            [("move_ids", "in", moves.ids), ("state", "=", "open")]
        )._dunning_check_kept()

    def _dunning_paid_amount(self):
        """What the customer paid on the plan's invoices since it was agreed."""
        self.ensure_one()
        residual = sum(self.move_ids.mapped("amount_residual_signed"))
        return self.currency_id.round(max(0.0, self.amount_total - residual))

    def _dunning_match_payments(self):
        """Spread what was paid over the instalments, oldest first; complete the
        plan when every instalment is paid."""
        for plan in self.filtered(lambda p: p.state == "active"):
            rounding = plan.currency_id.rounding
            paid = plan._dunning_paid_amount()
            for line in plan.installment_ids.sorted(lambda i: (i.date_due, i.sequence)):
                share = min(line.amount, paid)
                paid = plan.currency_id.round(paid - share)
                values = {"amount_paid": share}
                if line.state != "missed":
                    values["state"] = (
                        "paid"
                        if float_compare(
                            share, line.amount, precision_rounding=rounding
                        )
                        >= 0
                        else "pending"
                    )
                line.write(values)
            if all(line.state == "paid" for line in plan.installment_ids):
                plan._dunning_complete()

    def _dunning_complete(self):
        self.ensure_one()
        self.write(
            {"state": "completed", "closed_date": fields.Date.context_today(self)}
        )
        if self.plan_type == "settlement":
            self._dunning_book_discount()
        self.move_ids.filtered(
            lambda move: move.dunning_pause_reason == "plan"
        ).action_dunning_resume()
        self._dunning_log(
            self.env._(
                "Payment plan %(plan)s completed: every instalment is paid.",
                plan=self.name,
            )
        )
        self._dunning_queue_thank_you()

    def _dunning_book_discount(self):
        """Waive what is left after the settlement through a customer credit
        note reconciled with the invoices; the invoices themselves never change."""
        self.ensure_one()
        moves = self.move_ids.filtered(
            lambda move: move.payment_state in ("not_paid", "partial")
        )
        currency = moves.currency_id[:1]
        amount = sum(moves.mapped("amount_residual"))
        if not moves or float_is_zero(amount, precision_rounding=currency.rounding):
            return
        company = self.company_id
        account = (
            company.account_journal_early_pay_discount_loss_account_id
            or moves.invoice_line_ids.account_id[:1]
        )
        refund = (
            self.env["account.move"]
            .sudo()
            .with_company(company)
            .create(
                {
                    "move_type": "out_refund",
                    "partner_id": self.partner_id.id,
                    "company_id": company.id,
                    "currency_id": currency.id,
                    "invoice_date": fields.Date.context_today(self),
                    "journal_id": moves[:1].journal_id.id,
                    "ref": self.env._(
                        "Settlement discount of payment plan %(plan)s", plan=self.name
                    ),
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": self.env._(
                                    "Settlement discount (%(percent)s%%) on "
                                    "%(invoices)s",
                                    percent=self.discount_percent,
                                    invoices=", ".join(moves.mapped("name")),
                                ),
                                "quantity": 1,
                                "price_unit": amount,
                                "account_id": account.id,
                                "tax_ids": [Command.clear()],
                            }
                        )
                    ],
                }
            )
        )
        refund.action_post()
        receivable = (refund | moves).line_ids.filtered(
            lambda line: (
                line.account_id.account_type == "asset_receivable"
                and not line.reconciled
            )
        )
        for account_lines in receivable.grouped("account_id").values():
            account_lines.reconcile()
        self.credit_note_id = refund
        self._dunning_log(
            Markup(
                self.env._(
                    "Settlement discount booked as credit note %(refund)s.",
                    refund=refund._get_html_link(),
                )
            )
        )

    def _dunning_queue_thank_you(self):
        """Thank the customer through the channel the engine would use, now
        if the sending window allows it, otherwise from the scheduled job."""
        self.ensure_one()
        policy = self.partner_id.with_company(self.company_id).sudo().dunning_policy_id
        if not policy.thank_you:
            return
        self.thank_you_pending = True
        self._dunning_send_thank_you()
        # The engine's own thank-you would repeat ours; bookkeeping column
        # written like the engine does, without re-synchronising the invoices.
        self.env.execute_query(
            SQL(
                "UPDATE account_move SET dunning_thanked = TRUE WHERE id = ANY(%s)",
                self.move_ids.ids,
            )
        )
        self.env["account.move"].invalidate_model(["dunning_thanked"])

    def _dunning_send_thank_you(self):
        """Queue the pending thank-yous of these plans whose customers the
        sending window lets us reach now; the others stay pending. Clearing
        the flag in the same transaction as queueing sends each one once."""
        Installment = self.env["dunning.payment.plan.installment"]
        for company, plans in (
            self.filtered("thank_you_pending").grouped("company_id").items()
        ):
            requests = []
            for plan in plans:
                policy = plan.partner_id.with_company(company).sudo().dunning_policy_id
                if policy.thank_you:
                    requests.append(
                        {
                            "partner": plan.partner_id,
                            "moves": plan.move_ids,
                            "kind": "thank_you",
                            "texts": (policy, "thank_you_subject", "thank_you_body"),
                            "plan": plan,
                        }
                    )
            held = Installment._dunning_queue(company, requests, respect_hold=True)
            waiting = self.browse().union(*(request["plan"] for request in held))
            (plans - waiting).thank_you_pending = False

    # ------------------------------------------------------------------
    # The scheduled job
    # ------------------------------------------------------------------

    @api.model
    def _cron_dunning_plans(self):
        """Expire promises, break plans whose instalment is long overdue and
        remind customers of their coming instalments."""
        self.env["dunning.promise"].sudo()._dunning_expire()
        self.sudo()._dunning_break_overdue()
        self.env["dunning.payment.plan.installment"].sudo()._dunning_send_reminders()
        self.sudo()._dunning_send_pending_thank_yous()

    @api.model
    def _dunning_send_pending_thank_yous(self):
        pending = self.search([("thank_you_pending", "=", True)])
        for start in range(0, len(pending), CRON_BATCH):
            batch = pending[start : start + CRON_BATCH].try_lock_for_update()
            # Another worker may have sent some since the search.
            batch.invalidate_recordset(["thank_you_pending"])
            batch._dunning_send_thank_you()
            self._dunning_commit_progress(len(batch), len(pending) - start - len(batch))

    def _dunning_grace_days(self):
        self.ensure_one()
        return self._dunning_limits(self.partner_id, self.company_id)["grace_days"]

    @api.model
    def _dunning_break_overdue(self):
        today = fields.Date.context_today(self)
        candidates = self.search(
            [
                ("state", "=", "active"),
                ("installment_ids.state", "=", "pending"),
                ("installment_ids.date_due", "<", today),
            ]
        )
        for start in range(0, len(candidates), CRON_BATCH):
            batch = candidates[start : start + CRON_BATCH].try_lock_for_update()
            batch._dunning_match_payments()
            for plan in batch.filtered(lambda p: p.state == "active"):
                grace = plan._dunning_grace_days()
                missed = plan.installment_ids.filtered(
                    lambda line, grace=grace: (
                        line.state == "pending"
                        and line.date_due + timedelta(days=grace) < today
                    )
                )
                if missed:
                    plan._dunning_break(missed)
            self._dunning_commit_progress(
                len(batch), len(candidates) - start - len(batch)
            )

    def _dunning_break(self, missed):
        self.ensure_one()
        self._dunning_stop("broken")
        self._dunning_log(
            self.env._(
                "Payment plan %(plan)s broken: the instalment of %(date)s was not "
                "paid. Reminders resume with the normal policy.",
                plan=self.name,
                date=format_date(self.env, missed[:1].date_due),
            )
        )
        self._dunning_activity(
            self.env._("Payment plan %(plan)s broken", plan=self.name),
            self.env._("Call the customer to agree how to go on."),
        )

    @api.model
    def _dunning_commit_progress(self, done, remaining):
        if self.env.context.get("cron_id"):
            self.env["ir.cron"]._commit_progress(done, remaining=remaining)

    # ------------------------------------------------------------------
    # Demo data
    # ------------------------------------------------------------------

    @api.model
    def _load_demo_plans(self):
        """Plans, promises and a dispute on the demo customers, dated from
        today (see demo/dunning_plan_demo.xml). Records that already have their
        xml id are left alone."""
        company = self.env.ref("base.main_company")
        today = fields.Date.context_today(self)
        Promise = self.env["dunning.promise"].with_company(company)
        Plan = self.with_company(company)

        def ref(name):
            return self.env.ref(f"friendly_dunning.{name}", raise_if_not_found=False)

        def invoices(slug, *numbers):
            return self.env["account.move"].union(
                *(ref(f"demo_invoice_{slug}_{number}") for number in numbers)
            )

        created = []
        if not ref("demo_plan_pampa_logistica"):
            # Three monthly instalments, within the limits: running.
            plan = Plan._dunning_propose(
                self.env.ref("friendly_dunning.demo_partner_pampa_logistica"),
                invoices("pampa_logistica", 2, 3),
                3,
                today + timedelta(days=5),
                source="accountant",
            )
            created.append(("demo_plan_pampa_logistica", plan))
        if not ref("demo_plan_taller_rambla"):
            # Eight instalments are more than a chronic late payer may choose.
            plan = Plan._dunning_propose(
                self.env.ref("friendly_dunning.demo_partner_taller_rambla"),
                invoices("taller_rambla", 3),
                8,
                today + timedelta(days=10),
                source="portal",
            )
            created.append(("demo_plan_taller_rambla", plan))
        if not ref("demo_promise_thistle_tweed"):
            promise = Promise._dunning_promise(
                self.env.ref("friendly_dunning.demo_partner_thistle_tweed"),
                invoices("thistle_tweed", 5),
                today + timedelta(days=5),
                source="reply",
            )
            created.append(("demo_promise_thistle_tweed", promise))
        if not ref("demo_promise_foxglove_events"):
            # Promised for twelve days ago and never paid.
            promise = Promise._dunning_promise(
                self.env.ref("friendly_dunning.demo_partner_foxglove_events"),
                invoices("foxglove_events", 4),
                today,
                source="portal",
            )
            promise.write(
                {
                    "promised_date": today - timedelta(days=12),
                    "grace_date": today - timedelta(days=7),
                }
            )
            promise._dunning_break()
            created.append(("demo_promise_foxglove_events", promise))
        dispute = invoices("colibri_verde", 5)
        if dispute and not dispute.dunning_pause_reason:
            dispute.action_dunning_pause("dispute")
            dispute.message_post(
                body=self.env._(
                    "The customer disputes this invoice: the desk delivered is not "
                    "the model they ordered."
                ),
                subtype_xmlid="mail.mt_note",
            )
        self.env["ir.model.data"]._update_xmlids(
            [
                {
                    "xml_id": f"friendly_dunning.{name}",
                    "record": record,
                    "noupdate": True,
                }
                for name, record in created
            ]
        )

    # ------------------------------------------------------------------
    # Accountant shortcuts
    # ------------------------------------------------------------------

    def action_open_invoices(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Invoices"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("id", "in", self.move_ids.ids)],
        }


class DunningPaymentPlanInstallment(models.Model):
    _name = "dunning.payment.plan.installment"
    _description = "Payment Plan Instalment"
    _order = "plan_id, date_due, sequence, id"

    plan_id = fields.Many2one(
        "dunning.payment.plan", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="plan_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="plan_id.currency_id")
    partner_id = fields.Many2one(related="plan_id.partner_id")
    sequence = fields.Integer(default=1)
    date_due = fields.Date(string="Due on", required=True)
    amount = fields.Monetary(required=True)
    amount_paid = fields.Monetary(string="Paid", readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("paid", "Paid"), ("missed", "Missed")],
        required=True,
        default="pending",
        readonly=True,
    )
    reminded_before = fields.Boolean(
        readonly=True, copy=False, help="The heads-up before the date was queued."
    )
    reminded_on_date = fields.Boolean(
        readonly=True, copy=False, help="The reminder on the date was queued."
    )

    _amount_positive = models.Constraint(
        "CHECK(amount >= 0)", "An instalment cannot be negative."
    )

    @api.ondelete(at_uninstall=False)
    def _unlink_only_draft(self):
        if any(line.plan_id.state != "draft" for line in self):
            raise UserError(
                self.env._("Only the instalments of a draft plan can be removed.")
            )

    @api.model
    def _dunning_send_reminders(self):
        """Queue, once each, a heads-up a few days before and a reminder on the
        day of every instalment still to pay."""
        today = fields.Date.context_today(self)
        domain = [
            ("plan_id.state", "=", "active"),
            ("state", "=", "pending"),
            ("date_due", "<=", today + timedelta(days=REMINDER_DAYS_BEFORE)),
            ("date_due", ">=", today),
            "|",
            ("reminded_before", "=", False),
            "&",
            ("reminded_on_date", "=", False),
            ("date_due", "=", today),
        ]
        # A fixed list: instalments held by the sending window stay due, and
        # must not be picked up again within this run.
        due = self.search(domain)
        for start in range(0, len(due), CRON_BATCH):
            batch = due[start : start + CRON_BATCH].try_lock_for_update()
            batch._dunning_remind(today)
            self.env["dunning.payment.plan"]._dunning_commit_progress(
                len(batch), len(due) - start - len(batch)
            )

    def _dunning_remind(self, today):
        """Queue the reminders of these instalments; those held by quiet hours,
        quiet days or the frequency cap wait for a later run."""
        done = self.browse()
        for company, lines in self.grouped("company_id").items():
            requests = [
                {
                    "partner": line.plan_id.partner_id,
                    "moves": line.plan_id.move_ids,
                    "kind": "installment",
                    "installment": line,
                    "on_date": line.date_due == today,
                }
                for line in lines
            ]
            held = self._dunning_queue(company, requests, respect_hold=True)
            done |= lines - self.browse().union(
                *(request["installment"] for request in held)
            )
        on_date = done.filtered(lambda line: line.date_due == today)
        on_date.write({"reminded_before": True, "reminded_on_date": True})
        (done - on_date).write({"reminded_before": True})

    @api.model
    def _dunning_queue(self, company, requests, respect_hold=False):
        """Queue one message per request through the engine's routing and
        outbox. A request names the partner, the invoices, the kind, and either
        the policy texts (``texts``) or the instalment it reminds of.

        With ``respect_hold``, the engine's quiet hours, quiet days and
        frequency cap apply; returns the requests held, to try again later.
        A request that no channel reaches is recorded as a failed message
        with the reason, like the engine records unreachable customers."""
        planner = DunningPlanner(self.env, company, fields.Datetime.now())
        partners = self.env["res.partner"].union(*(r["partner"] for r in requests))
        reach = planner.reach(partners)
        if respect_hold:
            limits = planner.sending_limits(partners)
        empty_step = self.env["dunning.step"]
        decisions = []
        held = []
        for request in requests:
            partner = request["partner"]
            contact = reach.contacts[partner.id]
            decision = Decision(
                partner=partner,
                contact=contact,
                step=empty_step,
                invoices=request["moves"],
                kind=request["kind"],
                texts=request.get("texts"),
            )
            if respect_hold:
                hold_reason, unreachable_reason = planner.hold_reasons(
                    partner, contact, limits
                )
                if hold_reason:
                    held.append(request)
                    continue
                if unreachable_reason:
                    decisions.append(decision.as_unreachable(unreachable_reason))
                    continue
            policy = partner.with_company(company).sudo().dunning_policy_id
            first_step = policy.step_ids.sorted("offset_days")[:1]
            channels = (first_step._channel_preference() if first_step else []) or [
                "email"
            ]
            decision = decision.routed(
                planner.route(empty_step, partner, reach, channels)
            )
            if decision.is_sendable:
                if "texts" in request:
                    [decision] = planner.render([decision])
                else:
                    decision = self._dunning_render_reminder(planner, decision, request)
            decisions.append(decision)
        if decisions:
            planner.queue(decisions)
        return held

    @api.model
    def _dunning_render_reminder(self, planner, decision, request):
        line = request["installment"]
        lang = decision.contact.lang or "en_US"
        env = self.with_context(lang=lang).env
        values = planner.placeholder_values(env, decision)
        amount = formatLang(
            env, line.amount - line.amount_paid, currency_obj=line.currency_id
        )
        date = format_date(env, line.date_due)
        if request["on_date"]:
            subject = env._("Your instalment of %(amount)s is due today", amount=amount)
            body = env._(
                "Hello %(name)s, just a friendly note: instalment %(number)s of "
                "your payment plan with %(company)s, %(amount)s, is due today. "
                "Thank you for keeping to the plan! You can pay here: %(link)s",
                name=values["name"],
                number=line.sequence,
                company=values["company"],
                amount=amount,
                link=values["link"],
            )
        else:
            subject = env._(
                "Your next instalment: %(amount)s on %(date)s", amount=amount, date=date
            )
            body = env._(
                "Hi %(name)s, a heads-up from %(company)s: instalment %(number)s of "
                "your payment plan, %(amount)s, is due on %(date)s. You can pay "
                "whenever suits you before then: %(link)s",
                name=values["name"],
                number=line.sequence,
                company=values["company"],
                amount=amount,
                date=date,
                link=values["link"],
            )
        return decision.with_text(subject, body)
