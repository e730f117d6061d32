"""Proposing a payment plan: the schedule of instalments a customer may
choose, the segment limits it stays within or breaks, and the plan created
and started (active at once, or waiting for an accountant's approval)."""

from dateutil.relativedelta import relativedelta

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, format_date, formatLang

from .dunning_agreement import SOURCES
from .dunning_payment_plan import PLAN_TYPES


class DunningPaymentPlan(models.Model):
    _inherit = "dunning.payment.plan"

    # ------------------------------------------------------------------
    # The contract used by the customer page and replies
    # ------------------------------------------------------------------

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
    def _dunning_plannable(self, moves):
        """The invoices a customer may spread over a plan: all but those
        disputed."""
        return moves.filtered(lambda move: move.dunning_pause_reason != "dispute")

    @api.model
    def _dunning_check_installment_choice(self, partner, company, installments):
        """Refuse a number of instalments a customer may not ask for: beyond
        the segment's limit (or 12, when higher) it is not even proposed."""
        if installments < 1:
            raise UserError(self.env._("Please choose the number of instalments."))
        most = max(12, self._dunning_limits(partner, company)["max_installments"] or 0)
        if installments > most:
            raise UserError(
                self.env._("Please choose at most %(count)s instalments.", count=most)
            )

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
                "user_id": partner._dunning_responsible_user(moves).id,
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
    # Checks of a plan (those shared with promises are on dunning.agreement)
    # ------------------------------------------------------------------

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
    # Starting the agreed plan
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
