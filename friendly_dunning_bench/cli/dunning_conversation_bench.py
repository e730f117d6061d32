"""``odoo dunning_conversation_bench``: customers' WhatsApp replies through
Odoo's HTTP stack, each answered in the chat through the loopback fake of
Meta's Graph API.

Run it on a scratch database where friendly_dunning is installed (with a
chart of accounts)::

    odoo --addons-path=. dunning_conversation_bench -d fd_conv_bench --port 8284

It starts the fake Graph API (answering after ``--latency`` seconds, none
by default), creates a WhatsApp channel pointing at it and ``--customers``
opted-in customers (1,000 by default) with an overdue invoice each, starts
Odoo on ``--port`` in prefork mode (``--workers``, 2 by default; no cron),
then:

- latency: ``--samples`` signed webhooks (100), one after the other, each a
  customer writing "I need more time", answered with the plans they may
  choose: the median and 95th percentile of the time from the webhook
  POST to its answer (the answer is on the fake Graph API by then);
- burst: one reply from each customer ("Which invoices?"), sent by
  ``--concurrency`` client threads (8): replies per second absorbed, and
  the queries each reply took (Odoo's request log), fewest and most.

Everything it created is deleted at the end (``--keep`` keeps it).
"""

import hashlib
import hmac
import http.client
import importlib.util
import json
import multiprocessing
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import odoo
from odoo import fields
from odoo.cli.command import Command
from odoo.modules.registry import Registry
from odoo.tools import config

SECRET = "conversation-bench-secret"
PATH = "/friendly_dunning/webhook/whatsapp"
_FAKE_GRAPH = Path(__file__).resolve().parent.parent / "tools" / "fake_graph.py"
# Odoo's request log ends with the query count and times of the request.
_REQUEST_LOG = re.compile(rf'"POST {re.escape(PATH)} HTTP/[\d.]+" 200 - (\d+) ')


