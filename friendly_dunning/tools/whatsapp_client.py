"""A small client for the Meta WhatsApp Cloud API.

Plain Python (``requests``) with no ORM: the Odoo models give it the
credentials and send through it. Every call has a timeout; every failure
becomes a ``WhatsAppError`` whose ``kind`` tells the caller what to do (retry
later, fall back to a template, fix the configuration, give up on the
number). The access token is sent in a header only and never appears in an
error message.
"""

import hashlib
import hmac
import ipaddress
import math
import re
import time
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .json_values import as_dict, as_int, as_str
from .uploads import TOO_LARGE, UploadRefused
from .whatsapp_payloads import normalise_template

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
# Meta echoes at most 512 characters of biz_opaque_callback_data.
MAX_CALLBACK_DATA = 512
# Bounds template listing even when the server keeps answering a next page.
MAX_TEMPLATE_PAGES = 50
TEMPLATE_FIELDS = "id,name,language,category,status,components,parameter_format"
# Where Meta serves the files customers send (besides the Graph host itself).
MEDIA_HOST_SUFFIXES = (".fbsbx.com", ".fbcdn.net")
# A media id is a node of the Graph API: never a path of its own.
_MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
MEDIA_CHUNK_BYTES = 64 * 1024
MAX_MEDIA_REDIRECTS = 3
# The whole download, however slowly the bytes trickle in.
MEDIA_DEADLINE_SECONDS = 60

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

_NOT_DIGIT = re.compile(r"\D")


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


def _retry_after(response):
    """``Retry-After`` in whole seconds, when given as a number."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return math.ceil(seconds)


def _never_connected(error):
    """Whether a ``requests.ConnectionError`` happened before any connection
    was made (refused, unresolvable, connect timeout), rather than on a
    connection that carried the request and then dropped."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    cause = error.args[0] if error.args else None
    # urllib3 wraps the cause in a MaxRetryError once its retries are spent.
    cause = getattr(cause, "reason", cause)
    return isinstance(cause, (NewConnectionError, ConnectTimeoutError))


def _error_from_response(response):
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    error = as_dict(error)
    code = as_int(error.get("code"))
    message = str(error.get("message") or response.reason or "WhatsApp error")
    details = as_dict(error.get("error_data")).get("details")
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


def _loopback(hostname):
    try:
        return ipaddress.ip_address(hostname or "").is_loopback
    except ValueError:
        return hostname == "localhost"


