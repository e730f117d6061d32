"""Dispute KPIs: how long disputes take to resolve and how they end, read
from ``dunning.dispute``. Shown on the managers' dashboard beside the ledger
and engagement KPIs (dunning_kpi.py, dunning_kpi_engagement.py)."""

from statistics import mean, median

from odoo import api, models
from odoo.fields import Domain

from ..models.dunning_dispute import OPEN_STATES

OUTCOMES = ("accepted", "rejected", "resolved")


class DunningKpi(models.AbstractModel):
    _inherit = "dunning.kpi"

    @api.model
    def _kpi_disputes(self, companies, date_from, date_to):
        """The disputes of ``companies`` closed from ``date_from`` to
        ``date_to`` (included): how many, by outcome; the days from opening
        to closing (median and average, calendar days); the amount credited
        (company currency); and the disputes still open today, with those
        whose answer is overdue."""
        Dispute = self.env["dunning.dispute"].sudo()
        closed = Dispute.search_fetch(
            Domain("company_id", "in", companies.ids)
            & Domain("state", "in", OUTCOMES)
            & Domain("date_closed", ">=", date_from)
            & Domain("date_closed", "<=", date_to),
            ["date_opened", "date_closed", "state", "amount_credited"],
        )
        days = [(dispute.date_closed - dispute.date_opened).days for dispute in closed]
        by_outcome = dict.fromkeys(OUTCOMES, 0)
        for dispute in closed:
            by_outcome[dispute.state] += 1
        still_open = Domain("company_id", "in", companies.ids) & Domain(
            "state", "in", OPEN_STATES
        )
        return {
            "closed": len(closed),
            **by_outcome,
            "median_days": median(days) if days else None,
            "average_days": mean(days) if days else None,
            "amount_credited": sum(closed.mapped("amount_credited")),
            "open": Dispute.search_count(still_open),
            "late": Dispute.search_count(still_open & Domain("is_late", "=", True)),
        }
