"""Collection KPIs of engagement, read from the reminders and what customers
did after them: first-reminder cure, disputes, retention after collection,
promises kept, plans completed, satisfaction, and each channel's reach and
payments. The ledger KPIs and the assembly of all figures are in
dunning_kpi.py."""

from collections import defaultdict

from odoo import api, models
from odoo.tools import SQL

from ..tools import kpi
from .ledger_sql import payment_entry


class DunningKpi(models.AbstractModel):
    _inherit = "dunning.kpi"

    @api.model
    def _kpi_counts(self, companies, segment_ids, date_from, date_to, retention=True):
        """Counts behind the cure, dispute and retention rates, promises,
        plans and satisfaction: ``{company_id: {name: value}}``."""
        counts = defaultdict(dict)
        segment_filter = self._kpi_segment_filter(segment_ids)
        # First reminder: the earliest reminder sent for each invoice.
        for company_id, reminded, cured in self.env.execute_query(
            SQL(
                """
            WITH first AS (
                SELECT rel.move_id, MIN(c.sent_date)::date AS sent
                  FROM dunning_communication c
                  JOIN dunning_communication_account_move_rel rel
                    ON rel.communication_id = c.id
                 WHERE c.company_id = ANY(%(companies)s)
                   AND c.kind = 'reminder'
                   AND c.sent_date IS NOT NULL
              GROUP BY rel.move_id
            )
            SELECT m.company_id, COUNT(*),
                   COUNT(*) FILTER (WHERE m.payment_state IN ('paid', 'in_payment')
                       AND (SELECT MAX(pr.max_date)
                              FROM account_move_line l
                              JOIN account_partial_reconcile pr
                                ON pr.debit_move_id = l.id
                             WHERE l.move_id = m.id) <= first.sent + %(window)s)
              FROM first
              JOIN account_move m ON m.id = first.move_id
             WHERE first.sent BETWEEN %(date_from)s AND %(date_to)s
               AND m.move_type = 'out_invoice'
               AND m.state = 'posted'
               %(segment_filter)s
          GROUP BY m.company_id
                """,
                companies=companies.ids,
                window=kpi.PAID_WITHIN_DAYS,
                date_from=date_from,
                date_to=date_to,
                segment_filter=segment_filter,
            )
        ):
            counts[company_id] |= {"reminded": reminded, "cured": cured}
        # Disputes: invoices of the period whose reminders were paused for a
        # dispute, now or at some point (the pause reason is tracked).
        for company_id, invoiced, disputed in self.env.execute_query(
            SQL(
                """
            SELECT m.company_id, COUNT(*),
                   COUNT(*) FILTER (WHERE m.dunning_pause_reason = 'dispute'
                       OR m.id IN (
                           SELECT msg.res_id FROM mail_tracking_value t
                             JOIN mail_message msg ON msg.id = t.mail_message_id
                            WHERE msg.model = 'account.move'
                              AND t.field_id = %(field)s
                              AND t.new_value_char = ANY(%(labels)s)))
              FROM account_move m
             WHERE m.company_id = ANY(%(companies)s)
               AND m.move_type = 'out_invoice'
               AND m.state = 'posted'
               AND m.invoice_date BETWEEN %(date_from)s AND %(date_to)s
               %(segment_filter)s
          GROUP BY m.company_id
                """,
                field=self.env["ir.model.fields"]
                ._get("account.move", "dunning_pause_reason")
                .id,
                labels=self._kpi_dispute_labels(),
                companies=companies.ids,
                date_from=date_from,
                date_to=date_to,
                segment_filter=segment_filter,
            )
        ):
            counts[company_id] |= {"invoiced": invoiced, "disputed": disputed}
        if retention:
            for company_id, cases, retained in self._kpi_retention(
                companies, segment_filter, date_from, date_to
            ):
                counts[company_id] |= {"cases": cases, "retained": retained}
        for company_id, values in self._kpi_promise_counts(
            companies, segment_ids, date_from, date_to
        ).items():
            counts[company_id].update(values)
        return counts

    @api.model
    def _kpi_retention(self, companies, segment_filter, date_from, date_to):
        """``(company_id, cases, retained)``: customers whose late invoice was
        settled (paid in full, last payment) in the period, and how many of
        them were invoiced again within six months of settling. An invoice
        is late when one of its instalments was paid after its own due
        date."""
        return self.env.execute_query(
            SQL(
                """
            WITH settled AS (
                -- When each invoice got its last payment, kept when that
                -- falls in the period: the latest of its payments since the
                -- period began, if none came after it (older reconciliations
                -- are never read).
                SELECT l.move_id AS id, MAX(pr.max_date) AS settled
                  FROM account_partial_reconcile pr
                  JOIN account_move_line l ON l.id = pr.debit_move_id
                 WHERE pr.company_id = ANY(%(companies)s)
                   AND pr.max_date >= %(date_from)s
                   AND l.account_id = ANY(%(accounts)s)
              GROUP BY l.move_id
                HAVING MAX(pr.max_date) <= %(date_to)s
            ), invoice AS (
                SELECT m.id, m.company_id, m.commercial_partner_id AS partner_id
                  FROM settled
                  JOIN account_move m ON m.id = settled.id
                 WHERE m.company_id = ANY(%(companies)s)
                   AND m.move_type = 'out_invoice'
                   AND m.state = 'posted'
                   AND m.payment_state IN ('paid', 'in_payment')
                   %(segment_filter)s
            ), cases AS (
                SELECT invoice.company_id, invoice.partner_id,
                       MIN(settled.settled) AS settled
                  FROM settled
                  JOIN invoice ON invoice.id = settled.id
                 -- Late: an instalment got a payment after its own due date.
                 WHERE EXISTS (
                     SELECT 1
                       FROM account_move_line l
                       JOIN account_partial_reconcile pr ON pr.debit_move_id = l.id
                      WHERE l.move_id = invoice.id
                        AND l.display_type = 'payment_term'
                        AND pr.max_date > COALESCE(l.date_maturity, l.date))
              GROUP BY 1, 2
            ), retained AS (
                SELECT DISTINCT cases.company_id, cases.partner_id
                  FROM cases
                  JOIN account_move again
                    ON again.commercial_partner_id = cases.partner_id
                   AND again.company_id = cases.company_id
                 WHERE again.move_type = 'out_invoice'
                   AND again.state = 'posted'
                   AND again.invoice_date > cases.settled
                   AND again.invoice_date <= cases.settled + %(days)s
            )
            SELECT cases.company_id, COUNT(*), COUNT(retained.partner_id)
              FROM cases
         LEFT JOIN retained ON retained.company_id = cases.company_id
                           AND retained.partner_id = cases.partner_id
          GROUP BY cases.company_id
                """,
                companies=companies.ids,
                accounts=self._kpi_receivable_accounts(),
                date_from=date_from,
                date_to=date_to,
                segment_filter=segment_filter,
                days=kpi.RETENTION_DAYS,
            )
        )

    @api.model
    def _kpi_dispute_labels(self):
        """The label tracked for a dispute pause, in every installed language."""
        field = self.env["account.move"]._fields["dunning_pause_reason"]
        labels = set()
        for code, _name in self.env["res.lang"].get_installed():
            env = self.with_context(lang=code).env
            labels.add(dict(field._description_selection(env))["dispute"])
        return sorted(labels)

    @api.model
    def _kpi_promise_counts(self, companies, segment_ids, date_from, date_to):
        """Promises that came due (their grace date) in the period and were
        judged, payment plans that ended in the period (last instalment, or
        first missed one), and the ratings given in the period."""
        counts = defaultdict(dict)
        segment_filter = self._kpi_segment_filter(segment_ids, move="x")
        for company_id, due, kept, due_amount, kept_amount in self.env.execute_query(
            SQL(
                """
            SELECT x.company_id, COUNT(*), COUNT(*) FILTER (WHERE x.state = 'kept'),
                   SUM(x.amount), COALESCE(SUM(x.amount) FILTER (
                       WHERE x.state = 'kept'), 0)
              FROM (SELECT p.company_id, p.state,
                           p.partner_id AS commercial_partner_id,
                           COALESCE(NULLIF(p.promised_amount, 0),
                                    p.residual_at_promise, 0) AS amount
                      FROM dunning_promise p
                     WHERE p.company_id = ANY(%(companies)s)
                       AND p.state IN ('kept', 'broken')
                       AND p.grace_date BETWEEN %(date_from)s AND %(date_to)s) x
             WHERE TRUE %(segment_filter)s
          GROUP BY x.company_id
                """,
                companies=companies.ids,
                date_from=date_from,
                date_to=date_to,
                segment_filter=segment_filter,
            )
        ):
            counts[company_id] |= {
                "promises_due": due,
                "promises_kept": kept,
                "promised_due_amount": due_amount,
                "promised_kept_amount": kept_amount,
            }
        for company_id, ended, completed in self.env.execute_query(
            SQL(
                """
            SELECT x.company_id, COUNT(*),
                   COUNT(*) FILTER (WHERE x.state = 'completed')
              FROM (SELECT plan.company_id, plan.state,
                           plan.partner_id AS commercial_partner_id,
                           CASE WHEN plan.state = 'broken'
                                THEN COALESCE(MIN(i.date_due) FILTER (
                                         WHERE i.state = 'missed'),
                                     MAX(i.date_due))
                                ELSE MAX(i.date_due)
                           END AS ended
                      FROM dunning_payment_plan plan
                      JOIN dunning_payment_plan_installment i
                        ON i.plan_id = plan.id
                     WHERE plan.company_id = ANY(%(companies)s)
                       AND plan.state IN ('completed', 'broken')
                  GROUP BY plan.id) x
             WHERE x.ended BETWEEN %(date_from)s AND %(date_to)s
                   %(segment_filter)s
          GROUP BY x.company_id
                """,
                companies=companies.ids,
                date_from=date_from,
                date_to=date_to,
                segment_filter=segment_filter,
            )
        ):
            counts[company_id] |= {"plans_ended": ended, "plans_completed": completed}
        for company_id, ratings, rating_sum in self.env.execute_query(
            SQL(
                """
            SELECT x.company_id, COUNT(*), SUM(x.rating)
              FROM (SELECT f.company_id, f.rating,
                           f.partner_id AS commercial_partner_id
                      FROM dunning_feedback f
                     WHERE f.company_id = ANY(%(companies)s)
                       AND f.date::date BETWEEN %(date_from)s AND %(date_to)s) x
             WHERE TRUE %(segment_filter)s
          GROUP BY x.company_id
                """,
                companies=companies.ids,
                date_from=date_from,
                date_to=date_to,
                segment_filter=segment_filter,
            )
        ):
            counts[company_id] |= {"ratings": ratings, "rating_sum": rating_sum}
        return counts

    @api.model
    def _kpi_channels(self, companies, segment_ids, date_from, date_to):
        """``{company_id: {channel type: counts}}`` for the messages sent in
        the period (reminders and accountants' messages)."""
        segment_filter = self._kpi_segment_filter(segment_ids, move="c")
        rows = self.env.execute_query(
            SQL(
                """
            WITH message AS (
                SELECT c.id, c.company_id, c.sent_date::date AS sent, c.state,
                       c.delivered_date, c.read_date,
                       -- The sandbox sends nothing, so it costs nothing.
                       CASE WHEN COALESCE(ch.channel_type, c.channel) = 'sandbox'
                            THEN 0 ELSE COALESCE(c.cost, 0) END AS cost,
                       COALESCE(ch.channel_type, c.channel) AS channel,
                       CASE WHEN COALESCE(ch.channel_type, c.channel)
                                 = 'email'
                            THEN c.state IN ('sent', 'delivered', 'read', 'replied')
                                 AND COALESCE(mm.state, 'sent')
                                     NOT IN ('exception', 'cancel')
                            ELSE c.delivered_date IS NOT NULL
                                 OR c.state IN ('delivered', 'read', 'replied')
                       END AS delivered
                  FROM (SELECT c.*, c.partner_id AS commercial_partner_id
                          FROM dunning_communication c) c
             LEFT JOIN dunning_channel ch ON ch.id = c.channel_id
             LEFT JOIN mail_mail mm ON mm.id = c.mail_id
                 WHERE c.company_id = ANY(%(companies)s)
                   AND c.kind IN ('reminder', 'manual')
                   AND c.sent_date IS NOT NULL
                   AND c.sent_date::date BETWEEN %(date_from)s AND %(date_to)s
                   %(segment_filter)s
            ), touch AS (
                SELECT rel.move_id, message.id, message.channel,
                       message.company_id, message.sent
                  FROM message
                  JOIN dunning_communication_account_move_rel rel
                    ON rel.communication_id = message.id
                 WHERE message.delivered
            ), followed AS (
                -- Payments on a covered invoice within the window of a message.
                SELECT touch.id AS message_id, touch.channel, touch.company_id,
                       touch.sent, pr.id AS partial_id, pr.amount
                  FROM touch
                  JOIN account_move_line l
                    ON l.move_id = touch.move_id AND l.balance > 0
                  JOIN account_partial_reconcile pr ON pr.debit_move_id = l.id
                  JOIN account_move_line pl ON pl.id = pr.credit_move_id
                 WHERE pr.max_date BETWEEN touch.sent AND touch.sent + %(window)s
                   AND %(payment)s
            ), paid AS (
                SELECT DISTINCT message_id AS id FROM followed
            ), attributed AS (
                -- Each payment goes to the last message before it.
                SELECT DISTINCT ON (partial_id) channel, company_id, amount
                  FROM followed
              ORDER BY partial_id, sent DESC, message_id DESC
            ), collected AS (
                SELECT company_id, channel, SUM(amount) AS amount
                  FROM attributed GROUP BY 1, 2
            )
            SELECT message.company_id, message.channel,
                   COUNT(*),
                   COUNT(*) FILTER (WHERE message.delivered),
                   COUNT(*) FILTER (WHERE message.read_date IS NOT NULL
                       OR message.state IN ('read', 'replied')),
                   COUNT(*) FILTER (WHERE message.state = 'replied'),
                   COUNT(paid.id),
                   SUM(message.cost),
                   MAX(collected.amount)
              FROM message
         LEFT JOIN paid ON paid.id = message.id
         LEFT JOIN collected ON collected.company_id = message.company_id
                            AND collected.channel = message.channel
          GROUP BY 1, 2
                """,
                companies=companies.ids,
                date_from=date_from,
                date_to=date_to,
                window=kpi.PAID_WITHIN_DAYS,
                payment=payment_entry("pl"),
                segment_filter=segment_filter,
            )
        )
        channels = defaultdict(dict)
        for company_id, channel, *counts in rows:
            channels[company_id][channel] = counts
        return channels
