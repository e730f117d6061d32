"""``odoo dunning_conversation_bench``: customers' WhatsApp replies through
Odoo's HTTP stack, answered in the chat, against a local fake Graph API.

Run it on a scratch database where friendly_dunning is installed::

    createdb fd_conv_bench
    odoo --addons-path=. -d fd_conv_bench -i friendly_dunning --stop-after-init
    odoo --addons-path=. dunning_conversation_bench -d fd_conv_bench

It starts the loopback fake of Meta's Graph API in a child process (answering
after ``--latency`` seconds), creates a WhatsApp channel whose API is that
fake, ``--latency-replies`` + ``--burst`` opted-in customers with 1 to
``--invoices-max`` open overdue invoices each, and starts Odoo on ``--port`` in
prefork mode (``--workers`` HTTP workers, ``--cron-workers`` cron workers that
handle the messages the webhook queued during a burst). Then:

- **latency**: ``--latency-replies`` signed inbound webhooks, one at a time,
  each a new customer's ``--text``; for each, the time from the moment the
  webhook is sent to the moment the fake receives our answer to that customer
  (the same monotonic clock on both sides). Median, 90th percentile, slowest.
- **burst**: ``--burst`` inbound replies of as many other customers,
  ``--per-webhook`` to a webhook (1 by default; Meta groups messages in one
  delivery under load), signed and prepared before the clock starts, sent at
  once over ``--concurrency`` connections at a time (tools/http_load.py),
  after 5 seconds of ``GET /web/health`` sent the same way (what Odoo's
  HTTP stack serves on the machine with no work at all). Replies per
  second absorbed (the first request sent to the last one answered 200: each
  reply recorded, and acted on in the request only when nothing waited), and
  until the fake received the last of our answers (the replies handled).
- **queries per reply**: read from Odoo's request log (the query count it
  prints for each request), per number of open invoices of the customer in the
  latency phase (recorded and acted on in the request), and over the burst
  (mostly recorded only; the cron's queries are not in the log).

Everything it created is deleted at the end (``--keep`` keeps it).
"""

import hashlib
import hmac
import http.client
import importlib.util
import itertools
import json
import queue
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import odoo
from odoo import fields
from odoo.cli.command import Command
from odoo.fields import Command as X2many
from odoo.modules.registry import Registry
from odoo.tools import config


def _load_sibling(name):
    """Another command of this folder, by path: Odoo loads each command as
    ``odoo.cli.<name>`` (the name it checks), outside the addon's package, and
    only the one run."""
    path = Path(__file__).resolve().parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"odoo.cli.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_webhook_bench = _load_sibling("dunning_webhook_bench")


def _load_fake_graph():
    return _webhook_bench.load_tool("fake_graph")


SECRET = "conversation-bench-secret"
WEBHOOK = "/friendly_dunning/webhook/whatsapp"
# Odoo's request log ends with the request's query count, query time and
# remaining time (odoo/netsvc.py, PerfFilter).
_REQUEST_LOG = re.compile(
    r'"POST ' + re.escape(WEBHOOK) + r' HTTP/[\d.]+" (\d{3}) \S+ (\d+) [\d.]+ [\d.]+'
)


class DunningConversationBench(Command):
    """Measure how fast customers' WhatsApp replies are answered."""

    name = "dunning_conversation_bench"

    def run(self, cmdargs):
        parser = self.parser
        parser.add_argument("-d", "--database", required=True)
        parser.add_argument("--port", type=int, default=8284)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--cron-workers", type=int, default=1)
        parser.add_argument("--latency-replies", type=int, default=100)
        parser.add_argument("--burst", type=int, default=1000)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--per-webhook", type=int, default=1)
        parser.add_argument("--invoices-max", type=int, default=4)
        parser.add_argument("--latency", type=float, default=0.05)
        parser.add_argument("--text", default="I need more time")
        parser.add_argument("--keep", action="store_true")
        parser.add_argument("--json", action="store_true")
        options, odoo_args = parser.parse_known_args(cmdargs)
        config.parse_config(
            [*odoo_args, "-d", options.database, "--no-http"], setup_logging=True
        )
        fake = _webhook_bench.load_tool("fake_graph_process").FakeGraphProcess(
            options.latency, lifetime=7200, stream=True
        )
        registry = Registry(options.database)
        created = None
        try:
            with registry.cursor() as cr:
                env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                created = setup(env, fake.base_url, options)
                cr.commit()
                cr.execute("ANALYZE")
                cr.commit()
            with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
                # Odoo logs each request with its query count.
                server = _webhook_bench.start_server(
                    options,
                    (
                        "--log-handler=werkzeug:INFO",
                        f"--logfile={log.name}",
                        f"--max-cron-threads={options.cron_workers}",
                    ),
                )
                try:
                    figures = measure(options, fake, created)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                log.seek(0)
                figures |= queries(Path(log.name).read_text(), options, created)
        finally:
            fake.stop()
            if created and not options.keep:
                with registry.cursor() as cr:
                    cleanup(odoo.api.Environment(cr, odoo.SUPERUSER_ID, {}), created)
                    cr.commit()
        figures["measured_at"] = fields.Datetime.now().isoformat(sep=" ")
        if options.json:
            sys.stdout.write(json.dumps(figures, indent=2) + "\n")
            return
        for name, value in figures.items():
            sys.stdout.write(f"{name:>44}: {value}\n")


