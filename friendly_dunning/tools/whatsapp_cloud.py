"""A small client for the Meta WhatsApp Cloud API, and its webhook parser.

Plain Python (``requests``) with no ORM: the Odoo models give it the
credentials, send through it and store what ``parse_webhook`` returns. Every
call has a timeout; every failure becomes a ``WhatsAppError`` whose ``kind``
tells the caller what to do (retry later, fall back to a template, fix the
configuration, give up on the number). The access token is sent in a header
only and never appears in an error message.
"""

import collections
import math
import random
import re
import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
# Meta echoes at most 512 characters of biz_opaque_callback_data.
MAX_CALLBACK_DATA = 512
# Bounds template listing even when the server keeps answering a next page.
MAX_TEMPLATE_PAGES = 50
TEMPLATE_FIELDS = "id,name,language,category,status,components,parameter_format"

OUTSIDE_WINDOW = "outside_window"
RATE_LIMITED = "rate_limited"
UNDELIVERABLE = "undeliverable"
TEMPLATE = "template"
AUTH = "auth"
SERVER = "server"
INVALID_REQUEST = "invalid_request"
RETRYABLE_KINDS = frozenset({RATE_LIMITED, SERVER})

# Meta recommends handling errors by ``code``, not by HTTP status.
_KIND_BY_CODE = {
    131047: OUTSIDE_WINDOW,  # re-engagement: 24 h customer service window closed
    4: RATE_LIMITED,  # application call rate limit
    80007: RATE_LIMITED,  # WhatsApp Business Account rate limit
    130429: RATE_LIMITED,  # throughput (messages per second) exceeded
    131056: RATE_LIMITED,  # too many messages to the same recipient
    131026: UNDELIVERABLE,
    0: AUTH,  # AuthException
    190: AUTH,  # access token expired or invalid
    1: SERVER,  # API unknown: possibly a server error
    2: SERVER,  # API service temporarily unavailable
    131000: SERVER,  # something went wrong
    131016: SERVER,  # service unavailable
}

STATUSES = ("sent", "delivered", "read", "failed")
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
MESSAGE_TYPES = ("text", "button", "interactive", *MEDIA_TYPES)
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_NOT_DIGIT = re.compile(r"\D")


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _as_list(value):
    return value if isinstance(value, list) else []


def _as_str(value):
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def error_kind(code=None, http_status=None):
    """The kind of a WhatsApp error from its Meta ``code`` (sync answer or
    ``errors[].code`` of a failed status webhook) and/or HTTP status."""
    if code in _KIND_BY_CODE:
        return _KIND_BY_CODE[code]
    if isinstance(code, int) and 132000 <= code <= 132999:
        return TEMPLATE
    if http_status == 429:
        return RATE_LIMITED
    if http_status == 401:
        return AUTH
    if http_status is not None and http_status >= 500:
        return SERVER
    return INVALID_REQUEST


class WhatsAppError(Exception):
    """A failed WhatsApp call. ``kind`` is one of ``outside_window``,
    ``rate_limited``, ``undeliverable``, ``template``, ``auth``, ``server``,
    ``invalid_request``; ``retry_after`` is in seconds when the server said;
    ``outcome_unknown`` when the request may have been accepted all the same
    (no answer was read)."""

    def __init__(
        self,
        code,
        kind,
        message,
        retry_after=None,
        http_status=None,
        trace_id=None,
        outcome_unknown=False,
    ):
        super().__init__(message)
        # True when the request may have reached WhatsApp (no answer read):
        # a send must then wait for the status webhook, never be repeated.
        self.outcome_unknown = outcome_unknown
        self.code = code
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.http_status = http_status
        self.trace_id = trace_id

    @property
    def retryable(self):
        """Whether the same call may succeed later without any change, and
        repeating it cannot deliver the message twice."""
        return self.kind in RETRYABLE_KINDS and not self.outcome_unknown

    def __repr__(self):
        return (
            f"WhatsAppError(code={self.code!r}, kind={self.kind!r}, "
            f"message={self.message!r}, retry_after={self.retry_after!r})"
        )


