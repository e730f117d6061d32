"""The payment forecast's scheduled job: when each open instalment will be paid,
learnt from the company's ledger.

The same hourly job learns each customer's best hour to be contacted
(res_partner_best_hour.py).

The scheduled job reads the ledger in SQL (one query for the history of
instalments paid, one for those open), trains the forecaster of
``tools/payment_forecast.py`` per company, and replaces the company's forecasts
(one row per open instalment) with a few set-based statements. Each
customer's expected loss (the sum over their open instalments of the residual
times the probability of not being paid in time: within 30 days of the due
date, or within the next 30 days once past due) and
the earliest predicted payment are kept on the customer for the worklist.
"""

import dataclasses
import json
import logging
import time
from collections import defaultdict

from odoo import api, fields, models
from odoo.tools import SQL

from ..tools.payment_forecast import (
    OpenInvoice,
    PaidInvoice,
    PaymentForecaster,
    with_messages,
)
from .account_move import open_instalment_sql
from .dunning_dispute import OPEN_STATES as OPEN_DISPUTE_STATES
from .raw_sql import run_sql

_logger = logging.getLogger(__name__)

# The model each company's forecasts were made with today, per database, kept
# by the worker between the hourly runs: ``{(database, company id): (date,
# PaymentForecaster or None)}``.
_TRAINED = {}

# Instalments paid a company needs before its open ones are forecast.
MIN_HISTORY = 10
# Rows inserted per statement.
INSERT_BATCH = 20000

# The company's customer invoices' instalments, paid or not, with what paid
# them. An instalment is paid when reconciled, on the day of the last
# reconciliation; one settled by a credit note was not paid and is left out.
HISTORY_SQL = """
    SELECT line.id,
           move.id,
           move.commercial_partner_id,
           partner.country_id,
           move.invoice_date,
           line.date_maturity,
           line.balance,
           max(partial.max_date)
      FROM account_move move
      JOIN res_partner partner ON partner.id = move.commercial_partner_id
      JOIN account_move_line line
        ON line.move_id = move.id AND line.display_type = 'payment_term'
      JOIN account_partial_reconcile partial ON partial.debit_move_id = line.id
      JOIN account_move_line counterpart ON counterpart.id = partial.credit_move_id
      JOIN account_move counterpart_move ON counterpart_move.id = counterpart.move_id
     WHERE move.move_type = 'out_invoice'
       AND move.state = 'posted'
       AND move.company_id = %(company_id)s
       AND line.reconciled
       AND line.date_maturity IS NOT NULL
       AND move.invoice_date IS NOT NULL
     GROUP BY line.id, move.id, partner.country_id
    HAVING NOT bool_or(counterpart_move.move_type = 'out_refund')
"""

HISTORY_READS = {
    "account.move": [
        "move_type",
        "state",
        "company_id",
        "commercial_partner_id",
        "invoice_date",
    ],
    "account.move.line": [
        "move_id",
        "display_type",
        "date_maturity",
        "balance",
        "reconciled",
        "amount_residual",
        "amount_residual_currency",
        "currency_id",
    ],
    "account.partial.reconcile": None,
    "res.partner": ["country_id"],
}

