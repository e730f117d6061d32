from collections import defaultdict
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..models.account_move import open_instalment_sql
from ..models.dunning_segment import partner_segment_sql
from ..models.raw_sql import sql_settings
from ..tools import kpi
from .ledger_sql import invoice_instalment, payment_entry

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
    "unapplied_credits",
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
            companies[0].currency_id.decimal_places,
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
                    [per_company[company.id]],
                    date_from,
                    date_to,
                    company.currency_id.decimal_places,
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
        prefetched = prefetched or {}
        open_at = (
            prefetched["open_at"]
            if "open_at" in prefetched
            else self._kpi_open_at(companies, segment_ids, [opening, date_to])
        )
        for company in companies:
            sales = ledger.get(company.id, {})
            owed = open_at.get(company.id, {})
            before, after = owed[opening], owed[date_to]
            components[company.id] |= {
                "opening_receivables": before["current"] + before["overdue"],
                "current_receivables": after["current"],
                "overdue_receivables": after["overdue"],
                "receivables_over_90": after["over_90"],
                "unapplied_credits": after["unapplied"],
                "credit_sales": self._ledger_sales(sales, date_from, date_to),
                "countback": [
                    (kpi.period_days(start, end), self._ledger_sales(sales, start, end))
                    for start, end in kpi.countback_windows(date_to)
                ],
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
        """``{company_id: {date: credit sales}}`` from ``start`` to ``end``:
        the instalments of the customer invoices, by accounting date (credit
        notes do not lower the sales: applied to an invoice, they lower what
        is owed on it, like a payment)."""
        rows = self.env.execute_query(
            SQL(
                """
            SELECT l.company_id, l.date, SUM(l.balance)
              FROM account_move_line l
              JOIN account_move m ON m.id = l.move_id
             WHERE %(lines)s
               AND %(instalment)s
               AND l.date BETWEEN %(start)s AND %(end)s
          GROUP BY 1, 2
                """,
                start=start,
                end=end,
                lines=self._kpi_receivable_lines(companies, segment_ids),
                instalment=invoice_instalment("l", "m"),
            )
        )
        ledger = defaultdict(dict)
        for company_id, day, sales in rows:
            ledger[company_id][day] = sales
        return dict(ledger)

    @staticmethod
    def _ledger_sales(ledger, start, end):
        return sum(sales for day, sales in ledger.items() if start <= day <= end)

    @api.model
    def _kpi_open_at(self, companies, segment_ids, days):
        """``{company_id: {day: {"current", "overdue", "over_90",
        "unapplied"}}}`` for each of ``days``: what customers owed on their
        invoice instalments that day, not due and past due (a payment counts
        from the reconciliation's date), and the credits not yet applied (see
        ``kpi.open_amounts``).

        Worked back from today: the residual of the open instalments and
        credits, plus each payment or credit note applied after the first
        day (owed until it was applied). Fully settled lines are never read
        unless something was applied to them after the first day, so the
        cost follows the open items, not the history; each piece is read
        once whatever the number of days (``width_bucket`` gives its run of
        days)."""
        days = sorted(set(days))
        lines = self._kpi_receivable_lines(companies, segment_ids)
        rows = self.env.execute_query(
            SQL(
                """
            WITH piece AS (
                SELECT l.company_id, FALSE AS credit, l.date,
                       COALESCE(l.date_maturity, l.date) AS due,
                       NULL::date AS applied, l.amount_residual AS amount
                  FROM account_move_line l
                  JOIN account_move m ON m.id = l.move_id
                 WHERE %(lines)s
                   AND %(open_instalment)s
                   AND l.date <= %(last)s
             UNION ALL
                SELECT l.company_id, FALSE, l.date,
                       COALESCE(l.date_maturity, l.date), pr.max_date, pr.amount
                  FROM account_partial_reconcile pr
                  JOIN account_move_line l ON l.id = pr.debit_move_id
                  JOIN account_move m ON m.id = l.move_id
                 WHERE pr.max_date > %(first)s
                   AND %(lines)s
                   AND %(instalment)s
                   AND l.date <= %(last)s
             UNION ALL
                -- Credits: payments and credit notes not applied, today or
                -- on the days before they were.
                SELECT l.company_id, TRUE, l.date, NULL, NULL, -l.amount_residual
                  FROM account_move_line l
                 WHERE %(lines)s
                   AND l.reconciled IS NOT TRUE
                   AND l.amount_residual < 0
                   AND l.date <= %(last)s
             UNION ALL
                SELECT l.company_id, TRUE, l.date, NULL, pr.max_date, pr.amount
                  FROM account_partial_reconcile pr
                  JOIN account_move_line l ON l.id = pr.credit_move_id
                 WHERE pr.max_date > %(first)s
                   AND %(lines)s
                   AND l.date <= %(last)s
            )
            SELECT company_id, credit,
                   width_bucket(date - 1, %(days)s::date[]),
                   COALESCE(width_bucket(applied - 1, %(days)s::date[]),
                            %(count)s),
                   COALESCE(width_bucket(due, %(days)s::date[]), 0),
                   COALESCE(width_bucket(due + 90, %(days)s::date[]), 0),
                   SUM(amount)
              FROM piece
          GROUP BY 1, 2, 3, 4, 5, 6
                """,
                days=days,
                count=len(days),
                first=days[0],
                last=days[-1],
                lines=lines,
                open_instalment=open_instalment_sql("l", "m"),
                instalment=invoice_instalment("l", "m"),
            )
        )
        pieces = defaultdict(list)
        for company_id, *piece in rows:
            pieces[company_id].append(piece)
        return {
            company.id: dict(
                zip(days, kpi.open_amounts(pieces[company.id], len(days)), strict=True)
            )
            for company in companies
        }

    @api.model
    def _kpi_collected(self, companies, segment_ids, periods):
        """``(company_id, date_from, date_to, amount)``: payments applied to
        customer invoices in each of ``periods`` (``(date_from, date_to)``
        pairs), read once for all of them."""
        return self.env.execute_query(
            SQL(
                """
            SELECT l.company_id, period.date_from, period.date_to, SUM(pr.amount)
              FROM account_partial_reconcile pr
              JOIN account_move_line l ON l.id = pr.debit_move_id
              JOIN account_move m ON m.id = l.move_id
              JOIN account_move_line pl ON pl.id = pr.credit_move_id
              JOIN unnest(%(starts)s::date[], %(ends)s::date[])
                   AS period(date_from, date_to)
                ON pr.max_date BETWEEN period.date_from AND period.date_to
             WHERE pr.max_date BETWEEN %(first)s AND %(last)s
               AND pr.company_id = ANY(%(companies)s)
               AND %(lines)s
               AND %(instalment)s
               AND %(payment)s
          GROUP BY 1, 2, 3
                """,
                companies=companies.ids,
                lines=self._kpi_receivable_lines(companies, segment_ids),
                instalment=invoice_instalment("l", "m"),
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
    def _kpi_assemble(self, components, date_from, date_to, digits):
        """The KPI dict from the components of one or several companies, whose
        currency has ``digits`` decimals: the amounts are rounded to it, so
        that sums of money compare exactly (see ``kpi.cei``)."""
        total = defaultdict(float)
        countback = defaultdict(float)
        channels = {channel: [0, 0, 0, 0, 0, 0.0, 0.0] for channel in CHANNEL_TYPES}
        for values in components:
            for key, value in values.items():
                if key == "countback":
                    for index, (_days, sales) in enumerate(value):
                        countback[index] += round(sales, digits)
                elif key == "channels":
                    for channel, counts in value.items():
                        target = channels.setdefault(channel, [0, 0, 0, 0, 0, 0.0, 0.0])
                        for index, count in enumerate(counts):
                            target[index] += count or 0
                elif value is not None:
                    total[key] += value
        for key in SUMMED:
            total[key] = round(total[key], digits)
        days = kpi.period_days(date_from, date_to)
        windows = kpi.countback_windows(date_to)
        monthly = [
            (kpi.period_days(start, end), countback[index])
            for index, (start, end) in enumerate(windows)
        ]
        sales = total["credit_sales"]
        # Receivables are their not-due and overdue parts, by definition.
        total["receivables"] = round(
            total["current_receivables"] + total["overdue_receivables"], digits
        )
        receivables = total["receivables"]
        dso = kpi.dso(receivables, sales, days)
        best = kpi.best_possible_dso(total["current_receivables"], sales, days)
        result = {key: total[key] for key in SUMMED}
        result |= {
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
                digits,
            ),
            "collection_rate": kpi.collection_rate(
                total["collected"], total["opening_receivables"], sales, digits
            ),
            "overdue_ratio": kpi.ratio(total["overdue_receivables"], receivables),
            "at_risk_ratio": kpi.ratio(total["receivables_over_90"], receivables),
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
        """``{kpi: (label, definition)}``, translated. The figures read from
        the ledger all end on the one treatment of payments and credit notes
        (see ``tools/kpi.py``)."""
        treatment = self.env._(
            "Receivables are the open instalments of customer invoices, each on "
            "its own due date. A payment or credit note counts once applied to an "
            "invoice (from the later of its date and the invoice's); until then "
            "it is an unapplied credit and is deducted from no figure."
        )

        def ledger(definition):
            return f"{definition} {treatment}"

        return {
            "receivables": (
                self.env._("Receivables"),
                ledger(
                    self.env._(
                        "What customers owe on their invoices: not yet due plus "
                        "overdue. Unapplied credits are shown apart."
                    )
                ),
            ),
            "unapplied_credits": (
                self.env._("Unapplied credits"),
                self.env._(
                    "Payments and credit notes not applied to any invoice: apply "
                    "them to the customer's invoices to lower what is owed."
                ),
            ),
            "dso": (
                self.env._("DSO"),
                ledger(
                    self.env._(
                        "Days sales outstanding: receivables at the end of the "
                        "period / credit sales of the period (customer invoices; "
                        "credit notes do not lower them) x days in the period."
                    )
                ),
            ),
            "dso_countback": (
                self.env._("DSO (countback)"),
                ledger(
                    self.env._(
                        "Walk back month by month from the end of the period, "
                        "taking each month's credit sales off the receivables "
                        "until they are used up; the days walked are the DSO."
                    )
                ),
            ),
            "best_possible_dso": (
                self.env._("Best possible DSO"),
                ledger(
                    self.env._(
                        "The DSO if everyone paid on the due date: receivables "
                        "not yet due / credit sales x days in the period. Never "
                        "above the DSO."
                    )
                ),
            ),
            "add": (
                self.env._("Average days delinquent"),
                ledger(
                    self.env._(
                        "DSO - best possible DSO, i.e. overdue receivables / "
                        "credit sales x days in the period: the days lost to late "
                        "payment, never negative."
                    )
                ),
            ),
            "cei": (
                self.env._("Collection effectiveness (CEI)"),
                ledger(
                    self.env._(
                        "(opening receivables + credit sales - closing "
                        "receivables) / (opening receivables + credit sales - "
                        "closing receivables not yet due) x 100, between 0 and "
                        "100. 100 means everything that could be collected was."
                    )
                ),
            ),
            "collection_rate": (
                self.env._("Collection rate"),
                ledger(
                    self.env._(
                        "Payments applied to customer invoices in the period / "
                        "(receivables at the start + credit sales of the period)."
                    )
                ),
            ),
            "overdue_ratio": (
                self.env._("Overdue"),
                ledger(
                    self.env._(
                        "Share of the receivables at the end of the period that "
                        "is past its due date."
                    )
                ),
            ),
            "at_risk_ratio": (
                self.env._("At risk (over 90 days)"),
                ledger(
                    self.env._(
                        "Share of the receivables at the end of the period that "
                        "is more than 90 days past its due date."
                    )
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
                    "invoices within 7 days / delivered messages. E-mail messages "
                    "count as delivered once sent; the sandbox delivers nothing."
                ),
            ),
            "collected_per_cost": (
                self.env._("Collected per unit of cost"),
                self.env._(
                    "Payments within 7 days of a delivered message, each credited "
                    "to the last message before it, / what the provider charged "
                    "for the channel's messages: WhatsApp charges delivered "
                    "templates at the rate card's price; messages inside the "
                    "customer's 24-hour window (except marketing templates), "
                    "undelivered ones, e-mails and the sandbox count 0."
                ),
            ),
        }
