"""``odoo dunning_portal_bench``: time the customer's collections page.

::

    odoo --addons-path=. dunning_portal_bench -d DB [--invoices 200] [--renders 20]

In one transaction that is rolled back at the end, it gives a new customer of
the main company ``--invoices`` posted open invoices (half overdue), then asks
Odoo's own WSGI application, in process, for the customer's signed page
``--renders`` times after one warm-up request, and prints the median and
slowest time of a request in milliseconds (wall clock, and the median CPU time
of the Odoo process), and its SQL queries. The requests
go through the whole HTTP stack (routing, session, controller, QWeb, the
frontend layout), without a network in between; the database is left as it
was.
"""

import statistics
import sys
import time
from datetime import date, timedelta
from types import SimpleNamespace
from unittest.mock import patch

from werkzeug.test import Client

import odoo
from odoo.cli.command import Command
from odoo.modules.registry import DummyRLock, Registry
from odoo.tools import config


class DunningPortalBench(Command):
    """Time the customer's collections page for a customer with many invoices."""

    name = "dunning_portal_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument("--invoices", type=int, default=200)
        parser.add_argument("--renders", type=int, default=20)
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        config["dbfilter"] = f"^{options.database}$"
        registry = Registry(options.database)
        with registry.cursor() as cr:
            figures = measure(registry, cr, options.invoices, options.renders)
            cr.rollback()
        for name, value in figures.items():
            sys.stdout.write(f"{name:>28}: {value}\n")


def measure(registry, cr, invoice_count, renders):
    # Imported here: the test helpers are only needed once a database is open.
    from odoo.tests import common, test_cursor

    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    company = env.ref("base.main_company")
    env = env(context={"allowed_company_ids": company.ids})
    customer = env["res.partner"].create(
        {"name": "Portal Bench Customer", "is_company": True}
    )
    product = env["product.product"].create({"name": "Portal bench service"})
    today = date.today()
    moves = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": today - timedelta(days=60),
                "invoice_date_due": today + timedelta(days=30 - index % 60),
                "invoice_line_ids": [
                    odoo.fields.Command.create(
                        {
                            "product_id": product.id,
                            "price_unit": 100 + index,
                            "tax_ids": [],
                        }
                    )
                ],
            }
            for index in range(invoice_count)
        ]
    )
    moves.action_post()
    url = customer.with_company(company)._dunning_portal_url()
    path = url.removeprefix(customer.get_base_url())
    env.flush_all()

    def cursor(readonly=False):
        return test_cursor.TestCursor(cr, common._registry_test_lock, False)

    # The requests share this transaction, as in Odoo's HTTP tests, so that
    # everything is rolled back at the end.
    bench = SimpleNamespace(
        assertCanOpenTestCursor=lambda: None, test_cursor_lock_timeout=60
    )
    client = Client(odoo.http.root)
    headers = {"X-Odoo-Database": cr.dbname}
    timings, cpu_timings, queries = [], [], []
    with (
        patch.object(odoo.modules.module, "current_test", bench),
        patch.object(registry, "cursor", cursor),
        patch.object(Registry, "_lock", DummyRLock()),
        patch.object(registry, "setup_signaling", return_value=None),
        patch.object(registry, "check_signaling", return_value=registry),
    ):
        warm = client.get(path, headers=headers)
        if warm.status_code != 200:
            raise SystemExit(f"{path}: HTTP {warm.status_code}")
        for _render in range(renders):
            before = cr.sql_log_count
            start, cpu_start = time.perf_counter(), time.process_time()
            response = client.get(path, headers=headers)
            timings.append((time.perf_counter() - start) * 1000)
            cpu_timings.append((time.process_time() - cpu_start) * 1000)
            queries.append(cr.sql_log_count - before)
            if response.status_code != 200:
                raise SystemExit(f"{path}: HTTP {response.status_code}")
    rows = response.get_data(as_text=True).count("data-invoice-id=")
    return {
        "database": cr.dbname,
        "open_invoices": invoice_count,
        "invoices_on_page": rows,
        "renders": renders,
        "median_ms": round(statistics.median(timings), 1),
        "slowest_ms": round(max(timings), 1),
        # CPU time of this process: what the request costs when the machine
        # is not shared (PostgreSQL's own time is not in it).
        "median_cpu_ms": round(statistics.median(cpu_timings), 1),
        "queries_per_render": max(queries),
    }
