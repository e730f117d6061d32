"""``odoo dunning_bench``: measure the collections engine on a database.

Run it on a copy of the generated dataset (see ``dunning_dataset``)::

    createdb -T fd_bench_tpl fd_bench_run
    odoo --addons-path=. dunning_bench -d fd_bench_run

It times, in one transaction that is rolled back at the end (so the copy can be
measured again), the segmentation of every customer and the planning of a run:
selecting what is due, deciding per customer, queueing the outbox records and
logging them in the chatter. It prints seconds and SQL queries for each.

With ``--oca`` it also times, in the same transaction, OCA's
``account_credit_control`` generating its credit control lines for the same
companies and date, and prints both figures and the ratio. That addon must be
installed in the database (it is not a dependency: it is only called through
the ORM). Each company gets, in the rolled-back transaction, a credit control
policy mirroring its dunning policy: a level for each step from the due date on
(OCA follows up only what is already due), by e-mail, on the receivable
accounts. ``--oca-policy NAME`` uses a policy configured in the database
instead::

    pip install --no-deps --target /opt/oca-addons odoo-addon-account-credit-control
    createdb -T fd_bench_tpl fd_bench_oca
    odoo --addons-path=.,/opt/oca-addons/odoo/addons -d fd_bench_oca \\
        -i account_credit_control --stop-after-init
    odoo --addons-path=.,/opt/oca-addons/odoo/addons dunning_bench \\
        -d fd_bench_oca --oca

Wall times move from run to run on a shared machine. ``--template T --repeat
N`` measures N times, each time on a new copy of the database ``T`` made as
``-d`` (and dropped after), and prints the median of each time, every run's
figure and the median of the runs' ratios. Runs repeated in one database would
not do: a rolled-back run leaves dead row versions behind (in the invoices it
gave an access token, the outbox, the chatter) that slow the next one down::

    odoo --addons-path=.,/opt/oca-addons/odoo/addons dunning_bench \\
        -d fd_bench_run --template fd_bench_oca --oca --repeat 5
"""

import json
import statistics
import sys
import time
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytz

import odoo
from odoo import fields
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.sql_db import close_db, db_connect
from odoo.tools import SQL, config


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
            "--oca",
            action="store_true",
            help="also time OCA's account_credit_control generating its credit "
            "control lines on the same data and date, and print the ratio",
        )
        parser.add_argument(
            "--oca-policy",
            metavar="NAME",
            help="with --oca, the account_credit_control policy to run (default: "
            "one mirroring each company's dunning policy, made for the run)",
        )
        parser.add_argument(
            "--no-warmup",
            action="store_true",
            help="time the first run of each side in this process (by default "
            "each side runs once, rolled back, before it is timed: a cron worker "
            "has its caches warm, and whichever side ran first would otherwise "
            "pay for filling them)",
        )
        parser.add_argument(
            "--template",
            metavar="DB",
            help="measure on a new copy of DB made as -d (created, then dropped: "
            "-d must not exist), once per --repeat",
        )
        parser.add_argument(
            "--repeat",
            type=int,
            default=1,
            metavar="N",
            help="with --template, measure N times, each on a new copy, and print "
            "the medians and every run's figures (default 1)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the figures as JSON"
        )
        options, odoo_args = parser.parse_known_args(cmdargs)
        if options.repeat < 1:
            parser.error("--repeat must be at least 1")
        if options.repeat > 1 and not options.template:
            parser.error(
                "--repeat needs --template: each run must start from a new copy"
            )
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        hour, minute = (int(part) for part in options.at.split(":"))
        now = datetime.combine(
            datetime.now(timezone.utc).date() + timedelta(days=options.days_ahead),
            datetime.min.time(),
        ).replace(hour=hour, minute=minute)
        rounds = []
        for _round in range(options.repeat):
            if options.template:
                _copy_database(options.template, options.database)
            try:
                rounds.append(self._measure_once(options, now))
            finally:
                if options.template:
                    _drop_database(options.database)
        figures = _summary(rounds)
        if options.json:
            sys.stdout.write(json.dumps(figures, indent=2) + "\n")
            return
        for name, value in figures.items():
            sys.stdout.write(f"{name:>44}: {value}\n")

    @staticmethod
    def _measure_once(options, now):
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            if options.oca and "credit.control.run" not in env:
                raise SystemExit(
                    f"--oca: account_credit_control is not installed in "
                    f"{options.database}, or not on --addons-path"
                )
            figures = measure(
                env,
                now,
                oca=options.oca,
                oca_policy=options.oca_policy,
                warmup=not options.no_warmup,
            )
            cr.rollback()
        return figures


