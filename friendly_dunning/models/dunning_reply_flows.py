"""The in-chat flows: what a reply starts and each option leads to, short
and in the customer's language, each outcome made through the same model
methods as the customer's page (plans, promises, payment reports).

WhatsApp shows the options as reply buttons or a list, SMS as numbered
lines. An option that comes back is looked up in the offers stored on the
conversation (``dunning.conversation``) and acted on only from there."""

from datetime import timedelta, timezone

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date, formatLang

from ..tools.intents import DISPUTE, HELP, START, STOP
from ..tools.whatsapp_interactive import (
    MAX_ROWS,
    choices,
    cta_url,
    list_message,
    numbered_text,
    readable,
)
from ..tools.working_hours import (
    ON_DAY,
    TODAY,
    TOMORROW_AFTERNOON,
    TOMORROW_MORNING,
    reply_slot,
)
from .dunning_decision import instalments_due, invoice_lines
from .dunning_reply import PAYMENT_REPORT_ANCHOR

# Instalments offered when a customer asks for more time (those beyond the
# segment's limits are proposed to an accountant).
PLAN_CHOICES = (2, 3, 4)
# The first instalment of a plan agreed in the chat falls due a week later.
FIRST_PAYMENT_DAYS = 7
# Dates offered for a promise: a list holds ten rows.
PROMISE_DATES = 10
# Working days looked ahead for when someone can write back.
CALLBACK_LOOKAHEAD_DAYS = 14
# What an option may do; anything else in a stored offer is ignored.
ACTIONS = ("intent", "plan", "plan_confirm", "promise_dates", "promise", "invoice")
MENU_INTENTS = ("more_time", "paid", "invoices", "pay_now", "talk")


