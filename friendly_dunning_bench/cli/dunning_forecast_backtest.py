"""``odoo dunning_forecast_backtest``: how well the payment forecast predicts.

Run it on a database with a history of paid invoices (see ``dunning_dataset``)::

    odoo --addons-path=. dunning_forecast_backtest -d fc_forecast_10k \\
        --cutoff 2026-08-01

It reads the ledger in SQL, as it stands at the end of the data: per posted
customer invoice its customer (the commercial partner), the customer's
country (the group a new customer is compared with), invoice date, due date,
amount in the company's currency and, when it is fully paid, the date of the
last reconciliation that paid it; and, as the forecast's job does, the dates
of the reminders sent for each invoice, of each customer's replies and of each
invoice's first dispute, each used only from its date on (a forecast on the
cut-off sees what was sent and said by then). Nothing else: not the partner's
tags, notes or segment (the segment is computed from today's ledger, so in a
backtest it would reveal the future). Invoices reduced by a credit note are
left out: a credit note is not a payment.

Per company, it trains the forecaster (friendly_dunning/tools/payment_forecast.py)
on the invoices paid by the cut-off, forecasts every invoice open at the
cut-off and compares with what happened after it (the rules are in
tools/forecast_backtest.py): the mean absolute error in days of the predicted
payment date against "pays on the due date" and "pays with the customer's
average delay so far" (everyone's average for a new customer), and the Brier
score of the 30-day probability against the base rate. Then the 13-week
cash-in forecast (friendly_dunning/tools/cash_forecast.py) of the same open
invoices, per currency and in all in the company's currency, week by week
against what was received: the mean absolute error against "paid on the due
date" and "paid with the customer's average delay so far", and the share of
the weeks inside the forecast's range (the ``cash`` section). The range is
widened as the company would widen it on the cut-off day: by how far the same
forecast, made 13 weeks before the cut-off on what was known then, was off in
the weeks up to the cut-off. It prints the figures and the seconds training
and forecasting took. It only reads.
"""

import importlib.util
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

from odoo.addons.friendly_dunning.models.dunning_payment_forecast_job import (
    messages_sql,
)

_ROOT = Path(__file__).resolve().parent.parent.parent

# One pass over the invoices' receivable lines and what they were matched
# with: an invoice is paid when every line is reconciled, on the last date.
LEDGER_SQL = """
    SELECT move.id,
           move.commercial_partner_id,
           partner.country_id,
           move.invoice_date,
           move.invoice_date_due,
           move.amount_total_signed,
           CASE WHEN bool_and(line.reconciled) THEN max(partial.max_date) END,
           coalesce(bool_or(counterpart_move.move_type = 'out_refund'), false),
           currency.name,
           move.amount_total
      FROM account_move move
      JOIN res_partner partner ON partner.id = move.commercial_partner_id
      JOIN res_currency currency ON currency.id = move.currency_id
      JOIN account_move_line line
        ON line.move_id = move.id AND line.display_type = 'payment_term'
      LEFT JOIN account_partial_reconcile partial
        ON partial.debit_move_id = line.id
      LEFT JOIN account_move_line counterpart
        ON counterpart.id = partial.credit_move_id
      LEFT JOIN account_move counterpart_move
        ON counterpart_move.id = counterpart.move_id
     WHERE move.move_type = 'out_invoice'
       AND move.state = 'posted'
       AND move.company_id = %(company_id)s
     GROUP BY move.id, partner.country_id, currency.name
"""


@dataclass
class Messages:
    """What the customers were sent and said, by date."""

    reminders: dict = field(default_factory=lambda: defaultdict(list))
    replies: dict = field(default_factory=lambda: defaultdict(list))
    disputes: dict = field(default_factory=dict)  # invoice: first dispute's date

    def disputed_by(self, day):
        return {move for move, opened in self.disputes.items() if opened <= day}


def read_messages(cr, company_id):
    """What ``company_id``'s customers were sent and said, as the forecast's
    job reads it (every dispute, with the date it was opened)."""
    messages = Messages()
    cr.execute(messages_sql(company_id))
    for kind, key, day in cr.fetchall():
        if kind == "reminder":
            messages.reminders[key].append(day)
        elif kind == "reply":
            messages.replies[key].append(day)
        else:
            messages.disputes[key] = min(day, messages.disputes.get(key, day))
    return messages


