"""The events of a WhatsApp Cloud API webhook POST: delivery statuses of our
messages and the customers' messages, as flat dicts. Anything we do not
handle is skipped; nothing here raises on a malformed entry."""

from .json_values import as_dict, as_int, as_list, as_str

STATUSES = ("sent", "delivered", "read", "failed")
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
MESSAGE_TYPES = ("text", "button", "interactive", *MEDIA_TYPES)
# Unix times beyond this are no real event's time (and overflow datetime).
_MAX_TIMESTAMP = 2**32


def _timestamp(value):
    """An event's Unix time, or ``None`` when missing or out of range."""
    seconds = as_int(value)
    return seconds if seconds is not None and 0 < seconds < _MAX_TIMESTAMP else None


def _status_event(status, metadata):
    wamid = as_str(status.get("id"))
    state = status.get("status")
    if not wamid or state not in STATUSES:
        return None
    error = next((e for e in as_list(status.get("errors")) if isinstance(e, dict)), {})
    pricing = status.get("pricing")
    return {
        "wamid": wamid,
        "status": state,
        "timestamp": _timestamp(status.get("timestamp")),
        "recipient": as_str(status.get("recipient_id")),
        "error_code": as_int(error.get("code")),
        "error_title": as_str(error.get("title") or error.get("message")),
        "error_details": as_str(as_dict(error.get("error_data")).get("details")),
        "pricing": dict(pricing) if isinstance(pricing, dict) else None,
        "callback_data": as_str(status.get("biz_opaque_callback_data")),
        "phone_number_id": as_str(metadata.get("phone_number_id")),
    }


def _message_content(message, kind):
    """``(text, payload, title, media_id)`` of one inbound message."""
    content = as_dict(message.get(kind))
    if kind == "text":
        return as_str(content.get("body")), None, None, None
    if kind == "button":
        text = as_str(content.get("text"))
        return text, as_str(content.get("payload")), text, None
    if kind == "interactive":
        reply = as_dict(content.get("button_reply") or content.get("list_reply"))
        title = as_str(reply.get("title"))
        return title, as_str(reply.get("id")), title, None
    return as_str(content.get("caption")), None, None, as_str(content.get("id"))


def _message_event(message, metadata, names):
    wamid = as_str(message.get("id"))
    kind = message.get("type")
    sender = as_str(message.get("from"))
    if not wamid or not sender or kind not in MESSAGE_TYPES:
        return None
    text, payload, title, media_id = _message_content(message, kind)
    media = as_dict(message.get(kind)) if kind in MEDIA_TYPES else {}
    return {
        "wamid": wamid,
        "from": sender,
        "profile_name": names.get(sender),
        "timestamp": _timestamp(message.get("timestamp")),
        "type": kind,
        "text": text,
        "payload": payload,
        "title": title,
        "context_wamid": as_str(as_dict(message.get("context")).get("id")),
        "media_id": media_id,
        "mime_type": as_str(media.get("mime_type")),
        "filename": as_str(media.get("filename")),
        "phone_number_id": as_str(metadata.get("phone_number_id")),
    }


TEMPLATE_STATUS_FIELD = "message_template_status_update"
TEMPLATE_CATEGORY_FIELD = "template_category_update"


def _template_event(field, value, entry):
    """A review outcome or category change of one of our templates. These
    entries name the business account (``entry.id``), not a number."""
    template_id = as_str(value.get("message_template_id"))
    waba_id = as_str(entry.get("id"))
    if not template_id or not waba_id:
        return None
    event = {
        "waba_id": waba_id,
        "timestamp": _timestamp(entry.get("time")),
        "template_id": template_id,
        "name": as_str(value.get("message_template_name")),
        "language": as_str(value.get("message_template_language")),
    }
    if field == TEMPLATE_STATUS_FIELD:
        state = (as_str(value.get("event")) or "").upper()
        if not state:
            return None
        details = as_dict(value.get("other_info")) or as_dict(
            value.get("rejection_info")
        )
        return event | {
            "kind": "status",
            "event": state,
            "reason": as_str(value.get("reason")),
            "details": as_str(
                details.get("description") or details.get("recommendation")
            ),
        }
    new_category = (as_str(value.get("new_category")) or "").upper()
    if not new_category:
        return None
    return event | {
        "kind": "category",
        # A notice sent ahead of a change names the category to come as
        # ``correct_category``; ``new_category`` is then still the current one.
        "new_category": new_category,
        "upcoming_category": (as_str(value.get("correct_category")) or "").upper()
        or None,
    }


def parse_webhook(payload):
    """The events of one webhook POST (already parsed JSON), as
    ``{"statuses": [...], "messages": [...], "templates": [...]}``.

    Statuses are delivery updates of our messages (``wamid``, ``status`` in
    sent / delivered / read / failed, ``timestamp``, ``recipient``,
    ``error_code``, ``error_title``, ``pricing``, ``callback_data``); messages
    are customer replies (``wamid``, ``from``, ``timestamp``, ``type``,
    ``text``, ``payload``, ``title``, ``context_wamid``, ``media_id`` ...).
    Templates are review outcomes and category changes of our message
    templates (``kind`` status or category, ``waba_id``, ``timestamp``,
    ``template_id``, ``name``, ``language``, then ``event``, ``reason``,
    ``details`` or ``new_category``, ``upcoming_category``).
    Entries, fields and types we do not handle are skipped. Raises
    ``ValueError`` only when ``payload`` is not a WhatsApp Business Account
    envelope.
    """
    if (
        not isinstance(payload, dict)
        or payload.get("object") != "whatsapp_business_account"
        or not isinstance(payload.get("entry"), list)
    ):
        raise ValueError("Not a WhatsApp Business Account webhook payload.")
    statuses, messages, templates = [], [], []
    for entry in payload["entry"]:
        entry = as_dict(entry)
        for change in as_list(entry.get("changes")):
            change = as_dict(change)
            value = as_dict(change.get("value"))
            if value and change.get("field") in (
                TEMPLATE_STATUS_FIELD,
                TEMPLATE_CATEGORY_FIELD,
            ):
                event = _template_event(change["field"], value, entry)
                if event:
                    templates.append(event)
                continue
            if change.get("field") != "messages" or not value:
                continue
            metadata = as_dict(value.get("metadata"))
            names = {
                as_str(contact.get("wa_id")): as_str(
                    as_dict(contact.get("profile")).get("name")
                )
                for contact in as_list(value.get("contacts"))
                if isinstance(contact, dict)
            }
            for status in as_list(value.get("statuses")):
                event = _status_event(as_dict(status), metadata)
                if event:
                    statuses.append(event)
            for message in as_list(value.get("messages")):
                event = _message_event(as_dict(message), metadata, names)
                if event:
                    messages.append(event)
    return {"statuses": statuses, "messages": messages, "templates": templates}
