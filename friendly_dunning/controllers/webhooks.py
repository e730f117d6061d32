import json
import logging
from xml.sax.saxutils import escape

from werkzeug.exceptions import BadRequest, Forbidden

from odoo import http
from odoo.http import request

from ..tools.intents import HELP, START, STOP, detect_intent
from ..tools.phones import to_e164
from ..tools.signatures import verify_meta_signature, verify_twilio_signature
from ..tools.whatsapp_webhook import parse_webhook

_logger = logging.getLogger(__name__)


class FriendlyDunningWebhooks(http.Controller):
    @http.route(
        "/friendly_dunning/webhook/whatsapp",
        type="http",
        auth="public",
        methods=["GET"],
        csrf=False,
        save_session=False,
    )
    def whatsapp_verify(self, **params):
        """Meta's set-up handshake: echo the challenge when the token is ours."""
        token = params.get("hub.verify_token")
        if params.get("hub.mode") != "subscribe" or not token:
            raise Forbidden()
        channel = (
            request.env["dunning.channel"]
            .sudo()
            .search(
                [("channel_type", "=", "whatsapp"), ("wa_verify_token", "=", token)],
                limit=1,
            )
        )
        if not channel:
            raise Forbidden()
        return request.make_response(
            params.get("hub.challenge", ""), headers=[("Content-Type", "text/plain")]
        )

    @http.route(
        "/friendly_dunning/webhook/whatsapp",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def whatsapp_event(self):
        raw_body = request.httprequest.get_data()
        signature = request.httprequest.headers.get("X-Hub-Signature-256")
        Channel = request.env["dunning.channel"].sudo()
        signers = [
            (channel_id, company_id)
            for channel_id, company_id, secret in Channel._whatsapp_webhook_secrets()
            if verify_meta_signature(secret, raw_body, signature)
        ]
        signed_by = Channel.browse([channel_id for channel_id, _company in signers])
        if not signed_by:
            _logger.info("WhatsApp webhook refused: missing or wrong signature")
            raise Forbidden()
        try:
            events = parse_webhook(json.loads(raw_body))
        except ValueError as error:
            raise BadRequest() from error
        self._apply_statuses(
            signed_by, [company for _channel, company in signers], events["statuses"]
        )
        Reply = request.env["dunning.reply"].sudo()
        for message in events["messages"]:
            if message.get("from"):
                Reply._handle(
                    signed_by.company_id,
                    "+" + message["from"].lstrip("+"),
                    message.get("text") or message.get("title"),
                    payload=message.get("payload"),
                    provider_id=message.get("wamid"),
                    replied_to=message.get("context_wamid"),
                )
        return request.make_response("ok", headers=[("Content-Type", "text/plain")])

    def _apply_statuses(self, channels, company_ids, statuses):
        """Delivery updates of our messages, in a constant number of queries;
        a message WhatsApp could not deliver goes through the step's next
        channel."""
        failed = (
            request.env["dunning.communication"]
            .sudo()
            ._apply_whatsapp_statuses(channels, statuses, company_ids)
        )
        if failed:
            failed._dunning_fall_back()

    @http.route(
        "/friendly_dunning/webhook/twilio",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def twilio_inbound(self, **_params):
        """An SMS a customer sent to our Twilio number: logged and acted on
        like a WhatsApp reply; STOP / START / HELP honoured at once."""
        form = request.httprequest.form
        signature = request.httprequest.headers.get("X-Twilio-Signature")
        urls = {
            request.httprequest.url,
            request.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
            + request.httprequest.full_path.rstrip("?"),
        }
        companies = request.env["res.company"].sudo()
        for company, token in request.env["dunning.channel"]._twilio_auth_tokens():
            if any(
                verify_twilio_signature(token, url, form, signature) for url in urls
            ):
                companies |= company
        if not companies:
            _logger.info("Twilio webhook refused: missing or wrong signature")
            raise Forbidden()
        sender, _problem = to_e164(form.get("From") or "")
        if not sender:
            raise BadRequest()
        text = form.get("Body") or ""
        opt_out_type = (form.get("OptOutType") or "").upper()
        intent = {"STOP": STOP, "START": START, "HELP": HELP}.get(opt_out_type)
        if intent is None:
            intent, _rule = detect_intent(text)
        handled = (
            request.env["dunning.reply"]
            .sudo()
            ._handle(
                companies,
                sender,
                text,
                payload=opt_out_type or None,
                channel="sms",
                provider_id=form.get("MessageSid") or None,
            )
        )
        # A number that matches no customer is still honoured.
        Blacklist = request.env["phone.blacklist"].sudo()
        if handled is None and intent == STOP:
            Blacklist.add(sender)
        elif handled is None and intent == START:
            Blacklist.remove(sender)
        answer = ""
        if intent == HELP:
            answer = request.env._(
                "%(company)s: this number sends reminders about your invoices. "
                "Reply STOP to stop them, START to receive them again.",
                company=companies[:1].name,
            )
        body = "<Response>%s</Response>" % (
            f"<Message>{escape(answer)}</Message>" if answer else ""
        )
        return request.make_response(
            '<?xml version="1.0" encoding="UTF-8"?>' + body,
            headers=[("Content-Type", "text/xml")],
        )