def setup(env, base_url, options):
    fake_graph = _load_fake_graph()
    company = env.ref("base.main_company")
    stamp = str(int(time.time()))
    # The company's own channels step aside: answers go through the bench's.
    others = env["dunning.channel"].search(
        [("company_id", "=", company.id), ("active", "=", True)]
    )
    others.active = False
    # Only the job that handles queued replies runs: a reminder run would
    # send the customers messages the bench would take for answers.
    handlers = env.ref("friendly_dunning.ir_cron_dunning_inbound") | env.ref(
        "friendly_dunning.ir_cron_dunning_inbound_second"
    )
    crons = env["ir.cron"].search([("id", "not in", handlers.ids)])
    crons.active = False
    channel = env["dunning.channel"].create(
        {
            "name": f"Conversation bench {stamp}",
            "channel_type": "whatsapp",
            "company_id": company.id,
            "wa_phone_number_id": fake_graph.PHONE_NUMBER_ID,
            "wa_business_account_id": fake_graph.WABA_ID,
            "wa_access_token": fake_graph.TOKEN,
            "wa_app_secret": SECRET,
            "wa_api_base_url": base_url,
        }
    )
    spain = env.ref("base.es")
    count = options.latency_replies + options.burst
    partners = env["res.partner"].create(
        [
            {
                "name": f"Conversation bench customer {index}",
                "is_company": True,
                "phone": f"+34 6{index:08d}",
                "country_id": spain.id,
                "company_id": company.id,
                "lang": "en_US",
            }
            for index in range(count)
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
    today = fields.Date.context_today(channel)
    invoice_counts = [1 + index % options.invoices_max for index in range(count)]
    invoices = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "company_id": company.id,
                "invoice_date": fields.Date.subtract(today, days=40 + number),
                "invoice_date_due": fields.Date.subtract(today, days=10 + number),
                "invoice_payment_term_id": False,
                "invoice_line_ids": [
                    X2many.create(
                        {
                            "name": "Bench service",
                            "quantity": 1,
                            "price_unit": 100.0 + number,
                            "tax_ids": [],
                        }
                    )
                ],
            }
            for partner, invoice_count in zip(partners, invoice_counts, strict=True)
            for number in range(invoice_count)
        ]
    )
    invoices.action_post()
    return {
        "channel_id": channel.id,
        "other_channel_ids": others.ids,
        "paused_cron_ids": crons.ids,
        "partner_ids": partners.ids,
        "numbers": [partner.phone_sanitized for partner in partners],
        "invoice_counts": invoice_counts,
        "invoice_ids": invoices.ids,
    }


