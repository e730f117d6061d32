"""Writing WhatsApp templates for Meta's review: the checks Meta applies
before it accepts a template, and the body of
``POST /{waba_id}/message_templates``.

Plain Python: ``template_problems`` answers ``(code, details)`` pairs that
the Odoo model words in the manager's language.
"""

import re

# Meta's limits for a template (WhatsApp Cloud API, message templates).
MAX_NAME = 512
MAX_BODY = 1024
MAX_BUTTONS = 10
MAX_QUICK_REPLIES = 3
MAX_BUTTON_TEXT = 25
MAX_URL = 2000
CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")

_NAME = re.compile(r"^[a-z0-9_]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

# Codes of the problems ``template_problems`` finds.
NAME = "name"
LANGUAGE = "language"
CATEGORY = "category"
BODY_EMPTY = "body_empty"
BODY_LENGTH = "body_length"
VARIABLE_FORMAT = "variable_format"
VARIABLE_ORDER = "variable_order"
VARIABLE_EDGE = "variable_edge"
VARIABLE_VALUE = "variable_value"
VARIABLE_EXAMPLE = "variable_example"
BUTTON_COUNT = "button_count"
QUICK_REPLY_COUNT = "quick_reply_count"
BUTTON_TEXT = "button_text"
BUTTON_URL = "button_url"
HEADER = "header"


def body_variables(body):
    """The variables of ``body`` as written (``"1"``, ``"2"`` ...), each once,
    in order of first appearance."""
    return list(dict.fromkeys(_VARIABLE.findall(body or "")))


def _check_variables(body, variables, examples):
    problems = []
    found = body_variables(body)
    if any(not name.isdigit() for name in found):
        return [(VARIABLE_FORMAT, [name for name in found if not name.isdigit()])]
    numbers = [int(name) for name in found]
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append((VARIABLE_ORDER, numbers))
    stripped = (body or "").strip()
    if found and (stripped.startswith("{{") or stripped.endswith("}}")):
        problems.append((VARIABLE_EDGE, None))
    if len(variables) != len(numbers):
        problems.append((VARIABLE_VALUE, (len(numbers), len(variables))))
    missing = [
        index + 1
        for index, name in enumerate(variables[: len(numbers)])
        if not str(examples.get(name) or "").strip()
    ]
    if missing:
        problems.append((VARIABLE_EXAMPLE, missing))
    return problems


def _check_buttons(buttons):
    problems = []
    if len(buttons) > MAX_BUTTONS:
        problems.append((BUTTON_COUNT, len(buttons)))
    quick_replies = [b for b in buttons if b.get("type") == "QUICK_REPLY"]
    if len(quick_replies) > MAX_QUICK_REPLIES:
        problems.append((QUICK_REPLY_COUNT, len(quick_replies)))
    for button in buttons:
        text = (button.get("text") or "").strip()
        if not text or len(text) > MAX_BUTTON_TEXT:
            problems.append((BUTTON_TEXT, text))
        if button.get("type") == "URL":
            url = button.get("url") or ""
            variables = _VARIABLE.findall(url)
            if (
                not re.match(r"^https?://[^/\s{}]+", url)
                or len(url) > MAX_URL
                or variables not in ([], ["1"])
                or (variables and not url.endswith("{{1}}"))
            ):
                problems.append((BUTTON_URL, url))
        elif button.get("type") != "QUICK_REPLY":
            problems.append((BUTTON_TEXT, text))
    return problems


def template_problems(template, examples):
    """What Meta would refuse in ``template`` (a dict with ``name``,
    ``language``, ``category``, ``body``, ``variables`` -- our value names
    for ``{{1}}``, ``{{2}}`` ... -- ``buttons`` and ``header_format``), as
    ``[(code, details), ...]``; empty when it may be submitted.
    ``examples`` maps each value name to its sample text."""
    problems = []
    name = template.get("name") or ""
    if not _NAME.match(name) or len(name) > MAX_NAME:
        problems.append((NAME, name))
    if not _LANGUAGE.match(template.get("language") or ""):
        problems.append((LANGUAGE, template.get("language")))
    if template.get("category") not in CATEGORIES:
        problems.append((CATEGORY, template.get("category")))
    body = template.get("body") or ""
    if not body.strip():
        problems.append((BODY_EMPTY, None))
    elif len(body) > MAX_BODY:
        problems.append((BODY_LENGTH, len(body)))
    problems += _check_variables(body, list(template.get("variables") or []), examples)
    problems += _check_buttons(list(template.get("buttons") or []))
    if template.get("header_format"):
        problems.append((HEADER, template["header_format"]))
    return problems


def url_example(url, example_suffix):
    """A URL button's sample: its variable replaced by ``example_suffix``."""
    return url.replace("{{1}}", example_suffix)


def template_request(template, examples, url_example_suffix):
    """The JSON body of ``POST /{waba_id}/message_templates`` for
    ``template`` (checked by ``template_problems`` first)."""
    variables = list(template.get("variables") or [])
    body = {"type": "BODY", "text": template["body"]}
    if variables:
        body["example"] = {"body_text": [[str(examples[name]) for name in variables]]}
    components = [body]
    buttons = []
    for button in template.get("buttons") or []:
        if button["type"] == "URL":
            entry = {"type": "URL", "text": button["text"], "url": button["url"]}
            if "{{1}}" in button["url"]:
                entry["example"] = [url_example(button["url"], url_example_suffix)]
            buttons.append(entry)
        else:
            buttons.append({"type": "QUICK_REPLY", "text": button["text"]})
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "name": template["name"],
        "language": template["language"],
        "category": template["category"],
        "components": components,
    }