# The messages the forecast learns from, by date: the reminders of each invoice
# sent, the customers' replies, and the invoices' disputes (see messages_sql).
REMINDER_KINDS = ("reminder", "installment")
SENT_STATES = ("sent", "delivered", "read", "replied")
MESSAGES_SQL = """
    SELECT 'reminder', rel.move_id, (message.sent_date)::date
      FROM dunning_communication message
      JOIN dunning_communication_account_move_rel rel
        ON rel.communication_id = message.id
     WHERE message.company_id = %(company)s
       AND message.kind = ANY(%(reminder_kinds)s)
       AND message.state = ANY(%(sent_states)s)
       AND message.sent_date IS NOT NULL
       AND (%(moves)s IS NULL OR rel.move_id = ANY(%(moves)s))
       AND (%(since)s IS NULL OR message.sent_date >= %(since)s)
     UNION ALL
    SELECT 'reply', partner.commercial_partner_id, (message.date)::date
      FROM dunning_communication message
      JOIN res_partner partner ON partner.id = message.partner_id
     WHERE message.company_id = %(company)s AND message.kind = 'reply'
       AND (%(customers)s IS NULL
            OR partner.commercial_partner_id = ANY(%(customers)s))
       AND (%(since)s IS NULL OR message.date >= %(since)s)
     UNION ALL
    SELECT 'dispute', dispute.move_id, (dispute.create_date)::date
      FROM dunning_dispute dispute
     WHERE dispute.company_id = %(company)s
       AND (%(open_only)s IS NOT TRUE OR dispute.state = ANY(%(open_states)s))
       AND (%(moves)s IS NULL OR dispute.move_id = ANY(%(moves)s))
       AND (%(since)s IS NULL OR dispute.write_date >= %(since)s)
"""
MESSAGES_READS = {
    "dunning.communication": [
        "company_id",
        "kind",
        "state",
        "sent_date",
        "date",
        "partner_id",
        "move_ids",
    ],
    "dunning.dispute": ["company_id", "state", "move_id", "write_date"],
    "res.partner": ["commercial_partner_id"],
}


def messages_sql(
    company_id, move_ids=None, customers=None, open_only=False, since=None
):
    """The query of ``company_id``'s messages as ``(kind, key, date)`` rows:
    ``('reminder', invoice, date sent)``, ``('reply', customer, date
    received)`` and ``('dispute', invoice, date opened)``, for ``move_ids``
    and ``customers`` when given, the disputes still open only with
    ``open_only``; with ``since``, only the messages sent or received from
    then on and the disputes opened or changed."""
    return SQL(
        MESSAGES_SQL,
        company=company_id,
        reminder_kinds=list(REMINDER_KINDS),
        sent_states=list(SENT_STATES),
        moves=None if move_ids is None else sorted(set(move_ids)),
        customers=None if customers is None else sorted(set(customers)),
        open_only=open_only,
        open_states=list(OPEN_DISPUTE_STATES),
        since=since,
    )