def _copy_database(template, name):
    """``createdb -T template name``, connections to ``template`` closed."""
    close_db(template)
    with closing(db_connect("postgres").cursor()) as cr:
        cr._cnx.autocommit = True
        cr.execute(
            SQL(
                "CREATE DATABASE %s TEMPLATE %s",
                SQL.identifier(name),
                SQL.identifier(template),
            )
        )
    close_db("postgres")


def _drop_database(name):
    Registry.delete(name)
    close_db(name)
    with closing(db_connect("postgres").cursor()) as cr:
        cr._cnx.autocommit = True
        cr.execute(SQL("DROP DATABASE IF EXISTS %s", SQL.identifier(name)))
    close_db("postgres")


# Figures that are times: a median over several runs, with every run's figure.
TIMES = (
    "segmentation_seconds",
    "segmentation_cpu_seconds",
    "planning_seconds",
    "planning_cpu_seconds",
    "oca_seconds",
    "oca_cpu_seconds",
)
RATIOS = {
    "oca_vs_planning_time_ratio": ("oca_seconds", "planning_seconds"),
    "oca_vs_planning_cpu_ratio": ("oca_cpu_seconds", "planning_cpu_seconds"),
    "oca_vs_planning_query_ratio": ("oca_queries", "planning_queries"),
}


def _summary(rounds):
    """The figures of one run, rounded; of several, the last run's counts with
    the median of each time and of each ratio, and every run's figure."""
    figures = dict(rounds[-1])
    if len(rounds) > 1:
        figures["runs"] = len(rounds)
    for name in TIMES:
        if name not in figures:
            continue
        values = [round_[name] for round_ in rounds]
        figures[name] = round(statistics.median(values), 2)
        if len(rounds) > 1:
            figures[f"{name}_runs"] = [round(value, 2) for value in values]
    for name, (theirs, ours) in RATIOS.items():
        if theirs not in figures:
            continue
        values = [round_[theirs] / round_[ours] for round_ in rounds]
        figures[name] = round(statistics.median(values), 1)
        if len(rounds) > 1 and name != "oca_vs_planning_query_ratio":
            figures[f"{name}_runs"] = [round(value, 1) for value in values]
    if "oca_seconds" in figures:
        values = [
            round_["oca_seconds"]
            / (round_["segmentation_seconds"] + round_["planning_seconds"])
            for round_ in rounds
        ]
        figures["oca_vs_segmentation_and_planning_time_ratio"] = round(
            statistics.median(values), 1
        )
    return figures


def _timed(env, function, warmup):
    """``(result, wall seconds, CPU seconds of this process, queries)`` of
    ``function()``, after a first call rolled back when ``warmup``. CPU seconds
    leave out the time spent waiting for PostgreSQL or for a busy machine."""
    cr = env.cr
    if warmup:
        env.flush_all()
        with cr.savepoint(flush=False) as savepoint:
            function()
            env.flush_all()
            savepoint.rollback()
        env.invalidate_all()
    env.flush_all()
    queries = cr.sql_log_count
    start, cpu_start = time.perf_counter(), time.process_time()
    result = function()
    env.flush_all()
    return (
        result,
        time.perf_counter() - start,
        time.process_time() - cpu_start,
        cr.sql_log_count - queries,
    )


def measure(env, now, oca=False, oca_policy=None, warmup=True):
    """Seconds and queries of segmentation and of planning one run per company,
    and with ``oca`` of OCA's credit control lines for the same date (with the
    policy named ``oca_policy``, else with policies mirroring ours)."""
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

    _result, segmentation_seconds, segmentation_cpu, segmentation_queries = _timed(
        env,
        lambda: env["res.partner"]._dunning_refresh_segmentation(companies=companies),
        warmup,
    )

    def plan():
        runs = env["dunning.run"]
        for company in companies:
            runs |= env["dunning.run"]._run_company(company, now=now)
        return runs

    runs, planning_seconds, planning_cpu, planning_queries = _timed(env, plan, warmup)
    figures = {
        "database": cr.dbname,
        "planned_at_utc": now.isoformat(sep=" "),
        "customers_with_invoices": customers,
        "open_invoices": open_invoices,
        "warm_caches": warmup,
        "segmentation_seconds": segmentation_seconds,
        "segmentation_cpu_seconds": segmentation_cpu,
        "segmentation_queries": segmentation_queries,
        "planning_seconds": planning_seconds,
        "planning_cpu_seconds": planning_cpu,
        "planning_queries": planning_queries,
        "messages_queued": sum(runs.mapped("queued_count")),
        "customers_unreachable": sum(runs.mapped("unreachable_count")),
        "customers_held": sum(runs.mapped("held_count")),
    }
    if oca:
        oca_figures = measure_oca(env, now, companies, oca_policy, warmup)
        figures.update(oca_figures.pop("figures"))
    return figures