def media_url_allowed(url, base_url):
    """Whether the bearer token may go to ``url``, a media URL the Graph API
    at ``base_url`` gave: over https, on the Graph host or Meta's file hosts,
    with no credentials of its own; over http only on the loopback server
    ``base_url`` itself names (a test or local fake)."""
    try:
        target, base = urlsplit(str(url)), urlsplit(base_url)
        target_port, base_port = target.port, base.port
    except ValueError:
        return False
    if target.username is not None or target.password is not None:
        return False
    host = (target.hostname or "").lower()
    same_origin = (target.scheme, host, target_port) == (
        base.scheme,
        (base.hostname or "").lower(),
        base_port,
    )
    if target.scheme == "http":
        return same_origin and _loopback(host)
    if target.scheme != "https" or not host:
        return False
    if same_origin:
        return True
    return target_port in (None, 443) and host.endswith(MEDIA_HOST_SUFFIXES)


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
            # The exception text may hold the URL: keep only its type.
            message = f"WhatsApp could not be reached ({type(error).__name__})."
            if _never_connected(error):
                # Nothing reached WhatsApp: a retry cannot send it twice.
                raise WhatsAppError(None, SERVER, message) from None
            # The connection dropped after the request left: WhatsApp may
            # have accepted it.
            raise WhatsAppError(None, SERVER, message, outcome_unknown=True) from None
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

    def send_interactive(self, to, interactive, callback_data=None, gate=None):
        """Send an interactive message (reply buttons, a list, a link button;
        only inside the 24 h customer service window); answers the wamid.
        ``interactive`` is built by ``whatsapp_interactive``."""
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": _recipient(to),
            "type": "interactive",
            "interactive": interactive,
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

    def create_template(self, request):
        """Submit a message template for review (``request`` from
        ``template_request``); answers Meta's ``{id, status, category}``."""
        if not self.waba_id:
            raise ValueError("A WhatsApp Business Account id is required.")
        answer = self._request(
            "POST", self._url(self.waba_id, "message_templates"), json=request
        )
        if not answer.get("id"):
            raise WhatsAppError(
                None, SERVER, "WhatsApp accepted the template without an id."
            )
        return {
            "id": str(answer["id"]),
            "status": answer.get("status") or "PENDING",
            "category": answer.get("category") or request.get("category"),
        }

    def edit_template(self, template_id, request):
        """Submit new components (and category) of an existing template for
        review again, e.g. after a rejection."""
        fields = {key: request[key] for key in ("category", "components")}
        answer = self._request("POST", self._url(str(template_id)), json=fields)
        if answer.get("success") is not True:
            raise WhatsAppError(
                None, SERVER, "WhatsApp did not confirm the template's edit."
            )
        return answer

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

    def media_info(self, media_id):
        """What the Graph API says of a file a customer sent: ``url`` (valid
        for a few minutes), ``mime_type``, ``sha256`` (hex) and ``file_size``
        (``None`` when not given)."""
        media_id = str(media_id or "")
        if not _MEDIA_ID.fullmatch(media_id):
            raise WhatsAppError(None, INVALID_REQUEST, "The media id is not valid.")
        answer = self._request("GET", self._url(media_id))
        url = as_str(answer.get("url"))
        if not url:
            raise WhatsAppError(
                None, INVALID_REQUEST, "WhatsApp gave no address for this file."
            )
        sha256 = as_str(answer.get("sha256"))
        return {
            "url": url,
            "mime_type": as_str(answer.get("mime_type")),
            "sha256": sha256.lower() if sha256 and _SHA256.fullmatch(sha256) else None,
            "file_size": as_int(answer.get("file_size")),
        }

    def download_media(self, media_id, max_bytes, deadline=MEDIA_DEADLINE_SECONDS):
        """The bytes of a file a customer sent: asks the Graph API for a fresh
        address, then downloads it with the same token, only from Meta's
        hosts (see ``media_url_allowed``), within ``deadline`` seconds.
        Raises ``UploadRefused`` (``too_large``) as soon as the file is known
        to exceed ``max_bytes``, without reading the rest; ``WhatsAppError``
        otherwise (a ``server`` error when the bytes do not match the
        announced sha256). Both calls only read: repeating them is safe."""
        try:
            info = self.media_info(media_id)
            if info["file_size"] is not None and info["file_size"] > max_bytes:
                raise UploadRefused(TOO_LARGE)
            content = self._download(info["url"], max_bytes, deadline)
        except WhatsAppError as error:
            error.outcome_unknown = False
            raise
        if info["sha256"]:
            digest = hashlib.sha256(content).hexdigest()
            if not hmac.compare_digest(digest, info["sha256"]):
                raise WhatsAppError(
                    None, SERVER, "The file WhatsApp sent does not match its checksum."
                )
        return content

    def _download(self, url, max_bytes, deadline):
        headers = {"Authorization": f"Bearer {self._access_token}"}
        ends_at = time.monotonic() + deadline
        for _hop in range(MAX_MEDIA_REDIRECTS + 1):
            if not media_url_allowed(url, self.base_url):
                # Never send the token anywhere but Meta's own hosts.
                raise WhatsAppError(
                    None,
                    INVALID_REQUEST,
                    "WhatsApp gave a file address off Meta's hosts: not fetched.",
                )
            try:
                response = self.session.get(
                    url,
                    headers=headers,
                    timeout=self.timeout,
                    stream=True,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                raise WhatsAppError(
                    None,
                    SERVER,
                    f"The file could not be downloaded ({type(error).__name__}).",
                ) from None
            with response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("Location", ""))
                    continue
                return self._read_media(response, max_bytes, ends_at)
        raise WhatsAppError(None, SERVER, "The file address kept redirecting.")

    def _read_media(self, response, max_bytes, ends_at):
        if response.status_code >= 400:
            raise WhatsAppError(
                None,
                error_kind(None, response.status_code),
                f"WhatsApp could not serve the file (HTTP {response.status_code}).",
                retry_after=_retry_after(response),
                http_status=response.status_code,
            )
        announced = as_int(response.headers.get("Content-Length"))
        if announced is not None and announced > max_bytes:
            raise UploadRefused(TOO_LARGE)
        content = bytearray()
        try:
            for chunk in response.iter_content(MEDIA_CHUNK_BYTES):
                content += chunk
                if len(content) > max_bytes:
                    raise UploadRefused(TOO_LARGE)
                if time.monotonic() > ends_at:
                    raise WhatsAppError(
                        None, SERVER, "The file took too long to download."
                    )
        except requests.RequestException as error:
            raise WhatsAppError(
                None,
                SERVER,
                f"The file could not be downloaded ({type(error).__name__}).",
            ) from None
        return bytes(content)
