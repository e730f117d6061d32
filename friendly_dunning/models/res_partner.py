import hmac
import re
import secrets
import time
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools.misc import hmac as database_hmac

from ..tools.scoring import AGING_BUCKETS, PaymentFacts, judge, score_factors
from .dunning_segment import PROFILES
from .dunning_step import CHANNELS

AGING_BUCKET_LABELS = dict(
    zip(
        AGING_BUCKETS,
        ["Not due", "1-30 days", "31-60 days", "61-90 days", "Over 90 days"],
    )
)
# The collections link: /collections/<partner>-<company>-<expiry>-<signature>.
PORTAL_TOKEN_SCOPE = "friendly_dunning.collections_link"
PORTAL_TOKEN_PATTERN = re.compile(r"^(\d{1,12})-(\d{1,12})-(\d{1,12})-([0-9a-f]{64})$")
# Hours (local time of the customer) of each preferred time of day.
BEST_TIMES = {
    "morning": (8.0, 12.0),
    "afternoon": (12.0, 17.0),
    "evening": (17.0, 21.0),
}
# Indexes of earlier versions on the daily-changing segmentation columns.
UNINDEXED_COLUMNS = (
    "dunning_overdue_amount",
    "dunning_max_days_overdue",
    "dunning_aging_bucket",
    "dunning_score",
    "dunning_on_time_ratio",
    "dunning_avg_days_late",
    "dunning_broken_promises",
    "dunning_open_disputes",
    "dunning_overdue_share",
    "dunning_next_date",
)
# Rows written per UPDATE statement when storing the segmentation.
WRITE_BATCH = 5000
# The company-dependent columns the segmentation writes, and their SQL cast.
SEGMENTATION_COLUMNS = {
    "dunning_overdue_amount": "float8",
    "dunning_max_days_overdue": "int4",
    "dunning_aging_bucket": "text",
    "dunning_score": "int4",
    "dunning_profile": "text",
    "dunning_segment_id": "int4",
    "dunning_on_time_ratio": "float8",
    "dunning_avg_days_late": "float8",
    "dunning_broken_promises": "int4",
    "dunning_open_disputes": "int4",
    "dunning_overdue_share": "float8",
    "dunning_next_date": "date",
}