def inbound_body(senders, text, index):
    """``(raw body, headers)`` of a signed webhook carrying one text message
    from each of ``senders`` (E.164) to the bench's number, as Meta groups
    the messages of several customers in one delivery under load."""
    fake_graph = _load_fake_graph()
    digits = [sender.lstrip("+") for sender in senders]
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": fake_graph.WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100199",
                                "phone_number_id": fake_graph.PHONE_NUMBER_ID,
                            },
                            "contacts": [
                                {"profile": {"name": "Bench"}, "wa_id": number}
                                for number in digits
                            ],
                            "messages": [
                                {
                                    "from": number,
                                    "id": f"wamid.conversation-bench.{time.time_ns()}."
                                    f"{index}.{position}",
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                                for position, number in enumerate(digits)
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


def post(port, body, headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", WEBHOOK, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def _wait_for(fake, numbers, deadline):
    """Arrival time of the first answer to each of ``numbers`` (digits, as
    the fake sees them), until ``deadline`` (monotonic)."""
    wanted = set(numbers)
    arrived = {}
    while wanted - set(arrived) and time.monotonic() < deadline:
        try:
            recipient, when = fake.arrivals.get(timeout=0.5)
        except queue.Empty:
            continue
        if recipient in wanted and recipient not in arrived:
            arrived[recipient] = when
    return arrived


def measure(options, fake, created):
    numbers = created["numbers"]
    # The first requests of each worker load the registry: warm them up on a
    # harmless unknown sender.
    for index in range(2 * options.workers):
        post(options.port, *inbound_body(["+10000000000"], options.text, -index - 1))

    latencies, statuses = [], []
    for index in range(options.latency_replies):
        body, headers = inbound_body([numbers[index]], options.text, index)
        sent = time.monotonic()
        statuses.append(post(options.port, body, headers))
        arrived = _wait_for(fake, [numbers[index].lstrip("+")], sent + 30)
        if arrived:
            latencies.append(next(iter(arrived.values())) - sent)

    # What Odoo's HTTP stack serves on this machine with no work at all, as
    # a yardstick for the webhooks' rate.
    http_load = _webhook_bench.load_tool("http_load")
    health = itertools.repeat(http_load.raw_request("GET", "/web/health"))
    ok, _errors, seconds = http_load.send_for(
        options.port, 5, options.concurrency, health
    )
    health_rate = ok / seconds

    burst = numbers[options.latency_replies :]
    size = options.per_webhook
    # Signed and turned into bytes before the clock starts.
    requests = [
        http_load.raw_request(
            "POST",
            WEBHOOK,
            *inbound_body(burst[start : start + size], options.text, start),
        )
        for start in range(0, len(burst), size)
    ]
    start, results = http_load.send_all(options.port, requests, options.concurrency)
    absorbed = max(when for _status, when in results) - start
    answered = [
        (status, request.count(b'"from"'))
        for (status, _when), request in zip(results, requests, strict=True)
    ]
    # Queued replies are handled one after the other by the cron.
    arrivals = _wait_for(
        fake,
        [number.lstrip("+") for number in burst],
        time.monotonic() + 60 + len(burst) / 5,
    )
    burst_ok = sum(count for status, count in answered if status == 200)
    latencies.sort()
    return {
        "workers": options.workers,
        "cron_workers": options.cron_workers,
        "concurrency": options.concurrency,
        "fake_api_latency_seconds": options.latency,
        "reply_text": options.text,
        "latency_replies": options.latency_replies,
        "latency_webhooks_ok": statuses.count(200),
        "latency_answered": len(latencies),
        "latency_median_ms": round(1000 * statistics.median(latencies), 1)
        if latencies
        else None,
        "latency_p90_ms": round(1000 * latencies[int(0.9 * (len(latencies) - 1))], 1)
        if latencies
        else None,
        "latency_max_ms": round(1000 * latencies[-1], 1) if latencies else None,
        "health_requests_per_second": round(health_rate, 1),
        "burst_replies": options.burst,
        "burst_replies_per_webhook": size,
        "burst_replies_recorded": burst_ok,
        "burst_seconds": round(absorbed, 2),
        "burst_replies_per_second": round(burst_ok / absorbed, 1),
        "burst_answered": len(arrivals),
        "burst_replies_per_second_until_last_answer": round(
            len(arrivals) / (max(arrivals.values()) - start), 1
        )
        if arrivals
        else None,
    }


def queries(log, options, created):
    """Queries per reply from the request log: the warm-up requests first,
    then the latency phase in order, then the burst."""
    counts = [
        int(count) for status, count in _REQUEST_LOG.findall(log) if status == "200"
    ]
    warm = 2 * options.workers
    sequential = counts[warm : warm + options.latency_replies]
    burst = counts[warm + options.latency_replies :]
    by_invoices = {}
    for count, invoices in zip(sequential, created["invoice_counts"], strict=False):
        by_invoices.setdefault(invoices, []).append(count)
    return {
        "queries_per_reply_by_open_invoices": {
            str(invoices): {"median": statistics.median(values), "max": max(values)}
            for invoices, values in sorted(by_invoices.items())
        },
        "queries_per_burst_webhook": {
            "median": statistics.median(burst) if burst else None,
            "min": min(burst, default=None),
            "max": max(burst, default=None),
            "replies_per_webhook": options.per_webhook,
        },
    }


def cleanup(env, created):
    partners = env["res.partner"].browse(created["partner_ids"])
    env["dunning.communication"].search([("partner_id", "in", partners.ids)]).unlink()
    if "dunning.conversation" in env:
        env["dunning.conversation"].search(
            [("partner_id", "in", partners.ids)]
        ).unlink()
    env["dunning.consent"].search([("partner_id", "in", partners.ids)]).unlink()
    env["mail.activity"].search(
        [("res_model", "=", "res.partner"), ("res_id", "in", partners.ids)]
    ).unlink()
    invoices = env["account.move"].browse(created["invoice_ids"])
    invoices.button_draft()
    invoices.with_context(force_delete=True).unlink()
    partners.unlink()
    env["dunning.channel"].browse(created["channel_id"]).unlink()
    env["dunning.channel"].browse(created["other_channel_ids"]).active = True
    env["ir.cron"].browse(created["paused_cron_ids"]).active = True
