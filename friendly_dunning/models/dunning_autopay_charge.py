"""The charges of automatic payments and their scheduled job.

One charge per instalment, whatever the number of tries: the job creates the
charges of the instalments that fell due, then charges them in batches
through Odoo's payment providers (a ``payment.transaction`` per try, with a
reference made of the charge and the try, so that a second run or a run
after a crash charges each try once). Odoo's post-processing creates the
payment and reconciles it with the invoices. A declined charge is tried
again after the company's retry days; after the last try the instalment goes
back to the normal reminders."""

import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_date, formatLang

from .dunning_agreement import CRON_BATCH
from .dunning_autopay import NOT_CHARGED_PAUSES
from .dunning_decision import SendingLimits
from .dunning_planner import DunningPlanner

_logger = logging.getLogger(__name__)

CHARGE_STATES = [
    ("pending", "To charge"),
    ("processing", "Charging"),
    ("retry", "Declined, will try again"),
    ("paid", "Paid"),
    ("failed", "Declined"),
    ("cancelled", "Cancelled"),
]
# States a transaction ends a try in.
DECLINED_TX_STATES = ("error", "cancel")


class DunningAutopayCharge(models.Model):
    _name = "dunning.autopay.charge"
    _description = "Automatic Payment Charge"
    _order = "date_due desc, id desc"
    _check_company_auto = True

    autopay_id = fields.Many2one(
        "dunning.autopay", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one(
        related="autopay_id.company_id", store=True, index=True
    )
    partner_id = fields.Many2one(related="autopay_id.partner_id", store=True)
    installment_id = fields.Many2one(
        "dunning.payment.plan.installment",
        string="Plan instalment",
        readonly=True,
        index="btree_not_null",
        ondelete="cascade",
    )
    move_line_id = fields.Many2one(
        "account.move.line",
        string="Invoice instalment",
        readonly=True,
        index="btree_not_null",
        ondelete="cascade",
    )
    move_id = fields.Many2one(related="move_line_id.move_id", string="Invoice")
    date_due = fields.Date(string="Due on", required=True, readonly=True)
    amount = fields.Monetary(required=True, readonly=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    attempt = fields.Integer(
        string="Tries", readonly=True, help="How many times it was charged."
    )
    next_try = fields.Datetime(string="Next try", readonly=True, index=True)
    state = fields.Selection(
        CHARGE_STATES, required=True, default="pending", readonly=True, index=True
    )
    transaction_id = fields.Many2one(
        "payment.transaction",
        string="Last transaction",
        compute="_compute_transaction_id",
    )
    transaction_ids = fields.One2many(
        "payment.transaction",
        "dunning_autopay_charge_id",
        string="Transactions",
        readonly=True,
    )
    failure_reason = fields.Char(readonly=True)

    _one_per_installment = models.UniqueIndex(
        "(autopay_id, installment_id) WHERE installment_id IS NOT NULL",
        "An instalment is charged once per authorisation.",
    )
    _one_per_line = models.UniqueIndex(
        "(autopay_id, move_line_id) WHERE move_line_id IS NOT NULL",
        "An invoice instalment is charged once per authorisation.",
    )

    @api.depends("transaction_ids")
    def _compute_transaction_id(self):
        for charge in self:
            charge.transaction_id = charge.transaction_ids.sorted("id")[-1:]

    # ------------------------------------------------------------------
    # The scheduled job
    # ------------------------------------------------------------------

    @api.model
    def _cron_dunning_autopay(self):
        """Create the charges of the instalments due today, then charge what
        is due within each customer's sending window."""
        charges = self.sudo()
        charges._dunning_create_due()
        charges._dunning_charge_due()

    def _dunning_commit(self, done, remaining):
        self.env["dunning.payment.plan"]._dunning_commit_progress(done, remaining)

    @api.model
    def _dunning_create_due(self):
        today = fields.Date.context_today(self)
        now = fields.Datetime.now()
        Autopay = self.env["dunning.autopay"]
        autopays = Autopay.search([("state", "=", "active")], order="id")
        for start in range(0, len(autopays), CRON_BATCH):
            batch = autopays[start : start + CRON_BATCH].try_lock_for_update()
            batch.invalidate_recordset(["state"])
            batch = batch.filtered(lambda autopay: autopay.state == "active")
            ended = batch.filtered(
                lambda autopay: autopay.plan_id and autopay.plan_id.state != "active"
            )
            for autopay in ended:
                autopay._dunning_stop(
                    reason=self.env._(
                        "The payment plan %s ended.", autopay.plan_id.name
                    )
                )
            values = [
                target | {"autopay_id": autopay.id, "next_try": now}
                for autopay, targets in (batch - ended)
                ._dunning_due_targets(today)
                .items()
                for target in targets
            ]
            self.create(values)
            self._dunning_commit(0, 0)

    @api.model
    def _dunning_charge_due(self):
        """Charge the charges due, in batches; those of customers outside
        their sending window wait for a later run."""
        now = fields.Datetime.now()
        due = self.search(
            [
                ("state", "in", ("pending", "retry", "processing")),
                ("next_try", "<=", now),
            ],
            order="next_try, id",
        )
        for company, charges in due.grouped("company_id").items():
            charges = charges._dunning_in_window(company, now)
            for start in range(0, len(charges), CRON_BATCH):
                batch = charges[start : start + CRON_BATCH]
                batch._dunning_charge(company)
                self._dunning_commit(len(batch), len(charges) - start - len(batch))

    def _dunning_in_window(self, company, now):
        """The charges of customers ``company`` may write to now: charging
        keeps the hours and days messages keep (not their daily caps), as
        the customer hears of each charge."""
        planner = DunningPlanner(self.env, company, now)
        limits = SendingLimits(
            quiet_day=planner._quiet_day(), sent_today={}, sent_week={}
        )
        if limits.quiet_day:
            return self.browse()
        partners = self.partner_id
        contacts = planner.collections_contacts(partners)
        open_partners = {
            partner
            for partner in partners
            if not any(planner.hold_reasons(partner, contacts[partner.id], limits))
        }
        return self.filtered(lambda charge: charge.partner_id in open_partners)

    def _dunning_charge(self, company):
        """Charge these charges of ``company``: one transaction per charge,
        sent one by one, then post-processed (payment, reconciliation) and
        the customers told."""
        charges = self.try_lock_for_update()
        charges.invalidate_recordset(
            ["state", "attempt", "transaction_ids", "transaction_id"]
        )
        charges = charges.filtered(
            lambda c: (
                c.state in ("pending", "retry", "processing")
                and c.autopay_id.state == "active"
            )
        )
        # A charge left "processing" by an interrupted run keeps its
        # transaction: sent again if still a draft (once it is older than a
        # run, so as not to race a run still sending it), read otherwise.
        resumed = charges.filtered(lambda c: c.state == "processing")
        fresh = (charges - resumed)._dunning_refresh_amounts()
        fresh._dunning_create_transactions()
        # The tries are recorded before any request leaves: after a crash the
        # next run sends the same transaction again, never a new one. The
        # commit frees the rows: lock them again, another run may have them.
        self._dunning_commit(0, None)
        charges = charges.filtered(lambda c: c.state == "processing")
        # Payment's notes on the invoices ("transaction confirmed", "payment
        # posted") are logged for the whole batch at the end.
        notes = []
        charges = charges.try_lock_for_update().with_context(
            dunning_batched_notes=notes
        )
        stale = fields.Datetime.now() - timedelta(hours=1)
        # Read once for the batch: the provider's side reads them one
        # transaction at a time.
        charges.transaction_id.fetch(["amount", "currency_id", "state", "reference"])
        for charge in charges:
            tx = charge.transaction_id
            if tx.state != "draft" or (charge in resumed and tx.create_date > stale):
                continue
            # As payment's _charge_with_token, without its "transaction
            # created" note on every invoice: the charge records the try.
            try:
                tx._ensure_provider_is_not_disabled()
                tx._send_payment_request()
            except UserError as error:
                _logger.info("Automatic payment %s declined: %s", tx.reference, error)
                tx._set_error(str(error))
        done_txs = charges.transaction_id.filtered(
            lambda tx: tx.state == "done" and not tx.is_post_processed
        )
        if done_txs:
            self._dunning_create_payments(done_txs)
            done_txs._post_process()
        self.env["payment.transaction"]._dunning_log_notes(notes)
        charges.with_context(dunning_batched_notes=None)._dunning_record_outcome(
            company
        )

    @api.model
    def _dunning_create_payments(self, transactions):
        """The payments of these confirmed transactions, created, posted and
        reconciled with their invoices for the whole batch at once, as the
        register-payment wizard does, with the values Odoo's post-processing
        gives a token payment (account_payment's
        ``payment.transaction._create_payment``); the post-processing then
        finds them made and does the rest (its messages, other modules'
        steps). A transaction of an invoice whose terms grant an early-payment
        discount is left to Odoo's post-processing, which books the discount."""
        transactions = transactions.filtered(
            lambda tx: (
                not tx.payment_id
                and tx.operation == "offline"
                and tx.amount > 0
                and tx.invoice_ids
                and all(
                    invoice.state == "posted"
                    and not invoice.invoice_payment_term_id.early_discount
                    for invoice in tx.invoice_ids
                )
            )
        )
        if not transactions:
            return
        values = []
        for tx in transactions:
            provider = tx.provider_id
            method_line = provider.journal_id.inbound_payment_method_line_ids.filtered(
                lambda line, provider=provider: line.payment_provider_id == provider
            )
            terms = tx.invoice_ids.line_ids.filtered(
                lambda line: line.display_type == "payment_term"
            )
            values.append(
                {
                    "amount": tx.amount,
                    "payment_type": "inbound",
                    "currency_id": tx.currency_id.id,
                    "partner_id": tx.partner_id.commercial_partner_id.id,
                    "partner_type": "customer",
                    "journal_id": provider.journal_id.id,
                    "company_id": provider.company_id.id,
                    "payment_method_line_id": method_line[:1].id,
                    "payment_token_id": tx.token_id.id,
                    "payment_transaction_id": tx.id,
                    "memo": f"{tx.reference} - {tx.provider_reference or ''}",
                    "invoice_ids": [fields.Command.set(tx.invoice_ids.ids)],
                    "destination_account_id": terms[:1].account_id.id,
                }
            )
        # Created posted, as Odoo's post-processing leaves them: there is no
        # change of values to track on the way.
        Payment = self.env["account.payment"].with_context(
            tracking_disable=True, mail_create_nolog=True, dunning_batch_entries=True
        )
        payments = Payment.create(values)
        payments.action_post()
        plan = []
        for tx, payment in zip(transactions, payments, strict=True):
            tx.payment_id = payment
            plan.append(
                (payment.move_id.line_ids + tx.invoice_ids.line_ids).filtered(
                    lambda line, payment=payment: (
                        line.account_id == payment.destination_account_id
                        and not line.reconciled
                    )
                )
            )
        self.env["account.move.line"]._reconcile_plan(plan)

    def _dunning_refresh_amounts(self):
        """What is still owed on each charge's instalment now: an instalment
        paid by other means meanwhile is not charged."""
        for charge in self:
            if charge.installment_id:
                line = charge.installment_id
                amount = (
                    line.amount - line.amount_paid
                    if line.state == "pending" and line.plan_id.state == "active"
                    else 0.0
                )
            else:
                line = charge.move_line_id
                amount = (
                    line.amount_residual_currency
                    if not line.reconciled
                    and line.move_id.state == "posted"
                    and line.move_id.dunning_pause_reason not in NOT_CHARGED_PAUSES
                    else 0.0
                )
            if charge.currency_id.compare_amounts(amount, 0) <= 0:
                charge.write(
                    {
                        "state": "cancelled",
                        "failure_reason": self.env._(
                            "Nothing left to charge: paid, disputed or in a plan."
                        ),
                    }
                )
            elif charge.currency_id.compare_amounts(amount, charge.amount):
                charge.amount = amount
        return self.filtered(lambda c: c.state != "cancelled")

    def _dunning_invoices(self):
        self.ensure_one()
        if self.installment_id:
            return self.installment_id.plan_id.move_ids.filtered_domain(
                self.env["account.move"]._dunning_open_invoice_domain()
            )
        return self.move_line_id.move_id

    def _dunning_create_transactions(self):
        """One transaction per charge; the reference names the charge and the
        try, so that a try is never charged twice."""
        if not self:
            return
        values = []
        for charge in self:
            token = charge.autopay_id.token_id
            values.append(
                {
                    "reference": f"AUTOPAY-{charge.id}-{charge.attempt + 1}",
                    "provider_id": token.provider_id.id,
                    "payment_method_id": token.payment_method_id.id,
                    "token_id": token.id,
                    "amount": charge.amount,
                    "currency_id": charge.currency_id.id,
                    "partner_id": token.partner_id.id,
                    "operation": "offline",
                    "invoice_ids": [fields.Command.set(charge._dunning_invoices().ids)],
                    "dunning_autopay_charge_id": charge.id,
                }
            )
        # One create per transaction: payment's check of the token
        # (_check_token_is_active) reads one transaction at a time.
        Transaction = self.env["payment.transaction"]
        for tx_values in values:
            Transaction.create(tx_values)
        for attempt, charges in self.grouped("attempt").items():
            charges.write({"state": "processing", "attempt": attempt + 1})
        self.invalidate_recordset(["transaction_ids", "transaction_id"])

    def _dunning_record_outcome(self, company):
        """Read each charge's transaction: paid, declined (tried again later,
        or given up after the last try) or still waiting on the provider; and
        tell the customers."""
        retry_days = company._dunning_autopay_retry_days()
        now = fields.Datetime.now()
        paid = self.filtered(lambda c: c.transaction_id.state == "done")
        paid.write({"state": "paid", "next_try": False, "failure_reason": False})
        declined = self.filtered(lambda c: c.transaction_id.state in DECLINED_TX_STATES)
        retried = self.browse()
        for charge in declined:
            reason = charge.transaction_id.state_message or charge.env._(
                "The payment was declined."
            )
            if charge.attempt <= len(retry_days):
                charge.write(
                    {
                        "state": "retry",
                        "failure_reason": reason,
                        "next_try": now
                        + timedelta(days=retry_days[charge.attempt - 1]),
                    }
                )
                retried |= charge
            else:
                charge._dunning_give_up("failed", reason)
        retried._dunning_hold_reminders()
        self._dunning_tell(company, paid, declined)

    def _dunning_hold_reminders(self):
        """While a declined invoice instalment waits for its next try, its
        invoice gets no reminder (a plan's instalments are held by the plan's
        job)."""
        for charge in self.filtered("move_line_id"):
            move = charge.move_line_id.move_id
            if not move.dunning_pause_reason or move.dunning_pause_reason == "autopay":
                move.action_dunning_pause("autopay", until=charge.next_try.date())

    def _dunning_give_up(self, state, reason):
        """End these charges; their instalments go back to the normal
        reminders."""
        self.write({"state": state, "failure_reason": reason, "next_try": False})
        moves = self.move_line_id.move_id.filtered(
            lambda move: move.dunning_pause_reason == "autopay"
        )
        if moves:
            moves.action_dunning_resume()

    def _dunning_tell(self, company, paid, declined):
        """Thank the customers charged and tell those declined at once, with
        the link to their page to change the payment method."""
        requests = [
            {
                "partner": charge.partner_id,
                "moves": charge._dunning_invoices()
                or charge.transaction_id.invoice_ids,
                "kind": "autopay",
                "charge": charge,
                "render": self._dunning_render_message,
            }
            for charge in paid | declined
        ]
        if requests:
            self.env["dunning.payment.plan.installment"]._dunning_queue(
                company, requests
            )

    @api.model
    def _dunning_render_message(self, planner, decision, request):
        charge = request["charge"]
        lang = decision.contact.lang or "en_US"
        env = self.with_context(lang=lang).env
        values = planner.placeholder_values(env, decision)
        amount = formatLang(env, charge.amount, currency_obj=charge.currency_id)
        if charge.state == "paid":
            subject = env._("Thank you: %(amount)s paid automatically", amount=amount)
            body = env._(
                "Hello %(name)s, we charged %(amount)s to your saved payment method "
                "for the instalment due on %(date)s, as you authorised. Thank you! "
                "Your page: %(link)s",
                name=values["name"],
                amount=amount,
                date=format_date(env, charge.date_due),
                link=values["link"],
            )
        elif charge.state == "retry":
            subject = env._(
                "Your automatic payment of %(amount)s was declined", amount=amount
            )
            body = env._(
                "Hello %(name)s, your payment method was declined for %(amount)s "
                "(instalment due on %(date)s). We will try again on %(next)s. You "
                "can update your payment method here: %(link)s",
                name=values["name"],
                amount=amount,
                date=format_date(env, charge.date_due),
                next=format_date(env, charge.next_try.date()),
                link=values["link"],
            )
        else:
            subject = env._(
                "Your automatic payment of %(amount)s was declined", amount=amount
            )
            body = env._(
                "Hello %(name)s, your payment method was declined again for "
                "%(amount)s (instalment due on %(date)s) and we will not try it "
                "again. Please pay or update your payment method here: %(link)s",
                name=values["name"],
                amount=amount,
                date=format_date(env, charge.date_due),
                link=values["link"],
            )
        return decision.with_text(subject, body)
