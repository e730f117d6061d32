from collections import defaultdict
from datetime import date, timedelta

from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL
from odoo.tools.sql import create_index

from .raw_sql import run_sql

# Open customer invoices by customer: what each planning batch selects from.
OPEN_INVOICE_PARTNER_INDEX = "account_move_dunning_open_invoice_partner_index"
# Receivable lines still owed (the instalments), by invoice: what the run reads
# each open invoice's instalments from.
OPEN_INSTALMENT_INDEX = "account_move_line_dunning_open_instalment_index"

# The customer invoices collections chase: posted and not fully paid.
# ``AccountMove._dunning_open_invoice_domain()`` is the ORM form; the helpers
# below state the same rule for hand-written SQL and for field domains.
OPEN_INVOICE_DOMAIN = (
    ("move_type", "=", "out_invoice"),
    ("state", "=", "posted"),
    ("payment_state", "in", ("not_paid", "partial")),
)


def open_invoice_sql(move=None):
    """The rule as an SQL condition on the columns of ``move`` (an alias of
    account_move; unqualified columns without one)."""

    def column(name):
        if move:
            return SQL("%s.%s", SQL.identifier(move), SQL.identifier(name))
        return SQL.identifier(name)

    return SQL(
        "%s = 'out_invoice' AND %s = 'posted' AND %s IN ('not_paid', 'partial')",
        column("move_type"),
        column("state"),
        column("payment_state"),
    )


def open_invoice_field_domain(*extra):
    """The rule as the text of a field's domain, followed by ``extra`` terms
    written as the web client evaluates them, e.g.
    ``"('commercial_partner_id', '=', partner_id)"``."""
    return "[{}]".format(", ".join([*map(repr, OPEN_INVOICE_DOMAIN), *extra]))


def open_instalment_sql(line, move):
    """The instalments collections chase, as an SQL condition: the receivable
    lines (``line``, an alias of account_move_line) of the open invoices
    (``move``, an alias of account_move joined on ``line.move_id``) that are
    still owed. Each has its own due date (``date_maturity``) and residual
    (``amount_residual`` in the company's currency,
    ``amount_residual_currency`` in the invoice's); an invoice with a single
    due date has exactly one."""
    return SQL(
        "%s AND %s.display_type = 'payment_term' AND NOT %s.reconciled",
        open_invoice_sql(move),
        SQL.identifier(line),
        SQL.identifier(line),
    )


PAUSE_REASONS = [
    ("dispute", "Disputed"),
    ("promise", "Promise to pay"),
    ("plan", "Payment plan"),
    ("payment_reported", "Payment reported"),
    ("autopay", "Automatic payment to try again"),
    ("manual", "Paused by an accountant"),
]