def _load_fake_graph():
    spec = importlib.util.spec_from_file_location("dunning_fake_graph", _FAKE_GRAPH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _serve(latency, ready, stop, counts):
    fake_graph = _load_fake_graph()
    with fake_graph.FakeGraph(latency=latency, lifetime=3600) as fake:
        ready.put(fake.base_url)
        stop.wait()
        counts.put(
            sum(1 for request in fake.requests if request["path"].endswith("/messages"))
        )


def reply_body(phone_number_id, sender, wamid, text):
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
                            "metadata": {"phone_number_id": phone_number_id},
                            "messages": [
                                {
                                    "from": sender,
                                    "id": wamid,
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
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
    }


def post(port, body, headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", PATH, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class DunningConversationBench(Command):
    """Measure in-chat answers to WhatsApp replies."""

    name = "dunning_conversation_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument("--port", type=int, default=8284)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--customers", type=int, default=1000)
        parser.add_argument("--samples", type=int, default=100)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--latency", type=float, default=0.0)
        parser.add_argument("--keep", action="store_true")
        parser.add_argument("--json", action="store_true")
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        context = multiprocessing.get_context("fork")
        stop, ready, counts = context.Event(), context.Queue(), context.Queue()
        fake = context.Process(
            target=_serve, args=(options.latency, ready, stop, counts), daemon=True
        )
        fake.start()
        base_url = ready.get(timeout=30)
        fake_graph = _load_fake_graph()
        registry = Registry(options.database)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            created = setup(env, fake_graph, base_url, options)
            cr.commit()
        server, log_lines = start_server(options)
        try:
            figures = measure(options, fake_graph, created["senders"], log_lines)
        finally:
            server.terminate()
            server.wait(timeout=30)
            stop.set()
            figures_sent = counts.get(timeout=30)
            fake.join(timeout=10)
            if not options.keep:
                with registry.cursor() as cr:
                    cleanup(odoo.api.Environment(cr, odoo.SUPERUSER_ID, {}), created)
                    cr.commit()
        figures["answers_received_by_the_fake_api"] = figures_sent
        if options.json:
            sys.stdout.write(json.dumps(figures, indent=2) + "\n")
            return
        for name, value in figures.items():
            sys.stdout.write(f"{name:>40}: {value}\n")


def setup(env, fake_graph, base_url, options):
    company = env.ref("base.main_company")
    stamp = int(time.time())
    channel = env["dunning.channel"].create(
        {
            "name": f"Conversation bench {stamp}",
            "channel_type": "whatsapp",
            "company_id": company.id,
            "wa_phone_number_id": fake_graph.PHONE_NUMBER_ID,
            "wa_access_token": fake_graph.TOKEN,
            "wa_app_secret": SECRET,
            "wa_api_base_url": base_url,
            "wa_rate_limit": 1000,
        }
    )
    sandboxes = env["dunning.channel"].search(
        [("company_id", "=", company.id), ("channel_type", "=", "sandbox")]
    )
    sandboxes.active = False
    spain = env.ref("base.es")
    partners = env["res.partner"].create(
        [
            {
                "name": f"Conversation bench {index}",
                "phone": f"+34 7{stamp % 100:02d}{index:06d}",
                "country_id": spain.id,
                "lang": "en_US",
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
    today = fields.Date.context_today(env.user)
    moves = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "company_id": company.id,
                "partner_id": partner.id,
                "invoice_date": today - timedelta(days=40),
                "invoice_date_due": today - timedelta(days=10),
                "invoice_line_ids": [
                    odoo.Command.create(
                        {"name": "Bench", "quantity": 1, "price_unit": 300.0}
                    )
                ],
            }
            for partner in partners
        ]
    )
    moves.action_post()
    return {
        "channel": channel,
        "sandboxes": sandboxes,
        "partners": partners,
        "moves": moves,
        "senders": [partner.phone_sanitized.lstrip("+") for partner in partners],
    }


# As in dunning_webhook_bench: Odoo in prefork, with an idle stand-in for the
# websocket process.
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


def start_server(options):
    """Odoo serving the database; answers the process and the request log
    lines it writes (collected by a thread)."""
    command = [
        sys.executable,
        "-c",
        _SERVER_BOOTSTRAP,
        "--addons-path=" + ",".join(config["addons_path"]),
        "-d",
        options.database,
        f"--db-filter=^{options.database}$",
        f"--workers={options.workers}",
        "--max-cron-threads=0",
        "--http-interface=127.0.0.1",
        f"--http-port={options.port}",
        "--log-level=warn",
        "--log-handler=werkzeug:INFO",
    ]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    lines = []

    def collect():
        lines.extend(server.stderr)

    threading.Thread(target=collect, daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(
                "127.0.0.1", options.port, timeout=2
            )
            connection.request("GET", "/web/health")
            if connection.getresponse().status == 200:
                return server, lines
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("Odoo did not start")


def measure(options, fake_graph, senders, log_lines):
    number = fake_graph.PHONE_NUMBER_ID
    stamp = int(time.time())
    # Warm every worker up (the first requests load the registry).
    for index in range(options.workers * 4):
        post(
            options.port,
            *reply_body(number, senders[-1], f"warm.{stamp}.{index}", "hello"),
        )
    durations = []
    for index in range(min(options.samples, len(senders))):
        body, headers = reply_body(
            number, senders[index], f"lat.{stamp}.{index}", "I need more time"
        )
        start = time.perf_counter()
        post(options.port, body, headers)
        durations.append(time.perf_counter() - start)
    del log_lines[:]
    requests_ = iter(
        [
            reply_body(number, sender, f"burst.{stamp}.{index}", "Which invoices?")
            for index, sender in enumerate(senders)
        ]
    )
    lock = threading.Lock()
    outcomes = {"ok": 0, "errors": 0}

    def worker():
        while True:
            with lock:
                request = next(requests_, None)
            if request is None:
                return
            try:
                key = "ok" if post(options.port, *request) == 200 else "errors"
            except OSError:
                key = "errors"
            with lock:
                outcomes[key] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(options.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    time.sleep(1)  # the last request log lines
    queries = [
        int(match.group(1))
        for line in list(log_lines)
        for match in [_REQUEST_LOG.search(line)]
        if match
    ]
    durations.sort()
    return {
        "database": options.database,
        "workers": options.workers,
        "customers": len(senders),
        "fake_api_latency_seconds": options.latency,
        "latency_samples": len(durations),
        "latency_median_ms": round(statistics.median(durations) * 1000, 1),
        "latency_p95_ms": round(durations[int(len(durations) * 0.95) - 1] * 1000, 1),
        "burst_replies": len(senders),
        "burst_concurrency": options.concurrency,
        "burst_ok": outcomes["ok"],
        "burst_errors": outcomes["errors"],
        "burst_seconds": round(elapsed, 2),
        "burst_replies_per_second": round(outcomes["ok"] / elapsed, 1),
        "queries_per_reply_min": min(queries, default=None),
        "queries_per_reply_max": max(queries, default=None),
        "queries_per_reply_median": statistics.median(queries) if queries else None,
    }


def cleanup(env, created):
    created = {
        key: value.with_env(env) for key, value in created.items() if key != "senders"
    }
    partners = created["partners"]
    Communication = env["dunning.communication"]
    Communication.search([("partner_id", "in", partners.ids)]).unlink()
    env["dunning.conversation"].search([("partner_id", "in", partners.ids)]).unlink()
    env["dunning.consent"].search([("partner_id", "in", partners.ids)]).unlink()
    env["mail.activity"].search(
        [("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)]
    ).unlink()
    moves = created["moves"]
    moves.button_draft()
    moves.with_context(force_delete=True).unlink()
    created["channel"].unlink()
    created["sandboxes"].active = True
    partners.unlink()
