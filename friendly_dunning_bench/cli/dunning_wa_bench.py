"""``odoo dunning_wa_bench``: WhatsApp sending throughput against a local fake.

Run it on a scratch database where friendly_dunning is installed::

    createdb fd_wa_bench
    odoo --addons-path=. -d fd_wa_bench -i friendly_dunning --stop-after-init
    odoo --addons-path=. dunning_wa_bench -d fd_wa_bench --count 10000

It starts the loopback fake of Meta's Graph API (tools/fake_graph.py,
answering after ``--latency`` seconds, 50 ms by default), creates a WhatsApp
channel limited to ``--rate`` messages a second (80 by default), an approved
template, a step using it and ``--customers`` opted-in customers, queues
``--count`` reminders and sends them exactly as the scheduled job does:
batches locked and committed, HTTP calls in a small thread pool, database
writes in the main thread. It prints the messages per second sustained and
the most messages sent (rate limiter grants) and received by the fake
server in any one second (sliding window): never above the rate. Everything
it created is deleted at the end (``--keep`` keeps it).
"""

import bisect
import collections
import importlib.util
import json
import sys
import time
from pathlib import Path

import odoo
from odoo import fields
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import config

# Loaded by path: Odoo loads this command as odoo.cli.dunning_wa_bench, outside
# the addon's package.
_TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f"dunning_{name}", _TOOLS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_fake_graph():
    return _load_tool("fake_graph")


def max_in_window(times, window=1.0):
    """The most events of ``times`` (sorted) within any ``window`` seconds
    (a half-open interval starting at an event)."""
    best = 0
    for index, start in enumerate(times):
        end = bisect.bisect_left(times, start + window, lo=index)
        best = max(best, end - index)
    return best


class DunningWhatsAppBench(Command):
    """Measure WhatsApp sending throughput against a local fake Graph API."""

    name = "dunning_wa_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument("--count", type=int, default=10000)
        parser.add_argument("--customers", type=int, default=1000)
        parser.add_argument("--rate", type=int, default=80)
        parser.add_argument("--latency", type=float, default=0.05)
        parser.add_argument("--keep", action="store_true")
        parser.add_argument("--json", action="store_true")
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        fake_graph = _load_fake_graph()
        # The fake runs in its own process: its clock then sees arrivals as a
        # provider would, not slowed by our threads sharing one interpreter.
        fake = _load_tool("fake_graph_process").FakeGraphProcess(
            options.latency,
            lifetime=3600,
            templates=[("bench_reminder", "Hi {{1}}, you owe {{2}}.")],
        )
        registry = Registry(options.database)
        try:
            with registry.cursor() as cr:
                env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                created = setup(env, fake, fake_graph, options)
                cr.commit()
                try:
                    figures = measure(env, fake, options, created["channel"])
                finally:
                    if not options.keep:
                        cleanup(env, created)
                        cr.commit()
        finally:
            fake.stop()
        if options.json:
            sys.stdout.write(json.dumps(figures, indent=2) + "\n")
            return
        for name, value in figures.items():
            sys.stdout.write(f"{name:>36}: {value}\n")


def setup(env, fake, fake_graph, options):
    company = env.ref("base.main_company")
    stamp = str(int(time.time()))
    channel = env["dunning.channel"].create(
        {
            "name": f"WhatsApp bench {stamp}",
            "channel_type": "whatsapp",
            "company_id": company.id,
            "wa_phone_number_id": fake_graph.PHONE_NUMBER_ID,
            "wa_business_account_id": fake_graph.WABA_ID,
            "wa_access_token": fake_graph.TOKEN,
            "wa_api_base_url": fake.base_url,
            "wa_rate_limit": options.rate,
        }
    )
    channel.action_sync_templates()
    policy = env["dunning.policy"].create(
        {"name": f"WhatsApp bench {stamp}", "company_id": company.id}
    )
    step = env["dunning.step"].create(
        {
            "name": "Bench",
            "policy_id": policy.id,
            "offset_days": 1,
            "channel_first": "whatsapp",
            "channel_second": False,
            "channel_third": False,
            "wa_template_id": channel.wa_template_ids[:1].id,
        }
    )
    spain = env.ref("base.es")
    partners = env["res.partner"].create(
        [
            {
                "name": f"Bench customer {index}",
                "phone": f"+34 6{index:08d}",
                "country_id": spain.id,
                "company_id": company.id,
            }
            for index in range(options.customers)
        ]
    )
    env["dunning.consent"].create(
        [
            {
                "partner_id": partner.id,
                "channel": "whatsapp",
                "state": "opted_in",
                "source": "import",
            }
            for partner in partners
        ]
    )
    messages = env["dunning.communication"].create(
        [
            {
                "company_id": company.id,
                "partner_id": partners[index % len(partners)].id,
                "step_id": step.id,
                "channel": "whatsapp",
                "channel_id": channel.id,
                "recipient": partners[index % len(partners)].phone_sanitized,
                "body": "Hi, a friendly reminder.",
                "amount_due": 100.0,
            }
            for index in range(options.count)
        ]
    )
    return {
        "messages": messages,
        "step": step,
        "policy": policy,
        "partners": partners,
        "channel": channel,
    }


def measure(env, fake, options, channel):
    Communication = env["dunning.communication"].with_context(dunning_commit=True)
    grants = channel._whatsapp_rate_limiter().history = []
    start = time.perf_counter()
    Communication._dunning_send_queued()
    elapsed = time.perf_counter() - start
    times = fake.message_times()
    states = dict(
        env["dunning.communication"]._read_group(
            [("step_id.policy_id.name", "like", "WhatsApp bench")],
            ["state"],
            ["__count"],
        )
    )
    wire = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "database": env.cr.dbname,
        "messages": options.count,
        "customers": options.customers,
        "configured_rate_per_second": options.rate,
        "fake_api_latency_seconds": options.latency,
        "sent": states.get("sent", 0),
        "other_states": {k: v for k, v in states.items() if k != "sent"},
        "seconds_total": round(elapsed, 2),
        "messages_per_second_total": round(len(times) / elapsed, 2),
        "messages_per_second_on_the_wire": round((len(times) - 1) / wire, 2)
        if wire
        else None,
        # As the rate limiter granted them, right before each socket write.
        "messages_per_second_granted": round(
            (len(grants) - 1) / (max(grants) - min(grants)), 2
        )
        if len(grants) > 1
        else None,
        "max_messages_in_any_second_received": max_in_window(times),
        "max_messages_in_any_second_sent": max_in_window(sorted(grants)),
        "max_messages_in_a_clock_second_received": max(
            collections.Counter(int(t) for t in times).values(), default=0
        ),
        "sent_at": fields.Datetime.now().isoformat(sep=" "),
    }


def cleanup(env, created):
    env.cr.rollback()
    env.invalidate_all()
    env["dunning.communication"].search([("step_id", "=", created["step"].id)]).unlink()
    env["dunning.consent"].search(
        [("partner_id", "in", created["partners"].ids)]
    ).unlink()
    created["policy"].unlink()
    created["channel"].unlink()
    created["partners"].unlink()
