"""Late-payment charges used as a lever: invoiced separately at a chosen step,
or waived for a payment in full by an offered date.

The late invoice is never changed: interest and the recovery fee go on an
interest invoice of their own (``dunning_charges_source_id`` points back),
each later one for what accrued since, and a waiver credits the interest
invoices still unpaid."""

from datetime import timedelta

from odoo import Command, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools.misc import format_date

# How long after a waiver offer's date a payment is still looked for: one
# made by the date may be reconciled a few days later.
WAIVER_LOOKBACK_DAYS = 30


class AccountMove(models.Model):
    _inherit = "account.move"

    dunning_charges_source_id = fields.Many2one(
        "account.move",
        string="Late charges of",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="The late invoice whose interest and recovery fee this invoice charges.",
    )
    dunning_charge_invoice_ids = fields.One2many(
        "account.move",
        "dunning_charges_source_id",
        string="Interest invoices",
        readonly=True,
    )
    dunning_charges_to_invoice = fields.Boolean(
        string="Late charges to invoice",
        readonly=True,
        copy=False,
        help="A step asked for the late charges to be invoiced: the next run "
        "invoices them once no waiver offer runs.",
    )
    dunning_waiver_until = fields.Date(
        string="Charges waived if paid by",
        readonly=True,
        copy=False,
        help="A reminder offered to waive the late charges for a payment in full "
        "by this date.",
    )
    dunning_charges_waived = fields.Boolean(
        string="Late charges waived",
        readonly=True,
        copy=False,
    )

    def _dunning_invoiced_charges(self):
        """What the interest invoices of these invoices already charge:
        ``{invoice: {"interest": amount, "fee": bool}}``, in each invoice's
        currency. Cancelled and credited interest invoices do not count."""
        invoiced = {invoice: {"interest": 0.0, "fee": False} for invoice in self}
        lines = (
            self.env["account.move.line"]
            .sudo()
            .search_fetch(
                [
                    ("move_id.dunning_charges_source_id", "in", self.ids),
                    ("move_id.state", "=", "posted"),
                    ("move_id.payment_state", "!=", "reversed"),
                    ("dunning_charge_kind", "!=", False),
                ],
                ["move_id", "dunning_charge_kind", "price_subtotal"],
            )
        )
        for line in lines:
            charged = invoiced[line.move_id.dunning_charges_source_id]
            if line.dunning_charge_kind == "interest":
                charged["interest"] += line.price_subtotal
            else:
                charged["fee"] = True
        return invoiced

    def _dunning_invoice_late_charges(self, as_of):
        """Raise, for each of these invoices, an interest invoice for the late
        charges owed by ``as_of`` and not invoiced yet; posted, due at once.
        Invoices whose charges are waived, or under a waiver offer still
        running, are left alone. Returns the interest invoices created."""
        invoices = self.filtered(
            lambda move: (
                not move.dunning_charges_source_id
                and not move.dunning_charges_waived
                and not (
                    move.dunning_waiver_until and move.dunning_waiver_until >= as_of
                )
            )
        )
        created = self.browse()
        if not invoices:
            return created
        charges = invoices._dunning_late_charges(as_of)
        invoiced = invoices._dunning_invoiced_charges()
        values_list = []
        for invoice in invoices:
            currency = invoice.currency_id
            interest = currency.round(
                charges[invoice]["interest"] - invoiced[invoice]["interest"]
            )
            fee = 0.0 if invoiced[invoice]["fee"] else charges[invoice]["fee"]
            if currency.compare_amounts(interest, 0) <= 0 and not fee:
                continue
            values_list.append(
                invoice._dunning_charge_invoice_values(interest, fee, as_of)
            )
        if values_list:
            created = self.create(values_list)
            created.action_post()
        invoices.filtered(
            "dunning_charges_to_invoice"
        ).dunning_charges_to_invoice = False
        return created

    def _dunning_charge_invoice_values(self, interest, fee, as_of):
        """The values of the interest invoice charging ``interest`` and ``fee``
        for this invoice, worded in its customer's language."""
        self.ensure_one()
        env = self.with_context(lang=self.partner_id.lang or self.env.lang).env
        lines = []
        if interest > 0:
            lines.append(
                Command.create(
                    {
                        "name": env._(
                            "Late-payment interest on %(invoice)s, up to %(date)s",
                            invoice=self.name,
                            date=format_date(env, as_of),
                        ),
                        "quantity": 1,
                        "price_unit": interest,
                        "tax_ids": [Command.clear()],
                        "dunning_charge_kind": "interest",
                    }
                )
            )
        if fee:
            lines.append(
                Command.create(
                    {
                        "name": env._(
                            "Compensation for recovery costs, %(invoice)s",
                            invoice=self.name,
                        ),
                        "quantity": 1,
                        "price_unit": fee,
                        "tax_ids": [Command.clear()],
                        "dunning_charge_kind": "fee",
                    }
                )
            )
        return {
            "move_type": "out_invoice",
            "company_id": self.company_id.id,
            "journal_id": self.journal_id.id,
            "partner_id": self.partner_id.id,
            "currency_id": self.currency_id.id,
            "invoice_date": as_of,
            "invoice_origin": self.name,
            "fiscal_position_id": self.fiscal_position_id.id,
            "dunning_charges_source_id": self.id,
            "invoice_line_ids": lines,
        }

    def _dunning_offer_waiver(self, until):
        """Record that the late charges of these invoices are waived if each
        is paid in full by ``until`` (a later offer already made stands)."""
        for invoice in self:
            if not invoice.dunning_waiver_until or invoice.dunning_waiver_until < until:
                invoice.dunning_waiver_until = until

    def _dunning_payment_date(self):
        """The date of the last payment reconciled with this invoice."""
        self.ensure_one()
        receivable = self.line_ids.filtered(
            lambda line: line.display_type == "payment_term"
        )
        return max(
            (receivable.matched_credit_ids | receivable.matched_debit_ids).mapped(
                "max_date"
            ),
            default=False,
        )

    def _dunning_waive_late_charges(self):
        """Waive the late charges of these invoices: nothing more is invoiced
        for them, and their interest invoices still unpaid are credited in
        full."""
        self.write(
            {"dunning_charges_waived": True, "dunning_charges_to_invoice": False}
        )
        unpaid = self.dunning_charge_invoice_ids.filtered(
            lambda move: (
                move.state == "posted" and move.payment_state in ("not_paid", "partial")
            )
        )
        for charge_invoice in unpaid:
            env = charge_invoice.with_context(
                lang=charge_invoice.partner_id.lang or self.env.lang
            ).env
            charge_invoice._reverse_moves(
                [
                    {
                        "ref": env._(
                            "Late charges of %(invoice)s waived",
                            invoice=charge_invoice.dunning_charges_source_id.name,
                        ),
                        "invoice_date": fields.Date.context_today(self),
                    }
                ],
                cancel=True,
            )

    def _dunning_waive_if_paid_in_time(self):
        """Waive the late charges of these invoices that are paid in full by
        the date a reminder offered. Returns the invoices waived."""
        honoured = self.filtered(
            lambda invoice: (
                invoice.dunning_waiver_until
                and not invoice.dunning_charges_waived
                and invoice.payment_state in ("paid", "in_payment")
                and (paid_on := invoice._dunning_payment_date())
                and paid_on <= invoice.dunning_waiver_until
            )
        )
        honoured._dunning_waive_late_charges()
        return honoured

    def _dunning_honour_waivers(self, company, today):
        """Waive the late charges of the company's invoices paid in full by
        the date a reminder offered. A payment's reconciliation honours the
        waiver at once (``_dunning_payment_check_pending``); the hourly job
        makes sure that none is missed. Returns the invoices waived."""
        return (
            self.sudo()
            .search(
                Domain("company_id", "=", company.id)
                & Domain("move_type", "=", "out_invoice")
                & Domain("dunning_charges_waived", "=", False)
                & Domain(
                    "dunning_waiver_until",
                    ">=",
                    today - timedelta(days=WAIVER_LOOKBACK_DAYS),
                )
                & Domain("payment_state", "in", ("paid", "in_payment"))
            )
            ._dunning_waive_if_paid_in_time()
        )

    def _dunning_invoice_pending_charges(self, company, today):
        """Invoice the late charges that steps asked for in the company, once
        no waiver offer runs on them. Returns the interest invoices created."""
        pending = self.sudo().search(
            [
                ("company_id", "=", company.id),
                ("dunning_charges_to_invoice", "=", True),
            ]
        )
        if (
            company.dunning_interest_use != "invoiced"
            or company.dunning_interest_rule == "none"
        ):
            pending.dunning_charges_to_invoice = False
            return self.browse()
        try:
            return pending._dunning_invoice_late_charges(today)
        except UserError:
            # A reference rate is missing: the invoices show why, and the
            # charges are invoiced by a later run once it is added.
            return self.browse()

    def action_dunning_invoice_late_charges(self):
        """Invoice the late charges of this invoice now, and show the interest
        invoice raised."""
        self.ensure_one()
        today = fields.Date.context_today(self)
        if self.dunning_charges_waived:
            raise UserError(self.env._("The late charges of this invoice were waived."))
        if self.dunning_waiver_until and self.dunning_waiver_until >= today:
            raise UserError(
                self.env._(
                    "The customer was offered to have the late charges waived for a "
                    "payment by %(date)s: invoice them after that date.",
                    date=format_date(self.env, self.dunning_waiver_until),
                )
            )
        created = self._dunning_invoice_late_charges(today)
        if not created:
            raise UserError(
                self.env._(
                    "This invoice owes no late charges that are not invoiced yet."
                )
            )
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": created.id,
            "view_mode": "form",
        }

    def action_dunning_waive_late_charges(self):
        """Waive the late charges of this invoice, crediting its unpaid
        interest invoices."""
        self._dunning_waive_late_charges()


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    dunning_charge_kind = fields.Selection(
        [("interest", "Late-payment interest"), ("fee", "Recovery compensation")],
        string="Late charge",
        readonly=True,
        copy=False,
    )
