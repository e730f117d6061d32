"""Segmentation: each customer's payment facts, score, profile and segment.

One set-based pass per company: the facts come from one aggregate query, the
segments are matched in Python, and the values are stored with a few UPDATE
statements on the company-dependent columns of ``res_partner``.
"""

from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.scoring import PaymentFacts, judge
from .account_move import open_instalment_sql, open_invoice_sql
from .dunning_dispute import OPEN_STATES as OPEN_DISPUTE_STATES
from .dunning_segment import partner_segment_sql
from .raw_sql import (
    clear_company_values,
    run_sql,
    set_company_values,
    sql_settings,
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
# What the next reminder date of an invoice is computed from
# (``_dunning_next_date_sql``).
NEXT_DATE_READS = {
    "account.move": None,
    "account.move.line": [
        "move_id",
        "display_type",
        "reconciled",
        "no_followup",
        "date_maturity",
    ],
    "dunning.invoice.progress": None,
    "res.partner": ["dunning_segment_id"],
    "dunning.segment": ["policy_id"],
    "dunning.step": ["policy_id", "offset_days"],
}
# What the payment facts are computed from: the invoices, their payments, and
# what their next reminder dates are.
FACTS_READS = NEXT_DATE_READS | {
    "account.move.line": [
        *NEXT_DATE_READS["account.move.line"],
        "balance",
        "amount_residual",
    ],
    "account.partial.reconcile": None,
    "dunning.dispute": ["move_id", "state"],
}


class ResPartner(models.Model):
    _inherit = "res.partner"

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
        # The statements invalidated the columns they wrote, not what is
        # computed from them.
        self.invalidate_model(["dunning_policy_id", "dunning_score_explanation"])

    @api.model
    def _dunning_next_date_sql(self, company, move="m"):
        """``(joins, expression)``: SQL for when the next step of its
        customer's policy falls due for the invoice aliased ``move`` of
        ``company`` (``account.move.dunning_next_date``, computed in the
        database). ``joins`` adds one row per instalment still owed (lines
        excluded from follow-ups left out) and ``expression`` is that
        instalment's next date: aggregate it with MIN per invoice or
        customer. NULL unless open and posted, or while paused with no end;
        never before the day after a pause ends. A reminded instalment's next
        date is the one its last reminder stored (it holds the policy's gap
        between overdue steps); only an instalment never reminded looks up
        the first step of its customer's policy."""
        alias = SQL.identifier(move)
        joins = SQL(
            """
            LEFT JOIN account_move_line next_line
                   ON next_line.move_id = %(move)s.id
                  AND next_line.display_type = 'payment_term'
                  AND NOT next_line.reconciled
                  AND next_line.no_followup IS NOT TRUE
            LEFT JOIN dunning_invoice_progress next_progress
                   ON next_progress.move_id = %(move)s.id
                  AND next_progress.line_id = next_line.id
            """,
            move=alias,
        )
        first_step = SQL(
            """
            (SELECT MIN(step.offset_days)
               FROM res_partner partner
          LEFT JOIN dunning_segment segment
                 ON segment.id = %(segment)s
               JOIN dunning_step step
                 ON step.policy_id = COALESCE(segment.policy_id, %(default_policy)s)
              WHERE partner.id = %(move)s.commercial_partner_id)
            """,
            move=alias,
            segment=partner_segment_sql(SQL.identifier("partner"), company.id),
            default_policy=company.dunning_policy_id.id or None,
        )
        expression = SQL(
            """
            CASE WHEN NOT (%(open_invoice)s)
                      OR next_line.id IS NULL
                      OR (%(move)s.dunning_pause_reason IS NOT NULL
                          AND %(move)s.dunning_pause_until IS NULL)
                 THEN NULL
                 ELSE (SELECT GREATEST(upcoming.day, %(move)s.dunning_pause_until + 1)
                         FROM (SELECT CASE WHEN next_progress.id IS NOT NULL
                                           THEN next_progress.next_date
                                           ELSE next_line.date_maturity
                                                + %(first_step)s
                                      END AS day) AS upcoming
                        WHERE upcoming.day IS NOT NULL)
            END
            """,
            move=alias,
            open_invoice=open_invoice_sql(move),
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
        next_joins, next_date = self._dunning_next_date_sql(company)
        next_dates = SQL(
            """
            SELECT partner.id, MIN(%(next_date)s)
              FROM unnest(%(partner_ids)s::int[]) AS partner(id)
         LEFT JOIN account_move m
                ON m.commercial_partner_id = partner.id
               -- The ids on the invoices' side too: PostgreSQL then reads the
               -- batch's open invoices from their index instead of hashing
               -- every open invoice for each batch.
               AND m.commercial_partner_id = ANY(%(partner_ids)s)
               AND m.company_id = %(company)s
               AND %(open_invoice)s
               %(next_joins)s
          GROUP BY partner.id
            """,
            partner_ids=partner_ids,
            company=company.id,
            next_date=next_date,
            next_joins=next_joins,
            open_invoice=open_invoice_sql("m"),
        )
        # The estimated cost of the correlated next-date subqueries sets off
        # PostgreSQL's JIT compiler, whose compiling costs more than the query.
        with sql_settings(self.env, jit="off"):
            set_company_values(
                self.env,
                "res.partner",
                ("dunning_next_date",),
                company,
                next_dates,
                reads=NEXT_DATE_READS,
            )

    @api.model
    def _dunning_payment_facts(self, company, partner_ids=None):
        """``{partner_id: PaymentFacts}`` for the customers of ``company``,
        judged instalment by instalment (each receivable line of an invoice,
        its own due date and residual; an invoice with one due date is one
        instalment),
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
        query = SQL(
            """
            WITH instalment AS (
                -- Each receivable line of an invoice is judged on its own:
                -- its due date, its residual, when it was paid.
                SELECT line.id, m.id AS move_id,
                       m.commercial_partner_id AS partner_id,
                       m.invoice_date,
                       COALESCE(line.date_maturity, m.invoice_date_due) AS due,
                       line.balance AS total,
                       line.amount_residual AS residual,
                       COALESCE(%(open_instalment)s, FALSE) AS is_open,
                       -- A dispute counts while it waits for an answer, not
                       -- during the grace days after a rejection.
                       EXISTS (
                           SELECT 1 FROM dunning_dispute dispute
                            WHERE dispute.move_id = m.id
                              AND dispute.state IN %(open_dispute_states)s
                       ) AS disputed
                  FROM account_move m
                  JOIN account_move_line line
                    ON line.move_id = m.id
                   AND line.display_type = 'payment_term'
                 WHERE m.company_id = %(company)s
                   AND m.move_type = 'out_invoice'
                   AND m.state = 'posted'
                   AND m.payment_state != 'reversed'
                   AND (m.invoice_date >= %(since)s OR %(open_invoice)s)
                   %(partner_filter)s
            ), settled AS (
                SELECT partial.debit_move_id AS line_id,
                       MAX(partial.max_date) AS paid_date
                  FROM account_partial_reconcile partial
                 WHERE partial.debit_move_id IN (
                           SELECT id FROM instalment WHERE NOT is_open)
              GROUP BY partial.debit_move_id
            ), judged AS (
                SELECT instalment.*, settled.paid_date,
                       instalment.due < %(today)s AS came_due,
                       CASE WHEN instalment.is_open THEN %(today)s - instalment.due
                            ELSE settled.paid_date - instalment.due
                       END AS days_late
                  FROM instalment
             LEFT JOIN settled ON settled.line_id = instalment.id
            ), next AS (
                -- Only the open invoices have a next reminder.
                SELECT m.commercial_partner_id AS partner_id,
                       MIN(%(next_date)s) AS next_date
                  FROM account_move m
                  %(next_joins)s
                 WHERE m.id IN (SELECT move_id FROM instalment WHERE is_open)
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
                   COUNT(DISTINCT move_id) FILTER (WHERE is_open AND disputed),
                   MIN(next.next_date),
                   MAX(%(old_segment)s)
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
            open_invoice=open_invoice_sql("m"),
            open_instalment=open_instalment_sql("line", "m"),
            old_segment=partner_segment_sql(SQL("p"), company.id),
            open_dispute_states=OPEN_DISPUTE_STATES,
        )
        # The facts query is costed far above PostgreSQL's JIT threshold on a
        # large ledger, and compiling it takes longer than running it.
        with sql_settings(self.env, jit="off"):
            rows = run_sql(self.env, query, reads=FACTS_READS)
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
        since = fields.Date.context_today(self) - timedelta(days=365)
        rows = run_sql(
            self.env,
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
            ),
            reads={
                "dunning.promise": ["company_id", "partner_id", "state", "closed_date"]
            },
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
        # Customers without any invoice left to judge lose their values.
        stale_filter = (
            SQL("AND id = ANY(%s)", partner_ids) if partner_ids is not None else SQL()
        )
        clear_company_values(
            self.env,
            "res.partner",
            SEGMENTATION_COLUMNS,
            company,
            SQL(
                "dunning_score ? %s AND NOT id = ANY(%s) %s",
                str(company.id),
                [row[0] for row in rows],
                stale_filter,
            ),
        )
        for start in range(0, len(rows), WRITE_BATCH):
            batch = rows[start : start + WRITE_BATCH]
            set_company_values(
                self.env,
                "res.partner",
                SEGMENTATION_COLUMNS,
                company,
                SQL(
                    "SELECT * FROM unnest(%s)",
                    # One array per column: one SQL fragment per value costs
                    # more than the UPDATE itself on many customers.
                    SQL(", ").join(
                        SQL("%s::%s[]", list(values), SQL(cast))
                        for values, cast in zip(
                            zip(*batch, strict=True),
                            ["int4", *SEGMENTATION_COLUMNS.values()],
                            strict=True,
                        )
                    ),
                ),
            )
        return moved

    @api.model
    def _dunning_segment_attributes(self, partner_ids):
        """``{partner_id: (country_id, {tag ids})}`` for matching segments."""
        if not partner_ids:
            return {}
        rows = run_sql(
            self.env,
            SQL(
                """
            SELECT p.id, p.country_id, ARRAY_REMOVE(ARRAY_AGG(rel.category_id), NULL)
              FROM res_partner p
         LEFT JOIN res_partner_res_partner_category_rel rel ON rel.partner_id = p.id
             WHERE p.id = ANY(%s)
          GROUP BY p.id
                """,
                partner_ids,
            ),
            reads={"res.partner": ["country_id", "category_id"]},
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
