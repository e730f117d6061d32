from odoo import api, fields, models

from ..tools import late_interest


class DunningReferenceRate(models.Model):
    """The central bank's reference rate (the ECB's main refinancing operations
    rate), from the day each change took effect: what the statutory
    late-payment interest adds its points to."""

    _name = "dunning.reference.rate"
    _description = "Reference Interest Rate"
    _order = "date_from desc"
    _rec_name = "date_from"

    date_from = fields.Date(
        string="In force from",
        required=True,
        help="The day this rate took effect. Statutory interest takes the rate "
        "in force on 1 January or 1 July and covers a half-year only when a row "
        "is dated on or after its first day: record the rate in force on those "
        "days even when it did not change.",
    )
    rate = fields.Float(
        string="Rate (%)", digits=(16, 4), required=True, help="Annual, in percent."
    )
    name = fields.Char(string="Source", help="Where the rate was taken from.")

    _date_from_unique = models.Constraint(
        "UNIQUE(date_from)", "There is already a reference rate from this day."
    )

    @api.model
    def _dunning_changes(self):
        """``[(date_from, rate), ...]``, every rate known, oldest first."""
        return [
            (rate.date_from, rate.rate)
            for rate in self.sudo().search_fetch(
                [], ["date_from", "rate"], order="date_from"
            )
        ]

    @api.model
    def _dunning_statutory_rate_on(self, points):
        """The EU statutory ``rate_on(day)`` (see ``tools.late_interest``) over
        the rates known."""
        return late_interest.statutory_rate_on(self._dunning_changes(), points)