class DunningPaymentForecast(models.Model):
    _inherit = "dunning.payment.forecast"

    # ------------------------------------------------------------------
    # The scheduled job
    # ------------------------------------------------------------------

    @api.model
    def _cron_dunning_forecast(self):
        """Once a day per company (the first run of the day in a worker):
        learn from the whole ledger, forecast every open instalment, the cash
        in and the customers' best hours. The other runs of the day forecast
        what changed since with that day's model: new or partly paid
        instalments in, paid ones out."""
        companies = (
            self.env["res.company"].sudo().search([("dunning_policy_id", "!=", False)])
        )
        today = fields.Date.context_today(self)
        for company in companies:
            trained = _TRAINED.get((self.env.cr.dbname, company.id))
            if trained and trained[0] == today:
                self.sudo()._dunning_refresh_changes(company, trained[1])
            else:
                self.sudo()._dunning_refresh(company, as_of=today)
                self.env["res.partner"].sudo()._dunning_learn_best_hours(company)
            self.env["dunning.payment.plan"]._dunning_commit_progress(1, None)

    @api.model
    def _dunning_refresh(self, company, as_of=None):
        """Forecast every open instalment of ``company`` from its ledger, and
        replace the company's forecasts and cash-in weeks with them."""
        started = time.perf_counter()
        computed_on = fields.Datetime.now()
        as_of = as_of or fields.Date.context_today(self)
        paid, open_instalments = self._dunning_read_ledger(company)
        if len(paid) < MIN_HISTORY:
            # Too little to learn from: no forecast rather than a guess.
            open_instalments = []
        keys, open_invoices, cash_rows = self._dunning_open_invoices(
            company, open_instalments, as_of
        )
        model = PaymentForecaster.train(paid, open_invoices, as_of=as_of)
        forecasts = self._dunning_with_agreements(
            company, model.forecast(open_invoices), keys, as_of
        )
        self._dunning_store(company, forecasts, keys, computed_on)
        self.env["dunning.cash.forecast"]._dunning_refresh(
            company, model, cash_rows, paid, as_of
        )
        _TRAINED[self.env.cr.dbname, company.id] = (
            as_of,
            model if len(paid) >= MIN_HISTORY else None,
        )
        _logger.info(
            "Payment forecasts of %s: %d open instalments from %d paid in %.1f s",
            company.name,
            len(forecasts),
            len(paid),
            time.perf_counter() - started,
        )
        return len(forecasts)

    @api.model
    def _dunning_refresh_changes(self, company, model):
        """Bring ``company``'s forecasts up to date with ``model`` (trained
        earlier today): forecast the open instalments without a forecast,
        whose amount changed, or messaged or disputed since the last run,
        drop the forecasts of those no longer open. Answers how many
        instalments were forecast."""
        computed_on = fields.Datetime.now()
        tables = {"dunning.payment.forecast": None}
        # The start of the last run that forecast anything: what was sent
        # and said from then on is not in the forecasts yet.
        ((last_run,),) = run_sql(
            self.env,
            SQL(
                "SELECT max(computed_on) FROM dunning_payment_forecast "
                "WHERE company_id = %s",
                company.id,
            ),
            reads=tables,
        )
        run_sql(
            self.env,
            SQL(
                """
            DELETE FROM dunning_payment_forecast forecast
             WHERE forecast.company_id = %s
               AND forecast.move_line_id NOT IN (
                    SELECT line.id FROM account_move move
                      JOIN account_move_line line ON line.move_id = move.id
                     WHERE move.company_id = %s AND %s)
                """,
                company.id,
                company.id,
                open_instalment_sql("line", "move"),
            ),
            reads=HISTORY_READS | {"account.move": None},
            writes=tables,
        )
        changed = (
            [
                row[1:]
                for row in self._dunning_read_open(
                    company,
                    SQL(
                        "LEFT JOIN dunning_payment_forecast forecast "
                        "ON forecast.move_line_id = line.id"
                    ),
                    SQL(
                        "AND (forecast.id IS NULL "
                        "OR forecast.amount <> line.amount_residual "
                        "OR move.id IN %s OR move.commercial_partner_id IN %s)",
                        *self._dunning_messaged_since(company, last_run or model.as_of),
                    ),
                    SQL("forecast.id"),
                )
            ]
            if model
            else []
        )
        if changed:
            keys, open_invoices, _cash = self._dunning_open_invoices(
                company, changed, model.as_of
            )
            self._dunning_store(
                company,
                self._dunning_with_agreements(
                    company, model.forecast(open_invoices), keys, model.as_of
                ),
                keys,
                computed_on,
                replace=True,
            )
        else:
            self.env["res.partner"]._dunning_store_forecasts(company)
        return len(changed)

    @api.model
    def _dunning_with_agreements(self, company, forecasts, keys, as_of):
        """``forecasts`` with what the customers promised: an open promise to
        pay moves the forecast toward its date as far as the customer keeps
        their promises (their kept share, counting one kept and one broken to
        start with)."""
        move_ids = list({keys[forecast.key][0] for forecast in forecasts})
        if not move_ids:
            return forecasts
        promises = {
            move_id: (promised, kept, broken)
            for move_id, promised, kept, broken in run_sql(
                self.env,
                SQL(
                    """
            WITH record AS (
                SELECT partner_id, count(*) FILTER (WHERE state = 'kept') AS kept,
                       count(*) FILTER (WHERE state = 'broken') AS broken
                  FROM dunning_promise
                 WHERE company_id = %s AND state IN ('kept', 'broken')
              GROUP BY partner_id)
            SELECT DISTINCT ON (rel.move_id) rel.move_id, promise.promised_date,
                   COALESCE(record.kept, 0), COALESCE(record.broken, 0)
              FROM dunning_promise promise
              JOIN dunning_promise_account_move_rel rel
                ON rel.promise_id = promise.id
              LEFT JOIN record ON record.partner_id = promise.partner_id
             WHERE promise.company_id = %s AND promise.state = 'open'
               AND rel.move_id = ANY(%s)
          ORDER BY rel.move_id, promise.promised_date DESC
                    """,
                    company.id,
                    company.id,
                    move_ids,
                ),
                reads={"dunning.promise": None},
            )
        }
        result = []
        for forecast in forecasts:
            move_id, _customer, due, _residual = keys[forecast.key]
            if move_id in promises:
                forecast = self._dunning_promised(
                    forecast, due, as_of, *promises[move_id]
                )
            result.append(forecast)
        return result

    @staticmethod
    def _dunning_promised(forecast, due, as_of, promised, kept, broken):
        """``forecast`` given an open promise to pay by ``promised`` from a
        customer who kept ``kept`` promises and broke ``broken``."""
        trust = (kept + 1) / (kept + broken + 2)
        horizons = (7, 30, 90, max((as_of - due).days, 0) + 30)
        current = (forecast.p7, forecast.p30, forecast.p90, forecast.p_in_time)
        p7, p30, p90, p_in_time = (
            round(trust * ((promised - due).days <= horizon) + (1 - trust) * p, 3)
            for horizon, p in zip(horizons, current, strict=True)
        )
        return dataclasses.replace(
            forecast,
            payment_date=promised
            if trust >= 0.5 and promised > as_of
            else forecast.payment_date,
            p7=p7,
            p30=p30,
            p90=p90,
            p_in_time=p_in_time,
            reasons=[
                *forecast.reasons,
                ("promise", promised.isoformat(), kept, kept + broken),
            ],
        )

    @api.model
    def _dunning_open_invoices(self, company, open_instalments, as_of):
        """``(keys, open invoices, cash rows)`` of open instalment rows (see
        ``_dunning_read_ledger``), the invoices with their messages up to
        ``as_of`` and their open disputes."""
        keys = {}
        pairs = []
        currencies = []
        for (
            line_id,
            move_id,
            customer,
            country,
            invoice_date,
            due,
            residual,
            currency_id,
            residual_currency,
        ) in open_instalments:
            keys[line_id] = (move_id, customer, due, residual)
            pairs.append(
                (
                    move_id,
                    OpenInvoice(
                        line_id, customer, country, invoice_date, due, residual
                    ),
                )
            )
            currencies.append((currency_id, residual_currency))
        reminders, replies, disputed = self._dunning_messages(
            company,
            [move_id for move_id, _invoice in pairs],
            [invoice.customer for _move, invoice in pairs],
            open_only=True,
        )
        open_invoices = with_messages(pairs, reminders, replies, disputed, as_of)
        cash_rows = [
            (invoice.key, invoice, currency_id, residual_currency)
            for invoice, (currency_id, residual_currency) in zip(
                open_invoices, currencies, strict=True
            )
        ]
        return keys, open_invoices, cash_rows

    @api.model
    def _dunning_messages(
        self, company, move_ids=None, customers=None, open_only=False
    ):
        """``(reminders, replies, disputed)`` of ``company``: the dates of the
        reminders sent per invoice and of the replies per customer, and the
        invoices disputed (under an open dispute with ``open_only``), for
        ``move_ids`` and ``customers`` when given."""
        reminders, replies, disputed = defaultdict(list), defaultdict(list), set()
        for kind, key, day in run_sql(
            self.env,
            messages_sql(company.id, move_ids, customers, open_only),
            reads=MESSAGES_READS,
        ):
            if kind == "reminder":
                reminders[key].append(day)
            elif kind == "reply":
                replies[key].append(day)
            else:
                disputed.add(key)
        return reminders, replies, disputed

    @api.model
    def _dunning_messaged_since(self, company, since):
        """``(invoices, customers)`` as tuples for ``IN``: the invoices of
        ``company`` reminded, or disputed or settled in a dispute, and the
        customers who replied, since ``since`` (a date or a moment); ``(0,)``
        for none."""
        rows = run_sql(
            self.env, messages_sql(company.id, since=since), reads=MESSAGES_READS
        )
        moves = tuple({key for kind, key, _day in rows if kind != "reply"}) or (0,)
        customers = tuple({key for kind, key, _day in rows if kind == "reply"}) or (0,)
        return moves, customers

    @api.model
    def _dunning_read_ledger(self, company):
        """``(paid, open)``: the history as ``PaidInvoice``, and the open
        instalments as ``(line, move, customer, country, invoice date, due
        date, residual, currency, residual in that currency)`` rows."""
        rows = run_sql(
            self.env,
            SQL(HISTORY_SQL, company_id=company.id),
            reads=HISTORY_READS,
        )
        pairs = []
        for _line, move_id, customer, country, invoiced, due, amount, paid in rows:
            if paid:
                pairs.append(
                    (
                        move_id,
                        PaidInvoice(customer, country, invoiced, due, paid, amount),
                    )
                )
        reminders, replies, disputed = self._dunning_messages(company)
        paid = with_messages(pairs, reminders, replies, disputed)
        open_rows = self._dunning_read_open(company)
        return paid, open_rows

    @api.model
    def _dunning_read_open(self, company, join=None, condition=None, extra=None):
        """The open instalments of ``company`` as rows (see
        ``_dunning_read_ledger``), each after ``extra`` when given, narrowed
        by ``join`` and ``condition``."""
        return run_sql(
            self.env,
            SQL(
                """
            SELECT %s line.id, move.id, move.commercial_partner_id,
                   partner.country_id,
                   COALESCE(move.invoice_date, line.date_maturity),
                   line.date_maturity, line.amount_residual,
                   line.currency_id, line.amount_residual_currency
              FROM account_move move
              JOIN account_move_line line ON line.move_id = move.id
              JOIN res_partner partner ON partner.id = move.commercial_partner_id
              %s
             WHERE move.company_id = %s AND %s AND line.date_maturity IS NOT NULL
                   %s
                """,
                SQL("%s,", extra) if extra else SQL(),
                join or SQL(),
                company.id,
                open_instalment_sql("line", "move"),
                condition or SQL(),
            ),
            reads=HISTORY_READS
            | {"account.move": None, "dunning.payment.forecast": None},
        )

    @api.model
    def _dunning_store(self, company, forecasts, keys, computed_on, replace=False):
        """Store ``forecasts``, made from what was known at ``computed_on``
        (the run's start): instead of all the company's forecasts, or, with
        ``replace``, instead of those of the same instalments only."""
        now = fields.Datetime.now()
        tables = {"dunning.payment.forecast": None}
        run_sql(
            self.env,
            SQL(
                "DELETE FROM dunning_payment_forecast WHERE company_id = %s %s",
                company.id,
                SQL("AND move_line_id = ANY(%s)", list(keys)) if replace else SQL(),
            ),
            writes=tables,
        )
        rows = []
        for forecast in forecasts:
            move_id, customer, due, residual = keys[forecast.key]
            rows.append(
                (
                    forecast.key,
                    move_id,
                    customer,
                    due,
                    residual,
                    forecast.payment_date,
                    forecast.p7,
                    forecast.p30,
                    forecast.p90,
                    forecast.p_in_time,
                    forecast.confidence,
                    json.dumps(forecast.reasons),
                    round(residual * (1 - forecast.p_in_time), 2),
                )
            )
        columns = (
            ("move_line_id", "int4"),
            ("move_id", "int4"),
            ("partner_id", "int4"),
            ("date_due", "date"),
            ("amount", "numeric"),
            ("payment_date", "date"),
            ("p7", "float8"),
            ("p30", "float8"),
            ("p90", "float8"),
            ("p_in_time", "float8"),
            ("confidence", "varchar"),
            ("reasons", "jsonb"),
            ("expected_loss", "numeric"),
        )
        for start in range(0, len(rows), INSERT_BATCH):
            batch = rows[start : start + INSERT_BATCH]
            run_sql(
                self.env,
                SQL(
                    "INSERT INTO dunning_payment_forecast "
                    "(company_id, computed_on, create_uid, write_uid, create_date, "
                    "write_date, %s) "
                    "SELECT %s, %s, %s, %s, %s, %s, * FROM unnest(%s)",
                    SQL(", ").join(SQL.identifier(name) for name, _cast in columns),
                    company.id,
                    computed_on,
                    self.env.uid,
                    self.env.uid,
                    now,
                    now,
                    SQL(", ").join(
                        SQL("%s::%s[]", list(values), SQL(cast))
                        for values, (_name, cast) in zip(
                            zip(*batch, strict=True), columns, strict=True
                        )
                    ),
                ),
                writes=tables,
            )
        self.env["res.partner"]._dunning_store_forecasts(company)
