"""WhatsApp interactive messages (reply buttons, lists, a link button) and
the ids of the options they offer, as plain values.

An option id is ``<offer>:<key>``: the number of the offer that showed it
and the option's key in that offer. It comes back with the customer's tap
and is only ever looked up in the offers we stored, never acted on as such.
"""

import re

MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_LIST_BUTTON = 20
MAX_BODY = 1024
MAX_OPTION_ID = 200
OPTION_ID = re.compile(r"^(\d{1,9}):([a-z0-9_]{1,40})$")


def _fit(text, size):
    text = " ".join(str(text or "").split())
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


def option_id(offer, key):
    """The id an option of offer number ``offer`` carries."""
    return f"{int(offer)}:{key}"


def parse_option_id(value):
    """``(offer number, key)`` of an id we may have set, or ``None`` for
    anything else (a template's quick-reply payload, garbage)."""
    match = OPTION_ID.match(str(value or "").strip())
    if not match:
        return None
    return int(match.group(1)), match.group(2)


def reply_buttons(body, options):
    """Reply buttons: ``options`` are ``(id, title)``, at most three."""
    if not options or len(options) > MAX_BUTTONS:
        raise ValueError(f"Reply buttons take 1 to {MAX_BUTTONS} options.")
    return {
        "type": "button",
        "body": {"text": _fit(body, MAX_BODY)},
        "action": {
            "buttons": [
                {
                    "type": "reply",
                    "reply": {"id": ident, "title": _fit(title, MAX_BUTTON_TITLE)},
                }
                for ident, title, *_description in options
            ]
        },
    }


def list_message(body, button, options, section=None):
    """A list: ``options`` are ``(id, title, description)``, at most ten;
    ``button`` opens it."""
    if not options or len(options) > MAX_ROWS:
        raise ValueError(f"A list takes 1 to {MAX_ROWS} options.")
    rows = []
    for ident, title, *description in options:
        row = {"id": ident, "title": _fit(title, MAX_ROW_TITLE)}
        if description and description[0]:
            row["description"] = _fit(description[0], MAX_ROW_DESCRIPTION)
        rows.append(row)
    section_values = {"rows": rows}
    if section:
        section_values = {"title": _fit(section, MAX_ROW_TITLE)} | section_values
    return {
        "type": "list",
        "body": {"text": _fit(body, MAX_BODY)},
        "action": {
            "button": _fit(button, MAX_LIST_BUTTON),
            "sections": [section_values],
        },
    }


def choices(body, button, options):
    """Buttons when the options fit on buttons (three at most, short titles
    and no descriptions), a list otherwise."""
    if len(options) <= MAX_BUTTONS and all(
        len(title) <= MAX_BUTTON_TITLE and not (description and description[0])
        for _ident, title, *description in options
    ):
        return reply_buttons(body, options)
    return list_message(body, button, options)


def cta_url(body, display_text, url):
    """A message with one button that opens ``url``."""
    return {
        "type": "cta_url",
        "body": {"text": _fit(body, MAX_BODY)},
        "action": {
            "name": "cta_url",
            "parameters": {
                "display_text": _fit(display_text, MAX_BUTTON_TITLE),
                "url": url,
            },
        },
    }


def numbered_text(body, titles, reply_word="Reply"):
    """The SMS form of a choice: ``body`` then one line per option,
    numbered from 1 (``Reply 1 for ...``)."""
    lines = [body] + [
        f"{reply_word} {number}: {title}"
        for number, title in enumerate(titles, start=1)
    ]
    return "\n".join(lines)


def readable(interactive):
    """What an interactive message shows, as plain text (for the accountant
    and for a channel that cannot show it)."""
    if not isinstance(interactive, dict):
        return ""
    lines = [str((interactive.get("body") or {}).get("text") or "")]
    action = interactive.get("action") or {}
    kind = interactive.get("type")
    if kind == "button":
        lines += [
            f"[{button['reply']['title']}]" for button in action.get("buttons") or ()
        ]
    elif kind == "list":
        for section in action.get("sections") or ():
            for row in section.get("rows") or ():
                description = row.get("description")
                lines.append(
                    f"- {row['title']}" + (f" ({description})" if description else "")
                )
    elif kind == "cta_url":
        parameters = action.get("parameters") or {}
        lines.append(f"[{parameters.get('display_text')}] {parameters.get('url')}")
    return "\n".join(line for line in lines if line)