class DunningReply(models.AbstractModel):
    _inherit = "dunning.reply"

    # ------------------------------------------------------------------
    # Where a reply goes
    # ------------------------------------------------------------------

    @api.model
    def _converse(
        self, partner, invoices, channel, intent, text=None, payload=None, media=None
    ):
        """Act on a reply within its conversation: locked, so that of two
        workers one acts after the other; a message older than the last one
        acted on (out of order) changes nothing. Opt-outs, opt-ins and
        disputes act as they always do, whatever the conversation."""
        if not media and (
            intent in (STOP, START, DISPUTE) or (intent == HELP and channel == "sms")
        ):
            getattr(self, f"_on_{intent}")(partner, invoices, channel)
            return
        context = self.env.context
        company = self._company(partner, invoices)
        receiver = self.env["dunning.channel"].browse(
            context.get("dunning_reply_receiver_id")
        )
        conversation = self.env["dunning.conversation"]._dunning_lock(
            company,
            partner,
            channel,
            context.get("dunning_reply_number") or partner.phone_sanitized,
            receiver.sudo(),
        )
        sent_at = context.get("dunning_reply_date")
        if conversation._dunning_is_stale(sent_at):
            return
        conversation._dunning_received(
            sent_at, context.get("dunning_reply_provider_id"), receiver
        )
        replier = self.with_context(dunning_conversation_id=conversation.id)
        if media:
            conversation._dunning_settle("paid")
            replier._on_receipt(partner, invoices, channel, media)
            return
        chosen = replier._chosen_option(conversation, channel, text, payload)
        if chosen:
            replier._on_option(partner, invoices, channel, *chosen)
            return
        getattr(replier, f"_on_{intent}", replier._on_other)(partner, invoices, channel)

    def _conversation(self):
        return (
            self.env["dunning.conversation"]
            .sudo()
            .browse(self.env.context.get("dunning_conversation_id"))
        )

    def _chosen_option(self, conversation, channel, text, payload):
        """``(status, option)`` when the reply picks one of our options: an
        option id on WhatsApp, a number on SMS while options are open."""
        if channel == "sms":
            answer = (text or "").strip().rstrip(".")
            if (
                answer.isdigit()
                and len(answer) <= 2
                and conversation.expects == "choice"
            ):
                return conversation._dunning_option(number=int(answer))
            return None
        if payload and ":" in payload:
            return conversation._dunning_option(ident=payload)
        return None

    def _on_option(self, partner, invoices, channel, status, option):
        """Do what the chosen option says, unless it is not one of ours or
        has expired: then the current menu, with why."""
        lang_env = self._lang_env(partner)
        if status == "unknown":
            self._on_menu(
                partner,
                invoices,
                channel,
                lang_env._("Sorry, we could not read that choice."),
            )
            return
        if status == "expired":
            self._on_menu(
                partner,
                invoices,
                channel,
                lang_env._("That choice has expired."),
            )
            return
        value = option["value"]
        if value.get("do") not in ACTIONS:
            self._on_menu(partner, invoices, channel)
            return
        getattr(self, f"_do_{value['do']}")(partner, invoices, channel, value)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _lang_env(self, partner):
        return self.with_context(lang=partner.lang or "en_US").env

    def _offer(
        self,
        partner,
        invoices,
        channel,
        flow,
        step,
        body,
        button,
        options,
        as_list=False,
    ):
        """Store ``options`` (``(key, title, description, value)``) as the
        conversation's new offer and send them: buttons or a list on
        WhatsApp, numbered lines by SMS."""
        company = self._company(partner, invoices)
        sent = self._conversation()._dunning_offer(flow, step, options)
        if channel == "whatsapp":
            interactive = (
                list_message(body, button, sent)
                if as_list
                else choices(body, button, sent)
            )
            return self._answer(
                partner,
                invoices,
                channel,
                company,
                readable(interactive),
                interactive=interactive,
            )
        text = numbered_text(
            body,
            [
                f"{title} ({description})" if description else title
                for _ident, title, description in sent
            ],
            reply_word=self._lang_env(partner)._("Reply"),
        )
        return self._answer(partner, invoices, channel, company, text)

    def _say(self, partner, invoices, channel, text, flow, step=False, **extra):
        """Answer without options."""
        self._conversation()._dunning_settle(flow, step)
        return self._answer(
            partner, invoices, channel, self._company(partner, invoices), text, **extra
        )

    def _amount(self, lang_env, amount, company):
        return formatLang(lang_env, amount, currency_obj=company.currency_id)

    def _refused(self, partner, invoices, channel, error):
        """A model refused what the customer chose: say why, then the menu."""
        self._on_menu(partner, invoices, channel, str(error.args[0]))

    # ------------------------------------------------------------------
    # The menu: what anything not understood gets
    # ------------------------------------------------------------------

    def _menu_options(self, lang_env):
        return [
            (
                "more_time",
                lang_env._("I need more time"),
                "",
                {"do": "intent", "intent": "more_time"},
            ),
            ("promise", lang_env._("I'll pay on a date"), "", {"do": "promise_dates"}),
            (
                "paid",
                lang_env._("I already paid"),
                "",
                {"do": "intent", "intent": "paid"},
            ),
            (
                "invoices",
                lang_env._("Which invoices?"),
                "",
                {"do": "intent", "intent": "invoices"},
            ),
            (
                "pay_now",
                lang_env._("Pay now"),
                "",
                {"do": "intent", "intent": "pay_now"},
            ),
            (
                "talk",
                lang_env._("Talk to someone"),
                "",
                {"do": "intent", "intent": "talk"},
            ),
        ]

    def _on_menu(self, partner, invoices, channel, explanation=None):
        lang_env = self._lang_env(partner)
        company = self._company(partner, invoices)
        body = lang_env._(
            "Hi %(name)s, this is %(company)s, about your invoices. How can we "
            "help? (Reply STOP to receive no more messages.)",
            name=partner.name,
            company=company.name,
        )
        if explanation:
            body = f"{explanation} {body}"
        self._offer(
            partner,
            invoices,
            channel,
            "menu",
            "menu",
            body,
            lang_env._("Options"),
            self._menu_options(lang_env),
        )

    def _on_help(self, partner, invoices, channel):
        """The menu. By SMS the webhook's own answer (the carrier's HELP
        text) answers HELP."""
        if channel == "sms":
            return
        self._on_menu(partner, invoices, channel)

    def _on_other(self, partner, invoices, channel):
        """Someone reads what we did not understand; the customer gets the
        menu meanwhile."""
        partner._dunning_todo(
            self.env._("Answer the customer's reply"), invoices=invoices
        )
        self._on_menu(
            partner,
            invoices,
            channel,
            self._lang_env(partner)._("Thank you for your message."),
        )

    def _do_intent(self, partner, invoices, channel, value):
        intent = value.get("intent")
        if intent not in MENU_INTENTS:
            self._on_menu(partner, invoices, channel)
            return
        getattr(self, f"_on_{intent}")(partner, invoices, channel)

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
        else:
            text = lang_env._(
                "Thank you, %(name)s. Your proposal (%(schedule)s) needs our "
                "approval: we will let you know soon. Meanwhile we send no "
                "reminders.",
                name=partner.name,
                schedule=schedule,
            )
        self._say(partner, plan.move_ids, channel, text, "more_time", "done")

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

    # ------------------------------------------------------------------
    # "I already paid": reminders pause, the receipt is asked for
    # ------------------------------------------------------------------

    def _on_paid(self, partner, invoices, channel):
        """Pause while the accountant checks, and ask for the receipt in the
        chat (a photo or a PDF), or on the customer's page."""
        company = self._company(partner, invoices)
        partner.with_company(company)._dunning_report_payment(
            self._not_paused(invoices)
        )
        link = partner.with_company(company)._dunning_portal_url()
        text = self._lang_env(partner)._(
            "Thank you for letting us know, %(name)s! We have paused our reminders "
            "while we check. Please send the receipt here, as a photo or a PDF. "
            "You can also tell us when and how you paid here: %(link)s",
            name=partner.name,
            link=f"{link}#{PAYMENT_REPORT_ANCHOR}",
        )
        self._conversation()._dunning_settle("paid", "receipt", expects="receipt")
        self._answer(partner, invoices, channel, company, text)

    # ------------------------------------------------------------------
    # "Which invoices?": the open invoices, and any PDF
    # ------------------------------------------------------------------

    def _on_no_invoice(self, partner, invoices, channel):
        """One invoice: it comes at once; several: the list to choose from."""
        if len(invoices) == 1:
            self._send_invoice(partner, invoices, channel)
            return
        self._on_invoices(partner, invoices, channel)

    def _on_invoices(self, partner, invoices, channel):
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        if not invoices:
            self._on_menu(
                partner,
                invoices,
                channel,
                lang_env._("You have no open invoice with us."),
            )
            return
        today = fields.Date.context_today(self)
        first_owed = {}
        for line in invoice_lines(invoices):
            first_owed.setdefault(line.id, line)
        currencies = {currency.id: currency for currency in invoices.currency_id}
        options = []
        for line in list(first_owed.values())[:MAX_ROWS]:
            amount = formatLang(
                lang_env, line.residual, currency_obj=currencies[line.currency_id]
            )
            due = format_date(lang_env, line.due)
            description = (
                lang_env._(
                    "%(number)s/%(count)s: %(amount)s, due %(date)s",
                    number=line.instalment,
                    count=line.instalments,
                    amount=amount,
                    date=due,
                )
                if line.instalments > 1
                else lang_env._("%(amount)s, due %(date)s", amount=amount, date=due)
            )
            if line.due < today:
                description = lang_env._("%(what)s (overdue)", what=description)
            options.append(
                (
                    f"inv{line.id}",
                    line.name,
                    description,
                    {"do": "invoice", "move_id": line.id},
                )
            )
        body = lang_env._(
            "You have %(count)s open invoices with %(company)s. Choose one to "
            "get its PDF.",
            count=len(invoices),
            company=company.name,
        )
        if len(first_owed) > len(options):
            body += " " + lang_env._(
                "All of them are on your page: %(link)s",
                link=partner.with_company(company)._dunning_portal_url(),
            )
        self._offer(
            partner,
            invoices,
            channel,
            "invoices",
            "list",
            body,
            lang_env._("Invoices"),
            options,
            as_list=True,
        )

    def _do_invoice(self, partner, invoices, channel, value):
        move = invoices.filtered(lambda invoice: invoice.id == value.get("move_id"))
        if not move:
            self._on_menu(
                partner,
                invoices,
                channel,
                self._lang_env(partner)._("This invoice is no longer open."),
            )
            return
        self._send_invoice(partner, move, channel)

    def _send_invoice(self, partner, move, channel):
        """The invoice in the same chat: its PDF on WhatsApp, the link to it
        by SMS."""
        text = self._lang_env(partner)._(
            "Here is your invoice %(number)s: %(link)s",
            number=move.name,
            link=move.get_base_url() + move.get_portal_url(),
        )
        self._say(
            partner,
            move,
            channel,
            text,
            "invoices",
            "sent",
            attach_invoice=channel == "whatsapp",
        )

    # ------------------------------------------------------------------
    # "Pay now": a link to pay what is due today
    # ------------------------------------------------------------------

    def _on_pay_now(self, partner, invoices, channel):
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        today = fields.Date.context_today(self)
        lines = [
            line for line in instalments_due(invoices, today) if line.due <= today
        ] or instalments_due(invoices, today)
        if not lines:
            self._on_menu(
                partner,
                invoices,
                channel,
                lang_env._("You have no open invoice with us."),
            )
            return
        currency = self.env["res.currency"].browse(lines[0].currency_id)
        lines = [line for line in lines if line.currency_id == currency.id]
        amount = formatLang(
            lang_env, sum(line.residual for line in lines), currency_obj=currency
        )
        link = (
            partner.with_company(company)._dunning_portal_url()
            + f"?then=pay-due-{currency.id}"
        )
        body = lang_env._(
            "%(name)s, you can pay %(amount)s (%(invoices)s) now, securely:",
            name=partner.name,
            amount=amount,
            invoices=", ".join(dict.fromkeys(line.name for line in lines)),
        )
        if channel == "whatsapp":
            interactive = cta_url(body, lang_env._("Pay now"), link)
            self._say(
                partner,
                invoices,
                channel,
                readable(interactive),
                "pay_now",
                interactive=interactive,
            )
            return
        self._say(partner, invoices, channel, f"{body} {link}", "pay_now")

    # ------------------------------------------------------------------
    # "Talk to someone": a to-do, and when they will write back
    # ------------------------------------------------------------------

    def _on_talk(self, partner, invoices, channel):
        partner._dunning_todo(
            self.env._("The customer asked to talk to someone"), invoices=invoices
        )
        company = self._company(partner, invoices)
        lang_env = self._lang_env(partner)
        text = lang_env._(
            "Thank you, %(name)s. Someone from %(company)s will write to you %(when)s.",
            name=partner.name,
            company=company.name,
            when=self._callback_time(company, lang_env),
        )
        self._say(partner, invoices, channel, text, "talk")

    def _callback_time(self, company, lang_env):
        """When someone can write back, from the company's working time
        (holidays and closures taken out), as a customer hears it."""
        calendar = company.resource_calendar_id
        if not calendar:
            return lang_env._("as soon as they can")
        now = fields.Datetime.now().replace(tzinfo=timezone.utc)
        intervals = calendar._work_intervals_batch(
            now, now + timedelta(days=CALLBACK_LOOKAHEAD_DAYS)
        )[False]
        spans = [(start, stop) for start, stop, _records in intervals]
        zone = spans[0][0].tzinfo if spans else timezone.utc
        slot = reply_slot(now.astimezone(zone), spans)
        if slot is None:
            return lang_env._("as soon as they can")
        kind, moment = slot
        if kind == TODAY:
            return lang_env._("today before %(time)s", time=f"{moment:%H:%M}")
        if kind == TOMORROW_MORNING:
            return lang_env._("tomorrow morning")
        if kind == TOMORROW_AFTERNOON:
            return lang_env._("tomorrow afternoon")
        if kind == ON_DAY and (moment.date() - now.astimezone(zone).date()).days < 7:
            return lang_env._(
                "on %(day)s",
                day=format_date(lang_env, moment.date(), date_format="EEEE"),
            )
        return lang_env._(
            "on %(day)s",
            day=format_date(lang_env, moment.date(), date_format="EEEE d MMMM"),
        )