def measure_oca(env, now, companies, policy_name=None, warmup=True):
    """Seconds and queries of OCA's credit control run of each company on the
    date ``now`` falls on in the company's time zone, as our planning uses."""
    if policy_name:
        policy = env["credit.control.policy"].search([("name", "=", policy_name)])
        if len(policy) != 1:
            raise SystemExit(
                f"--oca-policy: {len(policy)} credit control policies named "
                f"{policy_name!r}"
            )
        policies = dict.fromkeys(companies, policy)
    else:
        policies = {company: _mirror_policy(env, company) for company in companies}
    for company, policy in policies.items():
        company.credit_policy_id = policy
    env.flush_all()
    env.invalidate_all()

    def generate():
        runs = env["credit.control.run"]
        for company, policy in policies.items():
            runs |= _oca_run(env, now, company, policy)
        return runs

    runs, seconds, cpu_seconds, queries = _timed(env, generate, warmup)

    Line = env["credit.control.line"]
    lines = Line.search([("run_id", "in", runs.ids)])
    per_level = Line._read_group([("run_id", "in", runs.ids)], ["level"], ["__count"])
    per_channel = Line._read_group(
        [("run_id", "in", runs.ids)], ["channel"], ["__count"]
    )
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "queries": queries,
        "figures": {
            "oca_policies": ", ".join(policy.name for policy in policies.values()),
            "oca_run_dates": ", ".join(sorted({str(run.date) for run in runs})),
            "oca_seconds": seconds,
            "oca_cpu_seconds": cpu_seconds,
            "oca_queries": queries,
            "oca_lines_generated": len(lines),
            "oca_lines_per_level": dict(sorted(per_level)),
            "oca_lines_per_channel": dict(sorted(per_channel)),
            "oca_customers_with_lines": len(lines.commercial_partner_id),
        },
    }


def _oca_run(env, now, company, policy):
    """OCA's run of ``policy`` for ``company``, on the date ``now`` falls on in
    the company's time zone."""
    company_today = (
        pytz.utc.localize(now)
        .astimezone(pytz.timezone(company.partner_id.tz or "UTC"))
        .date()
    )
    run = (
        env["credit.control.run"]
        .with_company(company)
        .create(
            {
                "date": company_today,
                "company_id": company.id,
                "policy_ids": [fields.Command.set(policy.ids)],
            }
        )
    )
    run.generate_credit_lines()
    return run


def _mirror_policy(env, company):
    """An OCA credit control policy mirroring the company's dunning policy: a
    level per step from the due date on (OCA only follows up lines already
    due), by e-mail, on the company's receivable accounts."""
    steps = company.dunning_policy_id.step_ids.filtered(
        lambda step: step.offset_days >= 0
    ).sorted("offset_days")
    template = env["mail.template"].search(
        [("model", "=", "credit.control.communication")], order="id", limit=1
    )
    receivable_accounts = env["account.account"].search(
        fields.Domain("account_type", "=", "asset_receivable")
        & fields.Domain(env["account.account"]._check_company_domain(company))
    )
    return env["credit.control.policy"].create(
        {
            "name": f"{company.dunning_policy_id.name} (mirror)",
            "company_id": company.id,
            "account_ids": [fields.Command.set(receivable_accounts.ids)],
            "level_ids": [
                fields.Command.create(
                    {
                        "name": step.name,
                        "level": level,
                        "computation_mode": "net_days",
                        "delay_days": step.offset_days,
                        "channel": "email",
                        "email_template_id": template.id,
                        "custom_text": step.body or step.name,
                        "custom_mail_text": step.body or step.name,
                    }
                )
                for level, step in enumerate(steps, start=1)
            ],
        }
    )
