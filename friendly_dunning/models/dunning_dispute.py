"""A customer's dispute of an invoice or of one of its instalments: what they
say is wrong, worked by the accountant who follows the customer until it is
accepted (a credit note through Odoo's reversal), rejected (an explanation,
then reminders after a grace period) or resolved otherwise.

Disputes are opened by ``res.partner._dunning_open_dispute``
(models/res_partner_customer_claims.py), from the customer's page and from
replies to reminders."""

from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command, Domain
from odoo.tools import (
    float_compare,
    float_is_zero,
    format_date,
    formatLang,
    plaintext2html,
)

from .dunning_decision import Decision
from .dunning_planner import DunningPlanner

REASONS = [
    ("not_received", "Goods or service not received"),
    ("quality", "Damaged or poor quality"),
    ("price", "Wrong price or quantity"),
    ("paid", "Already paid"),
    ("duplicate", "Invoiced twice"),
    ("other", "Something else"),
]
STATES = [
    ("open", "New"),
    ("review", "Under review"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
    ("resolved", "Resolved otherwise"),
]
OPEN_STATES = ("open", "review")
DISPUTE_SOURCES = [
    ("portal", "Customer page"),
    ("whatsapp", "WhatsApp reply"),
    ("sms", "SMS reply"),
    ("accountant", "Accountant"),
]
# Defaults of the policy settings below.
ANSWER_WORKING_DAYS = 5
REJECT_GRACE_DAYS = 7
# One open dispute per invoice, or per instalment of an invoice.
OPEN_DISPUTE_KEY = "(move_id, COALESCE(line_id, 0)) WHERE state IN ('open', 'review')"


def add_working_days(start, days):
    """``start`` plus ``days`` working days (Monday to Friday)."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


class DunningPolicy(models.Model):
    _inherit = "dunning.policy"

    dispute_answer_days = fields.Integer(
        string="Answer disputes within",
        default=ANSWER_WORKING_DAYS,
        help="Working days the accountant has to answer a customer's dispute: "
        "the due date of the dispute and of its to-do.",
    )
    dispute_grace_days = fields.Integer(
        string="Grace after a rejected dispute",
        default=REJECT_GRACE_DAYS,
        help="Days after a dispute is rejected before reminders of the invoice "
        "resume, so the customer can pay after reading our answer.",
    )


class DunningCommunication(models.Model):
    _inherit = "dunning.communication"

    kind = fields.Selection(
        selection_add=[("dispute", "Answer to a dispute")],
        ondelete={"dispute": "cascade"},
    )


class DunningDispute(models.Model):
    _name = "dunning.dispute"
    _description = "Customer Dispute"
    _inherit = ("mail.thread", "mail.activity.mixin")
    _order = "date_deadline, id desc"
    _check_company_auto = True

    _open_dispute_uniq = models.UniqueIndex(
        OPEN_DISPUTE_KEY, "This invoice already has an open dispute."
    )
    _amount_positive = models.Constraint(
        "CHECK (amount > 0)", "The amount disputed must be above zero."
    )

    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        domain="[('parent_id', '=', False)]",
        tracking=True,
    )
    move_id = fields.Many2one(
        "account.move",
        string="Invoice",
        required=True,
        index=True,
        check_company=True,
        ondelete="cascade",
        domain="[('move_type', '=', 'out_invoice'), ('state', '=', 'posted'), "
        "('commercial_partner_id', '=', partner_id)]",
    )
    line_id = fields.Many2one(
        "account.move.line",
        string="Instalment",
        ondelete="cascade",
        domain="[('move_id', '=', move_id), ('display_type', '=', 'payment_term')]",
        help="The instalment disputed; empty: the whole invoice.",
    )
    currency_id = fields.Many2one(related="move_id.currency_id", store=True)
    company_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Company currency"
    )
    amount = fields.Monetary(
        string="Amount disputed",
        required=True,
        tracking=True,
        help="What the customer disputes, at most what the invoice (or the "
        "instalment) still owes. Accepting credits this amount.",
    )
    reason = fields.Selection(REASONS, required=True, default="other", tracking=True)
    description = fields.Text(string="Customer's words")
    attachment_ids = fields.Many2many(
        "ir.attachment",
        "dunning_dispute_ir_attachment_rel",
        "dispute_id",
        "attachment_id",
        string="Documents",
        help="What the customer sent with the dispute.",
    )
    source = fields.Selection(
        DISPUTE_SOURCES, required=True, default="accountant", readonly=True
    )
    user_id = fields.Many2one(
        "res.users",
        string="Owner",
        tracking=True,
        domain="[('share', '=', False)]",
        help="The accountant who answers the dispute.",
    )
    date_deadline = fields.Date(
        string="Answer by",
        tracking=True,
        help="When the customer should have an answer.",
    )
    state = fields.Selection(
        STATES, required=True, default="open", index=True, tracking=True
    )
    date_opened = fields.Date(
        string="Opened on",
        required=True,
        readonly=True,
        default=fields.Date.context_today,
        copy=False,
    )
    date_review = fields.Date(string="Under review since", readonly=True, copy=False)
    date_closed = fields.Date(
        string="Closed on", readonly=True, copy=False, index="btree_not_null"
    )
    resolution = fields.Text(
        string="Resolution note",
        help="Why the dispute was accepted, rejected or resolved otherwise. On "
        "a rejection it is the explanation sent to the customer.",
    )
    credit_note_id = fields.Many2one(
        "account.move", string="Credit note", readonly=True, copy=False
    )
    amount_credited = fields.Monetary(
        currency_field="company_currency_id",
        readonly=True,
        copy=False,
        help="The credit note's total, in company currency.",
    )
    is_late = fields.Boolean(
        string="Answer overdue", compute="_compute_is_late", search="_search_is_late"
    )

    @api.depends("move_id", "line_id")
    def _compute_display_name(self):
        for dispute in self:
            if dispute.line_id:
                dispute.display_name = self.env._(
                    "Dispute of %(invoice)s, instalment due %(date)s",
                    invoice=dispute.move_id.name,
                    date=format_date(self.env, dispute.line_id.date_maturity),
                )
            else:
                dispute.display_name = self.env._(
                    "Dispute of %(invoice)s", invoice=dispute.move_id.name or ""
                )

    @api.depends("state", "date_deadline")
    def _compute_is_late(self):
        today = fields.Date.context_today(self)
        for dispute in self:
            dispute.is_late = bool(
                dispute.state in OPEN_STATES
                and dispute.date_deadline
                and dispute.date_deadline < today
            )

    def _search_is_late(self, operator, value):
        if operator != "in":
            return NotImplemented
        late = Domain("state", "in", OPEN_STATES) & Domain(
            "date_deadline", "<", fields.Date.context_today(self)
        )
        return late if True in value else ~late

    @api.constrains("amount", "move_id", "line_id", "state")
    def _check_amount(self):
        for dispute in self.filtered(lambda d: d.state in OPEN_STATES):
            if dispute.line_id and dispute.line_id.move_id != dispute.move_id:
                raise ValidationError(
                    self.env._("The instalment must be one of the invoice's.")
                )
            if (
                float_compare(
                    dispute.amount,
                    dispute._dunning_residual(),
                    precision_rounding=dispute.currency_id.rounding,
                )
                > 0
            ):
                raise ValidationError(
                    self.env._(
                        "At most %(residual)s is still owed on %(invoice)s: the "
                        "amount disputed cannot be more.",
                        residual=formatLang(
                            self.env,
                            dispute._dunning_residual(),
                            currency_obj=dispute.currency_id,
                        ),
                        invoice=dispute.display_name,
                    )
                )

    def write(self, vals):
        result = super().write(vals)
        # The to-do follows the owner and the date of the answer.
        moved = {
            activity_field: vals[field]
            for field, activity_field in (
                ("user_id", "user_id"),
                ("date_deadline", "date_deadline"),
            )
            if vals.get(field)
        }
        if moved:
            todo = self.env.ref("mail.mail_activity_data_todo")
            self.activity_ids.filtered(
                lambda activity: activity.activity_type_id == todo
            ).write(moved)
        return result

    def _dunning_residual(self):
        """What the invoice, or the instalment, still owes, in the invoice's
        currency."""
        self.ensure_one()
        if self.line_id:
            return abs(self.line_id.amount_residual_currency)
        return self.move_id.amount_residual

    # ------------------------------------------------------------------
    # Opening (res.partner._dunning_open_dispute)
    # ------------------------------------------------------------------

    @api.model
    def _dunning_open(self, partner, invoice, values):
        """The open dispute of ``invoice`` (or of the instalment in
        ``values``), created with ``values`` unless there is one already:
        a second submission adds the customer's words to the first."""
        line = self.env["account.move.line"].browse(values.get("line_id"))
        existing = self.search(
            Domain("move_id", "=", invoice.id)
            & Domain("line_id", "=", line.id or False)
            & Domain("state", "in", OPEN_STATES),
            limit=1,
        )
        if existing:
            return existing, False
        residual = (
            abs(line.amount_residual_currency) if line else invoice.amount_residual
        )
        amount = values.get("amount") or residual
        policy = partner.with_company(invoice.company_id).dunning_policy_id
        today = fields.Date.context_today(self)
        dispute = self.create(
            values
            | {
                "company_id": invoice.company_id.id,
                "partner_id": partner.commercial_partner_id.id,
                "move_id": invoice.id,
                "amount": min(amount, residual),
                "user_id": partner._dunning_responsible_user(invoice).id,
                "date_deadline": add_working_days(
                    today,
                    policy.dispute_answer_days if policy else ANSWER_WORKING_DAYS,
                ),
            }
        )
        dispute.activity_schedule(
            "mail.mail_activity_data_todo",
            date_deadline=dispute.date_deadline,
            summary=self.env._("Answer the customer's dispute"),
            note=plaintext2html(dispute.description or ""),
            user_id=dispute.user_id.id,
        )
        return dispute, True

    # ------------------------------------------------------------------
    # The accountant's answers
    # ------------------------------------------------------------------

    def _dunning_check_open(self):
        for dispute in self:
            if dispute.state not in OPEN_STATES:
                raise UserError(
                    self.env._(
                        "%(dispute)s is closed already.", dispute=dispute.display_name
                    )
                )

    def action_review(self):
        self._dunning_check_open()
        self.filtered(lambda d: d.state == "open").write(
            {"state": "review", "date_review": fields.Date.context_today(self)}
        )
        return True

    def action_accept(self):
        """Credit the amount disputed through a credit note reversing the
        invoice (in full, or in proportion for a part), posted and reconciled
        with it; tell the customer; reminders resume for what is left."""
        self.check_access("write")
        self._dunning_check_open()
        for dispute in self:
            refund = dispute._dunning_credit_note()
            dispute.write(
                dispute._dunning_closing("accepted")
                | {
                    "credit_note_id": refund.id,
                    "amount_credited": abs(refund.amount_total_signed),
                }
            )
            left = dispute.move_id.amount_residual
            currency = dispute.currency_id
            dispute._dunning_log(
                Markup("%s %s")
                % (
                    Markup(
                        self.env._(
                            "Dispute accepted by %(user)s: credit note %(refund)s "
                            "of %(amount)s."
                        )
                    )
                    % {
                        "user": self.env.user.name,
                        "refund": refund._get_html_link(),
                        "amount": formatLang(
                            self.env, refund.amount_total, currency_obj=currency
                        ),
                    },
                    dispute.resolution or "",
                )
            )
            dispute._dunning_resume_reminders()
            dispute._dunning_tell_customer(
                "accepted",
                amount=refund.amount_total,
                credit_note=refund.name,
                left=left,
            )
        return True

    def action_reject(self):
        """Send the explanation (the resolution note) to the customer; the
        invoice's reminders resume after the grace days of their policy."""
        self.check_access("write")
        self._dunning_check_open()
        for dispute in self:
            if not (dispute.resolution or "").strip():
                raise UserError(
                    self.env._(
                        "Write in the resolution note why the dispute is rejected: "
                        "it is sent to the customer."
                    )
                )
            policy = dispute.partner_id.with_company(
                dispute.company_id
            ).dunning_policy_id
            grace = policy.dispute_grace_days if policy else REJECT_GRACE_DAYS
            until = fields.Date.context_today(self) + timedelta(days=grace)
            dispute.write(dispute._dunning_closing("rejected"))
            dispute._dunning_log(
                self.env._(
                    "Dispute rejected by %(user)s: %(explanation)s Reminders resume "
                    "after %(date)s.",
                    user=self.env.user.name,
                    explanation=dispute.resolution,
                    date=format_date(self.env, until),
                )
            )
            if not dispute._dunning_other_open_disputes():
                dispute.move_id.sudo().action_dunning_pause("dispute", until=until)
            dispute._dunning_tell_customer("rejected", until=until)
        return True

    def action_resolve(self):
        """Close the dispute with the resolution note (a phone call, a
        replacement delivery...); reminders resume."""
        self.check_access("write")
        self._dunning_check_open()
        for dispute in self:
            if not (dispute.resolution or "").strip():
                raise UserError(
                    self.env._("Write in the resolution note how it was resolved.")
                )
            dispute.write(dispute._dunning_closing("resolved"))
            dispute._dunning_log(
                self.env._(
                    "Dispute resolved otherwise by %(user)s: %(note)s",
                    user=self.env.user.name,
                    note=dispute.resolution,
                )
            )
            dispute._dunning_resume_reminders()
        return True

    def _dunning_closing(self, state):
        self.activity_unlink(["mail.mail_activity_data_todo"])
        return {"state": state, "date_closed": fields.Date.context_today(self)}

    def _dunning_log(self, body):
        """Note ``body`` on the dispute and on its invoice."""
        self.ensure_one()
        for record in (self, self.move_id.sudo()):
            record.message_post(body=body, subtype_xmlid="mail.mt_note")

    def _dunning_other_open_disputes(self):
        self.ensure_one()
        return self.search_count(
            Domain("move_id", "=", self.move_id.id)
            & Domain("state", "in", OPEN_STATES)
            & Domain("id", "!=", self.id),
            limit=1,
        )

    def _dunning_resume_reminders(self):
        """Reminders resume for what is left of the invoice, unless another
        of its disputes is still open."""
        invoice = self.move_id.sudo()
        if invoice.dunning_pause_reason == "dispute" and not (
            self._dunning_other_open_disputes()
        ):
            invoice.action_dunning_resume()

    # ------------------------------------------------------------------
    # The credit note
    # ------------------------------------------------------------------

    def _dunning_credit_note(self):
        """A credit note of the amount disputed, made by Odoo's reversal of
        the invoice, posted and reconciled with the invoice (or with the
        instalment disputed)."""
        self.ensure_one()
        invoice = self.move_id
        currency = self.currency_id
        amount = min(self.amount, self._dunning_residual())
        if float_is_zero(amount, precision_rounding=currency.rounding):
            raise UserError(self.env._("Nothing is left to credit on this invoice."))
        reversal = (
            self.env["account.move.reversal"]
            .with_company(self.company_id)
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {
                    "reason": self.env._(
                        "dispute %(dispute)s", dispute=self.display_name
                    ),
                    "journal_id": invoice.journal_id.id,
                    "date": fields.Date.context_today(self),
                }
            )
        )
        reversal.reverse_moves()
        refund = reversal.new_move_ids
        if float_compare(
            amount, invoice.amount_total, precision_rounding=currency.rounding
        ):
            self._dunning_scale(refund, amount / invoice.amount_total, amount)
        refund.action_post()
        # Posting may have matched the credit note with its invoice already.
        receivable = refund.line_ids.filtered(
            lambda line: line.display_type == "payment_term" and not line.reconciled
        )
        target = (self.line_id or invoice.line_ids).filtered(
            lambda line: line.display_type == "payment_term" and not line.reconciled
        )
        if receivable and target:
            (receivable | target).reconcile()
        return refund

    @staticmethod
    def _dunning_scale(refund, ratio, amount):
        """Scale the credit note's lines by ``ratio`` (taxes follow), then
        put the rounding difference on its largest line."""
        refund.write(
            {
                "invoice_line_ids": [
                    Command.update(line.id, {"price_unit": line.price_unit * ratio})
                    for line in refund.invoice_line_ids
                    if line.display_type == "product"
                ]
            }
        )
        largest = refund.invoice_line_ids.filtered(
            lambda line: line.display_type == "product" and line.quantity
        ).sorted("price_total", reverse=True)[:1]
        difference = amount - refund.amount_total
        if (
            largest
            and largest.price_total
            and not refund.currency_id.is_zero(difference)
        ):
            share = largest.price_subtotal / largest.price_total
            largest.price_unit += difference * share / largest.quantity

    # ------------------------------------------------------------------
    # Telling the customer
    # ------------------------------------------------------------------

    def _dunning_answer_channels(self):
        """Where the answer goes: the channel the customer disputed on, then
        the customer's preferred order of e-mail and SMS. WhatsApp comes last
        elsewhere: outside a conversation it takes approved templates."""
        channels = self.partner_id._dunning_channel_order(["email", "sms"])
        if self.source in ("whatsapp", "sms"):
            channels = [self.source] + [c for c in channels if c != self.source]
        return channels + ["whatsapp"] * ("whatsapp" not in channels)

    def _dunning_answer_text(self, env, outcome, values):
        currency = self.currency_id
        names = {
            "name": self.partner_id.name,
            "company": self.company_id.name,
            "invoice": self.move_id.name,
        }
        if outcome == "accepted":
            subject = env._(
                "Your dispute of %(invoice)s: we agree", invoice=self.move_id.name
            )
            body = env._(
                "Hello %(name)s, we looked into your dispute of invoice %(invoice)s "
                "and agree with you: %(company)s issued credit note %(credit_note)s "
                "of %(amount)s.",
                credit_note=values["credit_note"],
                amount=formatLang(env, values["amount"], currency_obj=currency),
                **names,
            )
            left = (
                env._(
                    "Still to pay on this invoice: %(left)s.",
                    left=formatLang(env, values["left"], currency_obj=currency),
                )
                if not currency.is_zero(values["left"])
                else env._("Nothing is left to pay on this invoice.")
            )
            body = f"{body} {left}"
        else:
            subject = env._(
                "Your dispute of %(invoice)s: our answer", invoice=self.move_id.name
            )
            body = env._(
                "Hello %(name)s, we looked into your dispute of invoice %(invoice)s "
                "and cannot agree: %(explanation)s Reminders of %(company)s for "
                "this invoice resume after %(date)s. If you still disagree, just "
                "reply to this message.",
                explanation=self.resolution.strip(),
                date=format_date(env, values["until"]),
                **names,
            )
        return subject, body

    def _dunning_tell_customer(self, outcome, **values):
        """Queue the answer to the customer through the channels of
        ``_dunning_answer_channels`` (the engine's routing, consent and
        outbox), and hand it to its channel at once: an accountant's answer
        is never held by the sending window."""
        self.ensure_one()
        planner = DunningPlanner(
            self.env(su=True), self.company_id, fields.Datetime.now()
        )
        partner = self.partner_id.sudo()
        reach = planner.reach(partner)
        contact = reach.contacts[partner.id]
        no_step = self.env["dunning.step"].sudo()
        decision = Decision(
            partner=partner,
            contact=contact,
            step=no_step,
            invoices=self.move_id.sudo(),
            kind="dispute",
        ).routed(
            planner.route(no_step, partner, reach, self._dunning_answer_channels())
        )
        if decision.is_sendable:
            env = self.with_context(lang=contact.lang or partner.lang or "en_US").env
            decision = decision.with_text(
                *self._dunning_answer_text(env, outcome, values)
            )
        _counts, messages = planner.queue([decision])
        messages.filtered(lambda m: m.state == "queued")._dunning_send()
        return messages

    # ------------------------------------------------------------------
    # The customer's page
    # ------------------------------------------------------------------

    @api.model
    def _dunning_portal_rows(self, partner, company):
        """The customer's disputes for their page, newest first: the last
        year's, and any still open."""
        since = fields.Date.context_today(self) - timedelta(days=365)
        disputes = self.sudo().search(
            Domain("partner_id", "=", partner.commercial_partner_id.id)
            & Domain("company_id", "=", company.id)
            & (Domain("state", "in", OPEN_STATES) | Domain("date_opened", ">=", since)),
            order="date_opened desc, id desc",
            limit=20,
        )
        states = dict(self._fields["state"]._description_selection(self.env))
        reasons = dict(self._fields["reason"]._description_selection(self.env))
        return [
            {
                "dispute": dispute,
                "invoice": dispute.move_id.name,
                "reason": reasons[dispute.reason],
                "state": states[dispute.state],
                "is_open": dispute.state in OPEN_STATES,
                "opened": format_date(self.env, dispute.date_opened),
                "answer_by": format_date(self.env, dispute.date_deadline),
                "amount": formatLang(
                    self.env, dispute.amount, currency_obj=dispute.currency_id
                ),
                "credited": dispute.credit_note_id
                and formatLang(
                    self.env,
                    dispute.credit_note_id.amount_total,
                    currency_obj=dispute.currency_id,
                ),
                "resolution": dispute.resolution
                if dispute.state in ("rejected", "resolved")
                else "",
            }
            for dispute in disputes
        ]
