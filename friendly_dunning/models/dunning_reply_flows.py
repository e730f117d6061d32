"""The in-chat flows: what a reply starts and each option leads to, short
and in the customer's language, each outcome made through the same model
methods as the customer's page (plans, promises, payment reports).

WhatsApp shows the options as reply buttons or a list, SMS as numbered
lines. An option that comes back is looked up in the offers stored on the
conversation (``dunning.conversation``) and acted on only from there.

This file routes a reply, offers options and answers with the menu; the
flows the options start are in dunning_reply_agreements.py (plans,
promises) and dunning_reply_requests.py (paid, invoices, pay now, talk)."""

from odoo import api, models
from odoo.tools import formatLang

from ..tools.intents import DISPUTE, HELP, START, STOP
from ..tools.whatsapp_interactive import choices, list_message, numbered_text, readable

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
        titles = {
            "more_time": lang_env._("I need more time"),
            "promise": lang_env._("I'll pay on a date"),
            "paid": lang_env._("I already paid"),
            "invoices": lang_env._("Which invoices?"),
            "pay_now": lang_env._("Pay now"),
            "talk": lang_env._("Talk to someone"),
        }
        return [
            (
                option,
                title,
                "",
                {"do": "promise_dates"}
                if option == "promise"
                else {"do": "intent", "intent": option},
            )
            for option, title in titles.items()
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
