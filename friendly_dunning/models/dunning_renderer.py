"""The texts of the planner's decisions: each message's subject and body in
its contact's language, with its placeholders ({name}, {amount}, {invoices},
{link}, {early_discount}, {waiver_offer}, ...) filled in.

A :class:`DunningRenderer` serves one planning (see
:class:`~.dunning_planner.DunningPlanner`, which renders through it): the
languages, date patterns, currencies and signed links it works out are kept
for the whole run.
"""

import ast
from collections import defaultdict
from datetime import timedelta

from odoo.exceptions import UserError
from odoo.tools import get_lang

from ..tools.formatting import amount_formatter, date_formatter
from ..tools.messages import TemplateError, render_message


class DunningRenderer:
    """Renders the decisions of a :class:`~.dunning_planner.DunningPlanner`."""

    def __init__(self, planner):
        self.env = planner.env
        self.company = planner.company
        self.today = planner.today
        # Per-run caches: the same few languages, date patterns and currencies
        # come back for thousands of customers.
        self._date_formats = {}
        self._amount_formats = {}
        self._invoice_line_patterns = {}
        self._portal_urls = {}  # commercial partner id: signed link
        self._late_charges = {}  # invoice: its late charges (see render)

    def render(self, decisions):
        """``decisions`` with the subject and body of each sendable one, in
        its contact's language; a text that cannot be rendered makes its
        decision unreachable, with the reason."""
        by_lang = defaultdict(list)
        for index, decision in enumerate(decisions):
            if decision.is_sendable:
                by_lang[decision.contact.lang or "en_US"].append(index)
        self._sign_links(
            self.env["res.partner"].browse(
                {
                    decisions[index].contact.commercial_partner_id.id
                    for group in by_lang.values()
                    for index in group
                }
            )
        )
        self._read_late_charges(
            [decisions[index] for group in by_lang.values() for index in group]
        )
        rendered = list(decisions)
        for lang, group in by_lang.items():
            env = self.env(context=dict(self.env.context, lang=lang))
            for index in group:
                decision = decisions[index]
                source, subject_field, body_field = decision.texts or (
                    decision.step,
                    "subject",
                    "body",
                )
                source = source.with_env(env)
                values = self.placeholder_values(env, decision)
                body_template = source[body_field] or ""
                if (
                    decision.kind == "reminder"
                    and decision.step.offer_charge_waiver
                    and values["waiver_offer"]
                    and "{waiver_offer}" not in body_template
                ):
                    body_template += "\n\n{waiver_offer}"
                try:
                    rendered[index] = decision.with_text(
                        render_message(source[subject_field] or "", values),
                        render_message(body_template, values),
                    )
                except TemplateError as error:
                    rendered[index] = decision.as_unreachable(
                        source._template_error_message(error)
                    )
        return rendered

    def placeholder_values(self, env, decision):
        """The values of the message placeholders ({name}, {amount}, ...) for
        ``decision``, written in the language of ``env``."""
        lines = decision.lines
        # After the due date, {amount} is what is overdue; invoices not yet due
        # that the same message mentions are listed, not counted as overdue.
        overdue = [line for line in lines if line.due < self.today]
        counted = overdue if decision.step.offset_days > 0 and overdue else lines
        by_currency = defaultdict(float)
        for line in counted:
            by_currency[line.currency_id] += line.residual
        Currency = env["res.currency"]
        amount = self._join(
            env,
            [
                self.format_amount(env, total, Currency.browse(currency_id))
                for currency_id, total in by_currency.items()
            ],
        )
        if env.lang not in self._invoice_line_patterns:
            # Translated once per language, filled for each invoice.
            self._invoice_line_patterns[env.lang] = (
                env._("- %(number)s, due %(due)s: %(amount)s"),
                env._(
                    "- %(number)s (instalment %(instalment)s of %(instalments)s), "
                    "due %(due)s: %(amount)s"
                ),
            )
        single, instalment = self._invoice_line_patterns[env.lang]
        invoices = "\n".join(
            (single if line.instalments == 1 else instalment)
            % {
                "number": line.name,
                "instalment": line.instalment,
                "instalments": line.instalments,
                "due": self.format_date(env, line.due),
                "amount": self.format_amount(
                    env, line.residual, Currency.browse(line.currency_id)
                ),
            }
            for line in lines
        )
        oldest_due = lines[0].due if lines else False
        return {
            "name": decision.contact.name,
            "company": self.company.name,
            "amount": amount,
            "invoices": invoices,
            "due_date": self.format_date(env, oldest_due),
            "days_overdue": max(0, (self.today - oldest_due).days) if lines else 0,
            "link": self._portal_url(decision.contact.commercial_partner_id),
            "credits": "",
            "early_discount": self._early_discount(env, decision),
            **self._charges_sentences(env, decision),
        }

    def _read_late_charges(self, decisions):
        """Count, once for the invoices of all ``decisions``, the late charges
        the {late_charges} and {waiver_offer} sentences speak of."""
        self._late_charges = {}
        if self.company.dunning_interest_rule == "none":
            return
        invoices = self.env["account.move"].union(
            *(decision.invoices for decision in decisions)
        )
        try:
            self._late_charges = invoices.sudo()._dunning_late_charges(self.today)
        except UserError:
            # A reference rate is missing: the invoice shows why; the message
            # goes without the sentences meanwhile.
            self._late_charges = {}

    def waiver_until(self):
        """The date a waiver offered today runs to."""
        return self.today + timedelta(days=self.company.dunning_waiver_days)

    def _charges_sentences(self, env, decision):
        """``{"late_charges", "waiver_offer"}``: what being late has cost the
        invoices of ``decision`` so far, and the offer to waive it for a
        payment in full within the company's waiver days (when the step makes
        that offer); both empty when nothing is charged."""
        totals = defaultdict(float)
        for invoice in decision.invoices:
            charges = self._late_charges.get(invoice._origin)
            if charges:
                totals[invoice.currency_id] += charges["interest"] + charges["fee"]
        amount = self._join(
            env,
            [
                self.format_amount(env, total, currency)
                for currency, total in totals.items()
                if not currency.is_zero(total)
            ],
        )
        if not amount:
            return {"late_charges": "", "waiver_offer": ""}
        waiver = ""
        if decision.step.offer_charge_waiver:
            waiver = env._(
                "Pay in full by %(date)s and we waive the late-payment interest "
                "and fees (%(amount)s).",
                date=self.format_date(env, self.waiver_until()),
                amount=amount,
            )
        return {
            "late_charges": env._(
                "Under our terms, paying late has added %(amount)s in interest and "
                "fees so far.",
                amount=amount,
            ),
            "waiver_offer": waiver,
        }

    def _early_discount(self, env, decision):
        """The {early_discount} sentence: how much paying each invoice of
        ``decision`` by its early-payment discount date saves, while that date
        has not passed; empty otherwise."""
        invoices = decision.invoices.with_env(env)
        discounts = invoices._dunning_early_discounts(self.today)
        sentences = [
            (
                invoice.name,
                invoice._dunning_early_discount_text(
                    discounts[invoice],
                    lambda day: self.format_date(env, day),
                    lambda amount, currency=invoice.currency_id: self.format_amount(
                        env, amount, currency
                    ),
                ),
            )
            for invoice in invoices
            if invoice in discounts
        ]
        if len(sentences) == 1:
            return sentences[0][1]
        return " ".join(f"{name}: {sentence}" for name, sentence in sentences)

    def _portal_url(self, partner):
        """The signed link of the commercial partner ``partner``'s collections
        page, made once per run (``render`` signs a batch's at once)."""
        self._sign_links(partner)
        return self._portal_urls[partner.id]

    def _sign_links(self, partners):
        """Sign together the links of the commercial partners ``partners``
        that have none yet in this run."""
        unsigned = partners.browse(set(partners.ids) - self._portal_urls.keys())
        if unsigned:
            self._portal_urls.update(unsigned._dunning_portal_urls(self.company))

    def format_date(self, env, value):
        """``format_date(env, value)``, with the language's pattern worked out
        once per run rather than for each date."""
        if env.lang not in self._date_formats:
            lang = get_lang(env)
            self._date_formats[env.lang] = date_formatter(lang.code, lang.date_format)
        return self._date_formats[env.lang](value)

    def format_amount(self, env, value, currency):
        """``formatLang(env, value, currency_obj=currency)``, with what it looks
        up for every amount read once per language and currency of the run."""
        key = (env.lang, currency.id)
        if key not in self._amount_formats:
            data = env["res.lang"]._get_data(id=get_lang(env).id)
            self._amount_formats[key] = amount_formatter(
                ast.literal_eval(data.grouping),
                data.thousands_sep,
                data.decimal_point,
                currency.decimal_places,
                currency.symbol,
                currency.position == "after",
            )
        return self._amount_formats[key](value)

    @staticmethod
    def _join(env, parts):
        if len(parts) <= 1:
            return "".join(parts)
        return env._(
            "%(first)s and %(last)s", first=", ".join(parts[:-1]), last=parts[-1]
        )
