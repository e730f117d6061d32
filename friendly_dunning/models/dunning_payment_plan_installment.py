from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date, formatLang

from .dunning_agreement import CRON_BATCH
from .dunning_decision import Decision
from .dunning_planner import DunningPlanner

# Days before an instalment's date when the customer gets a heads-up.
REMINDER_DAYS_BEFORE = 3


class DunningPaymentPlanInstallment(models.Model):
    """One dated payment of a plan, and the reminders the customer gets
    before and on its date."""

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
        # The customer charged automatically hears of the charge instead.
        charged = (
            self.env["dunning.autopay"]
            .search([("plan_id", "in", due.plan_id.ids), ("state", "=", "active")])
            .plan_id
        )
        due = due.filtered(lambda line: line.plan_id not in charged)
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
                elif "render" in request:
                    decision = request["render"](planner, decision, request)
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
