import json
import logging
from xml.sax.saxutils import escape

from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    LengthRequired,
    RequestEntityTooLarge,
    TooManyRequests,
)

from odoo import http
from odoo.http import request

from ..tools.intents import HELP, START, STOP, detect_intent
from ..tools.phones import to_e164
from ..tools.rate_limiter import RefusalCounter
from ..tools.signatures import verify_meta_signature, verify_twilio_signature
from ..tools.whatsapp_webhook import parse_webhook

_logger = logging.getLogger(__name__)

# Provider webhooks are small (Meta batches up to a few hundred events, Twilio
# posts one SMS): anything larger is refused before it is read. The route's
# max_content_length makes Odoo refuse a larger form before parsing it.
WEBHOOK_MAX_BYTES = 1024 * 1024

WEBHOOK_ROUTE = {
    "type": "http",
    "auth": "public",
    "methods": ["POST"],
    "csrf": False,
    "save_session": False,
    "max_content_length": WEBHOOK_MAX_BYTES,
}


# Meta and Twilio send signed, well-formed requests: a client whose requests
# keep being refused (bad signature, malformed or oversized body) is turned
# away for a while before any work. Counted per worker process, in memory,
# so that refusing stays free of database work.
WEBHOOK_REFUSALS = RefusalCounter(limit=120, window_seconds=60)
REFUSED_CODES = (400, 403, 411, 413)


def _limit_refusals(handler):
    """Run ``handler`` for the request unless its client was refused too
    often lately; count the refusals it answers."""
    client = request.httprequest.remote_addr
    if WEBHOOK_REFUSALS.blocked(client):
        raise TooManyRequests()
    try:
        return handler()
    except HTTPException as error:
        if error.code in REFUSED_CODES:
            WEBHOOK_REFUSALS.add(client)
        raise


