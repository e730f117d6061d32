"""``odoo dunning_kpi_bench``: time the collection KPIs and reports on a database.

Run it on a copy of the generated dataset (see ``dunning_dataset``)::

    createdb -T fd_perf_tpl_20k_100k fd_kpi_bench
    odoo -d fd_kpi_bench -u friendly_dunning --stop-after-init --addons-path=.
    odoo --addons-path=. dunning_kpi_bench -d fd_kpi_bench

For every company with invoices it times ``dunning.kpi.get_kpis`` over the last
12 months, the aged receivables pivot grouped by bucket and invoice month (the
``_read_group`` the pivot view makes) and the managers' dashboard
(``get_dashboard``). Each is run ``--repeat`` times on a cold ORM cache; the
best and the median are printed with the SQL queries of one run.
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
from odoo.tools import config


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
            "--json", action="store_true", help="print the figures as JSON"
        )
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            figures = measure(env, max(1, options.repeat))
            cr.rollback()
        if options.json:
            sys.stdout.write(json.dumps(figures, indent=2, default=str) + "\n")
            return
        for name, value in figures.items():
            sys.stdout.write(f"{name:>40}: {value}\n")


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
