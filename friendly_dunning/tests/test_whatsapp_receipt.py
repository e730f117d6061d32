import hashlib
from datetime import datetime, timedelta
from unittest.mock import patch

from odoo.tests import HttpCase, freeze_time, tagged

from .common import DunningCommon
from .common_whatsapp import (
    SECRET,
    TOKEN,
    GraphMediaServer,
    inbound_payload,
    signed,
    whatsapp_channel,
)

URL = "/friendly_dunning/webhook/whatsapp"
NOW = datetime(2026, 6, 30, 10, 0)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00 This program cannot be run in DOS mode."
LIMIT = "odoo.addons.friendly_dunning.models.dunning_reply_receipt.MAX_UPLOAD_BYTES"
CHECK = "Check the payment the customer reported"
GET_IT = "Get the receipt the customer sent by WhatsApp"


def document(media_id, filename="transferencia.pdf", caption=None, kind="document"):
    media = {
        "type": kind,
        "id": media_id,
        "mime_type": "image/jpeg" if kind == "image" else "application/pdf",
        "sha256": "not-checked-here",
    }
    if filename:
        media["filename"] = filename
    if caption:
        media["caption"] = caption
    return media


@tagged("post_install", "-at_install")
@freeze_time(NOW, tick=True)
class TestWhatsAppReceipt(DunningCommon, HttpCase):
    """A customer who already paid sends the receipt in the chat: a photo or
    a PDF, fetched from WhatsApp, checked like an upload of their page,
    attached to their invoices; reminders pause while the accountant checks."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = whatsapp_channel(cls.env, cls.company_a)
        cls.customer = cls._dunning_customer(
            "Maria", phone="+34 612 34 56 78", country_id=cls.env.ref("base.es").id
        )
        cls.env["dunning.consent"]._record(
            cls.customer, "whatsapp", "opted_in", "manual"
        )
        today = NOW.date()
        cls.late = cls._dunning_invoice(cls.customer, today - timedelta(days=20))
        cls.later = cls._dunning_invoice(cls.customer, today - timedelta(days=5))
        cls.disputed = cls._dunning_invoice(cls.customer, today - timedelta(days=9))
        cls.disputed.action_dunning_pause("dispute")
        cls.owed = cls.late | cls.later

    def setUp(self):
        super().setUp()
        self.graph = GraphMediaServer().start()
        self.addCleanup(self.graph.stop)
        self.channel.wa_api_base_url = self.graph.base_url

    def _post(self, payload, secret=SECRET):
        body, headers = signed(payload, secret)
        return self.url_open(
            URL, data=body, headers=headers | {"Content-Type": "application/json"}
        )

    def _send(self, wamid, media, **kwargs):
        response = self._post(inbound_payload(wamid, media=media, **kwargs))
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        return self._reply(wamid)

    def _reply(self, wamid):
        return self.env["dunning.communication"].search(
            [("kind", "=", "reply"), ("provider_message_id", "=", wamid)]
        )

    def _attachments(self, invoices):
        return self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "in", invoices.ids)]
        )

    def _answers(self):
        return [message["text"]["body"] for message in self.graph.sent]

    def _todos(self):
        return self.customer.activity_ids.mapped("summary")

    def _pauses(self):
        return (self.late | self.later | self.disputed).mapped("dunning_pause_reason")

    def assertNothingDone(self):
        self.assertEqual(self._pauses(), [False, False, "dispute"])
        self.assertFalse(self._attachments(self.owed | self.disputed))

    def test_a_pdf_is_attached_reminders_pause_and_the_customer_is_thanked(self):
        self.graph.add_media("1001", PDF, "application/pdf")
        reply = self._send("wamid.r1", document("1001", caption="Pago de ayer"))
        self.assertEqual(reply.receipt_state, "attached")
        self.assertEqual(reply.body, "Pago de ayer")
        # Metadata, then the file, both with our token only.
        self.assertEqual(
            self.graph.requests[:2],
            [
                ("GET", "/v21.0/1001", f"Bearer {TOKEN}"),
                ("GET", "/media-download/1001", f"Bearer {TOKEN}"),
            ],
        )
        # On the invoices owed, not on the one paused for a dispute.
        attachments = self._attachments(self.owed | self.disputed)
        self.assertEqual(attachments.mapped("res_id"), sorted(self.owed.ids) * 1)
        self.assertEqual(set(attachments.mapped("name")), {"transferencia.pdf"})
        self.assertEqual(set(attachments.mapped("mimetype")), {"application/pdf"})
        self.assertEqual(attachments[0].raw, PDF)
        self.assertEqual(self._pauses(), ["payment_reported"] * 2 + ["dispute"])
        self.assertEqual(self._todos(), [CHECK])
        self.assertIn("Pago de ayer", self.customer.activity_ids.note)
        # The proof is in the invoice's chatter, written by the customer.
        note = self.late.message_ids.filtered(lambda m: m.attachment_ids)
        self.assertEqual(note.author_id, self.customer)
        self.assertIn("Pago de ayer", note.body)
        [answer] = self._answers()
        self.assertIn("paused our reminders", answer)
        self.assertEqual(self.graph.sent[0]["to"], "34612345678")

    def test_a_photo_without_a_name_is_kept_as_a_jpeg(self):
        self.graph.add_media("1002", JPEG, "image/jpeg")
        reply = self._send("wamid.r2", document("1002", filename=None, kind="image"))
        self.assertEqual(reply.receipt_state, "attached")
        attachments = self._attachments(self.owed)
        self.assertEqual(set(attachments.mapped("name")), {"receipt.jpg"})
        self.assertEqual(set(attachments.mapped("mimetype")), {"image/jpeg"})
        self.assertEqual(self._pauses(), ["payment_reported"] * 2 + ["dispute"])
        self.assertEqual(self._todos(), [CHECK])

    def test_a_file_announced_too_large_is_never_downloaded(self):
        self.graph.add_media("1003", PDF, "application/pdf", file_size=6 * 1024**2)
        reply = self._send("wamid.r3", document("1003"))
        self.assertEqual(reply.receipt_state, "refused")
        self.assertEqual(self.graph.fetched(), ["/v21.0/1003"])
        self.assertNothingDone()
        self.assertFalse(self._todos())
        [answer] = self._answers()
        self.assertIn("PDF, PNG or JPEG of at most 5 MB", answer)

    def test_a_file_larger_than_announced_is_refused(self):
        self.graph.add_media("1004", PDF + b"0" * 200, "application/pdf", file_size=50)
        with patch(LIMIT, 100):
            reply = self._send("wamid.r4", document("1004"))
        self.assertEqual(reply.receipt_state, "refused")
        self.assertNothingDone()
        self.assertIn("at most 5 MB", self._answers()[0])

    def test_a_program_named_pdf_is_refused(self):
        self.graph.add_media("1005", EXE, "application/pdf")
        reply = self._send("wamid.r5", document("1005", filename="receipt.pdf"))
        self.assertEqual(reply.receipt_state, "refused")
        self.assertNothingDone()
        self.assertFalse(self._todos())
        [answer] = self._answers()
        self.assertIn("Please send your receipt as a PDF, PNG or JPEG", answer)

    def test_a_checksum_mismatch_attaches_nothing_and_is_fetched_again(self):
        self.graph.add_media("1006", PDF, "application/pdf", sha256="ab" * 32)
        reply = self._send("wamid.r6", document("1006"))
        self.assertEqual(reply.receipt_state, "pending")
        self.assertNothingDone()
        self.assertIn("check it shortly", self._answers()[0])
        # The file WhatsApp serves is right this time.
        self.graph.media["1006"]["sha256"] = hashlib.sha256(PDF).hexdigest()
        with freeze_time(NOW + timedelta(minutes=5)):
            self.env["dunning.reply"]._cron_fetch_receipts()
        self.assertEqual(reply.receipt_state, "attached")
        self.assertEqual(len(self._attachments(self.owed)), 2)

    def test_a_file_elsewhere_is_never_fetched_with_our_token(self):
        elsewhere = GraphMediaServer().start()
        self.addCleanup(elsewhere.stop)
        elsewhere.add_media("1007", PDF, "application/pdf")
        self.graph.add_media(
            "1007",
            PDF,
            "application/pdf",
            url=f"{elsewhere.base_url}/media-download/1007",
        )
        reply = self._send("wamid.r7", document("1007"))
        self.assertFalse(elsewhere.requests)
        self.assertEqual(self.graph.fetched(), ["/v21.0/1007"])
        self.assertEqual(reply.receipt_state, "failed")
        self.assertIn("off Meta's hosts", reply.error_message)
        self.assertNothingDone()
        self.assertEqual(self._todos(), [GET_IT])
        self.assertIn("off Meta's hosts", self.customer.activity_ids.note)
        self.assertIn("check it shortly", self._answers()[0])

    def test_an_outage_loses_nothing_and_the_retry_attaches_the_file(self):
        self.graph.add_media("1008", PDF, "application/pdf")
        for status in (503, 429):
            with self.subTest(status=status):
                self.graph.fail_next(status)
                wamid = f"wamid.r8.{status}"
                reply = self._send(wamid, document("1008"))
                self.assertEqual(reply.receipt_state, "pending")
                self.assertEqual(reply.receipt_media_id, "1008")
                self.assertGreater(reply.receipt_retry_date, NOW)
                self.assertNothingDone()
                self.assertFalse(self._todos())
        self.assertEqual(len(self._answers()), 2)
        self.assertIn("check it shortly", self._answers()[0])
        logged = self.customer.message_ids.mapped("body")
        self.assertTrue(any("fetched again automatically" in b for b in logged))
        cron = self.env.ref("friendly_dunning.ir_cron_dunning_receipts")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))
        # Not before its time; then with a fresh address from the Graph API.
        self.env["dunning.reply"]._cron_fetch_receipts()
        self.assertEqual(reply.receipt_state, "pending")
        with freeze_time(NOW + timedelta(hours=1)):
            self.env["dunning.reply"]._cron_fetch_receipts()
        replies = self._reply("wamid.r8.503") | self._reply("wamid.r8.429")
        self.assertEqual(set(replies.mapped("receipt_state")), {"attached"})
        self.assertEqual(self.graph.fetched().count("/v21.0/1008"), 4)
        self.assertEqual(len(self._attachments(self.owed)), 4)
        self.assertEqual(self._pauses(), ["payment_reported"] * 2 + ["dispute"])
        self.assertIn(CHECK, self._todos())
        self.assertIn("paused our reminders", self._answers()[-1])

    def test_a_permanent_failure_gives_the_accountant_a_todo(self):
        self.graph.add_media("1009", PDF, "application/pdf")
        self.channel.wa_access_token = "expired-token"
        reply = self._send("wamid.r9", document("1009"))
        self.assertEqual(reply.receipt_state, "failed")
        self.assertIn("access token", reply.error_message)
        self.assertEqual(self.channel.wa_token_state, "expired")
        self.assertNothingDone()
        self.assertEqual(self._todos(), [GET_IT])
        # Once the token is renewed, the accountant fetches it again.
        self.channel.wa_access_token = TOKEN
        reply.with_user(self.dunning_user_a).action_fetch_receipt()
        self.assertEqual(reply.receipt_state, "attached")
        self.assertEqual(len(self._attachments(self.owed)), 2)

    def test_retries_end_with_a_todo(self):
        self.graph.add_media("1010", PDF, "application/pdf")
        self.graph.fail_next(503, count=50)
        reply = self._send("wamid.r10", document("1010"))
        later = NOW
        while reply.receipt_state == "pending":
            later += timedelta(hours=2)
            with freeze_time(later):
                self.env["dunning.reply"]._cron_fetch_receipts()
        self.assertEqual(reply.receipt_state, "failed")
        self.assertEqual(reply.receipt_attempts, 12)
        self.assertEqual(self._todos(), [GET_IT])
        self.assertEqual(len(self._answers()), 1, "the customer heard once")
        self.assertNothingDone()

    def test_a_repeated_delivery_acts_once(self):
        self.graph.add_media("1011", PDF, "application/pdf")
        payload = inbound_payload("wamid.r11", media=document("1011"))
        for _delivery in range(2):
            self.assertEqual(self._post(payload).status_code, 200)
        self.assertEqual(len(self._reply("wamid.r11")), 1)
        self.assertEqual(self.graph.fetched().count("/v21.0/1011"), 1)
        self.assertEqual(len(self._attachments(self.owed)), 2)
        self.assertEqual(len(self._answers()), 1)
        self.assertEqual(self._todos(), [CHECK])

    def test_a_stranger_or_an_unsigned_request_fetches_nothing(self):
        self.graph.add_media("1012", PDF, "application/pdf")
        stranger = inbound_payload(
            "wamid.r12", media=document("1012"), sender="34699000000"
        )
        self.assertEqual(self._post(stranger).status_code, 200)
        forged = inbound_payload("wamid.r13", media=document("1012"))
        self.assertEqual(self._post(forged, secret="not-ours").status_code, 403)
        self.assertFalse(self.graph.requests)
        self.assertFalse(self._reply("wamid.r12") | self._reply("wamid.r13"))
        self.assertNothingDone()