def _refuse_large_body():
    """413 when the announced body is over the limit, 411 when its length is
    not announced (chunked): the body is then read only up to the length
    checked here. Meta and Twilio always send the length."""
    headers = request.httprequest.headers
    length = request.httprequest.content_length
    if length is None or "chunked" in headers.get("Transfer-Encoding", "").lower():
        raise LengthRequired()
    if length > WEBHOOK_MAX_BYTES:
        raise RequestEntityTooLarge()


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
        return _limit_refusals(lambda: self._whatsapp_verify(params))

    def _whatsapp_verify(self, params):
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

    @http.route("/friendly_dunning/webhook/whatsapp", **WEBHOOK_ROUTE)
    def whatsapp_event(self):
        return _limit_refusals(self._whatsapp_event)

    def _whatsapp_event(self):
        """Statuses of our messages, the customers' messages and the reviews
        of our templates. Each event acts only for the channel that owns its
        receiving number (``metadata.phone_number_id``) or, for a template,
        its business account (``entry.id``), and only when that channel's app
        secret signs the body; events for numbers and accounts we do not own
        change nothing."""
        _refuse_large_body()
        raw_body = request.httprequest.get_data()
        try:
            events = parse_webhook(json.loads(raw_body))
        except (ValueError, RecursionError) as error:
            raise BadRequest(
                "The body is not a WhatsApp Business Account webhook."
            ) from error
        numbers = {
            event["phone_number_id"]
            for event in events["statuses"] + events["messages"]
        }
        receivers = request.env["dunning.channel"]._whatsapp_receivers()
        unknown = numbers - set(receivers["numbers"])
        if unknown:
            _logger.info(
                "WhatsApp webhook events for %s numbers that are not ours ignored: %s",
                len(unknown),
                ", ".join(sorted(repr(number) for number in unknown)[:5]),
            )
        accounts = {event["waba_id"] for event in events["templates"]}
        if accounts - set(receivers["accounts"]):
            _logger.info(
                "WhatsApp template events for business accounts that are not ours "
                "ignored: %s",
                ", ".join(
                    sorted(repr(a) for a in accounts - set(receivers["accounts"]))
                )[:200],
            )
        number_receivers = {
            number: receivers["numbers"][number] for number in numbers - unknown
        }
        account_receivers = [
            receiver
            for account in accounts & set(receivers["accounts"])
            for receiver in receivers["accounts"][account]
        ]
        # One HMAC per distinct secret among the receiving channels.
        signature = request.httprequest.headers.get("X-Hub-Signature-256")
        secrets = {
            secret
            for _channel_id, secret, _company_id in [
                *number_receivers.values(),
                *account_receivers,
            ]
        }
        signed_with = {
            secret
            for secret in secrets
            if verify_meta_signature(secret, raw_body, signature)
        }
        if secrets and not signed_with:
            _logger.info("WhatsApp webhook refused: missing or wrong signature")
            raise Forbidden()
        signed = {
            number: receiver
            for number, receiver in number_receivers.items()
            if receiver[1] in signed_with
        }
        channels = request.env["dunning.channel"].sudo()
        if events["templates"]:
            request.env["dunning.whatsapp.template"].sudo()._apply_review_events(
                channels.browse(
                    channel_id
                    for channel_id, secret, _company_id in account_receivers
                    if secret in signed_with
                ),
                events["templates"],
            )
        if events["statuses"]:
            self._apply_statuses(
                channels.browse(receiver[0] for receiver in signed.values()),
                events["statuses"],
            )
        # Recorded first, in one statement: a repeated delivery is dropped
        # here, and a burst is absorbed as fast as it comes (dunning.inbound).
        request.env["dunning.inbound"].sudo()._record_whatsapp(
            [
                (receiver[0], receiver[2], message)
                for message in events["messages"]
                if (receiver := signed.get(message["phone_number_id"]))
            ]
        )._dispatch()
        return request.make_response("ok", headers=[("Content-Type", "text/plain")])

    def _apply_statuses(self, channels, statuses):
        """Delivery updates of our messages, in a constant number of queries;
        a message WhatsApp could not deliver goes through the step's next
        channel."""
        failed = (
            request.env["dunning.communication"]
            .sudo()
            ._apply_whatsapp_statuses(channels, statuses)
        )
        if failed:
            failed._dunning_fall_back()

    @http.route("/friendly_dunning/webhook/twilio", **WEBHOOK_ROUTE)
    def twilio_inbound(self, **_params):
        return _limit_refusals(self._twilio_inbound)

    def _twilio_inbound(self):
        """An SMS a customer sent to our Twilio number: logged and acted on
        like a WhatsApp reply, for the company that owns the number it was
        sent to (``To``) and only when that company's auth token signs the
        request; STOP / START / HELP honoured at once."""
        _refuse_large_body()
        form = request.httprequest.form
        receivers = request.env["dunning.channel"]._twilio_receivers(
            form.get("To") or ""
        )
        if not receivers:
            _logger.info(
                "Twilio webhook for a number that is not ours ignored: %r",
                (form.get("To") or "")[:32],
            )
            return self._twiml("")
        signature = request.httprequest.headers.get("X-Twilio-Signature")
        urls = {
            request.httprequest.url,
            request.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
            + request.httprequest.full_path.rstrip("?"),
        }
        signed_by = [
            (company, channel)
            for company, channel, token in receivers
            if any(verify_twilio_signature(token, url, form, signature) for url in urls)
        ]
        if not signed_by:
            _logger.info("Twilio webhook refused: missing or wrong signature")
            raise Forbidden()
        company, channel = signed_by[0]
        if len({company for company, _channel in signed_by}) > 1:
            _logger.info(
                "Twilio webhook ignored: number %r belongs to several companies",
                form.get("To"),
            )
            return self._twiml("")
        sender, _problem = to_e164(form.get("From") or "")
        if not sender:
            raise BadRequest("The sender's number (From) is missing or not valid.")
        text = form.get("Body") or ""
        opt_out_type = (form.get("OptOutType") or "").upper()
        intent = {"STOP": STOP, "START": START, "HELP": HELP}.get(opt_out_type)
        if intent is None:
            intent, _rule = detect_intent(text)
        request.env["dunning.reply"].sudo()._handle(
            company,
            sender,
            text,
            payload=opt_out_type or None,
            channel="sms",
            provider_id=form.get("MessageSid") or None,
            receiver=channel or None,
        )
        answer = ""
        if intent == HELP:
            answer = request.env._(
                "%(company)s: this number sends reminders about your invoices. "
                "Reply STOP to stop them, START to receive them again.",
                company=company.name,
            )
        return self._twiml(answer)

    def _twiml(self, answer):
        body = "<Response>%s</Response>" % (
            f"<Message>{escape(answer)}</Message>" if answer else ""
        )
        return request.make_response(
            '<?xml version="1.0" encoding="UTF-8"?>' + body,
            headers=[("Content-Type", "text/xml")],
        )