class AccountMove(models.Model):
    _inherit = "account.move"

    # The engine's bookkeeping lives in dunning.invoice.progress (see there
    # why): these read it.
    dunning_step_id = fields.Many2one(
        "dunning.step",
        string="Last reminder step",
        compute="_compute_dunning_progress",
        search="_search_dunning_step_id",
        help="The last step of the collections policy done for this invoice.",
    )
    dunning_last_date = fields.Date(
        string="Last reminder", compute="_compute_dunning_progress"
    )
    dunning_next_date = fields.Date(
        string="Next reminder",
        compute="_compute_dunning_progress",
        help="When the next step of the customer's policy is due for this invoice.",
    )
    dunning_thanked = fields.Boolean(
        copy=False,
        readonly=True,
        help="The customer was thanked for paying this late invoice.",
    )
    dunning_communication_ids = fields.Many2many(
        "dunning.communication",
        "dunning_communication_account_move_rel",
        "move_id",
        "communication_id",
        string="Reminders",
        copy=False,
        readonly=True,
    )
    dunning_communication_count = fields.Integer(
        compute="_compute_dunning_communication_count"
    )
    dunning_pause_reason = fields.Selection(
        PAUSE_REASONS,
        string="Reminders paused",
        copy=False,
        tracking=True,
        # Each run looks up the paused invoices whose pause has ended: a
        # partial index of the few paused ones spares a scan of every
        # invoice. The run writes an invoice row only to give it its first
        # portal token, a column of no index: this one, on a column the run
        # does not write, cannot keep that update from happening in place.
        index="btree_not_null",
        help="While set, no reminder covers this invoice.",
    )
    dunning_pause_until = fields.Date(
        string="Paused until",
        copy=False,
        tracking=True,
        help="Reminders resume by themselves after this date. Empty: until "
        "someone resumes them.",
    )

    @api.model
    def _dunning_open_invoice_domain(self):
        """The customer invoices collections chase: posted and not fully paid."""
        return Domain(list(OPEN_INVOICE_DOMAIN))

    @api.model
    def _dunning_open_instalment_domain(self):
        """The ORM form of ``open_instalment_sql``, on account.move.line."""
        return Domain(
            [
                *(
                    (f"move_id.{name}", operator, value)
                    for name, operator, value in OPEN_INVOICE_DOMAIN
                ),
                ("display_type", "=", "payment_term"),
                ("reconciled", "=", False),
            ]
        )

    def _dunning_ensure_access_tokens(self):
        """Give the invoices without one their portal access token, in one
        statement rather than one write per invoice."""
        missing = self.filtered(lambda move: not move.access_token)
        if missing:
            run_sql(
                self.env,
                SQL(
                    "UPDATE account_move SET access_token = gen_random_uuid()::text "
                    "WHERE id = ANY(%s) AND access_token IS NULL",
                    missing.ids,
                ),
                writes={"account.move": ["access_token"]},
            )

    def _dunning_mark_thanked(self):
        """Remember that the customer was thanked for paying these invoices."""
        if self:
            run_sql(
                self.env,
                SQL(
                    "UPDATE account_move SET dunning_thanked = TRUE WHERE id = ANY(%s)",
                    self.ids,
                ),
                writes={"account.move": ["dunning_thanked"]},
            )

    def init(self):
        res = super().init()
        # The run reads the open invoices of a batch of customers: without
        # this index PostgreSQL reads every open entry of the company for each
        # batch (Odoo does not index commercial_partner_id). Only open
        # customer invoices are in it, and none of the columns the run writes,
        # so its bookkeeping updates stay in place.
        create_index(
            self.env.cr,
            OPEN_INVOICE_PARTNER_INDEX,
            self._table,
            ["commercial_partner_id"],
            where=open_invoice_sql().code,
        )
        # The run reads the instalments of each open invoice: only the
        # receivable lines still owed are in this index, a small share of the
        # journal items, so each invoice costs one probe of a small index
        # rather than a walk through all its journal items. The lines marked
        # "No Follow-Up" need no index of their own: the run reads that mark
        # on the instalment.
        self.env.cr.execute(
            SQL(
                "DROP INDEX IF EXISTS %s",
                SQL.identifier("account_move_line_dunning_no_followup_index"),
            )
        )
        # It carries what the run and the next dates read of an instalment, so
        # that PostgreSQL answers from the index without visiting the journal
        # items' wide rows, scattered over the table.
        self.env.cr.execute(
            SQL(
                "CREATE INDEX IF NOT EXISTS %s ON account_move_line (move_id) "
                "INCLUDE (id, date_maturity, amount_residual, "
                "amount_residual_currency, balance, no_followup) "
                "WHERE display_type = 'payment_term' AND NOT reconciled",
                SQL.identifier(OPEN_INSTALMENT_INDEX),
            )
        )
        return res

    @api.depends(
        "state",
        "payment_state",
        "invoice_date_due",
        "dunning_pause_reason",
        "dunning_pause_until",
        "line_ids.reconciled",
        "line_ids.date_maturity",
        "line_ids.no_followup",
    )
    def _compute_dunning_progress(self):
        """The three fields from the progress rows of the invoices'
        instalments, in two queries: the firmest step done on an instalment
        still owed (else on any), the last reminder, and the earliest next
        reminder of the instalments still owed."""
        progress = defaultdict(lambda: self.env["dunning.invoice.progress"])
        for row in (
            self.env["dunning.invoice.progress"]
            .sudo()
            .search_fetch(
                [("move_id", "in", self.ids)],
                ["move_id", "line_id", "step_id", "last_date", "next_date"],
            )
        ):
            progress[row.move_id.id] |= row
        instalments = self._dunning_open_instalments()
        for move in self:
            rows = progress[move.id]
            owed = rows.filtered(
                lambda row, move=move: row.line_id in instalments[move].ids
            )
            firmest = (owed or rows).sorted(
                lambda row: (row.step_id.offset_days, row.last_date or date.min)
            )[-1:]
            move.dunning_step_id = firmest.step_id.sudo(False)
            move.dunning_last_date = max(rows.mapped("last_date"), default=False)
            move.dunning_next_date = move._dunning_compute_next_date(
                rows, instalments[move]
            )

    def _dunning_open_instalments(self):
        """``{invoice: its instalments still owed}`` (``account.move.line``,
        the lines excluded from follow-ups left out), in one query."""
        Line = self.env["account.move.line"].sudo()
        instalments = defaultdict(lambda: Line)
        for line in Line.search_fetch(
            self._dunning_open_instalment_domain()
            & Domain("move_id", "in", self.ids)
            & Domain("no_followup", "!=", True),
            ["move_id", "date_maturity"],
            order="date_maturity, id",
        ):
            instalments[line.move_id] |= line
        return instalments

    def _search_dunning_step_id(self, operator, value):
        if operator not in ("in", "any"):
            return NotImplemented  # the ORM negates "in" for "not in"
        Progress = self.env["dunning.invoice.progress"].sudo()
        reminded = Progress._search([("step_id", operator, value)])
        if operator == "in" and False in value:
            # no step done: no progress at all, or one without a step
            done = Progress._search([("step_id", "!=", False)])
            return Domain("id", "in", reminded.select("move_id")) | Domain(
                "id", "not in", done.select("move_id")
            )
        return Domain("id", "in", reminded.select("move_id"))

    def _dunning_compute_next_date(self, progress=None, instalments=None):
        """The next reminder date of this invoice, as the worklist's SQL
        computes it (``res.partner._dunning_next_date_sql``): the earliest of
        its instalments still owed (``instalments``, read when not given),
        each the one its last reminder stored (in ``progress``, the
        invoice's progress rows) or, for an instalment never reminded, its
        due date moved by the first step of its customer's policy; after a
        pause's end."""
        self.ensure_one()
        if not self.filtered_domain(self._dunning_open_invoice_domain()) or (
            self.dunning_pause_reason and not self.dunning_pause_until
        ):
            return False
        if instalments is None:
            instalments = self._dunning_open_instalments()[self]
        if progress is None:
            progress = (
                self.env["dunning.invoice.progress"]
                .sudo()
                .search([("move_id", "=", self.id)])
            )
        stored = {row.line_id: row.next_date for row in progress}
        first_offset = None
        dates = []
        for line in instalments:
            if line.id in stored:
                next_date = stored[line.id]
            else:
                if first_offset is None:
                    policy = self.commercial_partner_id.with_company(
                        self.company_id
                    ).dunning_policy_id
                    first_offset = min(
                        policy.step_ids.mapped("offset_days"), default=False
                    )
                next_date = (
                    line.date_maturity + timedelta(days=first_offset)
                    if first_offset is not False and line.date_maturity
                    else False
                )
            if next_date:
                dates.append(next_date)
        if not dates:
            return False
        next_date = min(dates)
        if self.dunning_pause_reason:
            next_date = max(next_date, self.dunning_pause_until + timedelta(days=1))
        return next_date

    def _compute_dunning_communication_count(self):
        counts = dict(
            self.env["dunning.communication"]._read_group(
                [("move_ids", "in", self.ids)], ["move_ids"], ["__count"]
            )
        )
        for move in self:
            move.dunning_communication_count = counts.get(move, 0)

    def action_open_dunning_communications(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Reminders"),
            "res_model": "dunning.communication",
            "view_mode": "list,form",
            "domain": [("move_ids", "in", self.ids)],
        }

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        invoices = posted.filtered(lambda move: move.move_type == "out_invoice")
        if invoices:
            self.env["res.partner"]._dunning_schedule_refresh(invoices)
        return posted

    def action_dunning_pause(self, reason="manual", until=None):
        self.write({"dunning_pause_reason": reason, "dunning_pause_until": until})
        self.env["res.partner"]._dunning_schedule_refresh(self)
        return True

    def action_dunning_resume(self):
        self.write({"dunning_pause_reason": False, "dunning_pause_until": False})
        self.env["res.partner"]._dunning_schedule_refresh(self)
        return True

    @api.model
    def _dunning_is_paused_domain(self, today):
        """Invoices whose reminders are paused on ``today``."""
        return [
            ("dunning_pause_reason", "!=", False),
            "|",
            ("dunning_pause_until", "=", False),
            ("dunning_pause_until", ">=", today),
        ]
