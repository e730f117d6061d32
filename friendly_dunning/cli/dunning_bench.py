"""``odoo dunning_bench``: measure the collections engine on a database.

Run it on a copy of the generated dataset (see ``dunning_dataset``)::

    createdb -T fd_bench_tpl fd_bench_run
    odoo --addons-path=. dunning_bench -d fd_bench_run

It times, in one transaction that is rolled back at the end (so the copy can be
measured again), the segmentation of every customer and the planning of a run:
selecting what is due, deciding per customer, queueing the outbox records and
logging them in the chatter. It prints seconds and SQL queries for each.
"""

import json
import time
from datetime import datetime, timedelta, timezone

import odoo
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import config


class DunningBench(Command):
    """Measure segmentation and run planning on a database."""

    name = "dunning_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument(
            "--at",
            default="16:00",
            help="time of day (UTC) the run is planned at, HH:MM (default 16:00, "
            "inside the sending window of the dataset's time zones)",
        )
        parser.add_argument(
            "--days-ahead",
            type=int,
            default=0,
            help="plan as if today were this many days later (default 0)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the figures as JSON"
        )
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        hour, minute = (int(part) for part in options.at.split(":"))
        now = datetime.combine(
            datetime.now(timezone.utc).date() + timedelta(days=options.days_ahead),
            datetime.min.time(),
        ).replace(hour=hour, minute=minute)
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            figures = measure(env, now)
            cr.rollback()
        if options.json:
            print(json.dumps(figures, indent=2))
            return
        for name, value in figures.items():
            print(f"{name:>32}: {value}")


def measure(env, now):
    """Seconds and queries of segmentation and of planning one run per company."""
    cr = env.cr
    companies = env["res.company"].search([("dunning_policy_id", "!=", False)])
    open_invoices = env["account.move"].search_count(
        [
            ("company_id", "in", companies.ids),
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("payment_state", "in", ("not_paid", "partial")),
        ]
    )
    customers = len(
        env["account.move"]._read_group(
            [("company_id", "in", companies.ids), ("move_type", "=", "out_invoice")],
            ["commercial_partner_id"],
        )
    )
    env.flush_all()

    queries = cr.sql_log_count
    start = time.perf_counter()
    env["res.partner"]._dunning_refresh_segmentation(companies=companies)
    env.flush_all()
    segmentation_seconds = time.perf_counter() - start
    segmentation_queries = cr.sql_log_count - queries

    queries = cr.sql_log_count
    start = time.perf_counter()
    runs = env["dunning.run"]
    for company in companies:
        runs |= env["dunning.run"]._run_company(company, now=now)
    env.flush_all()
    planning_seconds = time.perf_counter() - start
    planning_queries = cr.sql_log_count - queries
    return {
        "database": cr.dbname,
        "planned_at_utc": now.isoformat(sep=" "),
        "customers_with_invoices": customers,
        "open_invoices": open_invoices,
        "segmentation_seconds": round(segmentation_seconds, 2),
        "segmentation_queries": segmentation_queries,
        "planning_seconds": round(planning_seconds, 2),
        "planning_queries": planning_queries,
        "messages_queued": sum(runs.mapped("queued_count")),
        "customers_unreachable": sum(runs.mapped("unreachable_count")),
        "customers_held": sum(runs.mapped("held_count")),
    }