def backoff_seconds(attempt, base=30, cap=3600, jitter=0.0, random_fn=random.random):
    """Seconds to wait before retry number ``attempt`` (1 for the first):
    ``base``, then doubled each attempt, never above ``cap``.

    Deterministic unless ``jitter`` (0..1) is given: the delay is then reduced
    by up to that fraction, using ``random_fn`` (injectable for tests), so
    that retries of many messages do not all fire at the same second.
    """
    if not 0 <= jitter <= 1:
        raise ValueError("jitter must be between 0 and 1")
    exponent = max(int(attempt), 1) - 1
    # Beyond 2**62 the delay is above any sensible cap; avoid float overflow.
    delay = cap if exponent > 62 else min(cap, base * 2**exponent)
    if jitter:
        delay -= delay * jitter * random_fn()
    return delay


class RateLimiter:
    """Token bucket: ``rate_per_second`` tokens a second, at most ``burst``
    stored. Thread-safe; uses a monotonic clock, injectable with ``sleep``
    for tests.

    With the default ``burst`` of 1, sends are spaced at least
    ``1 / rate_per_second`` apart, so no one-second window ever holds more
    than ``rate_per_second`` sends (Meta's default is 80 per second and
    business number). The bucket counts this process only.
    """

    # Tolerates float rounding so that sleeping exactly the wait time suffices.
    _EPSILON = 1e-9

    def __init__(self, rate_per_second, burst=1, clock=time.monotonic, sleep=None):
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate_per_second)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep or time.sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    def _refill(self):
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now

    def _take(self, tokens):
        """Take ``tokens`` now and answer 0, or answer the seconds to wait."""
        with self._lock:
            self._refill()
            if self._tokens + self._EPSILON >= tokens:
                self._tokens = max(0.0, self._tokens - tokens)
                return 0.0
            return (tokens - self._tokens) / self.rate

    def try_acquire(self, tokens=1):
        """Take ``tokens`` if available right now; never waits."""
        if tokens > self.burst:
            raise ValueError("cannot take more tokens than the burst size")
        return self._take(tokens) == 0.0

    def acquire(self, tokens=1, timeout=None):
        """Wait until ``tokens`` are available and take them. Answers False
        when that would take longer than ``timeout`` seconds."""
        if tokens > self.burst:
            raise ValueError("cannot take more tokens than the burst size")
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            wait = self._take(tokens)
            if wait == 0.0:
                return True
            if deadline is not None and self._clock() + wait > deadline:
                return False
            self._sleep(wait)


class WindowRateLimiter:
    """At most ``rate_per_second`` acquisitions in any one-second window, at
    a sustained ``rate_per_second``, spaced evenly.

    Grants follow a schedule of slots ``1 / rate_per_second`` apart, so sends
    leave one by one rather than in bunches that the time between the grant
    and the wire can push into one second at the receiver. A grant that
    comes late keeps the schedule (the next slot is the scheduled one, not
    the wake-up plus a full interval): the slots a busy machine missed (a
    late wake-up, a garbage collection, the database thread holding the
    interpreter) are made up as soon as the hard cap allows, so the number
    keeps its full rate. Only after a pause longer than the window (nothing
    left to send for a while) does the schedule start again from the grant.
    The hard cap comes from the times of the last ``rate_per_second``
    grants: a grant waits until the one ``rate_per_second`` places back is a
    window old, so no window ever holds more than the rate.
    Thread-safe; ``clock`` and ``sleep`` injectable. ``history``, when a
    list, receives every grant time (for benchmarks).
    """

    # Tolerates float rounding so that sleeping exactly the wait time suffices.
    _EPSILON = 1e-9

    def __init__(
        self,
        rate_per_second,
        window=1.0,
        clock=time.monotonic,
        sleep=None,
        history=None,
    ):
        rate = int(rate_per_second)
        if rate < 1:
            raise ValueError("rate_per_second must be at least 1")
        self.rate = rate
        self.window = float(window)
        self.interval = self.window / rate
        self.history = history
        self._clock = clock
        self._sleep = sleep or time.sleep
        self._grants = collections.deque(maxlen=rate)
        self._next_slot = None
        self._lock = threading.Lock()

    def _take(self):
        """Record a grant now and answer 0, or answer the seconds to wait."""
        with self._lock:
            now = self._clock()
            wait = 0.0
            if self._next_slot is not None:
                wait = self._next_slot - now
            if len(self._grants) == self.rate:
                wait = max(wait, self._grants[0] + self.window - now)
            if wait > self._EPSILON:
                return wait
            self._grants.append(now)
            if self.history is not None:
                self.history.append(now)
            if self._next_slot is None or now - self._next_slot > self.window:
                self._next_slot = now + self.interval
            else:
                self._next_slot += self.interval
            return 0.0

    def acquire(self):
        """Wait until sending once more keeps the sends evenly spaced and
        every second within the rate."""
        while True:
            wait = self._take()
            if not wait:
                return True
            self._sleep(wait)


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


