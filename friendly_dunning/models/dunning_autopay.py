"""Automatic payments: a customer's authorisation to charge a saved payment
method (Odoo's ``payment.token``) on the dates of their instalments. The
charges themselves and the scheduled job are in dunning_autopay_charge.py."""

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import formatLang

AUTOPAY_STATES = [("active", "Active"), ("stopped", "Stopped")]
# Invoices automatic payments without a plan leave alone: a plan charges its
# own instalments; a disputed invoice or one the customer says is paid waits
# for the collections team.
NOT_CHARGED_PAUSES = ["plan", "dispute", "payment_reported"]


class DunningAutopay(models.Model):
    """One customer's standing authorisation, in one company, to charge a
    saved payment method: the instalments of their payment plan when it
    names one, otherwise the instalments of their open invoices, each on its
    due date."""

    _name = "dunning.autopay"
    _description = "Automatic Payment Authorisation"
    _inherit = ("mail.thread",)
    _order = "id desc"
    _check_company_auto = True
    _rec_name = "partner_id"

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        readonly=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, readonly=True
    )
    token_id = fields.Many2one(
        "payment.token",
        string="Payment method",
        required=True,
        readonly=True,
        ondelete="restrict",
        tracking=True,
    )
    plan_id = fields.Many2one(
        "dunning.payment.plan",
        string="Payment plan",
        readonly=True,
        index="btree_not_null",
        check_company=True,
        help="The plan whose instalments are charged; without one, the "
        "instalments of the customer's open invoices are.",
    )
    state = fields.Selection(
        AUTOPAY_STATES,
        required=True,
        default="active",
        readonly=True,
        index=True,
        tracking=True,
    )
    authorised_on = fields.Datetime(readonly=True, default=fields.Datetime.now)
    authorised_by_id = fields.Many2one(
        "res.partner",
        string="Authorised by",
        readonly=True,
        help="Who agreed on the customer's page.",
    )
    authorisation_text = fields.Text(
        string="What was authorised",
        readonly=True,
        help="The words the customer agreed to, as the page showed them.",
    )
    stopped_on = fields.Datetime(readonly=True)
    stopped_by_id = fields.Many2one("res.partner", string="Stopped by", readonly=True)
    stop_reason = fields.Char(readonly=True)
    charge_ids = fields.One2many(
        "dunning.autopay.charge", "autopay_id", string="Charges", readonly=True
    )

    _one_active = models.UniqueIndex(
        "(partner_id, company_id) WHERE state = 'active'",
        "A customer has one active automatic payment per company.",
    )

    # ------------------------------------------------------------------
    # Finding and starting
    # ------------------------------------------------------------------

    @api.model
    def _dunning_active(self, partner, company):
        return self.search(
            [
                ("partner_id", "=", partner.commercial_partner_id.id),
                ("company_id", "=", company.id),
                ("state", "=", "active"),
            ],
            limit=1,
        )

    @api.model
    def _dunning_active_plan(self, partner, company):
        return self.env["dunning.payment.plan"].search(
            [
                ("partner_id", "=", partner.commercial_partner_id.id),
                ("company_id", "=", company.id),
                ("state", "=", "active"),
            ],
            order="id desc",
            limit=1,
        )

    @api.model
    def _dunning_check_token(self, partner, company, token):
        """``token`` once sure the customer may charge it in ``company``."""
        token = token.sudo().exists()
        if (
            not token
            or not token.active
            or token.partner_id.commercial_partner_id != partner.commercial_partner_id
            or token.provider_id.company_id != company
            or token.provider_id.state == "disabled"
        ):
            raise UserError(self.env._("This payment method cannot be used here."))
        return token

    @api.model
    def _dunning_authorisation_text(self, partner, company, plan, lang=None):
        """The words the customer agrees to, in their language."""
        env = self.with_context(lang=lang or partner.lang).env
        if plan:
            return env._(
                "I authorise %(company)s to charge my saved payment method for each "
                "instalment of payment plan %(plan)s (%(amount)s in all) on its due "
                "date, and to try again up to %(tries)s times when a charge is "
                "declined. I can stop this at any time on my collections page.",
                company=company.name,
                plan=plan.name,
                amount=formatLang(env, plan.amount_due, currency_obj=plan.currency_id),
                tries=len(company._dunning_autopay_retry_days()),
            )
        return env._(
            "I authorise %(company)s to charge my saved payment method for each "
            "instalment of my open invoices on its due date, and to try again up "
            "to %(tries)s times when a charge is declined. I can stop this at any "
            "time on my collections page.",
            company=company.name,
            tries=len(company._dunning_autopay_retry_days()),
        )

    @api.model
    def _dunning_start(self, partner, company, token, author):
        """Start automatic payments with ``token``, or, when they already run,
        charge ``token`` from now on: the retries waiting for a new method
        are tried at the next run. Only the customer authorises (on their
        page, whose checks ran): the records are written as superuser."""
        self = self.sudo()  # noqa: PLW0642
        partner = partner.commercial_partner_id
        token = self._dunning_check_token(partner, company, token)
        autopay = self._dunning_active(partner, company)
        if autopay:
            if autopay.token_id != token:
                autopay.token_id = token
                autopay.charge_ids.filtered(lambda c: c.state == "retry").write(
                    {"next_try": fields.Datetime.now()}
                )
            return autopay
        plan = self._dunning_active_plan(partner, company)
        autopay = self.create(
            {
                "partner_id": partner.id,
                "company_id": company.id,
                "token_id": token.id,
                "plan_id": plan.id,
                "authorised_by_id": author.id,
                "authorisation_text": self._dunning_authorisation_text(
                    partner, company, plan
                ),
            }
        )
        self.env.ref("friendly_dunning.ir_cron_dunning_autopay")._trigger()
        return autopay

    def _dunning_stop(self, author=None, reason=None):
        """Stop charging; what waited to be charged goes back to the normal
        reminders. Stopping twice changes nothing."""
        active = self.filtered(lambda autopay: autopay.state == "active")
        if not active:
            return
        active.write(
            {
                "state": "stopped",
                "stopped_on": fields.Datetime.now(),
                "stopped_by_id": author.id if author else False,
                "stop_reason": reason,
            }
        )
        active.charge_ids.filtered(
            lambda c: c.state in ("pending", "retry")
        )._dunning_give_up(
            "cancelled", reason or self.env._("Automatic payments were stopped.")
        )

    def action_stop(self):
        self._dunning_stop(
            self.env.user.partner_id, self.env._("Stopped by %s", self.env.user.name)
        )
        return True

    # ------------------------------------------------------------------
    # What is charged
    # ------------------------------------------------------------------

    def _dunning_due_targets(self, until):
        """``{autopay: [(target values), ...]}``: the instalments due by
        ``until`` that these autopays charge and have not charged yet, as the
        values of their charges. A few queries for the whole batch."""
        Charge = self.env["dunning.autopay.charge"]
        existing = Charge.search(Domain("autopay_id", "in", self.ids))
        seen_installments = set(existing.installment_id.ids)
        seen_lines = set(existing.move_line_id.ids)
        targets = {autopay: [] for autopay in self}
        with_plan = self.filtered("plan_id")
        installments = self.env["dunning.payment.plan.installment"].search(
            [
                ("plan_id", "in", with_plan.plan_id.ids),
                ("plan_id.state", "=", "active"),
                ("state", "=", "pending"),
                ("date_due", "<=", until),
            ]
        )
        by_plan = installments.grouped("plan_id")
        for autopay in with_plan:
            for line in by_plan.get(autopay.plan_id, []):
                if line.id not in seen_installments:
                    targets[autopay].append(
                        {
                            "installment_id": line.id,
                            "date_due": line.date_due,
                            "amount": line.amount - line.amount_paid,
                            "currency_id": line.currency_id.id,
                        }
                    )
        without_plan = self - with_plan
        if without_plan:
            lines = self.env["account.move.line"].search(
                self.env["account.move"]._dunning_open_instalment_domain()
                & Domain(
                    "move_id.commercial_partner_id",
                    "in",
                    without_plan.partner_id.ids,
                )
                & Domain("company_id", "in", without_plan.company_id.ids)
                & Domain("date_maturity", "<=", until)
                & Domain("move_id.move_type", "=", "out_invoice")
                & Domain("move_id.dunning_pause_reason", "not in", NOT_CHARGED_PAUSES),
                order="date_maturity, id",
            )
            by_customer = lines.grouped(
                lambda line: (line.move_id.commercial_partner_id, line.company_id)
            )
            for autopay in without_plan:
                for line in by_customer.get(
                    (autopay.partner_id, autopay.company_id), []
                ):
                    if line.id not in seen_lines:
                        targets[autopay].append(
                            {
                                "move_line_id": line.id,
                                "date_due": line.date_maturity,
                                "amount": line.amount_residual_currency,
                                "currency_id": line.currency_id.id,
                            }
                        )
        return targets

    def _dunning_next_charge(self):
        """``(date, amount, currency)`` of the next charge, or ``None``."""
        self.ensure_one()
        waiting = self.charge_ids.filtered(
            lambda c: c.state in ("pending", "retry", "processing")
        ).sorted("next_try")
        if waiting:
            charge = waiting[0]
            return charge.next_try.date(), charge.amount, charge.currency_id
        today = fields.Date.context_today(self)
        if self.plan_id:
            line = self.plan_id.installment_ids.filtered(
                lambda i: i.state == "pending"
            ).sorted(lambda i: (i.date_due, i.sequence))[:1]
            if line:
                return (
                    max(line.date_due, today),
                    line.amount - line.amount_paid,
                    line.currency_id,
                )
            return None
        line = self.env["account.move.line"].search(
            self.env["account.move"]._dunning_open_instalment_domain()
            & Domain("move_id.commercial_partner_id", "=", self.partner_id.id)
            & Domain("company_id", "=", self.company_id.id)
            & Domain("move_id.move_type", "=", "out_invoice")
            & Domain("move_id.dunning_pause_reason", "not in", NOT_CHARGED_PAUSES),
            order="date_maturity, id",
            limit=1,
        )
        if line:
            return (
                max(line.date_maturity, today),
                line.amount_residual_currency,
                line.currency_id,
            )
        return None