class ResPartner(models.Model):
    _inherit = "res.partner"

    # Segmentation, per company, kept on the commercial partner. The values
    # that move every day are not indexed (Odoo indexes company-dependent
    # fields by default): an indexed column that changes keeps PostgreSQL from
    # updating the row in place, and each refresh would then insert into every
    # one of res_partner's ~40 indexes. Segment and profile keep theirs.
    dunning_overdue_amount = fields.Float(
        string="Overdue amount",
        company_dependent=True,
        index=False,
        readonly=True,
        help="Residual of this customer's invoices past their due date, in "
        "company currency.",
    )
    dunning_currency_id = fields.Many2one(
        "res.currency", compute="_compute_dunning_currency_id"
    )
    dunning_max_days_overdue = fields.Integer(
        string="Days overdue",
        company_dependent=True,
        index=False,
        readonly=True,
        help="How late the oldest open invoice is.",
    )
    dunning_aging_bucket = fields.Selection(
        list(AGING_BUCKET_LABELS.items()),
        string="Aging",
        company_dependent=True,
        index=False,
        readonly=True,
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
    )
    dunning_profile = fields.Selection(
        PROFILES,
        string="Payment profile",
        company_dependent=True,
        readonly=True,
        help="New: too little history to judge. Reliable: pays on time. "
        "Occasional: usually on time, sometimes a bit late. Chronic: late "
        "habitually or on purpose.",
    )
    dunning_segment_id = fields.Many2one(
        "dunning.segment",
        string="Collections segment",
        company_dependent=True,
        readonly=True,
    )
    # The factors behind the score, shown on the partner form.
    dunning_on_time_ratio = fields.Float(
        company_dependent=True, index=False, readonly=True
    )
    dunning_avg_days_late = fields.Float(
        company_dependent=True, index=False, readonly=True
    )
    dunning_broken_promises = fields.Integer(
        company_dependent=True, index=False, readonly=True
    )
    dunning_open_disputes = fields.Integer(
        company_dependent=True, index=False, readonly=True
    )
    dunning_overdue_share = fields.Float(
        company_dependent=True, index=False, readonly=True
    )
    dunning_next_date = fields.Date(
        string="Next reminder",
        company_dependent=True,
        index=False,
        readonly=True,
        help="The earliest next reminder among the customer's open invoices.",
    )
    dunning_score_explanation = fields.Html(
        string="Why this score", compute="_compute_dunning_score_explanation"
    )
    dunning_consent_ids = fields.One2many(
        "dunning.consent", "partner_id", string="Contact consent"
    )
    dunning_whatsapp_consent = fields.Selection(
        [("opted_in", "Opted in"), ("opted_out", "Opted out")],
        string="WhatsApp",
        compute="_compute_dunning_consents",
        help="The customer's latest choice about WhatsApp messages. Without an "
        "opt-in, no WhatsApp message is sent.",
    )
    dunning_communication_ids = fields.One2many(
        "dunning.communication", "partner_id", string="Collections messages"
    )
    dunning_policy_id = fields.Many2one(
        "dunning.policy",
        string="Collections policy",
        compute="_compute_dunning_policy_id",
        help="The policy of the customer's segment, or the company's default.",
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

    def init(self):
        res = super().init()
        # Odoo keeps an index a field no longer asks for.
        for column in UNINDEXED_COLUMNS:
            self.env.execute_query(
                SQL(
                    "DROP INDEX IF EXISTS %s",
                    SQL.identifier(f"res_partner__{column}_index"),
                )
            )
        return res

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
        return self.env["account.move"].search(
            [
                ("commercial_partner_id", "in", self.commercial_partner_id.ids),
                ("company_id", "=", self.env.company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
            ]
        )

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

    def action_dunning_pause(self):
        self._dunning_open_invoices().action_dunning_pause("manual")
        return True

    def action_dunning_resume(self):
        self._dunning_open_invoices().filtered(
            "dunning_pause_reason"
        ).action_dunning_resume()
        return True

    # ------------------------------------------------------------------
    # The customer's collections page: signed link and preferences
    # ------------------------------------------------------------------

    def _dunning_portal_token(self, company=None, now=None):
        """A signed token opening the collections page of this commercial
        partner with ``company``'s invoices, valid for the company's link
        lifetime from ``now`` (epoch seconds)."""
        self.ensure_one()
        return self._dunning_portal_tokens(company, now)[self.commercial_partner_id.id]

    def _dunning_portal_tokens(self, company=None, now=None):
        """``{commercial partner id: token}`` (see ``_dunning_portal_token``)
        for these partners, with the expiry worked out once."""
        company = (company or self.env.company).sudo()
        expiry = int(now or time.time()) + 86400 * max(
            1, company.dunning_portal_link_days
        )
        return {
            partner.id: f"{partner.id}-{company.id}-{expiry}-"
            f"{partner._dunning_portal_signature(company.id, expiry)}"
            for partner in self.commercial_partner_id.sudo()
        }

    def _dunning_portal_urls(self, company=None):
        """``{commercial partner id: absolute signed URL}`` of these partners'
        collections pages (see ``_dunning_portal_url``)."""
        return {
            partner_id: f"{self.browse(partner_id).get_base_url()}/collections/{token}"
            for partner_id, token in self._dunning_portal_tokens(company).items()
        }

    def _dunning_portal_signature(self, company_id, expiry):
        self.ensure_one()
        return database_hmac(
            self.env(su=True),
            PORTAL_TOKEN_SCOPE,
            # No secret yet: no link of this customer was ever revoked.
            f"{self.id}|{company_id}|{expiry}|{self.sudo().dunning_portal_nonce or ''}",
        )

    def _dunning_portal_url(self):
        """The absolute signed URL of the customer's collections page."""
        self.ensure_one()
        return self._dunning_portal_urls()[self.commercial_partner_id.id]

    @api.model
    def _dunning_portal_check_token(self, token, now=None):
        """``(commercial partner, company)`` (sudo) the token opens, or
        ``None`` for a malformed, tampered, revoked or expired token."""
        match = PORTAL_TOKEN_PATTERN.match(token or "")
        if not match:
            return None
        partner_id, company_id, expiry = (int(value) for value in match.groups()[:3])
        if expiry < (now or time.time()):
            return None
        partner = self.sudo().browse(partner_id).exists()
        company = self.env["res.company"].sudo().browse(company_id).exists()
        if not partner or not company or partner.commercial_partner_id != partner:
            return None
        expected = partner._dunning_portal_signature(company.id, expiry)
        if not hmac.compare_digest(expected, match.group(4)):
            return None
        return partner, company

    def action_dunning_revoke_portal_link(self):
        """Invalidate every collections link sent to these customers."""
        partners = self.commercial_partner_id.sudo()
        for partner in partners:
            partner.dunning_portal_nonce = secrets.token_hex(16)
        partners._message_log_batch(
            bodies=dict.fromkeys(
                partners.ids,
                self.env._(
                    "Collections links revoked: the links sent so far no longer "
                    "open the customer's page."
                ),
            )
        )
        return True

    def _dunning_channel_order(self, channels):
        """``channels`` with the customer's preferred one first, when it is
        among them."""
        preferred = self.commercial_partner_id.dunning_preferred_channel
        if preferred in channels:
            return [preferred] + [c for c in channels if c != preferred]
        return list(channels)

    def _dunning_contact_hours(self, start, end):
        """The sending window ``(start, end)`` narrowed to the customer's best
        time of day, unless the two do not overlap."""
        best = BEST_TIMES.get(self.commercial_partner_id.dunning_best_time)
        if best and max(start, best[0]) < min(end, best[1]):
            return max(start, best[0]), min(end, best[1])
        return start, end

    # ------------------------------------------------------------------
    # Segmentation: one set-based pass per company
    # ------------------------------------------------------------------

    @api.model
    def _dunning_refresh_segmentation(self, companies=None, partners=None):
        """Recompute the segmentation fields of every customer of ``companies``
        (default: all), or only of the commercial partners of ``partners``.

        A few queries per company whatever the number of customers: facts come
        from one aggregate query, segments are matched in Python, and values are
        written in batches of UPDATE statements.
        """
        companies = companies or self.env["res.company"].sudo().search(
            [("dunning_policy_id", "!=", False)]
        )
        partner_ids = partners.commercial_partner_id.ids if partners else None
        self.env["account.move"].flush_model()
        self.env["account.partial.reconcile"].flush_model()
        self.env["dunning.invoice.progress"].flush_model()
        self.flush_model(["category_id", "country_id"])
        # As for planning: PostgreSQL's JIT compiler took about a second to
        # compile the facts query over 100,000 invoices, which then ran in
        # 0.8 s. Off for the rest of this transaction.
        self.env.cr.execute(SQL("SET LOCAL jit = off"))
        for company in companies:
            facts, next_dates, old_segments = self._dunning_payment_facts(
                company, partner_ids
            )
            self._dunning_add_broken_promises(company, facts)
            moved = self._dunning_store_segmentation(
                company, facts, next_dates, partner_ids, old_segments
            )
            # The next dates above follow each customer's policy before this
            # refresh: those whose new segment has another policy get theirs
            # again.
            self._dunning_refresh_next_dates(company, moved)
        self.invalidate_model(
            [*SEGMENTATION_COLUMNS, "dunning_policy_id", "dunning_score_explanation"]
        )

    @api.model
    def _dunning_next_date_sql(self, company, move="m"):
        """``(joins, expression)``: SQL for when the next step of its
        customer's policy falls due for the invoice aliased ``move`` of
        ``company`` (``account.move.dunning_next_date``, computed in the
        database): NULL unless open and posted, or while paused with no end;
        never before the day after a pause ends. A reminded invoice's next
        date is the one its last reminder stored; only an invoice never
        reminded looks up the first step of its customer's policy."""
        alias = SQL.identifier(move)
        joins = SQL(
            """
            LEFT JOIN dunning_invoice_progress next_progress
                   ON next_progress.move_id = %(move)s.id
            """,
            move=alias,
        )
        first_step = SQL(
            """
            (SELECT MIN(step.offset_days)
               FROM res_partner partner
          LEFT JOIN dunning_segment segment
                 ON segment.id = (partner.dunning_segment_id ->> %(key)s)::int
               JOIN dunning_step step
                 ON step.policy_id = COALESCE(segment.policy_id, %(default_policy)s)
              WHERE partner.id = %(move)s.commercial_partner_id)
            """,
            move=alias,
            key=str(company.id),
            default_policy=company.dunning_policy_id.id or None,
        )
        expression = SQL(
            """
            CASE WHEN %(move)s.move_type != 'out_invoice'
                      OR %(move)s.state != 'posted'
                      OR %(move)s.payment_state NOT IN ('not_paid', 'partial')
                      OR %(move)s.invoice_date_due IS NULL
                      OR (%(move)s.dunning_pause_reason IS NOT NULL
                          AND %(move)s.dunning_pause_until IS NULL)
                 THEN NULL
                 ELSE (SELECT GREATEST(upcoming.day, %(move)s.dunning_pause_until + 1)
                         FROM (SELECT CASE WHEN next_progress.id IS NOT NULL
                                           THEN next_progress.next_date
                                           ELSE %(move)s.invoice_date_due
                                                + %(first_step)s
                                      END AS day) AS upcoming
                        WHERE upcoming.day IS NOT NULL)
            END
            """,
            move=alias,
            first_step=first_step,
        )
        return joins, expression

    @api.model
    def _dunning_refresh_next_dates(self, company, partner_ids):
        """Store again, in one statement, when the next reminder of each of
        ``partner_ids`` falls due in ``company``: all a run changes of their
        segmentation."""
        if not partner_ids:
            return
        self.env["account.move"].flush_model()
        self.env["dunning.invoice.progress"].flush_model()
        self.flush_model(["dunning_next_date", "dunning_segment_id"])
        next_joins, next_date = self._dunning_next_date_sql(company)
        self.env.execute_query(
            SQL(
                """
            UPDATE res_partner AS p
               SET dunning_next_date = COALESCE(p.dunning_next_date, '{}'::jsonb)
                   || jsonb_build_object(%(key)s, next.next_date)
              FROM (
                    SELECT partner.id, MIN(%(next_date)s) AS next_date
                      FROM unnest(%(partner_ids)s::int[]) AS partner(id)
                 LEFT JOIN account_move m
                        ON m.commercial_partner_id = partner.id
                       -- The ids on the invoices' side too: PostgreSQL then
                       -- reads the batch's open invoices from their index
                       -- instead of hashing every open invoice for each batch
                       -- (140 -> 70 ms a batch of 1,000 at 100,000 invoices).
                       AND m.commercial_partner_id = ANY(%(partner_ids)s)
                       AND m.company_id = %(company)s
                       AND m.move_type = 'out_invoice'
                       AND m.state = 'posted'
                       AND m.payment_state IN ('not_paid', 'partial')
                       %(next_joins)s
                  GROUP BY partner.id
                   ) AS next
             WHERE p.id = next.id
               AND p.dunning_next_date -> %(key)s
                   IS DISTINCT FROM COALESCE(to_jsonb(next.next_date), 'null'::jsonb)
                """,
                key=str(company.id),
                partner_ids=partner_ids,
                company=company.id,
                next_date=next_date,
                next_joins=next_joins,
            )
        )
        self.browse(partner_ids).invalidate_recordset(["dunning_next_date"])

    @api.model
    def _dunning_payment_facts(self, company, partner_ids=None):
        """``{partner_id: PaymentFacts}`` for the customers of ``company``,
        ``{partner_id: earliest next reminder date}`` (under the customer's
        policy before this refresh) and ``{partner_id: stored segment id}``."""
        today = fields.Date.context_today(self)
        since = today - timedelta(days=365)
        partner_filter = (
            SQL("AND m.commercial_partner_id = ANY(%s)", partner_ids)
            if partner_ids is not None
            else SQL()
        )
        next_joins, next_date = self._dunning_next_date_sql(company)
        rows = self.env.execute_query(
            SQL(
                """
            WITH invoice AS (
                SELECT m.id, m.commercial_partner_id AS partner_id,
                       m.invoice_date, m.invoice_date_due AS due,
                       m.amount_total_signed AS total,
                       m.amount_residual_signed AS residual,
                       m.payment_state IN ('not_paid', 'partial') AS is_open,
                       m.dunning_pause_reason
                  FROM account_move m
                 WHERE m.company_id = %(company)s
                   AND m.move_type = 'out_invoice'
                   AND m.state = 'posted'
                   AND m.payment_state != 'reversed'
                   AND (m.invoice_date >= %(since)s
                        OR m.payment_state IN ('not_paid', 'partial'))
                   %(partner_filter)s
            ), settled AS (
                SELECT line.move_id, MAX(partial.max_date) AS paid_date
                  FROM account_move_line line
                  JOIN account_partial_reconcile partial
                    ON partial.debit_move_id = line.id
                 WHERE line.move_id IN (SELECT id FROM invoice WHERE NOT is_open)
                   AND line.display_type = 'payment_term'
              GROUP BY line.move_id
            ), judged AS (
                SELECT invoice.*, settled.paid_date,
                       invoice.due < %(today)s AS came_due,
                       CASE WHEN invoice.is_open THEN %(today)s - invoice.due
                            ELSE settled.paid_date - invoice.due
                       END AS days_late
                  FROM invoice
             LEFT JOIN settled ON settled.move_id = invoice.id
            ), next AS (
                -- Only the open invoices have a next reminder.
                SELECT m.commercial_partner_id AS partner_id,
                       MIN(%(next_date)s) AS next_date
                  FROM account_move m
                  %(next_joins)s
                 WHERE m.id IN (SELECT id FROM invoice WHERE is_open)
              GROUP BY 1
            )
            SELECT judged.partner_id,
                   COUNT(*) FILTER (WHERE came_due),
                   COUNT(*) FILTER (WHERE came_due AND NOT is_open AND days_late <= 0),
                   COALESCE(
                       SUM(days_late) FILTER (WHERE came_due AND days_late > 0), 0
                   ),
                   COUNT(*) FILTER (WHERE came_due AND days_late > 0),
                   COALESCE(MAX(days_late) FILTER (WHERE is_open AND came_due), 0),
                   COALESCE(SUM(residual) FILTER (WHERE is_open AND came_due), 0),
                   COALESCE(SUM(total) FILTER (WHERE invoice_date >= %(since)s), 0),
                   COUNT(*) FILTER (WHERE is_open AND dunning_pause_reason = 'dispute'),
                   MIN(next.next_date),
                   MAX((p.dunning_segment_id ->> %(key)s)::int)
              FROM judged
         LEFT JOIN next ON next.partner_id = judged.partner_id
         LEFT JOIN res_partner p ON p.id = judged.partner_id
          GROUP BY judged.partner_id
                """,
                company=company.id,
                today=today,
                since=since,
                partner_filter=partner_filter,
                next_joins=next_joins,
                next_date=next_date,
                key=str(company.id),
            )
        )
        facts = {
            row[0]: PaymentFacts(
                invoices_due=row[1],
                paid_on_time=row[2],
                days_late_total=row[3],
                late_count=row[4],
                max_days_overdue=row[5],
                overdue_amount=row[6],
                volume_12_months=row[7],
                open_disputes=row[8],
            )
            for row in rows
        }
        return (
            facts,
            {row[0]: row[9] for row in rows},
            {row[0]: row[10] for row in rows},
        )

    @api.model
    def _dunning_add_broken_promises(self, company, facts):
        """Count, in ``facts``, each customer's promises to pay broken in the
        last twelve months, in one query."""
        if not facts:
            return
        self.env["dunning.promise"].flush_model(
            ["company_id", "partner_id", "state", "closed_date"]
        )
        since = fields.Date.context_today(self) - timedelta(days=365)
        rows = self.env.execute_query(
            SQL(
                """
            SELECT partner_id, COUNT(*)
              FROM dunning_promise
             WHERE company_id = %s
               AND state = 'broken'
               AND closed_date >= %s
               AND partner_id = ANY(%s)
          GROUP BY partner_id
                """,
                company.id,
                since,
                list(facts),
            )
        )
        for partner_id, count in rows:
            facts[partner_id].broken_promises = count

    @api.model
    def _dunning_store_segmentation(
        self, company, facts, next_dates, partner_ids=None, old_segments=None
    ):
        """Store each customer's segmentation; answers the customers whose
        new segment follows another policy than the one stored before
        (``old_segments``: ``{partner_id: segment id}``)."""
        segments = (
            self.env["dunning.segment"].sudo().search([("company_id", "=", company.id)])
        )
        attributes = self._dunning_segment_attributes(list(facts))
        old_segments = old_segments or {}
        segment_by_id = {segment.id: segment for segment in segments}
        default_policy = company.dunning_policy_id
        moved = []
        rows = []
        for partner_id, partner_facts in facts.items():
            verdict = judge(partner_facts)
            country_id, category_ids = attributes.get(partner_id, (None, set()))
            segment = segments._find_for(
                {
                    "profile": verdict.profile,
                    "score": verdict.score,
                    "overdue_amount": partner_facts.overdue_amount,
                    "max_days_overdue": partner_facts.max_days_overdue,
                    "country_id": country_id,
                    "category_ids": category_ids,
                },
            )
            old_segment = segment_by_id.get(
                old_segments.get(partner_id), segments.browse()
            )
            if (segment.policy_id or default_policy) != (
                old_segment.policy_id or default_policy
            ):
                moved.append(partner_id)
            rows.append(
                (
                    partner_id,
                    partner_facts.overdue_amount,
                    partner_facts.max_days_overdue,
                    verdict.aging_bucket,
                    verdict.score,
                    verdict.profile,
                    segment.id if segment else None,
                    round(verdict.on_time_ratio, 4),
                    round(verdict.average_days_late, 2),
                    partner_facts.broken_promises,
                    partner_facts.open_disputes,
                    round(verdict.overdue_share, 4),
                    next_dates.get(partner_id),
                )
            )
        key = str(company.id)
        # Customers without any invoice left to judge lose their values.
        stale_filter = (
            SQL("AND id = ANY(%s)", partner_ids) if partner_ids is not None else SQL()
        )
        self.env.execute_query(
            SQL(
                "UPDATE res_partner SET %s WHERE dunning_score ? %s "
                "AND NOT id = ANY(%s) %s",
                SQL(", ").join(
                    SQL(
                        "%s = %s - %s",
                        SQL.identifier(column),
                        SQL.identifier(column),
                        key,
                    )
                    for column in SEGMENTATION_COLUMNS
                ),
                key,
                [row[0] for row in rows],
                stale_filter,
            )
        )
        for start in range(0, len(rows), WRITE_BATCH):
            batch = rows[start : start + WRITE_BATCH]
            self.env.execute_query(
                SQL(
                    "UPDATE res_partner AS p SET %s FROM unnest(%s) AS v(id, %s) "
                    # Rows already right are left alone: each one rewritten
                    # costs a new row version.
                    "WHERE p.id = v.id AND (%s)",
                    SQL(", ").join(
                        SQL(
                            "%s = COALESCE(p.%s, '{}'::jsonb) "
                            "|| jsonb_build_object(%s, v.%s)",
                            SQL.identifier(column),
                            SQL.identifier(column),
                            key,
                            SQL.identifier(column),
                        )
                        for column in SEGMENTATION_COLUMNS
                    ),
                    # One array per column: one SQL fragment per value cost
                    # more than the UPDATE at 20,000 customers.
                    SQL(", ").join(
                        SQL("%s::%s[]", list(values), SQL(cast))
                        for values, cast in zip(
                            zip(*batch, strict=True),
                            ["int4", *SEGMENTATION_COLUMNS.values()],
                            strict=True,
                        )
                    ),
                    SQL(", ").join(
                        SQL.identifier(column) for column in SEGMENTATION_COLUMNS
                    ),
                    SQL(" OR ").join(
                        SQL(
                            "p.%s -> %s IS DISTINCT FROM "
                            "COALESCE(to_jsonb(v.%s), 'null'::jsonb)",
                            SQL.identifier(column),
                            key,
                            SQL.identifier(column),
                        )
                        for column in SEGMENTATION_COLUMNS
                    ),
                )
            )
        return moved

    @api.model
    def _dunning_segment_attributes(self, partner_ids):
        """``{partner_id: (country_id, {tag ids})}`` for matching segments."""
        if not partner_ids:
            return {}
        rows = self.env.execute_query(
            SQL(
                """
            SELECT p.id, p.country_id, ARRAY_REMOVE(ARRAY_AGG(rel.category_id), NULL)
              FROM res_partner p
         LEFT JOIN res_partner_res_partner_category_rel rel ON rel.partner_id = p.id
             WHERE p.id = ANY(%s)
          GROUP BY p.id
                """,
                partner_ids,
            )
        )
        return {row[0]: (row[1], set(row[2])) for row in rows}

    @api.model
    def _dunning_schedule_refresh(self, invoices):
        """Refresh the segmentation of the invoices' customers once, just before
        the transaction commits, however many invoices change in it."""
        pending = self.env.cr.precommit.data.setdefault("friendly_dunning.refresh", {})
        if not pending:
            self.env.cr.precommit.add(self._dunning_refresh_pending)
        for invoice in invoices:
            pending.setdefault(invoice.company_id.id, set()).add(
                invoice.commercial_partner_id.id
            )

    @api.model
    def _dunning_refresh_pending(self):
        pending = self.env.cr.precommit.data.pop("friendly_dunning.refresh", {})
        for company_id, partner_ids in pending.items():
            self._dunning_refresh_segmentation(
                companies=self.env["res.company"].browse(company_id),
                partners=self.browse(partner_ids),
            )

    # ------------------------------------------------------------------
    # Customer statement (report/dunning_statement_report.xml)
    # ------------------------------------------------------------------

    def action_dunning_print_statement(self):
        return self.env.ref(
            "friendly_dunning.action_report_dunning_statement"
        ).report_action(self.commercial_partner_id)

    def _dunning_statement_pdf(self):
        """The customer's statement with the current company, as PDF bytes: for
        reminders to attach and the customer's page to offer."""
        self.ensure_one()
        pdf, _type = (
            self.env["ir.actions.report"]
            .sudo()
            ._render_qweb_pdf(
                "friendly_dunning.action_report_dunning_statement",
                self.commercial_partner_id.ids,
            )
        )
        return pdf

    def _dunning_statement_payment_url(self):
        """Where the customer sees and pays what they owe: their collections
        page (signed link)."""
        self.ensure_one()
        return self.commercial_partner_id._dunning_portal_url()
