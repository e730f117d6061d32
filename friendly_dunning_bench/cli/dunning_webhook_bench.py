"""``odoo dunning_webhook_bench``: WhatsApp status webhooks through Odoo's
HTTP stack, measured against Odoo's own ``/web/health`` in the same run.

Run it on a scratch database where friendly_dunning is installed::

    odoo --addons-path=. dunning_webhook_bench -d fd_wh_bench --port 8283

It creates a WhatsApp channel and ``--messages`` sent messages, starts Odoo on
``--port`` in prefork mode (``--workers``, 2 by default; no cron), then the
same load tool -- ``--concurrency`` connections at a time from one asyncio
loop (tools/http_load.py), one connection per
request -- spends ``--duration`` seconds on each of: ``GET /web/health``,
signed webhooks carrying one status, signed webhooks carrying
``--batch-size`` statuses (100 by default, as Meta batches them). It prints
requests per second of each, the single-status rate as a share of the health
rate, and the events per second of the batches. The server is stopped and the
data deleted at the end.
"""

import hashlib
import hmac
import http.client
import importlib.util
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import odoo
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import config

_TOOLS = Path(__file__).resolve().parent.parent / "tools"
SECRET = "webhook-bench-secret"
PHONE_NUMBER_ID = "webhook-bench-number"


def load_tool(name):
    """A module of the bench addon's tools/ folder, loaded by path: Odoo
    loads each command as ``odoo.cli.<name>``, outside the addon's package."""
    spec = importlib.util.spec_from_file_location(
        f"dunning_bench_{name}", _TOOLS / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def status_body(events):
    """``(raw body, headers)`` of a signed webhook with ``events`` as
    ``(wamid, status, timestamp)``."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "bench-waba",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": PHONE_NUMBER_ID},
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": state,
                                    "timestamp": str(timestamp),
                                    "recipient_id": "34600000000",
                                    "pricing": {"category": "utility"},
                                }
                                for wamid, state, timestamp in events
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={digest}",
        "Connection": "close",
    }


def load(port, duration, concurrency, requests_):
    """Send ``requests_`` (an iterator of ``(method, path, body, headers)``)
    from ``concurrency`` connections at a time for ``duration`` seconds:
    ``(ok, errors, seconds)``. Each request becomes bytes before it is sent
    (tools/http_load.py), so the client's own cost stays out of the rate."""
    http_load = load_tool("http_load")
    raw = (http_load.raw_request(*request) for request in requests_)
    return http_load.send_for(port, duration, concurrency, raw)


class DunningWebhookBench(Command):
    """Measure WhatsApp status webhooks against /web/health."""

    name = "dunning_webhook_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument("--port", type=int, default=8283)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--duration", type=float, default=15)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--messages", type=int, default=20000)
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument("--json", action="store_true")
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            channel, wamids = setup(env, options.messages)
            cr.commit()
            # Fresh statistics after the bulk insert, as after any import.
            cr.execute("ANALYZE dunning_communication")
            cr.commit()
        server = start_server(options)
        try:
            figures = measure(options, wamids)
        finally:
            server.terminate()
            server.wait(timeout=30)
            with registry.cursor() as cr:
                env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                env["dunning.communication"].search(
                    [("channel_id", "=", channel.id)]
                ).unlink()
                env["dunning.channel"].browse(channel.id).unlink()
                cr.commit()
        if options.json:
            sys.stdout.write(json.dumps(figures, indent=2) + "\n")
            return
        for name, value in figures.items():
            sys.stdout.write(f"{name:>40}: {value}\n")


