"""``odoo dunning_autopay_bench``: time the scheduled job charging automatic
payments against Odoo's demo payment provider.

::

    odoo --addons-path=. dunning_autopay_bench -d DB [--instalments 1000]

On a database where ``friendly_dunning_bench`` is installed (it brings
``payment_demo``), in one transaction that is rolled back at the end, it gives
``--instalments`` new customers of the main company a posted invoice due
today, a card saved with the demo provider and an active automatic payment,
then times the scheduled job (``dunning.autopay.charge._cron_dunning_autopay``)
creating and charging every instalment: the transactions, the demo provider's
answer, Odoo's post-processing (the payment, its reconciliation with the
invoice) and the thank-you messages queued. It prints the wall and CPU seconds
and the SQL queries of each batch, and checks that every invoice ended paid.
The job runs at noon UTC, inside the sending window; the database is left as
it was.
"""

import statistics
import sys
import time
from datetime import date, datetime
from unittest.mock import patch

import odoo
from odoo import fields
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import config


class DunningAutopayBench(Command):
    """Time the scheduled job charging many due instalments automatically."""

    name = "dunning_autopay_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument("--instalments", type=int, default=1000)
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            figures = measure(env, options.instalments)
            cr.rollback()
        for name, value in figures.items():
            sys.stdout.write(f"{name:>32}: {value}\n")


def prepare(env, count):
    """``count`` customers, each with an invoice due today, a demo card and
    automatic payments on."""
    company = env.ref("base.main_company")
    # Charges keep the sending window: open it all day for the measure.
    company.write({"dunning_quiet_hour_start": 0, "dunning_quiet_hour_end": 24})
    provider = env["payment.provider"].search(
        [("code", "=", "demo"), ("company_id", "=", company.id)], limit=1
    )
    if not provider:
        raise SystemExit("No demo payment provider: install friendly_dunning_bench.")
    method = env.ref("payment_demo.payment_method_demo")
    method.active = True
    provider.write(
        {
            "state": "test",
            "is_published": True,
            "payment_method_ids": [fields.Command.link(method.id)],
        }
    )
    if not provider.journal_id:
        provider.journal_id = env["account.journal"].search(
            [("company_id", "=", company.id), ("type", "=", "bank")], limit=1
        )
    partners = env["res.partner"].create(
        [
            {
                "name": f"Autopay Bench {index:04d}",
                "is_company": True,
                "email": f"autopay{index}@example.com",
            }
            for index in range(count)
        ]
    )
    product = env["product.product"].create({"name": "Autopay bench service"})
    today = date.today()
    moves = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_date": today,
                "invoice_date_due": today,
                "invoice_line_ids": [
                    fields.Command.create(
                        {
                            "product_id": product.id,
                            "price_unit": 100 + index % 50,
                            "tax_ids": [],
                        }
                    )
                ],
            }
            for index, partner in enumerate(partners)
        ]
    )
    moves.action_post()
    tokens = env["payment.token"].create(
        [
            {
                "provider_id": provider.id,
                "payment_method_id": method.id,
                "partner_id": partner.id,
                "payment_details": "4242",
                "provider_ref": f"bench-{partner.id}",
                "demo_simulated_state": "done",
            }
            for partner in partners
        ]
    )
    env["dunning.autopay"].create(
        [
            {
                "partner_id": partner.id,
                "company_id": company.id,
                "token_id": token.id,
                "authorisation_text": "Benchmark",
            }
            for partner, token in zip(partners, tokens, strict=True)
        ]
    )
    env.flush_all()
    env.invalidate_all()
    return moves


def measure(env, count):
    prepare_start = time.perf_counter()
    moves = prepare(env, count)
    prepare_seconds = time.perf_counter() - prepare_start
    Charge = env["dunning.autopay.charge"]
    cr = env.cr
    batches = []
    charge_batch = type(Charge)._dunning_charge

    def timed_batch(charges, company):
        before, start = cr.sql_log_count, time.perf_counter()
        charge_batch(charges, company)
        charges.env.flush_all()
        batches.append(
            (len(charges), cr.sql_log_count - before, time.perf_counter() - start)
        )

    # Queries inside Odoo's steps of a payment, apart from the job's own.
    steps = {}
    Tx = type(env["payment.transaction"])

    def counted(name, original):
        def wrapper(*args, **kwargs):
            before = cr.sql_log_count
            try:
                return original(*args, **kwargs)
            finally:
                steps[name] = steps.get(name, 0) + cr.sql_log_count - before

        return wrapper

    now = datetime.combine(date.today(), datetime.min.time()).replace(hour=12)
    before, start = cr.sql_log_count, time.perf_counter()
    cpu_start = time.process_time()
    with (
        patch.object(type(Charge), "_dunning_charge", timed_batch),
        patch.object(fields.Datetime, "now", return_value=now),
        patch.object(Tx, "create", counted("transaction_create", Tx.create)),
        patch.object(
            Tx,
            "_send_payment_request",
            counted("provider_request", Tx._send_payment_request),
        ),
        patch.object(
            type(Charge),
            "_dunning_create_payments",
            counted("payments", type(Charge)._dunning_create_payments),
        ),
        patch.object(Tx, "_post_process", counted("post_process", Tx._post_process)),
    ):
        Charge._cron_dunning_autopay()
        env.flush_all()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    queries = cr.sql_log_count - before
    moves.invalidate_recordset(["payment_state"])
    paid = moves.filtered(lambda move: move.payment_state in ("paid", "in_payment"))
    sizes = [size for size, _queries, _seconds in batches]
    return {
        "database": cr.dbname,
        "instalments": count,
        "prepare_s": round(prepare_seconds, 1),
        "job_s": round(seconds, 1),
        "job_cpu_s": round(cpu_seconds, 1),
        "job_queries": queries,
        "batches": len(batches),
        "batch_size": max(sizes) if sizes else 0,
        "queries_per_batch_median": statistics.median(q for _s, q, _t in batches)
        if batches
        else 0,
        "queries_per_instalment": round(queries / count, 1) if count else 0,
        "seconds_per_batch_median": round(
            statistics.median(t for _s, _q, t in batches), 2
        )
        if batches
        else 0,
        **{
            f"queries_per_instalment_{name}": round(count_ / count, 1)
            for name, count_ in steps.items()
        },
        "own_queries_per_batch": round((queries - sum(steps.values())) / len(batches))
        if batches
        else 0,
        "invoices_paid": f"{len(paid)} of {len(moves)}",
        "thank_yous_queued": env["dunning.communication"].search_count(
            [("kind", "=", "autopay"), ("partner_id", "in", moves.partner_id.ids)]
        ),
    }
