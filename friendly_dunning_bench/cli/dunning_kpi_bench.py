"""``odoo dunning_kpi_bench``: time the collection KPIs and reports on a database.

Run it on a copy of the generated dataset (see ``dunning_dataset``)::

    createdb -T fd_bench_tpl fd_kpi_bench
    odoo -d fd_kpi_bench -u friendly_dunning --stop-after-init --addons-path=.
    odoo --addons-path=. dunning_kpi_bench -d fd_kpi_bench

For the company with the most invoices it times ``dunning.kpi.get_kpis`` over the last
12 months, the aged receivables pivot grouped by bucket and invoice month (the
``_read_group`` the pivot view makes) and the managers' dashboard
(``get_dashboard``). Each is run ``--repeat`` times on a cold ORM cache; the
best and the median are printed with the SQL queries of one run.

``--scale N`` first copies, inside the same transaction (rolled back at the
end, so the database is left as it was), every journal entry, journal item
and reconciliation N-1 times with the same dates, partners and amounts: a
10,000-invoice dataset measured with ``--scale 10`` has the row counts of a
100,000-invoice one.
"""

import json
import statistics
import sys
import time
from datetime import timedelta

import odoo
from odoo import fields
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

# Per copied table: the name of its id shift, and the columns whose values
# change in a copy (the rest is copied as is).
SCALED_TABLES = {
    "account_move": (
        "moves",
        {
            "id": "id + {k} * {moves}",
            "name": "name || '/x{k}'",
        },
    ),
    "account_move_line": (
        "lines",
        {
            "id": "id + {k} * {lines}",
            "move_id": "move_id + {k} * {moves}",
        },
    ),
    "account_partial_reconcile": (
        "partials",
        {
            "id": "id + {k} * {partials}",
            "debit_move_id": "debit_move_id + {k} * {lines}",
            "credit_move_id": "credit_move_id + {k} * {lines}",
            "exchange_move_id": "exchange_move_id + {k} * {moves}",
        },
    ),
}


class DunningKpiBench(Command):
    """Time the collection KPIs, the aging pivot and the dashboard."""

    name = "dunning_kpi_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument(
            "--repeat", type=int, default=5, help="runs of each measure (default 5)"
        )
        parser.add_argument(
            "--scale",
            type=int,
            default=1,
            help="measure on N copies of the accounting entries, made in the "
            "rolled-back transaction (default 1: the data as it is)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the figures as JSON"
        )
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            scaling_seconds = scale(env, options.scale) if options.scale > 1 else 0
            figures = measure(env, max(1, options.repeat))
            figures["scale"] = options.scale
            figures["scaling_seconds"] = round(scaling_seconds, 1)
            cr.rollback()
        if options.json:
            sys.stdout.write(json.dumps(figures, indent=2, default=str) + "\n")
            return
        for name, value in figures.items():
            sys.stdout.write(f"{name:>40}: {value}\n")


def scale(env, factor):
    """Copy every journal entry, journal item and reconciliation ``factor - 1``
    times (ids shifted past the existing ones), then refresh the planner
    statistics. Returns the seconds it took."""
    start = time.perf_counter()
    env.flush_all()
    cr = env.cr
    shifts = {}
    for table, (key, _changed) in SCALED_TABLES.items():
        cr.execute(SQL("SELECT COALESCE(MAX(id), 0) FROM %s", SQL.identifier(table)))
        shifts[key] = cr.fetchone()[0]
    for table, (key, changed) in SCALED_TABLES.items():
        cr.execute(
            SQL(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = %s AND is_generated = 'NEVER' "
                "ORDER BY ordinal_position",
                table,
            )
        )
        columns = [row[0] for row in cr.fetchall()]
        for k in range(1, factor):
            values = [
                SQL(changed[column].format(k=k, **shifts))
                if column in changed
                else SQL.identifier(column)
                for column in columns
            ]
            cr.execute(
                SQL(
                    "INSERT INTO %s (%s) SELECT %s FROM %s WHERE id <= %s",
                    SQL.identifier(table),
                    SQL(", ").join(SQL.identifier(column) for column in columns),
                    SQL(", ").join(values),
                    SQL.identifier(table),
                    shifts[key],
                )
            )
        cr.execute(SQL("ANALYZE %s", SQL.identifier(table)))
    env.invalidate_all()
    return time.perf_counter() - start


def _time(env, function, repeat):
    """``(best seconds, median seconds, queries of one run, result)``."""
    cr = env.cr
    timings, queries, result = [], 0, None
    for _run in range(repeat):
        env.invalidate_all()
        before = cr.sql_log_count
        start = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - start)
        queries = cr.sql_log_count - before
    return round(min(timings), 3), round(statistics.median(timings), 3), queries, result


def measure(env, repeat=5):
    companies = env["res.company"].search([])
    Move = env["account.move"]
    counts = dict(
        Move._read_group(
            [("move_type", "=", "out_invoice"), ("state", "=", "posted")],
            ["company_id"],
            ["__count"],
        )
    )
    company = max(companies, key=lambda company: counts.get(company, 0))
    env = env(context={"allowed_company_ids": company.ids})
    today = fields.Date.context_today(env.user)
    date_from = today - timedelta(days=364)
    figures = {
        "database": env.cr.dbname,
        "company": company.name,
        "posted_invoices_all_companies": sum(counts.values()),
        "posted_invoices_company": counts.get(company, 0),
        "receivable_lines": env["account.move.line"].search_count(
            [
                ("company_id", "=", company.id),
                ("account_id.account_type", "=", "asset_receivable"),
                ("parent_state", "=", "posted"),
            ]
        ),
        "period": f"{date_from} .. {today}",
    }
    Kpi = env["dunning.kpi"]
    best, median, queries, kpis = _time(
        env, lambda: Kpi.get_kpis(date_from, today, company.ids), repeat
    )
    figures |= {
        "get_kpis_12_months_best_s": best,
        "get_kpis_12_months_median_s": median,
        "get_kpis_queries": queries,
        "dso": round(kpis["dso"] or 0, 1),
        "cei": round(kpis["cei"] or 0, 1),
    }
    Aging = env["dunning.report.aging"]
    best, median, queries, groups = _time(
        env,
        lambda: Aging._read_group(
            [("company_id", "=", company.id)],
            ["bucket", "invoice_date:month"],
            ["amount_residual:sum", "__count"],
        ),
        repeat,
    )
    figures |= {
        "aging_pivot_bucket_month_best_s": best,
        "aging_pivot_bucket_month_median_s": median,
        "aging_pivot_queries": queries,
        "aging_pivot_groups": len(groups),
        "aging_open_lines": sum(group[-1] for group in groups),
    }
    best, median, queries, _data = _time(env, lambda: Kpi.get_dashboard(30), repeat)
    figures |= {
        "dashboard_best_s": best,
        "dashboard_median_s": median,
        "dashboard_queries": queries,
    }
    return figures
