"""The in-chat flows that answer a request: "I already paid" (the receipt
asked for), "Which invoices?" (the list, then a PDF), "Pay now" (a link to
pay) and "Talk to someone" (a to-do, and when someone writes back)."""

from datetime import timedelta, timezone

from odoo import fields, models
from odoo.tools import format_date, formatLang

from ..tools.whatsapp_interactive import MAX_ROWS, cta_url, readable
from ..tools.working_hours import (
    ON_DAY,
    TODAY,
    TOMORROW_AFTERNOON,
    TOMORROW_MORNING,
    reply_slot,
)
from .dunning_decision import instalments_due, invoice_lines
from .dunning_reply import PAYMENT_REPORT_ANCHOR

# Working days looked ahead for when someone can write back.
CALLBACK_LOOKAHEAD_DAYS = 14


class DunningReply(models.AbstractModel):
    _inherit = "dunning.reply"

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
