"""Each customer's expected loss and next expected payment, from their open
instalments' payment forecasts, for the worklist."""

from odoo import api, fields, models
from odoo.tools import SQL

from .raw_sql import run_sql
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
        key = str(company.id)
        columns = ("dunning_expected_loss", "dunning_forecast_date")
        written = {"res.partner": list(columns)}
        run_sql(
            self.env,
            SQL(
                "UPDATE res_partner SET %s WHERE (dunning_expected_loss ? %s "
                "OR dunning_forecast_date ? %s) AND id NOT IN ("
                "SELECT partner_id FROM dunning_payment_forecast "
                "WHERE company_id = %s)",
                SQL(", ").join(
                    SQL("%s = %s - %s", SQL.identifier(c), SQL.identifier(c), key)
                    for c in columns
                ),
                key,
                key,
                company.id,
            ),
            reads={"dunning.payment.forecast": None},
            writes=written,
        )
        run_sql(
            self.env,
            SQL(
                """
            UPDATE res_partner p
               SET dunning_expected_loss = COALESCE(p.dunning_expected_loss, '{}')
                       || jsonb_build_object(%(key)s, v.loss),
                   dunning_forecast_date = COALESCE(p.dunning_forecast_date, '{}')
                       || jsonb_build_object(%(key)s, v.next_date)
              FROM (SELECT partner_id, round(sum(expected_loss), 2)::float8 AS loss,
                           min(payment_date) AS next_date
                      FROM dunning_payment_forecast
                     WHERE company_id = %(company)s
                  GROUP BY partner_id) v
             WHERE p.id = v.partner_id
               AND (p.dunning_expected_loss -> %(key)s
                        IS DISTINCT FROM to_jsonb(v.loss)
                    OR p.dunning_forecast_date -> %(key)s
                        IS DISTINCT FROM COALESCE(to_jsonb(v.next_date), 'null'))
                """,
                key=key,
                company=company.id,
            ),
            reads={"dunning.payment.forecast": None},
            writes=written,
        )
