"""Shared set-up of the conversation tests: a WhatsApp number answered by
the in-process Graph API, a customer with an overdue invoice, and signed
inbound webhooks of text, taps and media as Meta sends them."""

import base64
import hashlib
import hmac
from datetime import date, datetime, timezone

from odoo.tests import HttpCase

from ..tools.whatsapp_client import WhatsAppCloudClient
from .common import DunningCommon
from .common_whatsapp import (
    GraphMock,
    signed,
    status_payload,
    whatsapp_channel,
)

URL = "/friendly_dunning/webhook/whatsapp"
TWILIO_URL = "/friendly_dunning/webhook/twilio"
TWILIO_TOKEN = "twilio-auth-token"
OUR_SMS_NUMBER = "+15550100199"
MARIA = "34612345678"
# Monday 7 December 2026, 09:00 UTC.
NOW = datetime(2026, 12, 7, 9, 0, 0)


def unix(moment):
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


def twilio_signature(url, params, token=TWILIO_TOKEN):
    """Computed as Twilio documents it, independently of the addon."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def inbound(wamid, moment, sender=MARIA, **content):
    """A webhook POST of one customer message sent at ``moment``:
    ``text=``, ``tap=(id, title)`` (a list row), ``button=(id, title)`` (a
    reply button), ``quick_reply=payload`` (a template's button) or
    ``media={...}`` (an image or document)."""
    message = {"from": sender, "id": wamid, "timestamp": str(unix(moment))}
    if "text" in content:
        message |= {"type": "text", "text": {"body": content["text"]}}
    elif "tap" in content or "button" in content:
        kind = "list_reply" if "tap" in content else "button_reply"
        ident, title = content.get("tap") or content["button"]
        message |= {
            "type": "interactive",
            "interactive": {"type": kind, kind: {"id": ident, "title": title}},
        }
    elif "quick_reply" in content:
        message |= {
            "type": "button",
            "button": {"payload": content["quick_reply"], "text": "Pay now"},
        }
    else:
        media = content["media"]
        message |= {"type": media["type"], media["type"]: media}
    envelope = status_payload()
    value = envelope["entry"][0]["changes"][0]["value"]
    value.pop("statuses")
    value["messages"] = [message]
    return envelope


class ConversationCommon(DunningCommon, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = whatsapp_channel(cls.env, cls.company_a, wa_rate_limit=200)
        cls.customer = cls._dunning_customer(
            "Maria", phone="+34 612 34 56 78", country_id=cls.env.ref("base.es").id
        )
        cls.env["dunning.consent"]._record(
            cls.customer, "whatsapp", "opted_in", "manual"
        )
        cls.invoice = cls._dunning_invoice(
            cls.customer,
            date(2026, 11, 20),
            amount=900.0,
            invoice_date=date(2026, 10, 21),
        )

    def setUp(self):
        super().setUp()
        self.graph = GraphMock()
        self.patch(WhatsAppCloudClient, "_request", self.graph.client_request())

    def _post(self, payload):
        body, headers = signed(payload)
        response = self.url_open(
            URL, data=body, headers=headers | {"Content-Type": "application/json"}
        )
        self.assertEqual(response.status_code, 200)
        return response

    def _sms(self, body, sid):
        """A signed Twilio POST of an SMS from Maria to our number; answers
        the TwiML."""
        params = {
            "From": "+" + MARIA,
            "To": OUR_SMS_NUMBER,
            "Body": body,
            "MessageSid": sid,
        }
        url = f"{self.base_url()}{TWILIO_URL}"
        response = self.url_open(
            url,
            data=params,
            headers={"X-Twilio-Signature": twilio_signature(url, params)},
        )
        self.assertEqual(response.status_code, 200)
        return response

    def _last_sent(self):
        return self.graph.sent()[-1]

    def _rows(self, sent=None):
        """``{title: id}`` of the list or buttons of a message we sent."""
        interactive = (sent or self._last_sent())["interactive"]
        action = interactive["action"]
        if interactive["type"] == "list":
            return {
                row["title"]: row["id"]
                for section in action["sections"]
                for row in section["rows"]
            }
        return {
            button["reply"]["title"]: button["reply"]["id"]
            for button in action["buttons"]
        }

    def _conversation(self, partner=None):
        return self.env["dunning.conversation"].search(
            [("partner_id", "=", (partner or self.customer).id)]
        )

    def _answers(self):
        return self.env["dunning.communication"].search(
            [("kind", "=", "answer")], order="id"
        )
