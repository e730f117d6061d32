from collections import defaultdict
from datetime import date

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools.misc import format_date

from ..tools import late_interest


class AccountMove(models.Model):
    _inherit = "account.move"

    dunning_interest_rule = fields.Selection(related="company_id.dunning_interest_rule")
    dunning_late_interest = fields.Monetary(
        string="Late-payment interest to date",
        compute="_compute_dunning_late_charges",
        help="Interest counted to today under the company's rule, per instalment "
        "on what was still owed each day; what interest invoices already charged "
        "included.",
    )
    dunning_late_fee = fields.Monetary(
        string="Recovery compensation",
        compute="_compute_dunning_late_charges",
        help="The fixed compensation for a late invoice under the company's rule.",
    )
    dunning_late_charges_problem = fields.Char(
        string="Charges not counted",
        compute="_compute_dunning_late_charges",
        help="Why the charges cannot be counted (a reference rate missing).",
    )

    def _compute_dunning_late_charges(self):
        today = fields.Date.context_today(self)
        values = dict.fromkeys(
            (
                "dunning_late_interest",
                "dunning_late_fee",
                "dunning_late_charges_problem",
            ),
            False,
        )
        self.update(values)
        for company, invoices in self.grouped("company_id").items():
            try:
                charges = invoices.with_company(company)._dunning_late_charges(today)
            except UserError as problem:
                invoices.dunning_late_charges_problem = str(problem)
                continue
            for invoice, charge in charges.items():
                invoice.dunning_late_interest = charge["interest"]
                invoice.dunning_late_fee = charge["fee"]

    def _dunning_late_charges(self, as_of):
        """What each of these posted customer invoices owes for being paid
        late, counted up to ``as_of`` under its company's rule (nothing is
        invoiced or changed).

        Returns ``{invoice: {"interest", "fee", "instalments"}}``: ``interest``
        and ``fee`` in the invoice's currency, rounded with it; ``instalments``
        a list of ``{"line", "due", "amount", "accrual"}``, one per receivable
        line, ``accrual`` being its ``late_interest.Accrual`` (the periods to
        show). Interest runs on each instalment from the day after its due date,
        on what was still owed each day, payments read from the
        reconciliation. The fee is due once per invoice with an instalment late
        by ``as_of``. Nothing is charged under the rule "No interest", nor to
        a consumer unless the company charges consumers too, nor on charges
        waived or on an interest invoice.
        """
        invoices = self.filtered(
            lambda move: move.move_type == "out_invoice" and move.state == "posted"
        )
        instalments = defaultdict(list)
        lines = (
            self.env["account.move.line"]
            .sudo()
            .search_fetch(
                Domain("move_id", "in", invoices.ids)
                & Domain("display_type", "=", "payment_term"),
                ["move_id", "date_maturity", "amount_currency"],
                order="date_maturity, id",
            )
        )
        for line in lines:
            instalments[line.move_id].append(line)
        payments = defaultdict(list)
        for partial in (
            self.env["account.partial.reconcile"]
            .sudo()
            .search_fetch(
                [("debit_move_id", "in", lines.ids)],
                ["debit_move_id", "max_date", "debit_amount_currency"],
            )
        ):
            payments[partial.debit_move_id].append(
                (partial.max_date, partial.debit_amount_currency)
            )
        reference_rates = None
        fees = {}  # converted once per company, currency and due date
        charges = {}
        for invoice in invoices:
            company = invoice.company_id
            charges[invoice] = {"interest": 0.0, "fee": 0.0, "instalments": []}
            rule = company.dunning_interest_rule
            # No interest on interest, nor on charges waived.
            if (
                rule == "none"
                or invoice.dunning_charges_source_id
                or invoice.dunning_charges_waived
                or not (
                    invoice.commercial_partner_id.is_company
                    or company.dunning_interest_consumers
                )
            ):
                continue
            if rule == "fixed":
                rate_on = late_interest.fixed_rate_on(company.dunning_interest_rate)
            else:
                if reference_rates is None:
                    reference_rates = self.env[
                        "dunning.reference.rate"
                    ]._dunning_changes()
                rate_on = late_interest.statutory_rate_on(
                    reference_rates, company.dunning_interest_points
                )
            late = False
            for line in instalments[invoice]:
                if line.amount_currency <= 0:
                    continue
                try:
                    accrual = late_interest.accrue(
                        line.date_maturity,
                        line.amount_currency,
                        payments[line],
                        as_of,
                        rate_on,
                    )
                except late_interest.MissingReferenceRate as missing:
                    raise UserError(
                        self._dunning_missing_rate_message(
                            invoice, missing.half_year_start
                        )
                    ) from None
                late = late or bool(accrual.periods)
                charges[invoice]["instalments"].append(
                    {
                        "line": line,
                        "due": line.date_maturity,
                        "amount": line.amount_currency,
                        "accrual": accrual,
                    }
                )
            currency = invoice.currency_id
            charges[invoice]["interest"] = currency.round(
                sum(item["accrual"].total for item in charges[invoice]["instalments"])
            )
            if late and company.dunning_recovery_fee:
                key = (company, currency, invoice.invoice_date_due)
                if key not in fees:
                    fees[key] = company.dunning_recovery_fee_currency_id._convert(
                        company.dunning_recovery_fee, currency, company, key[2]
                    )
                charges[invoice]["fee"] = fees[key]
        return charges

    def _dunning_missing_rate_message(self, invoice, half_year_start):
        year = half_year_start.year
        half_year_end = (
            date(year, 6, 30) if half_year_start.month == 1 else date(year, 12, 31)
        )
        return self.env._(
            "No reference rate is known for the half-year from %(start)s to "
            "%(end)s, which the statutory interest of %(invoice)s needs. Add the "
            "rate in force on %(start)s under Collections > Configuration > "
            "Reference rates.",
            start=format_date(self.env, half_year_start),
            end=format_date(self.env, half_year_end),
            invoice=invoice.display_name,
        )