def _load(relative_path, name):
    spec = importlib.util.spec_from_file_location(name, _ROOT / relative_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def read_ledger(cr, company_id, backtest):
    """The company's customer invoices as ``LedgerInvoice``, and how many
    were left out for a credit note."""
    cr.execute(SQL(LEDGER_SQL, company_id=company_id))
    ledger, credited = [], 0
    for row in cr.fetchall():
        if row[7]:
            credited += 1
            continue
        move_id, customer, country, invoice_date, due, amount, paid = row[:7]
        ledger.append(
            backtest.LedgerInvoice(
                move_id,
                customer,
                country,
                invoice_date,
                due,
                amount,
                paid,
                currency=row[8],
                amount_currency=row[9],
            )
        )
    return ledger, credited


def as_open(forecast, invoices, messages, cutoff):
    """``invoices`` as the forecast's open invoices on ``cutoff``, with the
    messages up to that day."""
    return forecast.with_messages(
        [
            (
                invoice.id,
                forecast.OpenInvoice(
                    invoice.id,
                    invoice.customer,
                    invoice.group,
                    invoice.invoice_date,
                    invoice.due_date,
                    invoice.amount,
                ),
            )
            for invoice in invoices
        ],
        messages.reminders,
        messages.replies,
        messages.disputed_by(cutoff),
        until=cutoff,
    )


def train(forecast, training, open_invoices, cutoff, messages):
    paid = forecast.with_messages(
        [
            (
                invoice.id,
                forecast.PaidInvoice(
                    invoice.customer,
                    invoice.group,
                    invoice.invoice_date,
                    invoice.due_date,
                    invoice.paid_date,
                    invoice.amount,
                ),
            )
            for invoice in training
        ],
        messages.reminders,
        messages.replies,
        messages.disputed_by(cutoff),
    )
    return forecast.PaymentForecaster.train(paid, open_invoices, as_of=cutoff)


def in_currency(cash, invoices):
    return [
        cash.Receivable(invoice.id, None, invoice.currency, invoice.amount_currency)
        for invoice in invoices
    ]


def run_backtest(
    ledger, cutoff, forecast, backtest, cash, company_currency, messages=None
):
    """Train on ``ledger`` as of ``cutoff``, forecast what was open then, and
    compare with what happened; ``messages`` (Messages), what the customers
    were sent and said."""
    messages = messages or Messages()
    training, open_invoices = backtest.split(ledger, cutoff)
    open_at_cutoff = as_open(forecast, open_invoices, messages, cutoff)
    started = time.perf_counter()
    model = train(forecast, training, open_at_cutoff, cutoff, messages)
    trained = time.perf_counter()
    forecasts = model.forecast(open_at_cutoff)
    done = time.perf_counter()
    end = max(
        max(invoice.invoice_date for invoice in ledger),
        max(invoice.paid_date or invoice.invoice_date for invoice in ledger),
    )
    figures = backtest.evaluate(
        open_invoices,
        {f.key: (f.delay_days, f.p30, f.confidence) for f in forecasts},
        training,
        ledger,
        cutoff,
        end,
    )
    figures["confidence"] = {
        level: sum(f.confidence == level for f in forecasts)
        for level in ("high", "medium", "low")
    }
    figures["training seconds"] = round(trained - started, 3)
    figures["forecast seconds"] = round(done - trained, 3)
    figures["cash"] = run_cash_backtest(
        ledger,
        open_invoices,
        open_at_cutoff,
        model,
        training,
        end,
        company_currency,
        (forecast, backtest, cash, messages),
    )
    return figures


def range_widening(ledger, cutoff, modules):
    """The range's widening as the company would measure it on ``cutoff``:
    the cash forecast made cash.WEEKS weeks earlier on what was known then,
    against the receipts, per currency, of its weeks ended by ``cutoff``."""
    forecast, backtest, cash, messages = modules
    earlier = cutoff - timedelta(weeks=cash.WEEKS)
    training, open_invoices = backtest.split(ledger, earlier)
    if not training:
        return 1.0
    open_then = as_open(forecast, open_invoices, messages, earlier)
    model = train(forecast, training, open_then, earlier, messages)
    ends = forecast.week_ends(earlier, cash.WEEKS)
    forecasts = cash.forecast_receipts(
        in_currency(cash, open_invoices),
        model.weekly_probabilities(open_then, cash.WEEKS),
        earlier,
        ends,
    )
    # payments after the cut-off fall in weeks ending after it: left out
    received = backtest.weekly_receipts(
        open_invoices,
        lambda invoice: invoice.paid_date,
        backtest.in_currency,
        earlier,
        ends,
    )
    return cash.range_widening(
        (week, received[result.currency][week.number - 1])
        for result in forecasts
        for week in result.weeks
        if week.end <= cutoff
    )


def run_cash_backtest(
    ledger,
    open_invoices,
    open_at_cutoff,
    model,
    training,
    end,
    company_currency,
    modules,
):
    """The weekly cash-in forecast of the invoices open at the cut-off (the
    model's training date), per currency and in all in the company's
    currency, against what was received; each series's coverage also with
    the range of independent payments alone (no widening)."""
    forecast, backtest, cash, _messages = modules
    cutoff = model.as_of
    ends = forecast.week_ends(cutoff, cash.WEEKS)
    started = time.perf_counter()
    widening = range_widening(ledger, cutoff, modules)
    widened = time.perf_counter()
    chances = model.weekly_probabilities(open_at_cutoff, cash.WEEKS)
    by_currency = cash.forecast_receipts(
        in_currency(cash, open_invoices), chances, cutoff, ends, widening=widening
    )
    done = time.perf_counter()
    in_all = f"all, in {company_currency}"
    series = (
        (in_currency(cash, open_invoices), backtest.in_currency),
        (
            [
                cash.Receivable(invoice.id, None, in_all, invoice.amount)
                for invoice in open_invoices
            ],
            lambda invoice: (in_all, invoice.amount),
        ),
    )

    def evaluate(receivables, receipt_of, factor):
        return backtest.evaluate_cash(
            open_invoices,
            cash.forecast_receipts(receivables, chances, cutoff, ends, widening=factor),
            training,
            cutoff,
            end,
            ends,
            receipt_of,
        )

    figures = backtest.evaluate_cash(
        open_invoices, by_currency, training, cutoff, end, ends, backtest.in_currency
    )
    figures["series"].update(evaluate(*series[1], widening)["series"])
    for receivables, receipt_of in series:
        for name, values in evaluate(receivables, receipt_of, 1.0)["series"].items():
            figures["series"][name]["coverage, independent payments' range"] = values[
                "coverage"
            ]
    figures["open invoices"] = len(open_invoices)
    figures["range widening (from the 13 weeks before)"] = widening
    figures["range widening seconds"] = round(widened - started, 3)
    figures["weekly probabilities and cash forecast seconds"] = round(done - widened, 3)
    return figures


class DunningForecastBacktest(Command):
    """Backtest the payment-date forecast on a database's ledger"""

    name = "dunning_forecast_backtest"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument(
            "--cutoff",
            required=True,
            type=date.fromisoformat,
            help="train on what was paid by this date (YYYY-MM-DD), forecast "
            "what was open on it",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the figures as JSON"
        )
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        forecast = _load(
            "friendly_dunning/tools/payment_forecast.py", "dunning_payment_forecast"
        )
        backtest = _load(
            "friendly_dunning_bench/tools/forecast_backtest.py",
            "dunning_forecast_backtest",
        )
        cash = _load("friendly_dunning/tools/cash_forecast.py", "dunning_cash_forecast")
        results = {}
        with Registry(options.database).cursor() as cr:
            cr.execute(
                SQL(
                    """SELECT company.id, company.name, currency.name
                         FROM res_company company
                         JOIN res_currency currency
                           ON currency.id = company.currency_id
                        ORDER BY company.id"""
                )
            )
            for company_id, company_name, company_currency in cr.fetchall():
                read_started = time.perf_counter()
                ledger, credited = read_ledger(cr, company_id, backtest)
                if not ledger:
                    continue
                messages = read_messages(cr, company_id)
                read_seconds = time.perf_counter() - read_started
                figures = run_backtest(
                    ledger,
                    options.cutoff,
                    forecast,
                    backtest,
                    cash,
                    company_currency,
                    messages,
                )
                figures["messages read"] = {
                    "reminders": sum(map(len, messages.reminders.values())),
                    "replies": sum(map(len, messages.replies.values())),
                    "disputed invoices": len(messages.disputes),
                }
                figures["invoices read"] = len(ledger)
                figures["left out for a credit note"] = credited
                figures["ledger read seconds"] = round(read_seconds, 3)
                results[company_name] = figures
        if options.json:
            sys.stdout.write(json.dumps(results, indent=2, default=str) + "\n")
            return
        for company_name, figures in results.items():
            sys.stdout.write(f"{company_name}\n")
            for name, value in figures.items():
                if name != "cash":
                    sys.stdout.write(f"  {name:>50}: {value}\n")
            write_cash(figures["cash"])


def write_cash(figures):
    """The cash section as text: the figures per series, then its weeks."""
    sys.stdout.write("  cash-in forecast\n")
    for name, value in figures.items():
        if name != "series":
            sys.stdout.write(f"  {name:>50}: {value}\n")
    columns = ("received", "expected", "low", "high", "due date", "customer average")
    for series, values in figures["series"].items():
        sys.stdout.write(f"    {series}\n")
        for name, value in values.items():
            if name != "weeks":
                sys.stdout.write(f"  {name:>50}: {value}\n")
        sys.stdout.write(
            "      week  start       end         "
            + "".join(f"{column:>17}" for column in columns)
            + "\n"
        )
        for week in values["weeks"]:
            sys.stdout.write(
                f"      {week['week']:>4}  {week['start']}  {week['end']}  "
                + "".join(f"{week[column]:>17,.0f}" for column in columns)
                + "\n"
            )
