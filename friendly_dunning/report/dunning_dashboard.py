from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL, format_date

from ..models.account_move import open_instalment_sql
from ..models.raw_sql import sql_settings
from ..tools import kpi
from .dunning_kpi import KPI_SQL_SETTINGS
from .dunning_report_aging import UNAPPLIED_BUCKET
from .ledger_sql import aging_bucket


class DunningKpi(models.AbstractModel):
    """The managers' dashboard: the KPIs of a period beside the one before,
    the monthly trend, the aging today and the customers most at risk."""

    _inherit = "dunning.kpi"

    @api.model
    def get_dashboard(self, period_days=30):
        """Everything the managers' dashboard shows, in one call: headline KPIs
        of the last ``period_days`` days beside the same span before, the DSO
        and CEI of the last 12 months, the aging today, the channel funnel and
        the customers most at risk. Current company only."""
        if not self.env.user.has_group("friendly_dunning.group_dunning_manager"):
            raise AccessError(self.env._("The collections dashboard is for managers."))
        period_days = int(period_days) if int(period_days) in (30, 90, 365) else 30
        company = self.env.company
        today = fields.Date.context_today(self)
        date_from = today - timedelta(days=period_days - 1)
        previous_from, previous_to = kpi.previous_period(date_from, today)
        companies = self._kpi_companies(company.ids)
        self._kpi_flush()
        with sql_settings(self.env, **KPI_SQL_SETTINGS):
            # One ledger read serves both periods and the monthly trend.
            months = kpi.last_months(today, 12)
            oldest = min(
                kpi.countback_windows(previous_to)[-1][0], previous_from, months[0][0]
            )
            ledger = self._kpi_ledger(companies, None, oldest, today)
            # What is owed at the end of each period and what was collected in
            # each is read once for both; the dashboard shows no retention rate
            # (its query is the costliest of the KPIs) and the channels of the
            # current period only.
            prefetched = {
                "open_at": self._kpi_open_at(
                    companies,
                    None,
                    [previous_from - timedelta(days=1), previous_to, today],
                ),
                "collected": self._kpi_collected(
                    companies, None, [(previous_from, previous_to), (date_from, today)]
                ),
            }
            current = self._kpi_get(
                companies,
                date_from,
                today,
                None,
                ledger,
                skip={"retention"},
                prefetched=prefetched,
            )
            previous = self._kpi_get(
                companies,
                previous_from,
                previous_to,
                None,
                ledger,
                skip={"retention", "channels"},
                prefetched=prefetched,
            )
            aging, at_risk = self._dashboard_aging(company)
            trend = self._dashboard_trend(company, today, ledger)
        definitions = current["help"]
        headline = [
            self._dashboard_figure(key, fmt, better, current, previous, definitions)
            for key, fmt, better in (
                ("dso", "days", "lower"),
                ("best_possible_dso", "days", "lower"),
                ("add", "days", "lower"),
                ("cei", "percent100", "higher"),
                ("collection_rate", "percent", "higher"),
                ("overdue_ratio", "percent", "lower"),
                ("at_risk_ratio", "percent", "lower"),
                ("first_reminder_cure_rate", "percent", "higher"),
                ("promise_kept_rate", "percent", "higher"),
                ("plan_completion_rate", "percent", "higher"),
                ("dispute_rate", "percent", "lower"),
                ("csat", "rating", "higher"),
            )
        ]
        channel_labels = dict(
            self.env["dunning.report.channel"]
            ._fields["channel"]
            ._description_selection(self.env)
        )
        return {
            "company": company.name,
            "currency_id": company.currency_id.id,
            "period_days": period_days,
            "date_from": fields.Date.to_string(date_from),
            "date_to": fields.Date.to_string(today),
            "previous_from": fields.Date.to_string(previous_from),
            "previous_to": fields.Date.to_string(previous_to),
            "receivables": current["receivables"],
            "overdue_receivables": current["overdue_receivables"],
            "unapplied_credits": current["unapplied_credits"],
            "receivables_help": definitions["receivables"],
            "headline": headline,
            "trend": trend,
            "aging": aging,
            "channels": [
                {"channel": channel, "label": channel_labels.get(channel, channel)}
                | figures
                for channel, figures in current["channels"].items()
            ],
            "channel_help": {
                key: definitions[key] for key in ("effectiveness", "collected_per_cost")
            },
            "at_risk": at_risk,
            "disputes": self._kpi_disputes(company, date_from, today),
            "cash": self._dashboard_cash(company),
        }

    @api.model
    def _dashboard_cash(self, company):
        """The cash-in forecast of the next 13 weeks in the company's
        currency (the report has the other currencies): per week its label,
        the expected receipts and the range."""
        weeks = (
            self.env["dunning.cash.forecast"]
            .sudo()
            .search(
                [
                    ("company_id", "=", company.id),
                    ("currency_id", "=", company.currency_id.id),
                    ("week", "<=", 13),
                ],
                order="week",
            )
        )
        return {
            "labels": [
                format_date(self.env, week.date_start, date_format="MMM d")
                for week in weeks
            ],
            "expected": [round(week.expected, 2) for week in weeks],
            "low": [round(week.low, 2) for week in weeks],
            "high": [round(week.high, 2) for week in weeks],
            "total": round(sum(weeks.mapped("expected")), 2),
        }

    @api.model
    def _dashboard_figure(self, key, fmt, better, current, previous, definitions):
        label, definition = definitions[key]
        return {
            "key": key,
            "label": label,
            "help": definition,
            "format": fmt,
            "better": better,
            "value": current[key],
            "previous": previous[key],
            "change": kpi.change(current[key], previous[key]),
        }

    @api.model
    def _dashboard_trend(self, company, today, ledger=None, months=12):
        """DSO and CEI of each of the last ``months`` calendar months (the
        current one up to today): one ledger query (unless ``ledger`` covering
        them is given) and one query for what was owed at each month end."""
        self._kpi_flush()
        windows = kpi.last_months(today, months)
        windows[-1] = (windows[-1][0], today)
        digits = company.currency_id.decimal_places
        with sql_settings(self.env, **KPI_SQL_SETTINGS):
            if ledger is None:
                ledger = self._kpi_ledger(company, None, windows[0][0], today)
            owed = self._kpi_open_at(
                company,
                None,
                [windows[0][0] - timedelta(days=1)] + [end for _start, end in windows],
            )[company.id]
        ledger = ledger.get(company.id, {})
        labels, dso_values, cei_values = [], [], []
        for start, end in windows:
            before, after = owed[start - timedelta(days=1)], owed[end]
            opening = round(before["current"] + before["overdue"], digits)
            not_due = round(after["current"], digits)
            closing = round(not_due + round(after["overdue"], digits), digits)
            sales = round(self._ledger_sales(ledger, start, end), digits)
            labels.append(start.strftime("%Y-%m"))
            dso_values.append(kpi.dso(closing, sales, kpi.period_days(start, end)))
            cei_values.append(kpi.cei(opening, sales, closing, not_due, digits))
        return {"labels": labels, "dso": dso_values, "cei": cei_values}

    @api.model
    def _dashboard_aging(self, company, limit=10):
        """``(aging, at risk)``: the open instalments of ``company`` by bucket,
        and the customers with the most overdue (with the part over 90
        days), aged today like ``dunning.report.aging``: one query over the
        open instalments (the receivable accounts given as values, so the
        index of unreconciled lines applies). Unapplied credits are not
        aged (see ``ledger_sql``)."""
        rows = self.env.execute_query(
            SQL(
                """
            WITH open AS MATERIALIZED (
                SELECT m.commercial_partner_id AS partner_id,
                       CURRENT_DATE - COALESCE(l.date_maturity, l.date)
                           AS days_overdue,
                       l.amount_residual
                  FROM account_move_line l
                  JOIN account_move m ON m.id = l.move_id
                 WHERE l.account_id = ANY(%(accounts)s)
                   AND l.company_id = %(company)s
                   AND %(open_instalment)s
                   AND l.amount_residual != 0
            )
            (SELECT %(bucket)s, NULL::int, SUM(amount_residual), NULL::numeric,
                    NULL::int
               FROM open
           GROUP BY 1)
          UNION ALL
            (SELECT NULL, partner_id, SUM(amount_residual),
                    COALESCE(SUM(amount_residual) FILTER (
                        WHERE days_overdue > 90), 0),
                    MAX(days_overdue)
               FROM open
              WHERE days_overdue > 0
           GROUP BY partner_id
             HAVING SUM(amount_residual) > 0
           ORDER BY 3 DESC, 2
              LIMIT %(limit)s)
                """,
                accounts=self._kpi_receivable_accounts(),
                company=company.id,
                open_instalment=open_instalment_sql("l", "m"),
                bucket=aging_bucket(SQL("days_overdue")),
                limit=limit,
            )
        )
        totals = {bucket: amount for bucket, _p, amount, *_rest in rows if bucket}
        aging = [
            {"bucket": bucket, "label": label, "amount": totals.get(bucket, 0.0)}
            for bucket, label in self._dashboard_aging_buckets().items()
        ]
        risky = [row[1:] for row in rows if not row[0]]
        partners = (
            self.env["res.partner"]
            .browse([partner_id for partner_id, *_rest in risky])
            .with_company(company)
        )
        at_risk = [
            {
                "partner_id": partner.id,
                "name": partner.display_name,
                "overdue": overdue,
                "over_90": over_90,
                "days": days,
                "score": partner.dunning_score,
            }
            for partner, (_id, overdue, over_90, days) in zip(
                partners, risky, strict=True
            )
        ]
        return aging, at_risk

    @api.model
    def _dashboard_aging_buckets(self):
        """``{bucket: label}`` of the aged buckets of the aging report (its
        unapplied credits are not aged)."""
        Aging = self.env["dunning.report.aging"]
        labels = dict(Aging._fields["bucket"]._description_selection(self.env))
        labels.pop(UNAPPLIED_BUCKET, None)
        return labels
