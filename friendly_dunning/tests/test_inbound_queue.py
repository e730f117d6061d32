from datetime import date, timedelta
from unittest.mock import patch

from odoo.sql_db import db_connect
from odoo.tests import freeze_time, tagged
from odoo.tools import mute_logger

from ..models.dunning_inbound import INBOUND_LOCK_CLASS, MAX_INBOUND_ATTEMPTS
from ..tools.whatsapp_webhook import parse_webhook
from .common_conversation import MARIA, NOW, ConversationCommon, inbound

ANA = "34611111111"
INBOUND_LOGGER = "odoo.addons.friendly_dunning.models.dunning_inbound"


def batch(*payloads):
    """One webhook POST carrying the messages of several ``inbound()``
    payloads, as Meta batches them."""
    envelope = payloads[0]
    value = envelope["entry"][0]["changes"][0]["value"]
    for payload in payloads[1:]:
        value["messages"] += payload["entry"][0]["changes"][0]["value"]["messages"]
    return envelope


@tagged("post_install", "-at_install")
@freeze_time(NOW)
class TestInboundQueue(ConversationCommon):
    """The customers' WhatsApp messages are recorded at the door, acted on at
    once when nothing waits, else by the job in the order they were sent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ana = cls._dunning_customer(
            "Ana", phone="+34 611 11 11 11", country_id=cls.env.ref("base.es").id
        )
        cls.env["dunning.consent"]._record(cls.ana, "whatsapp", "opted_in", "manual")
        cls._dunning_invoice(
            cls.ana, date(2026, 11, 25), amount=400.0, invoice_date=date(2026, 10, 26)
        )
        cls.cron = cls.env.ref("friendly_dunning.ir_cron_dunning_inbound")

    def _inbound(self, wamid):
        return self.env["dunning.inbound"].search([("provider_message_id", "=", wamid)])

    def _replies(self):
        return self.env["dunning.communication"].search(
            [("kind", "=", "reply")], order="id"
        )

    def _waiting(self, wamid, moment, sender=ANA):
        """A message recorded earlier and not handled yet: a backlog."""
        payload = inbound(wamid, moment, sender=sender, text="I need more time")
        [event] = parse_webhook(payload)["messages"]
        return self.env["dunning.inbound"]._record_whatsapp(
            [(self.channel.id, self.channel.company_id.id, event)]
        )

    def _triggers(self):
        return self.env["ir.cron.trigger"].search_count(
            [("cron_id", "=", self.cron.id)]
        )

    def test_a_quiet_reply_is_answered_within_the_webhook(self):
        self._post(inbound("w.1", NOW, text="I need more time"))
        message = self._inbound("w.1")
        self.assertRecordValues(
            message,
            [
                {
                    "state": "done",
                    "attempts": 1,
                    "sender": "+" + MARIA,
                    "sent_date": NOW,
                    "channel_id": self.channel.id,
                }
            ],
        )
        self.assertEqual(len(self.graph.sent()), 1, "answered in the request")
        self.assertEqual(self._conversation().flow, "more_time")

    def test_with_a_backlog_the_webhook_records_and_the_job_acts_in_order(self):
        self._waiting("w.ana", NOW - timedelta(minutes=2))
        triggers = self._triggers()
        # Maria's two messages arrive in one webhook, the later one first.
        self._post(
            batch(
                inbound("w.2", NOW, text="I need more time"),
                inbound("w.1", NOW - timedelta(minutes=1), text="Hello"),
            )
        )
        waiting = self.env["dunning.inbound"].search([], order="sent_date")
        self.assertEqual(waiting.mapped("provider_message_id"), ["w.ana", "w.1", "w.2"])
        self.assertEqual(set(waiting.mapped("state")), {"pending"})
        self.assertFalse(self.graph.sent(), "nobody answered yet")
        self.assertFalse(self._replies())
        self.assertGreater(self._triggers(), triggers, "the job is woken")

        self.env["dunning.inbound"]._cron_handle_inbound()
        self.assertEqual(set(waiting.mapped("state")), {"done"})
        self.assertEqual(
            self._replies().mapped("provider_message_id"),
            ["w.ana", "w.1", "w.2"],
            "acted on in the order the customers sent them",
        )
        self.assertEqual(self._conversation().flow, "more_time")
        answers = len(self.graph.sent())
        self.env["dunning.inbound"]._cron_handle_inbound()
        self.assertEqual(len(self._replies()), 3, "once each")
        self.assertEqual(len(self.graph.sent()), answers)

    def test_a_burst_wakes_the_job_once_until_it_runs(self):
        self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]).unlink()
        self._waiting("w.ana", NOW - timedelta(minutes=2))
        for index in range(3):
            self._post(inbound(f"w.{index}", NOW, text="Hello"))
        self.assertEqual(self._triggers(), 1, "one wake-up for the three webhooks")
        self.assertEqual(
            self.env["dunning.inbound"].search_count([("state", "=", "pending")]), 4
        )

    def test_while_another_request_handles_replies_the_webhook_records_only(self):
        with db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_xact_lock(%s, 0)", [INBOUND_LOCK_CLASS])
            self._post(inbound("w.1", NOW, text="I need more time"))
            other.rollback()
        self.assertEqual(self._inbound("w.1").state, "pending")
        self.assertFalse(self.graph.sent())
        self.env["dunning.inbound"]._cron_handle_inbound()
        self.assertEqual(self._inbound("w.1").state, "done")
        self.assertEqual(len(self.graph.sent()), 1)

    def test_a_repeated_delivery_is_recorded_and_acted_on_once(self):
        payload = inbound("w.1", NOW, text="I need more time")
        self._post(payload)
        self._post(payload)
        self.assertEqual(len(self._inbound("w.1")), 1)
        self.assertEqual(len(self._replies()), 1)
        self.assertEqual(len(self.graph.sent()), 1)

    def test_an_error_in_one_reply_keeps_it_and_the_others_are_acted_on(self):
        Reply = type(self.env["dunning.reply"])
        handle = Reply._handle

        def broken_for_maria(reply, companies, sender, *args, **kwargs):
            if sender == "+" + MARIA:
                # Something written before the error is undone with it.
                reply.env["dunning.communication"].sudo().create(
                    {
                        "company_id": self.company_a.id,
                        "partner_id": self.customer.id,
                        "kind": "answer",
                        "channel": "whatsapp",
                        "body": "half-way",
                    }
                )
                raise ValueError("the flow broke")
            return handle(reply, companies, sender, *args, **kwargs)

        with (
            patch.object(Reply, "_handle", broken_for_maria),
            mute_logger(INBOUND_LOGGER),
        ):
            self._post(
                batch(
                    inbound("w.1", NOW, text="I need more time"),
                    inbound("w.2", NOW, sender=ANA, text="I need more time"),
                )
            )
        self.assertRecordValues(
            self._inbound("w.1") | self._inbound("w.2"),
            [
                {
                    "state": "pending",
                    "attempts": 1,
                    "error_message": "the flow broke",
                    "next_attempt": NOW + timedelta(minutes=1),
                },
                {
                    "state": "done",
                    "attempts": 1,
                    "error_message": False,
                    "next_attempt": False,
                },
            ],
        )
        self.assertFalse(
            self.env["dunning.communication"].search([("body", "=", "half-way")])
        )
        self.assertEqual(self._replies().partner_id, self.ana)

    def test_the_job_retries_then_gives_up_visibly(self):
        self._waiting("w.1", NOW, sender=MARIA)
        message = self._inbound("w.1")
        Reply = type(self.env["dunning.reply"])
        moment = NOW
        with (
            patch.object(Reply, "_handle", side_effect=RuntimeError("no way")),
            mute_logger(INBOUND_LOGGER),
        ):
            for attempt in range(1, MAX_INBOUND_ATTEMPTS + 1):
                with freeze_time(moment):
                    self.env["dunning.inbound"]._cron_handle_inbound()
                self.assertEqual(message.attempts, attempt)
                if message.next_attempt:
                    # Not tried again before its time.
                    with freeze_time(message.next_attempt - timedelta(seconds=1)):
                        self.env["dunning.inbound"]._cron_handle_inbound()
                    self.assertEqual(message.attempts, attempt)
                    moment = message.next_attempt
        self.assertRecordValues(
            message,
            [{"state": "failed", "error_message": "no way", "next_attempt": False}],
        )
        with freeze_time(moment + timedelta(days=1)):
            self.env["dunning.inbound"]._cron_handle_inbound()
        self.assertEqual(message.attempts, MAX_INBOUND_ATTEMPTS, "left failed")
        # A manager tries it again once the cause is fixed.
        message.action_retry()
        self.env["dunning.inbound"]._cron_handle_inbound()
        self.assertEqual(message.state, "done")
        self.assertEqual(self._replies().provider_message_id, "w.1")

    def test_a_failed_message_waiting_for_its_retry_holds_up_nobody(self):
        self._waiting("w.old", NOW - timedelta(minutes=5), sender=ANA).write(
            {"attempts": 1, "next_attempt": NOW + timedelta(minutes=1)}
        )
        self._post(inbound("w.1", NOW, text="I need more time"))
        self.assertEqual(self._inbound("w.1").state, "done")

    def test_recording_takes_the_same_queries_for_1_or_20_messages(self):
        self._waiting("w.ana", NOW - timedelta(minutes=2))

        def queries(count, start):
            payload = batch(
                *(
                    inbound(f"w.{start + n}", NOW, sender=f"3460000{n:04d}", text="Hi")
                    for n in range(count)
                )
            )
            before = self.cr.sql_log_count
            self._post(payload)
            return self.cr.sql_log_count - before

        queries(1, 0)  # the first request of a worker warms its caches
        one = queries(1, 100)
        twenty = queries(20, 200)
        self.assertEqual(
            self.env["dunning.inbound"].search_count([("state", "=", "pending")]), 23
        )
        self.assertEqual(one, twenty)

    def test_accountants_see_the_queue_read_only(self):
        self._waiting("w.1", NOW, sender=MARIA)
        user = self.env["res.users"].create(
            {
                "name": "Accountant",
                "login": "inbound-accountant",
                "company_id": self.company_a.id,
                "company_ids": [(6, 0, self.company_a.ids)],
                "group_ids": [
                    (4, self.env.ref("friendly_dunning.group_dunning_user").id)
                ],
            }
        )
        Inbound = self.env["dunning.inbound"].with_user(user)
        self.assertEqual(
            Inbound.search([("state", "=", "pending")]).provider_message_id, "w.1"
        )
        self.assertFalse(Inbound.has_access("write"))
