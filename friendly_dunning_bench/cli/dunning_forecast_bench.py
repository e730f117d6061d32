"""``odoo dunning_forecast_bench``: time the payment forecast's hourly job and
the worklist that ranks by it.

::

    odoo --addons-path=. dunning_forecast_bench -d DB [--rounds 3]

On a database filled by ``dunning_dataset``, in one transaction rolled back at
the end, it runs the job *Collections: forecast payments*
(``dunning.payment.forecast._cron_dunning_forecast``) ``--rounds`` times: the
first run of the day also measures the cash-in range's widening (a second
training, 13 weeks back); the later ones are the hourly runs. Each run reads
every company's ledger, trains, forecasts every open instalment, stores the
forecasts, the customers' expected losses and the 13 cash-in weeks, and learns
the customers' best hours. It prints the wall and CPU seconds of each run and
of its parts (the first company's), then opens the worklist as the web client
does (its list view's fields and default order, the *Overdue* filter, 80 rows)
five times and prints the median.
"""

import statistics
import sys
import time
from contextlib import ExitStack
from unittest.mock import patch

import odoo
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import config


class DunningForecastBench(Command):
    """Time the payment forecast's job and the worklist."""

    name = "dunning_forecast_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument("--rounds", type=int, default=3)
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            figures = measure(env, options.rounds)
            cr.rollback()
        for name, value in figures.items():
            sys.stdout.write(f"{name:>36}: {value}\n")


def timed_parts(env):
    """Patches that add up the seconds spent in each part of the job."""
    from odoo.addons.friendly_dunning.tools import payment_forecast

    seconds = {}
    Forecast = type(env["dunning.payment.forecast"])
    Cash = type(env["dunning.cash.forecast"])
    Partner = type(env["res.partner"])

    def timing(name, original):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    forecaster = payment_forecast.PaymentForecaster
    patches = [
        patch.object(
            Forecast,
            "_dunning_read_ledger",
            timing("read ledger", Forecast._dunning_read_ledger),
        ),
        patch.object(
            forecaster, "train", classmethod(timing("train", forecaster.train.__func__))
        ),
        patch.object(forecaster, "forecast", timing("forecast", forecaster.forecast)),
        patch.object(
            Forecast, "_dunning_store", timing("store", Forecast._dunning_store)
        ),
        patch.object(
            Cash, "_dunning_refresh", timing("cash-in", Cash._dunning_refresh)
        ),
        patch.object(
            Partner,
            "_dunning_learn_best_hours",
            timing("best hours", Partner._dunning_learn_best_hours),
        ),
    ]
    return seconds, patches


def open_worklist(env):
    """The worklist's first page, as the web client asks for it."""
    action = env.ref("friendly_dunning.action_dunning_worklist_partners")
    view = env.ref("friendly_dunning.view_partner_list_dunning_worklist")
    arch = view.arch
    order = arch.split('default_order="', 1)[1].split('"', 1)[0]
    fields = [
        name
        for name in env["res.partner"].get_views([(view.id, "list")])["models"][
            "res.partner"
        ]["fields"]
    ]
    domain = [
        *odoo.tools.safe_eval.safe_eval(action.domain),
        ("dunning_overdue_amount", ">", 0),
    ]
    start = time.perf_counter()
    env["res.partner"].web_search_read(
        domain, {name: {} for name in fields}, order=order, limit=80
    )
    env.cr.execute("SELECT 1")
    return time.perf_counter() - start


def measure(env, rounds):
    Forecast = env["dunning.payment.forecast"]
    companies = env["res.company"].search([("dunning_policy_id", "!=", False)])
    runs = []
    parts = []
    for _round in range(rounds):
        seconds, patches = timed_parts(env)
        with ExitStack() as stack:
            for patcher in patches:
                stack.enter_context(patcher)
            start, cpu = time.perf_counter(), time.process_time()
            Forecast._cron_dunning_forecast()
            env.flush_all()
            runs.append(
                (time.perf_counter() - start, time.process_time() - cpu),
            )
        parts.append(seconds)
        env.invalidate_all()
    user = env["res.users"].search(
        [("group_ids", "in", env.ref("friendly_dunning.group_dunning_user").id)],
        limit=1,
    )
    worklist_env = env(user=user.id or odoo.SUPERUSER_ID)
    worklist = []
    for _round in range(6):
        worklist_env.invalidate_all()
        worklist.append(open_worklist(worklist_env))
    forecasts = Forecast.search_count([])
    return {
        "database": env.cr.dbname,
        "companies": len(companies),
        "open instalments forecast": forecasts,
        "paid instalments (first company)": len(
            Forecast._dunning_read_ledger(companies[:1])[0]
        )
        if companies
        else 0,
        "job wall s, each run": ", ".join(f"{wall:.2f}" for wall, _cpu in runs),
        "job CPU s, each run": ", ".join(f"{cpu:.2f}" for _wall, cpu in runs),
        **{
            f"first run: {name} s": round(value, 2)
            for name, value in (parts[0] if parts else {}).items()
        },
        **{
            f"last run: {name} s": round(value, 2)
            for name, value in (parts[-1] if parts else {}).items()
        },
        "worklist s, median of 5 (first left out)": round(
            statistics.median(worklist[1:]), 3
        ),
        "customers with an expected loss": env["res.partner"].search_count(
            [("dunning_expected_loss", ">", 0)]
        ),
    }
