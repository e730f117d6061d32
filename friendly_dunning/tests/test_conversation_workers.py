from datetime import datetime, timedelta
from unittest.mock import patch

from psycopg2.errors import SerializationFailure

from odoo import SUPERUSER_ID, api
from odoo.fields import Command
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..tools.whatsapp_client import WhatsAppCloudClient
from ..tools.whatsapp_webhook import parse_webhook
from .common_conversation import inbound
from .common_whatsapp import GraphMock, whatsapp_channel

SENDER = "34699001122"


@tagged("post_install", "-at_install")
class TestConversationWorkers(TransactionCase):
    """Two workers on one chat at once, on committed data: each worker has
    its own database cursor, as two HTTP workers (or a worker and the
    inbound job) do. The second one's snapshot is taken before the first
    commits, the ordering under which they clash; each runs its webhook's
    work inside Odoo's ``retrying``, as Odoo runs every request."""

    def setUp(self):
        super().setUp()
        self.graph = GraphMock()
        self.patch(WhatsAppCloudClient, "_request", self.graph.client_request())
        today = datetime.now().date()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.company
            company._dunning_ensure_defaults()
            self.sandbox_ids = (
                env["dunning.channel"]
                .search(
                    [("company_id", "=", company.id), ("channel_type", "=", "sandbox")]
                )
                .ids
            )
            channel = whatsapp_channel(env, company, wa_rate_limit=200)
            partner = env["res.partner"].create(
                {
                    "name": "Two workers customer",
                    "is_company": True,
                    "phone": "+" + SENDER,
                    "country_id": env.ref("base.es").id,
                    "lang": "en_US",
                }
            )
            env["dunning.consent"]._record(partner, "whatsapp", "opted_in", "manual")
            invoice = env["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "invoice_date": today - timedelta(days=40),
                    "invoice_date_due": today - timedelta(days=20),
                    "invoice_payment_term_id": False,
                    "invoice_line_ids": [
                        Command.create(
                            {"name": "Service", "price_unit": 300.0, "tax_ids": []}
                        )
                    ],
                }
            )
            invoice.action_post()
            self.channel_id, self.company_id = channel.id, company.id
            self.partner_id, self.invoice_id = partner.id, invoice.id
        self.addCleanup(self._remove_committed_records)

    def _remove_committed_records(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partner = env["res.partner"].browse(self.partner_id)
            for model in ("dunning.communication", "dunning.conversation"):
                env[model].search([("partner_id", "=", partner.id)]).unlink()
            env["dunning.payment.plan"].search(
                [("partner_id", "=", partner.id)]
            ).unlink()
            env["dunning.consent"].search([("partner_id", "=", partner.id)]).unlink()
            env["mail.activity"].search(
                [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
            ).unlink()
            invoice = env["account.move"].browse(self.invoice_id)
            invoice.button_draft()
            invoice.with_context(force_delete=True).unlink()
            partner.unlink()
            env["dunning.channel"].browse(self.channel_id).unlink()
            env["dunning.channel"].browse(self.sandbox_ids).active = True

    def _worker(self):
        cr = self.registry.cursor()
        self.addCleanup(cr.close)
        env = api.Environment(cr, SUPERUSER_ID, {})
        cr.execute("SELECT 1")  # its snapshot is taken now
        return env

    def _deliver(self, env, payload):
        """What the webhook does with ``payload`` once its signature is
        checked, retried on a clash as Odoo retries a request; returns the
        number of tries (``retrying`` commits the last one)."""
        tries = []

        def webhook():
            tries.append(1)
            [event] = parse_webhook(payload)["messages"]
            env["dunning.inbound"]._record_whatsapp(
                [(self.channel_id, self.company_id, event)]
            )._dispatch()

        # The clash is logged by the cursor and by the retry, which waits a
        # random moment first: not here.
        with (
            mute_logger("odoo.service.model", "odoo.sql_db"),
            patch("odoo.service.model.time.sleep"),
        ):
            retrying(webhook, env)
        return len(tries)

    def _committed(self, model, domain=()):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return env[model].search_read(
                [("partner_id", "=", self.partner_id), *domain],
                ["provider_message_id", "kind", "state"]
                if model == "dunning.communication"
                else ["flow", "expects", "last_inbound_id"],
                order="id",
            )

    def test_a_delivery_repeated_by_two_workers_at_once_acts_once(self):
        payload = inbound("w.same", datetime.now(), sender=SENDER, text="Hello")
        first, second = self._worker(), self._worker()
        self.assertEqual(self._deliver(first, payload), 1)
        # The second worker's snapshot does not show the first's record: its
        # insert clashes, and the retried request finds the message received.
        self.assertEqual(self._deliver(second, payload), 2)
        replies = self._committed("dunning.communication", [("kind", "=", "reply")])
        self.assertEqual([r["provider_message_id"] for r in replies], ["w.same"])
        self.assertEqual(len(self.graph.sent()), 1, "answered once")

    def test_two_replies_of_one_chat_at_once_act_in_turn(self):
        now = datetime.now().replace(microsecond=0)
        first, second = self._worker(), self._worker()
        self._deliver(
            first,
            inbound("w.1", now - timedelta(seconds=5), sender=SENDER, text="Hello"),
        )
        # The conversation the first worker opened is locked and then
        # changed under the second: it waits, clashes, and acts again on what
        # the first one left.
        self.assertEqual(
            self._deliver(
                second,
                inbound("w.2", now, sender=SENDER, text="I need more time"),
            ),
            2,
        )
        replies = self._committed("dunning.communication", [("kind", "=", "reply")])
        self.assertEqual([r["provider_message_id"] for r in replies], ["w.1", "w.2"])
        [conversation] = self._committed("dunning.conversation")
        self.assertEqual(conversation["flow"], "more_time")
        self.assertEqual(conversation["last_inbound_id"], "w.2")
        self.assertEqual(len(self.graph.sent()), 2, "each reply answered once")

    def test_an_older_reply_handled_second_does_not_undo_the_newer(self):
        now = datetime.now().replace(microsecond=0)
        first, second = self._worker(), self._worker()
        self._deliver(
            first, inbound("w.new", now, sender=SENDER, text="I need more time")
        )
        self._deliver(
            second,
            inbound("w.old", now - timedelta(minutes=1), sender=SENDER, text="Hello"),
        )
        [conversation] = self._committed("dunning.conversation")
        self.assertEqual(conversation["flow"], "more_time", "the newer reply holds")
        self.assertEqual(conversation["last_inbound_id"], "w.new")
        replies = self._committed("dunning.communication", [("kind", "=", "reply")])
        self.assertEqual(
            sorted(r["provider_message_id"] for r in replies), ["w.new", "w.old"]
        )

    def test_two_jobs_share_the_queue_and_keep_each_chat_in_order(self):
        now = datetime.now().replace(microsecond=0)
        other = "34699003344"
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["dunning.inbound"]._record_whatsapp(
                [
                    (self.channel_id, self.company_id, event)
                    for wamid, moment, sender, text in (
                        ("w.x1", now - timedelta(minutes=3), SENDER, "Hello"),
                        ("w.y1", now - timedelta(minutes=2), other, "Hello"),
                        (
                            "w.x2",
                            now - timedelta(minutes=1),
                            SENDER,
                            "I need more time",
                        ),
                    )
                    for event in parse_webhook(
                        inbound(wamid, moment, sender=sender, text=text)
                    )["messages"]
                ]
            )
        first, second = self._worker(), self._worker()
        # The first job is acting on the chat's first message.
        first.cr.execute(
            "SELECT id FROM dunning_inbound WHERE provider_message_id = 'w.x1' "
            "FOR UPDATE"
        )
        second["dunning.inbound"]._cron_handle_inbound()
        second.cr.commit()
        self.assertEqual(
            self._states(),
            {"w.x1": "pending", "w.y1": "done", "w.x2": "pending"},
            "the second job takes another chat, never the chat's later message",
        )
        first.cr.rollback()
        third = self._worker()
        third["dunning.inbound"]._cron_handle_inbound()
        third.cr.commit()
        self.assertEqual(set(self._states().values()), {"done"})
        replies = self._committed("dunning.communication", [("kind", "=", "reply")])
        self.assertEqual(
            [r["provider_message_id"] for r in replies],
            ["w.x1", "w.x2"],
            "the customer's messages acted on in the order sent",
        )

    def _states(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            messages = env["dunning.inbound"].search(
                [("channel_id", "=", self.channel_id)]
            )
            return {m.provider_message_id: m.state for m in messages}

    def test_the_clash_is_a_serialization_failure_not_an_error(self):
        """The clash the two tests above rely on, seen directly: the second
        worker's conversation lock fails with a serialization failure, which
        Odoo retries, rather than reading a conversation it cannot see."""
        now = datetime.now().replace(microsecond=0)
        first, second = self._worker(), self._worker()
        self._deliver(first, inbound("w.1", now, sender=SENDER, text="Hello"))
        partner = second["res.partner"].browse(self.partner_id)
        with (
            self.assertRaises(SerializationFailure),
            mute_logger("odoo.sql_db"),
        ):
            second["dunning.conversation"]._dunning_lock(
                second["res.company"].browse(self.company_id),
                partner,
                "whatsapp",
                "+" + SENDER,
            )
        second.cr.rollback()
