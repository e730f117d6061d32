"""Each customer's expected loss and next expected payment, from their open
instalments' payment forecasts, for the worklist."""

from odoo import api, fields, models
from odoo.tools import SQL

from .raw_sql import clear_company_values, set_company_values
from .res_partner import RECEIVABLES_READERS


class ResPartner(models.Model):
    _inherit = "res.partner"

    dunning_expected_loss = fields.Float(
        string="Expected loss",
        company_dependent=True,
        index=False,
        readonly=True,
        help="What may not come in time from this customer: the sum over their "
        "open instalments of the amount still owed times the probability of "
        "not being paid within 30 days of the due date (or within the next 30 "
        "days once past due), in company currency.",
        groups=RECEIVABLES_READERS,
    )
    dunning_forecast_date = fields.Date(
        string="Expected payment",
        company_dependent=True,
        index=False,
        readonly=True,
        help="The earliest predicted payment among the customer's open invoices.",
        groups=RECEIVABLES_READERS,
    )

    def _field_to_sql(self, alias, field_expr, query=None):
        """Customers without a forecast have no expected loss: they sort
        last, not first, in the worklist's descending order."""
        sql = super()._field_to_sql(alias, field_expr, query)
        if field_expr == "dunning_expected_loss":
            return SQL("COALESCE(%s, 0)", sql)
        return sql

    @api.model
    def _dunning_store_forecasts(self, company):
        """Each customer's expected loss and next expected payment with
        ``company``, from the company's forecasts."""
        columns = ("dunning_expected_loss", "dunning_forecast_date")
        reads = {"dunning.payment.forecast": None}
        clear_company_values(
            self.env,
            "res.partner",
            columns,
            company,
            SQL(
                "(dunning_expected_loss ? %(key)s OR dunning_forecast_date ? %(key)s) "
                "AND id NOT IN (SELECT partner_id FROM dunning_payment_forecast "
                "WHERE company_id = %(company)s)",
                key=str(company.id),
                company=company.id,
            ),
            reads=reads,
        )
        set_company_values(
            self.env,
            "res.partner",
            columns,
            company,
            SQL(
                """
            SELECT partner_id, round(sum(expected_loss), 2)::float8,
                   min(payment_date)
              FROM dunning_payment_forecast
             WHERE company_id = %s
          GROUP BY partner_id
                """,
                company.id,
            ),
            reads=reads,
        )