def setup(env, count):
    company = env.ref("base.main_company")
    partner = env["res.partner"].create({"name": "Webhook bench customer"})
    channel = env["dunning.channel"].create(
        {
            "name": f"Webhook bench {int(time.time())}",
            "channel_type": "whatsapp",
            "company_id": company.id,
            "wa_phone_number_id": PHONE_NUMBER_ID,
            "wa_access_token": "unused",
            "wa_app_secret": SECRET,
        }
    )
    stamp = int(time.time())
    wamids = [f"wamid.bench.{stamp}.{index}" for index in range(count)]
    env["dunning.communication"].create(
        [
            {
                "company_id": company.id,
                "partner_id": partner.id,
                "channel": "whatsapp",
                "channel_id": channel.id,
                "state": "sent",
                "provider_message_id": wamid,
            }
            for wamid in wamids
        ]
    )
    return channel, wamids


# Starts Odoo like the ``odoo`` script, except that the websocket (gevent)
# process prefork spawns is an idle stand-in: the benchmark measures the HTTP
# workers, and on machines without gevent's own dependencies that process
# would crash and respawn, eating the CPU being measured.
_SERVER_BOOTSTRAP = """
import subprocess, sys
import odoo.cli
from odoo.service import server

def idle_long_polling(self):
    idle = [sys.executable, "-c", "import signal; signal.pause()"]
    self.long_polling_pid = subprocess.Popen(idle).pid

server.PreforkServer.long_polling_spawn = idle_long_polling
sys.argv = ["odoo", *sys.argv[1:]]
odoo.cli.main()
"""


def start_server(options, extra_args=()):
    """Odoo serving ``options.database`` on ``options.port`` with
    ``options.workers`` workers and no cron, once ``/web/health`` answers.
    The database is named (``-d``) with no ``--db-filter``, as a server of
    one database is set up: with a filter, Odoo lists the server's databases
    (a new connection and a query) on every request that has no session,
    which is every webhook, and that halves the rate it serves here."""
    command = [
        sys.executable,
        "-c",
        _SERVER_BOOTSTRAP,
        "--addons-path=" + ",".join(config["addons_path"]),
        "-d",
        options.database,
        f"--workers={options.workers}",
        "--max-cron-threads=0",
        "--http-interface=127.0.0.1",
        f"--http-port={options.port}",
        "--log-level=warn",
        *extra_args,
    ]
    server = subprocess.Popen(command)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(
                "127.0.0.1", options.port, timeout=2
            )
            connection.request("GET", "/web/health")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("Odoo did not start")


def measure(options, wamids):
    path = "/friendly_dunning/webhook/whatsapp"
    health = itertools.repeat(("GET", "/web/health", None, {"Connection": "close"}))
    # Each single-status request moves another message forward.
    singles = (
        ("POST", path, *status_body([(wamid, state, 1700000000 + index)]))
        for index, (state, wamid) in enumerate(
            itertools.cycle(
                [("delivered", w) for w in wamids] + [("read", w) for w in wamids]
            )
        )
    )
    size = options.batch_size

    def batches():
        for round_, state in enumerate(itertools.cycle(("delivered", "read"))):
            for start in range(0, len(wamids) - size + 1, size):
                yield (
                    "POST",
                    path,
                    *status_body(
                        [
                            (wamid, state, 1800000000 + round_)
                            for wamid in wamids[start : start + size]
                        ]
                    ),
                )

    figures = {
        "workers": options.workers,
        "concurrency": options.concurrency,
        "seconds_per_phase": options.duration,
    }
    # Warm both routes up (first requests load the registry in each worker).
    load(options.port, 2, options.concurrency, health)
    load(options.port, 2, options.concurrency, iter(singles))
    for name, requests_ in (
        ("health", health),
        ("single_status", iter(singles)),
        ("batch", iter(batches())),
    ):
        ok, errors, seconds = load(
            options.port, options.duration, options.concurrency, requests_
        )
        figures[f"{name}_requests_per_second"] = round(ok / seconds, 1)
        figures[f"{name}_errors"] = errors
    figures["single_status_vs_health_percent"] = round(
        100
        * figures["single_status_requests_per_second"]
        / figures["health_requests_per_second"],
        1,
    )
    figures["batch_size"] = size
    figures["batch_events_per_second"] = round(
        figures["batch_requests_per_second"] * size, 1
    )
    return figures
