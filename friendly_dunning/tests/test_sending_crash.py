import collections
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.tests import TransactionCase, tagged
from odoo.tools import config

from ..models.dunning_communication_whatsapp import (
    IN_FLIGHT_PER_WORKER,
    WHATSAPP_WORKERS,
)
from ..tools.whatsapp_webhook import parse_webhook
from .common_whatsapp import (
    PHONE_NUMBER_ID,
    SECRET,
    TOKEN,
    GraphMessagesServer,
    status,
    status_payload,
)

_logger = logging.getLogger(__name__)

# The scheduled job's sending, in a process of its own on the test database.
SENDER_PROCESS = """
import json, sys
from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tools import config

options = json.loads(sys.argv[1])
config.parse_config(
    ["--addons-path", options["addons_path"], "-d", options["database"], "--no-http",
     "--log-level", "warn"],
    setup_logging=True,
)
with Registry(options["database"]).cursor() as cr:
    env = api.Environment(cr, SUPERUSER_ID, {"dunning_commit": True})
    env["dunning.communication"]._dunning_send_queued()
"""

# The first key of the channel's sending lock (dunning_channel.py).
SENDER_LOCK_CLASS = 424201


@tagged("post_install", "-at_install")
class TestWhatsAppSendingCrash(TransactionCase):
    """A sending job killed (SIGKILL) while its messages are on the wire,
    against a loopback Graph API: every customer still gets exactly one
    message, and at most the messages that can be on the wire at once are
    in doubt in between.

    The scenario is committed (the job runs in another process) and removed
    afterwards.
    """

    CUSTOMERS = 60
    RATE = 20
    KILL_AT = 25

    def setUp(self):
        super().setUp()
        self.process = None
        self.killed_at = None
        self.server = GraphMessagesServer(on_message=self._kill_at).start()
        self.addCleanup(self.server.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.company
            self.channel_id = (
                env["dunning.channel"]
                .create(
                    {
                        "name": "WhatsApp crash test",
                        "channel_type": "whatsapp",
                        "company_id": company.id,
                        "wa_phone_number_id": PHONE_NUMBER_ID,
                        "wa_access_token": TOKEN,
                        "wa_app_secret": SECRET,
                        "wa_api_base_url": self.server.base_url,
                        "wa_rate_limit": self.RATE,
                    }
                )
                .id
            )
            spain = env.ref("base.es")
            partners = env["res.partner"].create(
                [
                    {
                        "name": f"Crash test customer {index}",
                        "phone": f"+34 6{index:08d}",
                        "country_id": spain.id,
                    }
                    for index in range(self.CUSTOMERS)
                ]
            )
            self.partner_ids = partners.ids
            self.addCleanup(self._remove_committed_records)
            for partner in partners:
                env["dunning.consent"]._record(
                    partner, "whatsapp", "opted_in", "manual"
                )
            now = fields.Datetime.now()
            Communication = env["dunning.communication"]
            # Each customer wrote in the last hour: free text may be sent.
            Communication.create(
                [
                    {
                        "company_id": company.id,
                        "partner_id": partner.id,
                        "kind": "reply",
                        "channel": "whatsapp",
                        "recipient": self._number(index),
                        "state": "replied",
                        "date": now - timedelta(hours=1),
                    }
                    for index, partner in enumerate(partners)
                ]
            )
            reminders = Communication.create(
                [
                    {
                        "company_id": company.id,
                        "partner_id": partner.id,
                        "channel": "whatsapp",
                        "channel_id": self.channel_id,
                        "recipient": self._number(index),
                        "body": f"Hi customer {index}, your invoice is overdue.",
                    }
                    for index, partner in enumerate(partners)
                ]
            )
            self.reminder_ids = reminders.ids

    @staticmethod
    def _number(index):
        return f"+346{index:08d}"

    def _remove_committed_records(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["dunning.communication"].search(
                [("partner_id", "in", self.partner_ids)]
            ).unlink()
            env["dunning.consent"].search(
                [("partner_id", "in", self.partner_ids)]
            ).unlink()
            env["mail.message"].search(
                [("model", "=", "res.partner"), ("res_id", "in", self.partner_ids)]
            ).unlink()
            env["dunning.channel"].browse(self.channel_id).unlink()
            env["res.partner"].browse(self.partner_ids).unlink()

    def _kill_at(self, received):
        """The fake API's hook: the job dies as the ``KILL_AT``-th message
        reaches the API, before its answer."""
        dying = self.process is not None and self.killed_at is None
        if dying and received >= self.KILL_AT:
            self.killed_at = received
            os.kill(self.process.pid, signal.SIGKILL)
        return received != self.killed_at

    def _start_sender_process(self):
        environment = dict(os.environ)
        # The database server as this process reaches it (libpq variables,
        # so that no password shows in the process list).
        for option, variable in (
            ("db_host", "PGHOST"),
            ("db_port", "PGPORT"),
            ("db_user", "PGUSER"),
            ("db_password", "PGPASSWORD"),
        ):
            if config.get(option):
                environment[variable] = str(config[option])
        # The same Odoo as this process, however it was started.
        environment["PYTHONPATH"] = os.pathsep.join(
            [
                *(os.path.dirname(path) for path in odoo.__path__),
                *filter(None, [environment.get("PYTHONPATH")]),
            ]
        )
        addons_path = config["addons_path"]
        if not isinstance(addons_path, str):
            addons_path = ",".join(addons_path)
        output = self.enterContext(tempfile.TemporaryFile())
        options = {"addons_path": addons_path, "database": self.env.cr.dbname}
        self.process = subprocess.Popen(
            [sys.executable, "-c", SENDER_PROCESS, json.dumps(options)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        return output

    def _wait_for_the_lock_release(self):
        """The killed job's connection ends with it, and its sending lock on
        the channel with the connection: wait for the database to see it."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.registry.cursor() as cr:
                cr.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = %s AND objid = %s",
                    (SENDER_LOCK_CLASS, self.channel_id),
                )
                if not cr.fetchall():
                    return
            time.sleep(0.1)
        self.fail("the killed job's sending lock was never released")

    def _states(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return {
                message.id: (message.state, message.resent_unconfirmed)
                for message in env["dunning.communication"].browse(self.reminder_ids)
            }

    def _send_queued(self):
        """One run of the job's sending, committed as the job commits."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"dunning_commit": True})
            env["dunning.communication"]._dunning_send_queued()

    def _deliver_statuses(self, payloads):
        """What WhatsApp sends for every message it accepted: a status
        carrying our id back."""
        events = parse_webhook(
            status_payload(
                *(
                    status(f"wamid.{index}", "sent", 1700000000 + index)
                    | {"biz_opaque_callback_data": payload["biz_opaque_callback_data"]}
                    for index, payload in enumerate(payloads, start=1)
                )
            )
        )["statuses"]
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel = env["dunning.channel"].browse(self.channel_id)
            env["dunning.communication"]._apply_whatsapp_statuses(channel, events)

    def _shift_sending_dates(self, minutes):
        """The channel's waiting time passes for the messages in doubt."""
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE dunning_communication "
                "SET sending_date = sending_date - %s * INTERVAL '1 minute' "
                "WHERE id = ANY(%s) AND state = 'sending'",
                (minutes, self.reminder_ids),
            )

    def test_a_job_killed_mid_batch_loses_no_reminder(self):
        output = self._start_sender_process()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        output.seek(0)
        log = output.read().decode(errors="replace")
        self.assertEqual(
            self.process.returncode, -signal.SIGKILL, f"the job was not killed:\n{log}"
        )
        self._wait_for_the_lock_release()
        with self.server.lock:
            reached = list(self.server.sent)
        after_crash = collections.Counter(state for state, _ in self._states().values())
        in_doubt = after_crash["sending"]
        window = WHATSAPP_WORKERS * IN_FLIGHT_PER_WORKER
        self.assertLessEqual(
            in_doubt,
            window,
            f"at most what can be on the wire at once is in doubt ({after_crash})",
        )
        self.assertEqual(
            after_crash["queued"] + after_crash["sending"] + after_crash["sent"],
            self.CUSTOMERS,
            after_crash,
        )

        # WhatsApp's status webhooks settle the messages it accepted; the next
        # run sends what never left.
        self._deliver_statuses(reached)
        self._send_queued()
        before_the_wait = collections.Counter(
            state for state, _ in self._states().values()
        )
        never_left = before_the_wait["sending"]
        self.assertTrue(never_left, "some messages marked never left before the kill")
        self.assertLessEqual(never_left, in_doubt)
        self.assertEqual(
            max(collections.Counter(p["to"] for p in self.server.sent).values()),
            1,
            "nothing in doubt is sent again before its waiting time",
        )

        # After the channel's waiting time, the messages with no status are
        # sent once more, automatically.
        self._shift_sending_dates(61)
        sent_before_the_wait = len(self.server.sent)
        self._send_queued()
        states = self._states()
        per_customer = collections.Counter(p["to"] for p in self.server.sent)
        self.assertEqual(
            per_customer,
            dict.fromkeys(
                (self._number(i).lstrip("+") for i in range(self.CUSTOMERS)), 1
            ),
            "every customer got exactly one message",
        )
        self.assertEqual(
            collections.Counter(state for state, _ in states.values()),
            {"sent": self.CUSTOMERS},
        )
        resent = {message_id for message_id, (_s, again) in states.items() if again}
        self.assertEqual(
            len(resent), never_left, "the messages with no status were sent again"
        )
        # Each with its own id, for a late status of the first send to settle it.
        self.assertEqual(
            {
                int(payload["biz_opaque_callback_data"])
                for payload in self.server.sent[sent_before_the_wait:]
            },
            resent,
        )
        _logger.info(
            "Crash test: %s messages reached the API before the kill, %s in "
            "doubt after it, %s sent again after the waiting time, %s received "
            "by each of the %s customers",
            len(reached),
            in_doubt,
            never_left,
            set(per_customer.values()),
            self.CUSTOMERS,
        )
