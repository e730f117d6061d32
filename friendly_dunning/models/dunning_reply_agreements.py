"""The in-chat flows that agree something: "I need more time" (a payment
plan, its schedule to confirm) and "I'll pay on ..." (a promise to pay by a
date), each made as the customer's page makes it."""

from datetime import timedelta

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date, formatLang

# Instalments offered when a customer asks for more time (those beyond the
# segment's limits are proposed to an accountant).
PLAN_CHOICES = (2, 3, 4)
# The first instalment of a plan agreed in the chat falls due a week later.
FIRST_PAYMENT_DAYS = 7
# Dates offered for a promise: a list holds ten rows.
PROMISE_DATES = 10


class DunningReply(models.AbstractModel):
    _inherit = "dunning.reply"

    # ------------------------------------------------------------------
    # "I need more time": plan options, the schedule, the plan
    # ------------------------------------------------------------------

    def _plan_model(self, company):
        return self.env["dunning.payment.plan"].sudo().with_company(company)

    def _on_more_time(self, partner, invoices, channel):
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        Plan = self._plan_model(company)
        picked = Plan._dunning_plannable(invoices)
        if not picked:
            self._on_menu(
                partner,
                invoices,
                channel,
                lang_env._("There is nothing to spread over a plan."),
            )
            return
        limits = Plan._dunning_limits(partner, company)
        first_date = fields.Date.context_today(self) + timedelta(
            days=FIRST_PAYMENT_DAYS
        )
        options = []
        for count in PLAN_CHOICES:
            try:
                Plan._dunning_check_installment_choice(partner, company, count)
                schedule = Plan._dunning_schedule(partner, picked, count, first_date)
            except UserError:
                continue
            options.append(
                (
                    f"plan{count}",
                    lang_env._("%(count)s payments", count=count),
                    lang_env._(
                        "first %(amount)s on %(date)s",
                        amount=self._amount(lang_env, schedule[0]["amount"], company),
                        date=format_date(lang_env, schedule[0]["date_due"]),
                    ),
                    {"do": "plan", "installments": count},
                )
            )
        if limits["promise_max_days"] > 0:
            options.append(
                ("date", lang_env._("A new date"), "", {"do": "promise_dates"})
            )
        residual = sum(picked.mapped("amount_residual_signed"))
        self._offer(
            partner,
            invoices,
            channel,
            "more_time",
            "options",
            lang_env._(
                "No problem, %(name)s. How would you like to pay %(amount)s?",
                name=partner.name,
                amount=self._amount(lang_env, residual, company),
            ),
            lang_env._("Choose"),
            options,
            as_list=True,
        )

    def _do_plan(self, partner, invoices, channel, value):
        """The schedule of the chosen plan, to confirm."""
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        Plan = self._plan_model(company)
        picked = Plan._dunning_plannable(invoices)
        count = int(value["installments"])
        first_date = fields.Date.context_today(self) + timedelta(
            days=FIRST_PAYMENT_DAYS
        )
        try:
            Plan._dunning_check_installment_choice(partner, company, count)
            schedule = Plan._dunning_schedule(partner, picked, count, first_date)
        except UserError as error:
            self._refused(partner, invoices, channel, error)
            return
        lines = "\n".join(
            f"{format_date(lang_env, line['date_due'])}: "
            f"{self._amount(lang_env, line['amount'], company)}"
            for line in schedule
        )
        needs_approval = Plan._dunning_limit_breaches(
            partner.commercial_partner_id,
            company,
            picked,
            schedule,
            "installments",
            0.0,
        )
        body = lang_env._("Your plan:\n%(lines)s", lines=lines)
        if needs_approval:
            body += "\n" + lang_env._(
                "This plan goes beyond what we can agree at once: we will check "
                "it and let you know."
            )
        self._offer(
            partner,
            invoices,
            channel,
            "more_time",
            "confirm",
            body,
            lang_env._("Choose"),
            [
                (
                    "confirm",
                    lang_env._("Confirm"),
                    "",
                    {
                        "do": "plan_confirm",
                        "installments": count,
                        "first_date": fields.Date.to_string(first_date),
                    },
                ),
                (
                    "other",
                    lang_env._("Other options"),
                    "",
                    {"do": "intent", "intent": "more_time"},
                ),
            ],
        )

    def _do_plan_confirm(self, partner, invoices, channel, value):
        """The plan, made as the customer's page makes it: active at once
        within the limits, waiting for an accountant beyond them."""
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        Plan = self._plan_model(company)
        count = int(value["installments"])
        try:
            with self.env.cr.savepoint():
                Plan._dunning_check_installment_choice(partner, company, count)
                plan = Plan._dunning_propose(
                    partner,
                    Plan._dunning_plannable(invoices),
                    count,
                    fields.Date.to_date(value["first_date"]),
                    source="reply",
                )
        except UserError as error:
            self._refused(partner, invoices, channel, error)
            return
        schedule = plan.with_env(lang_env)._dunning_schedule_text()
        if plan.state == "active":
            text = lang_env._(
                "Done, %(name)s: your payment plan is agreed: %(schedule)s. We "
                "send no reminders while it runs.",
                name=partner.name,
                schedule=schedule,
            )
            if self._autopay_offered(partner, company):
                text += " " + lang_env._(
                    "Want each payment made on its date without a thought? Save "
                    "a card for automatic payments: %(link)s",
                    link=partner.with_company(company)._dunning_portal_url()
                    + "?then=autopay",
                )
        else:
            text = lang_env._(
                "Thank you, %(name)s. Your proposal (%(schedule)s) needs our "
                "approval: we will let you know soon. Meanwhile we send no "
                "reminders.",
                name=partner.name,
                schedule=schedule,
            )
        self._say(partner, plan.move_ids, channel, text, "more_time", "done")

    def _autopay_offered(self, partner, company):
        """Whether a customer who just agreed a plan in the chat is offered
        automatic payments: not on yet, and a provider of the company can save
        a payment method."""
        if self.env["dunning.autopay"].sudo()._dunning_active(partner, company):
            return False
        return bool(
            self.env["payment.provider"]
            .sudo()
            ._get_compatible_providers(
                company.id,
                partner.id,
                0.0,
                force_tokenization=True,
                is_validation=True,
            )
        )

    # ------------------------------------------------------------------
    # "I'll pay on ...": dates within the promise horizon, the promise
    # ------------------------------------------------------------------

    def _promisable(self, invoices):
        """The invoices a promise covers: those overdue, else all open ones;
        never those disputed or already under a plan or a promise."""
        free = invoices.filtered(
            lambda move: move.dunning_pause_reason not in ("dispute", "plan", "promise")
        )
        today = fields.Date.context_today(self)
        return free.filtered(lambda move: move.invoice_date_due < today) or free

    def _promise_dates(self, horizon_days):
        """Up to ten dates from tomorrow to the horizon, spread evenly."""
        today = fields.Date.context_today(self)
        if horizon_days <= PROMISE_DATES:
            offsets = range(1, horizon_days + 1)
        else:
            offsets = sorted(
                {
                    round(index * horizon_days / PROMISE_DATES)
                    for index in range(1, PROMISE_DATES + 1)
                }
            )
        return [today + timedelta(days=offset) for offset in offsets]

    def _do_promise_dates(self, partner, invoices, channel, value=None):
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        Promise = self.env["dunning.promise"].sudo().with_company(company)
        picked = self._promisable(invoices)
        if not picked:
            self._on_menu(
                partner,
                invoices,
                channel,
                lang_env._(
                    "You already promised to pay or agreed a plan for these "
                    "invoices; we'll wait for that payment first."
                ),
            )
            return
        limits = Promise._dunning_limits(partner, company)
        dates = self._promise_dates(limits["promise_max_days"])
        if not dates:
            self._on_more_time(partner, invoices, channel)
            return
        residual = sum(picked.mapped("amount_residual_signed"))
        self._offer(
            partner,
            invoices,
            channel,
            "promise",
            "dates",
            lang_env._(
                "By which date will you pay %(amount)s (%(invoices)s)?",
                amount=self._amount(lang_env, residual, company),
                invoices=", ".join(picked.mapped("name")),
            ),
            lang_env._("Choose a date"),
            [
                (
                    f"d{day:%Y%m%d}",
                    format_date(lang_env, day, date_format="EEE d MMM"),
                    "",
                    {"do": "promise", "date": fields.Date.to_string(day)},
                )
                for day in dates
            ],
            as_list=True,
        )

    def _on_promise(self, partner, invoices, channel):
        self._do_promise_dates(partner, invoices, channel)

    def _do_promise(self, partner, invoices, channel, value):
        """The promise, recorded as the customer's page records it; reminders
        pause until the date (and the segment's grace days)."""
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        Promise = self.env["dunning.promise"].sudo().with_company(company)
        picked = self._promisable(invoices)
        try:
            with self.env.cr.savepoint():
                promise = Promise._dunning_promise(
                    partner,
                    picked,
                    fields.Date.to_date(value["date"]),
                    source="reply",
                )
        except UserError as error:
            self._refused(partner, invoices, channel, error)
            return
        text = lang_env._(
            "Thank you, %(name)s: we have noted that you will pay %(amount)s by "
            "%(date)s. We send no reminders until then.",
            name=partner.name,
            amount=formatLang(
                lang_env, promise.promised_amount, currency_obj=promise.currency_id
            ),
            date=format_date(lang_env, promise.promised_date),
        )
        self._say(partner, promise.move_ids, channel, text, "promise", "done")
