"""The payment plan and its life cycle: its fields, the accountant's actions
(activate, approve, reject, cancel) and the payments that carry it to
completion. Proposing a plan is in dunning_payment_plan_proposal.py, its
scheduled job (breaking overdue plans) in dunning_payment_plan_cron.py."""

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero, formatLang

from .account_move import open_invoice_field_domain

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
        domain=open_invoice_field_domain("('commercial_partner_id', '=', partner_id)"),
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
    autopay_ids = fields.One2many(
        "dunning.autopay", "plan_id", string="Automatic payments", readonly=True
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
    # Life cycle
    # ------------------------------------------------------------------

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
        moves = self.move_ids.filtered_domain(
            self.env["account.move"]._dunning_open_invoice_domain()
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
        # The engine's own thank-you would repeat ours.
        self.move_ids._dunning_mark_thanked()

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