def _retry_after(response):
    """``Retry-After`` in whole seconds, when given as a number."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return math.ceil(seconds)


def _error_from_response(response):
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    error = _as_dict(error)
    code = _as_int(error.get("code"))
    message = str(error.get("message") or response.reason or "WhatsApp error")
    details = _as_dict(error.get("error_data")).get("details")
    if details:
        message = f"{message}: {details}"
    return WhatsAppError(
        code,
        error_kind(code, response.status_code),
        message[:1000],
        retry_after=_retry_after(response),
        http_status=response.status_code,
        trace_id=error.get("fbtrace_id"),
    )


def _recipient(to):
    digits = _NOT_DIGIT.sub("", str(to or ""))
    if not digits:
        raise WhatsAppError(None, INVALID_REQUEST, "The recipient has no phone number.")
    return digits


def _callback_data(callback_data):
    if callback_data is None:
        return None
    callback_data = str(callback_data)
    if len(callback_data) > MAX_CALLBACK_DATA:
        raise ValueError(f"callback_data is limited to {MAX_CALLBACK_DATA} characters")
    return callback_data


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
        for button in _as_list(component.get("buttons")):
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
    components = [
        c for c in _as_list(template.get("components")) if isinstance(c, dict)
    ]
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


class WhatsAppCloudClient:
    """Calls to one WhatsApp business phone number (and its business account
    for templates). ``session`` may be shared (a ``requests.Session``);
    otherwise one is made that keeps ``pool_size`` connections open, as many
    as threads sending at once."""

    def __init__(
        self,
        phone_number_id,
        access_token,
        api_version=DEFAULT_API_VERSION,
        base_url=DEFAULT_BASE_URL,
        waba_id=None,
        timeout=10,
        session=None,
        pool_size=10,
    ):
        if not phone_number_id or not access_token:
            raise ValueError("A phone number id and an access token are required.")
        self.phone_number_id = str(phone_number_id)
        self.waba_id = str(waba_id) if waba_id else None
        self.api_version = "v" + str(api_version).lstrip("v")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        if session is None:
            # One kept-alive connection per thread sending through the client.
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=1, pool_maxsize=max(int(pool_size), 1)
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self._access_token = access_token

    def __repr__(self):
        return f"WhatsAppCloudClient(phone_number_id={self.phone_number_id!r})"

    def _url(self, *parts):
        return "/".join((self.base_url, self.api_version, *parts))

    def _request(self, method, url, gate=None, **kwargs):
        """One call; ``gate`` (e.g. a rate limiter's ``acquire``) is called
        once the request is built, right before it goes on the wire."""
        headers = {"Authorization": f"Bearer {self._access_token}"}
        try:
            prepared = self.session.prepare_request(
                requests.Request(method, url, headers=headers, **kwargs)
            )
            if gate is not None:
                gate()
            response = self.session.send(prepared, timeout=self.timeout)
        except requests.ConnectionError as error:
            # Nothing reached WhatsApp (ConnectTimeout is one of these): a
            # retry cannot send the message twice. The exception text may
            # hold the URL: keep only its type.
            raise WhatsAppError(
                None, SERVER, f"WhatsApp could not be reached ({type(error).__name__})."
            ) from None
        except requests.Timeout:
            # The request left; WhatsApp may have accepted it.
            raise WhatsAppError(
                None, SERVER, "WhatsApp did not answer in time.", outcome_unknown=True
            ) from None
        except requests.RequestException as error:
            raise WhatsAppError(
                None,
                SERVER,
                f"WhatsApp could not be reached ({type(error).__name__}).",
                outcome_unknown=True,
            ) from None
        if response.status_code >= 400:
            raise _error_from_response(response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise WhatsAppError(
                None,
                SERVER,
                "WhatsApp answered with an unexpected response.",
                http_status=response.status_code,
            )
        return answer

    def _send(self, payload, callback_data, gate=None):
        callback_data = _callback_data(callback_data)
        if callback_data is not None:
            payload["biz_opaque_callback_data"] = callback_data
        answer = self._request(
            "POST", self._url(self.phone_number_id, "messages"), gate, json=payload
        )
        messages = answer.get("messages")
        wamid = (
            messages[0].get("id")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict)
            else None
        )
        if not wamid:
            raise WhatsAppError(
                None, SERVER, "WhatsApp accepted the message without an id."
            )
        return wamid

    def send_text(self, to, body, callback_data=None, gate=None):
        """Send free text (only inside the 24 h customer service window);
        answers the wamid. ``gate`` is called right before the request
        leaves (a rate limiter's ``acquire``)."""
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": _recipient(to),
            "type": "text",
            "text": {"body": body},
        }
        return self._send(payload, callback_data, gate)

    def send_template(
        self, to, name, language, components=None, callback_data=None, gate=None
    ):
        """Send an approved template (any time); answers the wamid. ``gate``
        as for ``send_text``."""
        template = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = components
        payload = {
            "messaging_product": "whatsapp",
            "to": _recipient(to),
            "type": "template",
            "template": template,
        }
        return self._send(payload, callback_data, gate)

    def send_document(
        self, to, media_id, filename, caption=None, callback_data=None, gate=None
    ):
        """Send an uploaded document (only inside the 24 h customer service
        window), e.g. the invoice a customer asked for; answers the wamid."""
        document = {"id": media_id, "filename": filename}
        if caption:
            document["caption"] = caption
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": _recipient(to),
            "type": "document",
            "document": document,
        }
        return self._send(payload, callback_data, gate)

    def upload_media(self, filename, content, mime_type):
        """Upload a file (e.g. an invoice PDF); answers the media id to use
        in a template header."""
        answer = self._request(
            "POST",
            self._url(self.phone_number_id, "media"),
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        if not answer.get("id"):
            raise WhatsAppError(None, SERVER, "WhatsApp stored the file without an id.")
        return answer["id"]

    def _next_page(self, first_url, answer):
        """The URL of the next page, on our own host and without any
        ``access_token`` in its query (the token stays in the header)."""
        paging = answer.get("paging")
        if not isinstance(paging, dict) or not paging.get("next"):
            return None
        next_url = urlsplit(str(paging["next"]))
        ours = urlsplit(first_url)
        if (next_url.scheme, next_url.netloc) == (ours.scheme, ours.netloc):
            query = [
                (key, value)
                for key, value in parse_qsl(next_url.query, keep_blank_values=True)
                if key != "access_token"
            ]
            return urlunsplit(next_url._replace(query=urlencode(query)))
        cursors = paging.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not after:
            return None
        query = urlencode({"fields": TEMPLATE_FIELDS, "after": after})
        return f"{first_url}?{query}"

    def list_templates(self):
        """Every message template of the business account, normalised
        (see ``normalise_template``), following the pages."""
        if not self.waba_id:
            raise ValueError("A WhatsApp Business Account id is required.")
        first_url = self._url(self.waba_id, "message_templates")
        url, params = first_url, {"fields": TEMPLATE_FIELDS, "limit": 100}
        templates, seen = [], set()
        for _page in range(MAX_TEMPLATE_PAGES):
            answer = self._request("GET", url, params=params)
            templates += [
                normalise_template(template)
                for template in answer.get("data") or []
                if isinstance(template, dict)
            ]
            url, params = self._next_page(first_url, answer), None
            if url is None or url in seen:
                break
            seen.add(url)
        return templates

    def test_connection(self):
        """The business number as WhatsApp knows it: ``display_phone_number``,
        ``verified_name`` and ``quality_rating``."""
        answer = self._request(
            "GET",
            self._url(self.phone_number_id),
            params={"fields": "display_phone_number,verified_name,quality_rating"},
        )
        return {
            "display_phone_number": answer.get("display_phone_number"),
            "verified_name": answer.get("verified_name"),
            "quality_rating": answer.get("quality_rating"),
        }


def _status_event(status, metadata):
    wamid = _as_str(status.get("id"))
    state = status.get("status")
    if not wamid or state not in STATUSES:
        return None
    error = next((e for e in _as_list(status.get("errors")) if isinstance(e, dict)), {})
    pricing = status.get("pricing")
    return {
        "wamid": wamid,
        "status": state,
        "timestamp": _as_int(status.get("timestamp")),
        "recipient": _as_str(status.get("recipient_id")),
        "error_code": _as_int(error.get("code")),
        "error_title": _as_str(error.get("title") or error.get("message")),
        "error_details": _as_str(_as_dict(error.get("error_data")).get("details")),
        "pricing": dict(pricing) if isinstance(pricing, dict) else None,
        "callback_data": _as_str(status.get("biz_opaque_callback_data")),
        "phone_number_id": _as_str(metadata.get("phone_number_id")),
    }


def _message_content(message, kind):
    """``(text, payload, title, media_id)`` of one inbound message."""
    content = _as_dict(message.get(kind))
    if kind == "text":
        return _as_str(content.get("body")), None, None, None
    if kind == "button":
        text = _as_str(content.get("text"))
        return text, _as_str(content.get("payload")), text, None
    if kind == "interactive":
        reply = _as_dict(content.get("button_reply") or content.get("list_reply"))
        title = _as_str(reply.get("title"))
        return title, _as_str(reply.get("id")), title, None
    return _as_str(content.get("caption")), None, None, _as_str(content.get("id"))


def _message_event(message, metadata, names):
    wamid = _as_str(message.get("id"))
    kind = message.get("type")
    sender = _as_str(message.get("from"))
    if not wamid or not sender or kind not in MESSAGE_TYPES:
        return None
    text, payload, title, media_id = _message_content(message, kind)
    media = _as_dict(message.get(kind)) if kind in MEDIA_TYPES else {}
    return {
        "wamid": wamid,
        "from": sender,
        "profile_name": names.get(sender),
        "timestamp": _as_int(message.get("timestamp")),
        "type": kind,
        "text": text,
        "payload": payload,
        "title": title,
        "context_wamid": _as_str(_as_dict(message.get("context")).get("id")),
        "media_id": media_id,
        "mime_type": _as_str(media.get("mime_type")),
        "filename": _as_str(media.get("filename")),
        "phone_number_id": _as_str(metadata.get("phone_number_id")),
    }


def parse_webhook(payload):
    """The events of one webhook POST (already parsed JSON), as
    ``{"statuses": [...], "messages": [...]}``.

    Statuses are delivery updates of our messages (``wamid``, ``status`` in
    sent / delivered / read / failed, ``timestamp``, ``recipient``,
    ``error_code``, ``error_title``, ``pricing``, ``callback_data``); messages
    are customer replies (``wamid``, ``from``, ``timestamp``, ``type``,
    ``text``, ``payload``, ``title``, ``context_wamid``, ``media_id`` ...).
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
    statuses, messages = [], []
    for entry in payload["entry"]:
        for change in _as_list(_as_dict(entry).get("changes")):
            change = _as_dict(change)
            value = _as_dict(change.get("value"))
            if change.get("field") != "messages" or not value:
                continue
            metadata = _as_dict(value.get("metadata"))
            names = {
                _as_str(contact.get("wa_id")): _as_str(
                    _as_dict(contact.get("profile")).get("name")
                )
                for contact in _as_list(value.get("contacts"))
                if isinstance(contact, dict)
            }
            for status in _as_list(value.get("statuses")):
                event = _status_event(_as_dict(status), metadata)
                if event:
                    statuses.append(event)
            for message in _as_list(value.get("messages")):
                event = _message_event(_as_dict(message), metadata, names)
                if event:
                    messages.append(event)
    return {"statuses": statuses, "messages": messages}
