"""The shapes of WhatsApp message templates: the ``components`` we send with
a template message, and a template as Meta lists it, flattened."""

import re
from decimal import ROUND_HALF_UP, Decimal

from .json_values import as_list

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def _text_param(value):
    return {"type": "text", "text": str(value)}


def currency_param(amount, currency_code, fallback_value):
    """A ``currency`` body parameter; ``amount`` in currency units (Decimal,
    float or str), sent as thousandths as Meta expects."""
    amount_1000 = (Decimal(str(amount)) * 1000).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return {
        "type": "currency",
        "currency": {
            "fallback_value": str(fallback_value),
            "code": currency_code,
            "amount_1000": int(amount_1000),
        },
    }


def date_time_param(fallback_value):
    """A ``date_time`` body parameter shown as ``fallback_value``."""
    return {"type": "date_time", "date_time": {"fallback_value": str(fallback_value)}}


def _body_parameters(body_params):
    """Positional parameters from a sequence, named ones from a mapping.
    Plain values become text; dicts (``currency_param`` ...) pass as they are."""
    if isinstance(body_params, dict):
        parameters = []
        for name, value in body_params.items():
            parameter = dict(value) if isinstance(value, dict) else _text_param(value)
            parameter["parameter_name"] = name
            parameters.append(parameter)
        return parameters
    return [
        dict(value) if isinstance(value, dict) else _text_param(value)
        for value in body_params
    ]


def template_components(
    body_params=None,
    url_button_suffix=None,
    document_link=None,
    document_filename=None,
    document_media_id=None,
    url_button_index=0,
    quick_reply_payloads=None,
):
    """The ``components`` of a template message.

    ``body_params``: a list (``{{1}}``, ``{{2}}`` ...) or a dict (named
    variables) of plain values or of ``currency_param`` / ``date_time_param``.
    ``url_button_suffix``: the dynamic end of the URL button at
    ``url_button_index``. ``document_link`` or ``document_media_id`` (from
    ``upload_media``): a document header, shown as ``document_filename``.
    ``quick_reply_payloads``: ``{button index: payload}`` returned on a tap.
    """
    components = []
    if document_link or document_media_id:
        document = (
            {"id": document_media_id} if document_media_id else {"link": document_link}
        )
        if document_filename:
            document["filename"] = document_filename
        components.append(
            {
                "type": "header",
                "parameters": [{"type": "document", "document": document}],
            }
        )
    if body_params:
        components.append({"type": "body", "parameters": _body_parameters(body_params)})
    if url_button_suffix is not None:
        components.append(
            {
                "type": "button",
                "sub_type": "url",
                "index": str(url_button_index),
                "parameters": [_text_param(url_button_suffix)],
            }
        )
    for index, payload in sorted((quick_reply_payloads or {}).items()):
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": str(payload)}],
            }
        )
    return components


def _body_text(components):
    for component in components:
        if str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


def _buttons(components):
    buttons = []
    for component in components:
        if str(component.get("type", "")).upper() != "BUTTONS":
            continue
        for button in as_list(component.get("buttons")):
            if not isinstance(button, dict):
                continue
            url = button.get("url")
            buttons.append(
                {
                    "type": str(button.get("type") or "").upper(),
                    "text": button.get("text") or "",
                    "url": url,
                    "url_has_variable": bool(url and _VARIABLE.search(url)),
                }
            )
    return buttons


def normalise_template(template):
    """One entry of ``message_templates`` as a flat dict."""
    components = [c for c in as_list(template.get("components")) if isinstance(c, dict)]
    body = _body_text(components)
    variables = list(dict.fromkeys(_VARIABLE.findall(body)))
    header = next(
        (c for c in components if str(c.get("type", "")).upper() == "HEADER"), {}
    )
    return {
        "id": template.get("id"),
        "name": template.get("name"),
        "language": template.get("language"),
        "category": template.get("category"),
        "status": template.get("status"),
        "parameter_format": template.get("parameter_format") or "POSITIONAL",
        "header_format": header.get("format"),
        "body": body,
        "body_variables": variables,
        "body_variable_count": len(variables),
        "buttons": _buttons(components),
    }
