from markupsafe import Markup

from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL, format_date

from ..tools.scoring import AGING_BUCKETS, score_factors
from .dunning_segment import PROFILES
from .dunning_step import CHANNELS

AGING_BUCKET_LABELS = dict(
    zip(
        AGING_BUCKETS,
        ["Not due", "1-30 days", "31-60 days", "61-90 days", "Over 90 days"],
    )
)
# Who may read a customer's receivables, and the collections team's view of
# them (score, profile, segment...): collections users and accountants. Not
# the customer, who may read their own partner over RPC from the portal.
RECEIVABLES_READERS = (
    "friendly_dunning.group_dunning_user,"
    "account.group_account_invoice,"
    "account.group_account_readonly"
)
COLLECTIONS_TEAM = "friendly_dunning.group_dunning_user"
# Hours (local time of the customer) of each preferred time of day.
BEST_TIMES = {
    "morning": (8.0, 12.0),
    "afternoon": (12.0, 17.0),
    "evening": (17.0, 21.0),
}


class ResPartner(models.Model):
    _inherit = "res.partner"

    # Segmentation (res_partner_segmentation.py), per company, kept on the
    # commercial partner. The values that move every day are not indexed (Odoo
    # indexes company-dependent fields by default): an indexed column that
    # changes keeps PostgreSQL from updating the row in place, and each
    # refresh would then insert into every one of res_partner's many indexes.
    # Segment and profile keep theirs.
    dunning_overdue_amount = fields.Float(
        string="Overdue amount",
        company_dependent=True,
        index=False,
        readonly=True,
        help="What this customer owes past its due date: the residual of each "
        "instalment of their invoices due before today (one per invoice with a "
        "single due date), in company currency.",
        groups=RECEIVABLES_READERS,
    )
    dunning_currency_id = fields.Many2one(
        "res.currency", compute="_compute_dunning_currency_id"
    )
    dunning_max_days_overdue = fields.Integer(
        string="Days overdue",
        company_dependent=True,
        index=False,
        readonly=True,
        help="How late the oldest unpaid instalment is.",
        groups=RECEIVABLES_READERS,
    )
    dunning_aging_bucket = fields.Selection(
        list(AGING_BUCKET_LABELS.items()),
        string="Aging",
        company_dependent=True,
        index=False,
        readonly=True,
        groups=RECEIVABLES_READERS,
    )
    dunning_score = fields.Integer(
        string="Payer score",
        company_dependent=True,
        index=False,
        readonly=True,
        help="0 to 100, higher is a more reliable payer: 40 points for paying on "
        "time, 25 for how late payments are on average, 15 for keeping promises, "
        "10 for having no open dispute and 10 for a small overdue amount "
        "compared with the last 12 months of invoices.",
        groups=RECEIVABLES_READERS,
    )
    dunning_profile = fields.Selection(
        PROFILES,
        string="Payment profile",
        company_dependent=True,
        readonly=True,
        help="New: too little history to judge. Reliable: pays on time. "
        "Occasional: usually on time, sometimes a bit late. Chronic: late "
        "habitually or on purpose.",
        groups=RECEIVABLES_READERS,
    )
    dunning_segment_id = fields.Many2one(
        "dunning.segment",
        string="Collections segment",
        company_dependent=True,
        readonly=True,
        groups=RECEIVABLES_READERS,
    )
    # The factors behind the score, shown on the partner form.
    dunning_on_time_ratio = fields.Float(
        company_dependent=True,
        index=False,
        readonly=True,
        groups=RECEIVABLES_READERS,
    )
    dunning_avg_days_late = fields.Float(
        company_dependent=True,
        index=False,
        readonly=True,
        groups=RECEIVABLES_READERS,
    )
    dunning_broken_promises = fields.Integer(
        company_dependent=True,
        index=False,
        readonly=True,
        groups=RECEIVABLES_READERS,
    )
    dunning_open_disputes = fields.Integer(
        company_dependent=True,
        index=False,
        readonly=True,
        groups=RECEIVABLES_READERS,
    )
    dunning_overdue_share = fields.Float(
        company_dependent=True,
        index=False,
        readonly=True,
        groups=RECEIVABLES_READERS,
    )
    dunning_next_date = fields.Date(
        string="Next reminder",
        company_dependent=True,
        index=False,
        readonly=True,
        help="The earliest next reminder among the customer's open invoices.",
        groups=RECEIVABLES_READERS,
    )
    # Computed against today, not stored: a stored flag would be stale the
    # day after each refresh. The worklist sorts on both (``_field_to_sql``).
    dunning_due_now = fields.Boolean(
        string="Due now",
        compute="_compute_dunning_due_now",
        search="_search_dunning_due_now",
        help="A reminder for this customer is due today or earlier: the next "
        "run takes care of it.",
        groups=RECEIVABLES_READERS,
    )
    dunning_next_label = fields.Char(
        string="Next reminder due",
        compute="_compute_dunning_due_now",
        help='"Due now" when a reminder is due today or earlier, else the day '
        "the next one falls due.",
        groups=RECEIVABLES_READERS,
    )
    dunning_score_explanation = fields.Html(
        string="Why this score",
        compute="_compute_dunning_score_explanation",
        groups=RECEIVABLES_READERS,
    )
    dunning_consent_ids = fields.One2many(
        "dunning.consent",
        "partner_id",
        string="Contact consent",
        groups=COLLECTIONS_TEAM,
    )
    dunning_whatsapp_consent = fields.Selection(
        [("opted_in", "Opted in"), ("opted_out", "Opted out")],
        string="WhatsApp",
        compute="_compute_dunning_consents",
        help="The customer's latest choice about WhatsApp messages. Without an "
        "opt-in, no WhatsApp message is sent.",
    )
    dunning_communication_ids = fields.One2many(
        "dunning.communication",
        "partner_id",
        string="Collections messages",
        groups=COLLECTIONS_TEAM,
    )
    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        string="Collections policy",
        compute="_compute_dunning_policy_id",
        help="The policy of the customer's segment, or the company's default.",
        groups=RECEIVABLES_READERS,
    )
    # Set by the customer on their collections page.
    dunning_preferred_channel = fields.Selection(
        CHANNELS,
        string="Preferred channel",
        help="The channel the customer asked to be reminded through; tried first "
        "whenever the step of the policy allows it.",
    )
    dunning_best_time = fields.Selection(
        [
            ("morning", "Morning (8:00-12:00)"),
            ("afternoon", "Afternoon (12:00-17:00)"),
            ("evening", "Evening (17:00-21:00)"),
        ],
        string="Best time of day",
        help="When the customer prefers to hear from us, in their time zone; "
        "reminders wait for it, within the company's sending window.",
    )
    dunning_portal_nonce = fields.Char(
        copy=False,
        groups="base.group_system",
        help="Part of the signature of the customer's collections links, set "
        "when they are revoked: a new value revokes every link sent so far.",
    )

    @api.depends_context("company")
    @api.depends(
        "dunning_on_time_ratio",
        "dunning_avg_days_late",
        "dunning_broken_promises",
        "dunning_open_disputes",
        "dunning_overdue_share",
    )
    def _compute_dunning_score_explanation(self):
        labels = {
            "on_time": self.env._("Invoices paid on time: %(value)s%%"),
            "lateness": self.env._("Average days late: %(value)s"),
            "promises": self.env._("Broken promises: %(value)s"),
            "disputes": self.env._("Open disputes: %(value)s"),
            "exposure": self.env._(
                "Overdue against the last 12 months of invoices: %(value)s%%"
            ),
        }
        for partner in self:
            source = partner.commercial_partner_id
            if not source.dunning_profile:
                partner.dunning_score_explanation = False
                continue
            factors = score_factors(
                source.dunning_on_time_ratio,
                source.dunning_avg_days_late,
                source.dunning_broken_promises,
                source.dunning_open_disputes,
                source.dunning_overdue_share,
            )
            rows = Markup("").join(
                Markup("<tr><td>%s</td><td class='text-end'>%s / %s</td></tr>")
                % (
                    labels[factor]
                    % {
                        "value": round(value * 100)
                        if factor in ("on_time", "exposure")
                        else round(value, 1)
                    },
                    points,
                    maximum,
                )
                for factor, points, maximum, value in factors
            )
            partner.dunning_score_explanation = (
                Markup("<table class='table table-sm o_dunning_score'>%s</table>")
                % rows
            )

    @api.depends_context("company")
    @api.depends("dunning_next_date")
    def _compute_dunning_due_now(self):
        today = fields.Date.context_today(self)
        for partner in self:
            next_date = partner.dunning_next_date
            partner.dunning_due_now = bool(next_date and next_date <= today)
            if partner.dunning_due_now:
                partner.dunning_next_label = self.env._("Due now")
            else:
                partner.dunning_next_label = (
                    format_date(self.env, next_date) if next_date else False
                )

    def _search_dunning_due_now(self, operator, value):
        if operator != "in":
            return NotImplemented  # the ORM negates "in" for "not in"
        due = Domain("dunning_next_date", "<=", fields.Date.context_today(self))
        not_due = Domain("dunning_next_date", "=", False) | Domain(
            "dunning_next_date", ">", fields.Date.context_today(self)
        )
        if True in value and False in value:
            return Domain.TRUE
        return due if True in value else not_due

    def _field_to_sql(self, alias, field_expr, query=None):
        """The worklist sorts on ``dunning_due_now`` (due first) and on
        ``dunning_next_label`` (by date) in the database, against today."""
        if field_expr == "dunning_due_now":
            self._check_field_access(self._fields[field_expr], "read")
            return SQL(
                "COALESCE(%s <= %s, FALSE)",
                self._field_to_sql(alias, "dunning_next_date", query),
                fields.Date.context_today(self),
            )
        if field_expr == "dunning_next_label":
            self._check_field_access(self._fields[field_expr], "read")
            return self._field_to_sql(alias, "dunning_next_date", query)
        return super()._field_to_sql(alias, field_expr, query)

    @api.depends_context("company")
    def _compute_dunning_currency_id(self):
        self.dunning_currency_id = self.env.company.currency_id

    @api.depends("dunning_consent_ids")
    def _compute_dunning_consents(self):
        states = self.env["dunning.consent"]._current_states(self.commercial_partner_id)
        for partner in self:
            partner.dunning_whatsapp_consent = states.get(
                (partner.commercial_partner_id.id, "whatsapp")
            )

    @api.depends_context("company")
    @api.depends("dunning_segment_id")
    def _compute_dunning_policy_id(self):
        default = self.env.company.dunning_policy_id
        for partner in self:
            segment = partner.commercial_partner_id.dunning_segment_id
            partner.dunning_policy_id = segment.policy_id or default

    def _dunning_open_invoices(self):
        Move = self.env["account.move"]
        return Move.search(
            Domain("commercial_partner_id", "in", self.commercial_partner_id.ids)
            & Domain("company_id", "=", self.env.company.id)
            & Move._dunning_open_invoice_domain()
        )

    def action_dunning_open_instalments(self):
        """The customer's unpaid instalments with the current company, each
        with its own due date and residual, oldest due first."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Open instalments"),
            "res_model": "account.move.line",
            "view_mode": "list",
            "views": [
                (
                    self.env.ref(
                        "friendly_dunning.view_move_line_list_dunning_instalments"
                    ).id,
                    "list",
                )
            ],
            "domain": list(
                Domain(
                    "move_id.commercial_partner_id", "=", self.commercial_partner_id.id
                )
                & Domain("company_id", "=", self.env.company.id)
                & self.env["account.move"]._dunning_open_instalment_domain()
            ),
            "context": {"create": False, "edit": False, "delete": False},
        }

    def _dunning_responsible_user(self, invoices=None):
        """Who gets the accountant's to-do about this customer: the customer's
        salesperson, else the salesperson of the invoices concerned, else a
        collections user of the company, else the administrator."""
        self.ensure_one()
        internal = self.user_id.filtered(lambda u: not u.share)
        if not internal and invoices:
            internal = invoices.invoice_user_id.filtered(lambda u: not u.share)[:1]
        user = internal
        if not user:
            collections_group = self.env.ref("friendly_dunning.group_dunning_user")
            company = (invoices.company_id[:1] if invoices else None) or (
                self.company_id or self.env.company
            )
            user = (
                self.env["res.users"]
                .sudo()
                .search(
                    [
                        ("group_ids", "in", collections_group.ids),
                        ("company_ids", "in", company.ids),
                        ("share", "=", False),
                    ],
                    order="id",
                    limit=1,
                )
            )
        return user or self.env.ref("base.user_admin")

    def _dunning_todo(self, summary, invoices=None, note=None, record=None):
        """A to-do for the accountant following this customer
        (``_dunning_responsible_user``), on ``record`` (default: the
        customer)."""
        self.ensure_one()
        (record or self).sudo().activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note=note or "",
            user_id=self._dunning_responsible_user(invoices).id,
        )

    def action_dunning_pause(self):
        self._dunning_open_invoices().action_dunning_pause("manual")
        return True

    def action_dunning_resume(self):
        self._dunning_open_invoices().filtered(
            "dunning_pause_reason"
        ).action_dunning_resume()
        return True

    # ------------------------------------------------------------------
    # Contact preferences, set by the customer on their collections page
    # ------------------------------------------------------------------

    def _dunning_channel_order(self, channels):
        """``channels`` with the customer's preferred one first, when it is
        among them."""
        preferred = self.commercial_partner_id.dunning_preferred_channel
        if preferred in channels:
            return [preferred] + [c for c in channels if c != preferred]
        return list(channels)

    def _dunning_contact_hours(self, start, end):
        """The sending window ``(start, end)`` narrowed to the customer's best
        time of day (the one they chose on their page, else the hour learnt
        from when they act), unless the two do not overlap."""
        best = (
            BEST_TIMES.get(self.commercial_partner_id.dunning_best_time)
            or self._dunning_learnt_window()
        )
        if best and max(start, best[0]) < min(end, best[1]):
            return max(start, best[0]), min(end, best[1])
        return start, end

    # ------------------------------------------------------------------
    # Customer statement (report/dunning_statement_report.xml)
    # ------------------------------------------------------------------

    def action_dunning_print_statement(self):
        return self.env.ref(
            "friendly_dunning.action_report_dunning_statement"
        ).report_action(self.commercial_partner_id)

    def _dunning_statement_pdf(self, collections_token=None, collections_login=False):
        """The customer's statement with the current company, as PDF bytes: for
        reminders to attach and the customer's page to offer.

        Read on the customer's page, the statement points back to that page:
        the link it was reached through (``collections_token``), its expiry
        unchanged, or ``/my/collections`` for a logged-in customer
        (``collections_login``). Attached to a reminder, it carries no link:
        the reminder does, and its attachments are seen from the customer's
        chatter by every employee who may read the customer."""
        self.ensure_one()
        if collections_token:
            data = {"collections_token": collections_token}
        elif collections_login:
            data = {"collections_login": True}
        else:
            data = {"without_link": True}
        pdf, _type = (
            self.env["ir.actions.report"]
            .sudo()
            ._render_qweb_pdf(
                "friendly_dunning.action_report_dunning_statement",
                self.commercial_partner_id.ids,
                data=data,
            )
        )
        return pdf
