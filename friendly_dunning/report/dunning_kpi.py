from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..models.dunning_segment import partner_segment_sql
from ..models.raw_sql import sql_settings
from ..tools import kpi
from .ledger_sql import payment_entry

CHANNEL_TYPES = ("whatsapp", "sms", "email", "sandbox")
# PostgreSQL settings for the KPI queries only (see models/raw_sql.py).
# They aggregate the receivable ledger with cost estimates far above
# jit_above_cost: compiling them takes longer than it saves. The open items
# are read through Odoo's index of unreconciled lines, which the planner
# only picks with the usual random_page_cost of SSDs and cached data, not
# with PostgreSQL's default (a spinning disk's).
KPI_SQL_SETTINGS = {"jit": "off", "random_page_cost": "1.1"}
# Amount components that add up across companies sharing a currency.
SUMMED = (
    "opening_receivables",
    "receivables",
    "current_receivables",
    "overdue_receivables",
    "receivables_over_90",
    "credit_sales",
    "collected",
)


class DunningKpi(models.AbstractModel):
    """Collection KPIs computed from the ledger with a few aggregate queries.

    Every figure is per company and in its currency; companies are added up
    only when they share a currency. This file reads the ledger (DSO, CEI,
    collection rate, open and overdue receivables) and assembles every
    figure; the engagement counts (reminders, disputes, retention, promises,
    plans, ratings, channels) are read in ``dunning_kpi_engagement.py``. The
    formulas live in ``tools/kpi.py``; the managers' dashboard built on them
    in ``dunning_dashboard.py``.
    """

    _name = "dunning.kpi"
    _description = "Collections KPIs"

    # ------------------------------------------------------------------
    # Public entry point
    # ------------------------------------------------------------------

    @api.model
    def get_kpis(self, date_from, date_to, company_ids=None, segment_ids=None):
        """KPIs of the period ``date_from`` .. ``date_to`` (both included) for
        ``company_ids`` (default: the current company) and, optionally, only the
        customers of ``segment_ids``. Amounts in company currency; a ratio with
        nothing to measure is ``None``. ``help`` holds each definition."""
        date_from = fields.Date.to_date(date_from)
        date_to = fields.Date.to_date(date_to)
        if date_from > date_to:
            raise UserError(self.env._("The period must start before it ends."))
        companies = self._kpi_companies(company_ids)
        segment_ids = list(segment_ids) if segment_ids else None
        self._kpi_flush()
        with sql_settings(self.env, **KPI_SQL_SETTINGS):
            return self._kpi_get(companies, date_from, date_to, segment_ids)

    @api.model
    def _kpi_get(
        self,
        companies,
        date_from,
        date_to,
        segment_ids,
        ledger=None,
        skip=(),
        prefetched=None,
    ):
        """``get_kpis`` once the scope is checked; ``ledger`` (see
        ``_kpi_ledger``), when given, must cover the 24 countback months
        before ``date_to``: the dashboard reads it once for all its periods.
        ``skip`` names figures not wanted (``"retention"``, ``"channels"``):
        they come out as ``None`` or empty, and their queries are not run.
        ``prefetched`` may hold the rows of ``_kpi_open_at`` and
        ``_kpi_collected`` read for several periods at once."""
        per_company = self._kpi_components(
            companies, date_from, date_to, segment_ids, ledger, skip, prefetched
        )
        result = self._kpi_assemble(
            [per_company[company.id] for company in companies],
            date_from,
            date_to,
        )
        result |= {
            "company_ids": companies.ids,
            "currency_id": companies[0].currency_id.id,
            "currency": companies[0].currency_id.name,
            "date_from": fields.Date.to_string(date_from),
            "date_to": fields.Date.to_string(date_to),
            "help": self._kpi_help(),
        }
        if len(companies) > 1:
            result["companies"] = {
                company.id: self._kpi_assemble(
                    [per_company[company.id]], date_from, date_to
                )
                for company in companies
            }
        return result

    # ------------------------------------------------------------------
    # Scope
    # ------------------------------------------------------------------

    @api.model
    def _kpi_companies(self, company_ids):
        """The companies asked for, each one the user may see, sharing one
        currency (amounts of two currencies are never added up)."""
        if not self.env.user.has_group("friendly_dunning.group_dunning_user"):
            raise AccessError(self.env._("Collections KPIs are for collections users."))
        companies = (
            self.env["res.company"].browse(company_ids)
            if company_ids
            else self.env.company
        )
        if not self.env.su and companies - self.env.user.company_ids:
            raise AccessError(
                self.env._("You can only see the KPIs of your own companies.")
            )
        if len(companies.currency_id) > 1:
            raise UserError(
                self.env._(
                    "These companies keep their books in different currencies; "
                    "look at their KPIs one company at a time."
                )
            )
        return companies.sudo()

    def _kpi_flush(self):
        """The KPI queries only read: flush what they read, once for all."""
        for model in (
            "account.move",
            "account.move.line",
            "account.partial.reconcile",
            "dunning.communication",
            "dunning.promise",
            "dunning.payment.plan",
            "dunning.payment.plan.installment",
            "dunning.feedback",
        ):
            self.env[model].flush_model()

    @api.model
    def _kpi_segment_filter(self, segment_ids, move="m", partner=None):
        """SQL restricting rows to the customers of ``segment_ids``: those of
        alias ``move`` (its ``commercial_partner_id`` and ``company_id``), or
        of ``partner`` (an SQL customer column) with ``move.company_id``."""
        if not segment_ids:
            return SQL()
        return SQL(
            """AND EXISTS (
                SELECT 1 FROM res_partner seg_p
                 WHERE seg_p.id = %(partner)s
                   AND %(segment)s = ANY(%(segments)s))""",
            partner=partner or SQL("%s.commercial_partner_id", SQL.identifier(move)),
            segment=partner_segment_sql(
                SQL("seg_p"), SQL("%s.company_id", SQL.identifier(move))
            ),
            segments=segment_ids,
        )

    # ------------------------------------------------------------------
    # Components
    # ------------------------------------------------------------------

    @api.model
    def _kpi_components(
        self,
        companies,
        date_from,
        date_to,
        segment_ids,
        ledger=None,
        skip=(),
        prefetched=None,
    ):
        """``{company_id: {component: value}}``: the amounts and counts the
        KPIs are made of, one aggregate query per family."""
        components = {company.id: defaultdict(float) for company in companies}
        if ledger is None:
            oldest = min(kpi.countback_windows(date_to)[-1][0], date_from)
            ledger = self._kpi_ledger(companies, segment_ids, oldest, date_to)
        opening = date_from - timedelta(days=1)
        for company in companies:
            days = ledger.get(company.id, {"base": 0.0, "days": {}})
            values = components[company.id]
            values["opening_receivables"] = self._ledger_balance(days, opening)
            values["receivables"] = self._ledger_balance(days, date_to)
            values["credit_sales"] = self._ledger_sales(days, date_from, date_to)
            values["countback"] = [
                (kpi.period_days(start, end), self._ledger_sales(days, start, end))
                for start, end in kpi.countback_windows(date_to)
            ]
        prefetched = prefetched or {}
        open_at = (
            prefetched["open_at"]
            if "open_at" in prefetched
            else self._kpi_open_at(companies, segment_ids, [date_to])
        )
        for company_id, day, current, overdue, over_90 in open_at:
            if day != date_to:
                continue
            components[company_id] |= {
                "current_receivables": current,
                "overdue_receivables": overdue,
                "receivables_over_90": over_90,
            }
        collected = (
            prefetched["collected"]
            if "collected" in prefetched
            else self._kpi_collected(companies, segment_ids, [(date_from, date_to)])
        )
        for company_id, start, end, amount in collected:
            if (start, end) == (date_from, date_to):
                components[company_id]["collected"] = amount
        for company_id, values in self._kpi_counts(
            companies, segment_ids, date_from, date_to, "retention" not in skip
        ).items():
            components[company_id].update(values)
        if "channels" not in skip:
            for company_id, channels in self._kpi_channels(
                companies, segment_ids, date_from, date_to
            ).items():
                components[company_id]["channels"] = channels
        return components

    @api.model
    def _kpi_receivable_accounts(self):
        return (
            self.env["account.account"]
            .sudo()
            .search([("account_type", "=", "asset_receivable")])
            .ids
        )

    @api.model
    def _kpi_receivable_lines(self, companies, segment_ids):
        """WHERE clause of the posted receivable lines ``l`` of ``companies``
        (a receivable line's partner is the commercial partner)."""
        return SQL(
            """
                   l.account_id = ANY(%(accounts)s)
               AND l.company_id = ANY(%(companies)s)
               AND l.parent_state = 'posted'
               %(segment_filter)s
            """,
            accounts=self._kpi_receivable_accounts(),
            companies=companies.ids,
            segment_filter=self._kpi_segment_filter(
                segment_ids, move="l", partner=SQL("l.partner_id")
            ),
        )

    @api.model
    def _kpi_ledger(self, companies, segment_ids, start, end):
        """``{company_id: {"base": AR the day before start, "days": {date:
        (balance moved, credit sales)}}}`` from ``start`` to ``end``.

        Receivables at any date of the window are the base plus the balances
        moved up to it; credit sales are the customer invoices (credit notes
        reduce the receivables like a payment, not the sales)."""
        # The lines before the window only add up into the base: read them
        # without joining their entries.
        rows = self.env.execute_query(
            SQL(
                """
            SELECT l.company_id, %(base)s::date AS day, SUM(l.balance), 0
              FROM account_move_line l
             WHERE %(lines)s
               AND l.date <= %(base)s
          GROUP BY 1
         UNION ALL
            SELECT l.company_id, l.date AS day,
                   SUM(l.balance),
                   COALESCE(SUM(l.balance) FILTER (
                       WHERE m.move_type = 'out_invoice'), 0)
              FROM account_move_line l
              JOIN account_move m ON m.id = l.move_id
             WHERE %(lines)s
               AND l.date > %(base)s
               AND l.date <= %(end)s
          GROUP BY 1, 2
                """,
                base=start - timedelta(days=1),
                end=end,
                lines=self._kpi_receivable_lines(companies, segment_ids),
            )
        )
        ledger = {}
        base_day = start - timedelta(days=1)
        for company_id, day, balance, sales in rows:
            entry = ledger.setdefault(company_id, {"base": 0.0, "days": {}})
            if day == base_day:
                entry["base"] += balance
            else:
                entry["days"][day] = (balance, sales)
        return ledger

    @staticmethod
    def _ledger_balance(ledger, day):
        return ledger["base"] + sum(
            balance
            for moved, (balance, _sales) in ledger["days"].items()
            if moved <= day
        )

    @staticmethod
    def _ledger_sales(ledger, start, end):
        return sum(
            sales
            for moved, (_balance, sales) in ledger["days"].items()
            if start <= moved <= end
        )

    @api.model
    def _kpi_open_at(self, companies, segment_ids, days):
        """``(company_id, day, not due, overdue, over 90 days)`` for each of
        ``days``: what customers owed on their invoices on that day (residual
        at that date, so payments made later do not count). The items are
        read once for all the days.

        Worked back from today: the open residual of the lines not yet fully
        reconciled plus the payments applied after ``day``. Fully settled
        lines are never read unless a payment on them came after ``day``, so
        the cost follows the open items, not the history."""
        lines = self._kpi_receivable_lines(companies, segment_ids)
        return self.env.execute_query(
            SQL(
                """
            WITH item AS (
                SELECT l.company_id, l.date, COALESCE(l.date_maturity, l.date) AS due,
                       l.amount_residual AS amount, NULL::date AS applied
                  FROM account_move_line l
                 WHERE %(lines)s
                   AND l.balance > 0
                   AND l.date <= %(last)s
                   AND l.reconciled IS NOT TRUE
             UNION ALL
                SELECT l.company_id, l.date, COALESCE(l.date_maturity, l.date),
                       pr.amount, pr.max_date
                  FROM account_partial_reconcile pr
                  JOIN account_move_line l ON l.id = pr.debit_move_id
                 WHERE pr.max_date > %(first)s
                   AND %(lines)s
                   AND l.balance > 0
                   AND l.date <= %(last)s
            ), open AS (
                -- Open today, or paid after the day: owed on the day.
                SELECT item.company_id, day.day, item.due, item.amount
                  FROM item
                  JOIN unnest(%(days)s::date[]) AS day(day)
                    ON item.date <= day.day
                   AND (item.applied IS NULL OR item.applied > day.day)
            )
            SELECT company_id, day,
                   COALESCE(SUM(amount) FILTER (WHERE due >= day), 0),
                   COALESCE(SUM(amount) FILTER (WHERE due < day), 0),
                   COALESCE(SUM(amount) FILTER (WHERE due < day - 90), 0)
              FROM open
          GROUP BY company_id, day
                """,
                days=sorted(set(days)),
                first=min(days),
                last=max(days),
                lines=lines,
            )
        )

    @api.model
    def _kpi_current_at(self, companies, segment_ids, days):
        """``{(company_id, day): not-due receivables on that day}``: the
        invoices issued and not yet due on each day, less what was paid on
        them by then.

        Each open amount and each payment applied since the first day counts
        on the run of ``days`` between its issue and the earlier of its due
        date and the day before it was applied; amounts are summed per run
        (``width_bucket`` gives its first and last day), so the rows are
        read once whatever the number of days."""
        days = sorted(set(days))
        rows = self.env.execute_query(
            SQL(
                """
            WITH line AS MATERIALIZED (
                SELECT l.id, l.company_id, l.date,
                       COALESCE(l.date_maturity, l.date) AS due,
                       l.amount_residual AS residual
                  FROM account_move_line l
                 WHERE %(lines)s
                   AND l.balance > 0
                   AND l.date <= %(last)s
                   AND COALESCE(l.date_maturity, l.date) >= %(first)s
            ), item AS (
                -- What is open today, and each payment applied since the
                -- first day (open on the days before it was applied).
                SELECT company_id, date, due AS until, residual AS amount
                  FROM line
             UNION ALL
                SELECT line.company_id, line.date,
                       LEAST(line.due, pr.max_date - 1), pr.amount
                  FROM line
                  JOIN account_partial_reconcile pr ON pr.debit_move_id = line.id
                 WHERE pr.max_date > %(first)s
            )
            SELECT company_id,
                   width_bucket(date - 1, %(days)s::date[]) AS first_day,
                   width_bucket(until, %(days)s::date[]) AS last_day,
                   SUM(amount)
              FROM item
          GROUP BY 1, 2, 3
                """,
                days=days,
                first=days[0],
                last=days[-1],
                lines=self._kpi_receivable_lines(companies, segment_ids),
            )
        )
        current = defaultdict(float)
        # first_day: days before the issue; last_day: days up to ``until``.
        for company_id, before, up_to, amount in rows:
            for day in days[before:up_to]:
                current[company_id, day] += amount
        return dict(current)

    @api.model
    def _kpi_collected(self, companies, segment_ids, periods):
        """``(company_id, date_from, date_to, amount)``: payments applied to
        customer debts in each of ``periods`` (``(date_from, date_to)``
        pairs), read once for all of them."""
        return self.env.execute_query(
            SQL(
                """
            SELECT l.company_id, period.date_from, period.date_to, SUM(pr.amount)
              FROM account_partial_reconcile pr
              JOIN account_move_line l ON l.id = pr.debit_move_id
              JOIN account_move_line pl ON pl.id = pr.credit_move_id
              JOIN unnest(%(starts)s::date[], %(ends)s::date[])
                   AS period(date_from, date_to)
                ON pr.max_date BETWEEN period.date_from AND period.date_to
             WHERE pr.max_date BETWEEN %(first)s AND %(last)s
               AND pr.company_id = ANY(%(companies)s)
               AND %(lines)s
               AND %(payment)s
          GROUP BY 1, 2, 3
                """,
                companies=companies.ids,
                lines=self._kpi_receivable_lines(companies, segment_ids),
                starts=[start for start, _end in periods],
                ends=[end for _start, end in periods],
                first=min(start for start, _end in periods),
                last=max(end for _start, end in periods),
                payment=payment_entry("pl"),
            )
        )

    # ------------------------------------------------------------------
    # Assembling the figures
    # ------------------------------------------------------------------

    @api.model
    def _kpi_assemble(self, components, date_from, date_to):
        """The KPI dict from the components of one or several companies."""
        total = defaultdict(float)
        countback = defaultdict(float)
        channels = {channel: [0, 0, 0, 0, 0, 0.0, 0.0] for channel in CHANNEL_TYPES}
        for values in components:
            for key, value in values.items():
                if key == "countback":
                    for index, (_days, sales) in enumerate(value):
                        countback[index] += sales
                elif key == "channels":
                    for channel, counts in value.items():
                        target = channels.setdefault(channel, [0, 0, 0, 0, 0, 0.0, 0.0])
                        for index, count in enumerate(counts):
                            target[index] += count or 0
                elif value is not None:
                    total[key] += value
        days = kpi.period_days(date_from, date_to)
        windows = kpi.countback_windows(date_to)
        monthly = [
            (kpi.period_days(start, end), countback[index])
            for index, (start, end) in enumerate(windows)
        ]
        sales = total["credit_sales"]
        receivables = total["receivables"]
        dso = kpi.dso(receivables, sales, days)
        best = kpi.best_possible_dso(total["current_receivables"], sales, days)
        open_invoices = total["current_receivables"] + total["overdue_receivables"]
        result = {key: total[key] for key in SUMMED}
        result |= {
            "unapplied_credits": open_invoices - receivables,
            "days": days,
            "dso": dso,
            "dso_countback": kpi.dso_countback(receivables, monthly),
            "best_possible_dso": best,
            "add": kpi.average_days_delinquent(dso, best),
            "cei": kpi.cei(
                total["opening_receivables"],
                sales,
                receivables,
                total["current_receivables"],
            ),
            "collection_rate": kpi.collection_rate(
                total["collected"], total["opening_receivables"], sales
            ),
            "overdue_ratio": kpi.ratio(total["overdue_receivables"], open_invoices),
            "at_risk_ratio": kpi.ratio(total["receivables_over_90"], open_invoices),
            "first_reminder_cure_rate": kpi.ratio(total["cured"], total["reminded"]),
            "dispute_rate": kpi.ratio(total["disputed"], total["invoiced"]),
            "retention_after_collection": kpi.ratio(total["retained"], total["cases"]),
            "promises_due": int(total["promises_due"]),
            "promise_kept_rate": kpi.ratio(
                total["promises_kept"], total["promises_due"]
            ),
            "promise_kept_rate_amount": kpi.ratio(
                total["promised_kept_amount"], total["promised_due_amount"]
            ),
            "plans_ended": int(total["plans_ended"]),
            "plan_completion_rate": kpi.ratio(
                total["plans_completed"], total["plans_ended"]
            ),
            "ratings": int(total["ratings"]),
            "csat": kpi.ratio(total["rating_sum"], total["ratings"]),
            "channels": {
                channel: kpi.channel_figures(*counts)
                for channel, counts in channels.items()
            },
        }
        return result

    # ------------------------------------------------------------------
    # Definitions shown to the user
    # ------------------------------------------------------------------

    @api.model
    def _kpi_help(self):
        """``{kpi: (label, definition)}``, translated."""
        return {
            "dso": (
                self.env._("DSO"),
                self.env._(
                    "Days sales outstanding: receivables at the end of the period / "
                    "credit sales of the period (customer invoices) x days in the "
                    "period."
                ),
            ),
            "dso_countback": (
                self.env._("DSO (countback)"),
                self.env._(
                    "Walk back month by month from the end of the period, taking "
                    "each month's credit sales off the receivables until they are "
                    "used up; the days walked are the DSO."
                ),
            ),
            "best_possible_dso": (
                self.env._("Best possible DSO"),
                self.env._(
                    "The DSO if everyone paid on the due date: receivables not yet "
                    "due / credit sales x days in the period."
                ),
            ),
            "add": (
                self.env._("Average days delinquent"),
                self.env._("DSO - best possible DSO: the days lost to late payment."),
            ),
            "cei": (
                self.env._("Collection effectiveness (CEI)"),
                self.env._(
                    "(opening receivables + credit sales - closing receivables) / "
                    "(opening receivables + credit sales - closing receivables not "
                    "yet due) x 100. 100 means everything that could be collected "
                    "was."
                ),
            ),
            "collection_rate": (
                self.env._("Collection rate"),
                self.env._(
                    "Payments applied to customer invoices in the period / "
                    "(receivables at the start + credit sales of the period)."
                ),
            ),
            "overdue_ratio": (
                self.env._("Overdue"),
                self.env._(
                    "Share of the open invoice amounts at the end of the period "
                    "that is past its due date."
                ),
            ),
            "at_risk_ratio": (
                self.env._("At risk (over 90 days)"),
                self.env._(
                    "Share of the open invoice amounts at the end of the period "
                    "that is more than 90 days past its due date."
                ),
            ),
            "promise_kept_rate": (
                self.env._("Promises kept"),
                self.env._(
                    "Promises to pay that came due in the period and were paid in "
                    "full by their date (plus grace) / promises that came due, by "
                    "count."
                ),
            ),
            "promise_kept_rate_amount": (
                self.env._("Promises kept (amount)"),
                self.env._(
                    "Amount of the kept promises / amount of the promises that came "
                    "due in the period."
                ),
            ),
            "plan_completion_rate": (
                self.env._("Plans completed"),
                self.env._(
                    "Payment plans whose last instalment fell in the period and "
                    "that were paid to the end / those plans, completed or broken."
                ),
            ),
            "first_reminder_cure_rate": (
                self.env._("Paid after the first reminder"),
                self.env._(
                    "Invoices whose first reminder went out in the period and that "
                    "were paid in full within 7 days of it / invoices whose first "
                    "reminder went out in the period."
                ),
            ),
            "dispute_rate": (
                self.env._("Disputed invoices"),
                self.env._(
                    "Invoices dated in the period whose reminders were paused for "
                    "a dispute, now or earlier / invoices dated in the period."
                ),
            ),
            "retention_after_collection": (
                self.env._("Customers kept after collection"),
                self.env._(
                    "Customers whose late invoice was settled in the period and "
                    "who were invoiced again within 6 months of settling / those "
                    "customers. Recent periods are still incomplete."
                ),
            ),
            "csat": (
                self.env._("Customer satisfaction"),
                self.env._(
                    "Average of the 1-5 ratings customers gave in the period after "
                    "their case was settled."
                ),
            ),
            "effectiveness": (
                self.env._("Paid within 7 days"),
                self.env._(
                    "Delivered messages followed by a payment on one of their "
                    "invoices within 7 days / delivered messages. E-mail and sandbox "
                    "messages count as delivered once sent."
                ),
            ),
            "collected_per_cost": (
                self.env._("Collected per unit of cost"),
                self.env._(
                    "Payments within 7 days of a delivered message, each credited "
                    "to the last message before it, / what the provider charged "
                    "for the channel's messages."
                ),
            ),
        }
