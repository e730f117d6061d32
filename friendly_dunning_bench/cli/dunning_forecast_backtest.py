"""``odoo dunning_forecast_backtest``: how well the payment forecast predicts.

Run it on a database with a history of paid invoices (see ``dunning_dataset``)::

    odoo --addons-path=. dunning_forecast_backtest -d fc_forecast_10k \\
        --cutoff 2026-08-01

It reads the ledger in SQL, as it stands at the end of the data: per posted
customer invoice its customer (the commercial partner), the customer's
country (the group a new customer is compared with), invoice date, due date,
amount in the company's currency and, when it is fully paid, the date of the
last reconciliation that paid it. Nothing else: not the partner's tags, notes
or segment (the segment is computed from today's ledger, so in a backtest it
would reveal the future). Invoices reduced by a credit note are left out: a
credit note is not a payment.

Per company, it trains the forecaster (friendly_dunning/tools/payment_forecast.py)
on the invoices paid by the cut-off, forecasts every invoice open at the
cut-off and compares with what happened after it (the rules are in
tools/forecast_backtest.py): the mean absolute error in days of the predicted
payment date against "pays on the due date" and "pays with the customer's
average delay so far" (everyone's average for a new customer), and the Brier
score of the 30-day probability against the base rate. It prints the figures
and the seconds training and forecasting took. It only reads.
"""

import importlib.util
import json
import sys
import time
from datetime import date
from pathlib import Path

from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

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
           coalesce(bool_or(counterpart_move.move_type = 'out_refund'), false)
      FROM account_move move
      JOIN res_partner partner ON partner.id = move.commercial_partner_id
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
     GROUP BY move.id, partner.country_id
"""


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
                move_id, customer, country, invoice_date, due, amount, paid
            )
        )
    return ledger, credited


def run_backtest(ledger, cutoff, forecast, backtest):
    """Train on ``ledger`` as of ``cutoff``, forecast what was open then, and
    compare with what happened."""
    training, open_invoices = backtest.split(ledger, cutoff)
    open_at_cutoff = [
        forecast.OpenInvoice(
            invoice.id,
            invoice.customer,
            invoice.group,
            invoice.invoice_date,
            invoice.due_date,
            invoice.amount,
        )
        for invoice in open_invoices
    ]
    started = time.perf_counter()
    model = forecast.PaymentForecaster.train(
        [
            forecast.PaidInvoice(
                invoice.customer,
                invoice.group,
                invoice.invoice_date,
                invoice.due_date,
                invoice.paid_date,
                invoice.amount,
            )
            for invoice in training
        ],
        open_at_cutoff,
        as_of=cutoff,
    )
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
        results = {}
        with Registry(options.database).cursor() as cr:
            cr.execute(SQL("SELECT id, name FROM res_company ORDER BY id"))
            for company_id, company_name in cr.fetchall():
                read_started = time.perf_counter()
                ledger, credited = read_ledger(cr, company_id, backtest)
                if not ledger:
                    continue
                read_seconds = time.perf_counter() - read_started
                figures = run_backtest(ledger, options.cutoff, forecast, backtest)
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
                sys.stdout.write(f"  {name:>50}: {value}\n")
