"""A loopback stand-in for the parts of Meta's Graph API that we call.

``with FakeGraph() as fake:`` serves on 127.0.0.1 (a free port) until the
block ends -- or ``lifetime`` seconds at most, should a test forget -- and
records every request. It answers like the WhatsApp Cloud API documents:

- ``POST /{version}/{phone_number_id}/messages`` -> ``{"messages": [{"id": ...}]}``
- ``POST /{version}/{phone_number_id}/media`` (multipart) -> ``{"id": "media.N"}``
- ``GET /{version}/{waba_id}/message_templates`` -> pages of ``fake.templates``
- ``POST /{version}/{waba_id}/message_templates`` -> ``{id, status: PENDING,
  category}``; the template joins ``fake.templates``. ``fake.review(...)``
  then decides it and answers the signed ``message_template_status_update``
  webhook Meta would send (``template_review_webhook`` builds one alone).
- ``GET /{version}/{phone_number_id}`` -> the number's display name and quality
- ``GET /{version}/{media_id}`` -> ``{url, mime_type, sha256, file_size, id}`` of a
  file in ``fake.media`` (``fake.add_media(...)``), as a customer sends one
- ``GET /media-download/{media_id}`` (the ``url`` above) -> the file's bytes

A wrong bearer token gets 401 with code 190. ``fake.fail_next(...)`` scripts
error answers, ``fake.latency`` delays every answer.

Standard library only: the benches serve it from a child process
(fake_graph_process.py) and the repository checks in tests/ load it without
Odoo.
"""

import hashlib
import hmac
import json
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

MEDIA_DOWNLOAD_PATH = "/media-download/"

TOKEN = "test-access-token"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
API_VERSION = "v21.0"

ERROR_MESSAGES = {
    100: "(#100) Invalid parameter",
    130429: "(#130429) Rate limit hit",
    131026: "(#131026) Message undeliverable",
    131047: "(#131047) Re-engagement message",
    131056: "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    132001: "(#132001) Template name does not exist in the translation",
    190: "Error validating access token: Session has expired",
    2388024: "Content in this language already exists",
}


def graph_error(code, message=None, details=None):
    """A Graph API error body."""
    message = message or ERROR_MESSAGES.get(code, f"(#{code}) Error")
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": details or message,
            },
            "fbtrace_id": "AbCdEfFakeTrace",
        }
    }


def template(
    name,
    body,
    language="en_US",
    status="APPROVED",
    buttons=None,
    header=None,
    parameter_format=None,
):
    """A ``message_templates`` entry as Meta lists it; ``header`` is a
    format such as ``"DOCUMENT"``."""
    components = [{"type": "BODY", "text": body}]
    if header:
        components.insert(0, {"type": "HEADER", "format": header})
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    extra = {"parameter_format": parameter_format} if parameter_format else {}
    return extra | {
        "id": f"tpl-{name}-{language}",
        "name": name,
        "language": language,
        "status": status,
        "category": "UTILITY",
        "components": components,
    }


def signed_webhook(app_secret, payload):
    """``(raw_body, headers)`` of a webhook POST signed as Meta signs it.
    Computed here independently of the code under test."""
    raw_body = json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return raw_body, headers


def template_review_webhook(
    waba_id,
    template_id,
    name,
    language,
    event,
    reason=None,
    timestamp=None,
    **extra,
):
    """The ``message_template_status_update`` webhook payload of a review:
    ``event`` APPROVED, REJECTED (with ``reason``), PAUSED, DISABLED ..."""
    value = {
        "event": event,
        "message_template_id": int(template_id)
        if str(template_id).isdigit()
        else template_id,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason or "NONE",
        **extra,
    }
    return _template_envelope(
        waba_id, timestamp, "message_template_status_update", value
    )


def template_category_webhook(
    waba_id,
    template_id,
    name,
    language,
    new_category,
    previous_category,
    timestamp=None,
):
    """The ``template_category_update`` webhook payload of a re-categorised
    template."""
    value = {
        "message_template_id": int(template_id)
        if str(template_id).isdigit()
        else template_id,
        "message_template_name": name,
        "message_template_language": language,
        "previous_category": previous_category,
        "new_category": new_category,
    }
    return _template_envelope(waba_id, timestamp, "template_category_update", value)


def _template_envelope(waba_id, timestamp, field, value):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "time": int(timestamp if timestamp is not None else time.time()),
                "changes": [{"field": field, "value": value}],
            }
        ],
    }


def _interactive_ok(interactive):
    """Whether an interactive message keeps WhatsApp's limits: at most three
    reply buttons titled in 20 characters, at most ten list rows titled in
    24, a link button with a display text and a URL."""
    if not isinstance(interactive, dict) or not (interactive.get("body") or {}).get(
        "text"
    ):
        return False
    action = interactive.get("action") or {}
    kind = interactive.get("type")
    if kind == "button":
        buttons = action.get("buttons") or []
        return 0 < len(buttons) <= 3 and all(
            0 < len(button["reply"]["title"]) <= 20 and button["reply"]["id"]
            for button in buttons
        )
    if kind == "list":
        rows = [
            row for section in action.get("sections") or [] for row in section["rows"]
        ]
        return (
            0 < len(rows) <= 10
            and 0 < len(action.get("button") or "") <= 20
            and all(0 < len(row["title"]) <= 24 and row["id"] for row in rows)
        )
    if kind == "cta_url":
        parameters = action.get("parameters") or {}
        return action.get("name") == "cta_url" and bool(
            parameters.get("display_text") and parameters.get("url")
        )
    return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that gave up (timeout tests) is expected: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    fake = None  # set on the subclass each FakeGraph creates
    # Connections kept alive, as Graph's are: with HTTP/1.0 each message would
    # open a connection and start a thread here, time that the arrival times
    # the benchmark reads would carry.
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        """Keep the test output clean."""

    def do_GET(self):
        self.fake._handle(self, "GET")

    def do_POST(self):
        self.fake._handle(self, "POST")


class FakeGraph:
    """The fake server; see the module docstring."""

    def __init__(
        self,
        access_token=TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
        waba_id=WABA_ID,
        api_version=API_VERSION,
        templates=None,
        page_size=2,
        latency=0.0,
        lifetime=20.0,
    ):
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self.api_version = api_version
        self.templates = list(templates or [])
        self.page_size = page_size
        self.latency = latency
        self.lifetime = lifetime
        # Host used in paging.next links; another loopback host name tests
        # that the client never follows a link off its own base URL.
        self.next_host = None
        # ``{media id: {"content", "mime_type", "sha256", "file_size", "url"}}``
        # (see ``add_media``).
        self.media = {}
        self.requests = []
        self._failures = []
        self._sequence = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = None
        self._timer = None

    @property
    def base_url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self):
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        if self._timer and self._timer is not threading.current_thread():
            self._timer.cancel()
        if self._thread:
            self._server.shutdown()
            self._thread.join(timeout=2)
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def fail_next(self, count=1, status=400, code=None, retry_after=None, body=None):
        """Answer the next ``count`` requests with HTTP ``status`` and a Graph
        error of ``code`` (or the raw ``body`` bytes), plus ``Retry-After``."""
        if body is None:
            body = json.dumps(graph_error(code) if code is not None else {}).encode()
        with self._lock:
            self._failures += [(status, body, retry_after)] * count

    def add_media(
        self, media_id, content, mime_type, sha256=None, file_size=None, url=None
    ):
        """Serve ``content`` as the file ``media_id`` a customer sent.
        ``sha256`` and ``file_size`` are what the metadata announces (by
        default those of ``content``; ``False`` leaves them out); ``url``
        replaces the download address it gives."""
        digest = hashlib.sha256(content).hexdigest()
        self.media[media_id] = {
            "content": content,
            "mime_type": mime_type,
            "sha256": digest if sha256 is None else sha256,
            "file_size": len(content) if file_size is None else file_size,
            "url": url,
        }

    def sent(self):
        """The JSON bodies of the messages POSTed so far."""
        return [
            request["json"]
            for request in self.requests
            if request["path"].endswith("/messages") and request["method"] == "POST"
        ]

    def review(self, template_id, event, app_secret, reason=None, timestamp=None):
        """Decide the review of a template created here (its ``status``
        becomes ``event``); answers ``(raw_body, headers)`` of the signed
        webhook to POST to the addon."""
        with self._lock:
            [created] = [t for t in self.templates if t["id"] == template_id]
            created["status"] = event
        payload = template_review_webhook(
            self.waba_id,
            template_id,
            created["name"],
            created["language"],
            event,
            reason=reason,
            timestamp=timestamp,
        )
        return signed_webhook(app_secret, payload)

    def _next_id(self, prefix):
        with self._lock:
            self._sequence += 1
            return f"{prefix}.{self._sequence}"

    def _handle(self, handler, method):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        request = {
            "time": time.monotonic(),
            "method": method,
            "path": url.path,
            "query": {key: values[-1] for key, values in parse_qs(url.query).items()},
            "headers": dict(handler.headers.items()),
            "body": body,
            "json": None,
        }
        if "json" in handler.headers.get("Content-Type", ""):
            try:
                request["json"] = json.loads(body)
            except ValueError:
                request["json"] = None
        with self._lock:
            self.requests.append(request)
            failure = self._failures.pop(0) if self._failures else None
        if self.latency and self._stopped.wait(self.latency):
            return
        if failure:
            status, error_body, retry_after = failure
            headers = {"Content-Type": "application/json"}
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            return self._answer(handler, status, error_body, headers)
        if handler.headers.get("Authorization") != f"Bearer {self.access_token}":
            return self._json(handler, 401, graph_error(190))
        if method == "GET" and url.path.startswith(MEDIA_DOWNLOAD_PATH):
            return self._download(handler, url.path[len(MEDIA_DOWNLOAD_PATH) :])
        status, answer = self._route(method, url.path.split("/")[1:], request)
        return self._json(handler, status, answer)

    def _download(self, handler, media_id):
        media = self.media.get(media_id)
        if media is None:
            return self._json(handler, 404, graph_error(100, "Unknown media"))
        headers = {"Content-Type": media["mime_type"]}
        return self._answer(handler, 200, media["content"], headers)

    def _route(self, method, parts, request):
        if len(parts) < 2 or parts[0] != self.api_version:
            return 400, graph_error(100, "Unknown path components")
        node, edge = parts[1], "/".join(parts[2:])
        if node == self.phone_number_id:
            if method == "POST" and edge == "messages":
                return self._message(request)
            if method == "POST" and edge == "media":
                return self._media(request)
            if method == "GET" and not edge:
                return 200, {
                    "id": self.phone_number_id,
                    "display_phone_number": "+1 555-010-0199",
                    "verified_name": "Friendly Dunning Test",
                    "quality_rating": "GREEN",
                }
        if node == self.waba_id and method == "GET" and edge == "message_templates":
            return self._templates(request)
        if node in self.media and method == "GET" and not edge:
            return self._media_info(node)
        if node == self.waba_id and method == "POST" and edge == "message_templates":
            return self._create_template(request)
        return 400, graph_error(100, "Unsupported request")

    def _media_info(self, media_id):
        media = self.media[media_id]
        answer = {
            "messaging_product": "whatsapp",
            "id": media_id,
            "url": media["url"] or f"{self.base_url}{MEDIA_DOWNLOAD_PATH}{media_id}",
            "mime_type": media["mime_type"],
        }
        for key in ("sha256", "file_size"):
            if media[key] is not False:
                answer[key] = media[key]
        return 200, answer

    def _message(self, request):
        payload = request["json"]
        if (
            not isinstance(payload, dict)
            or payload.get("messaging_product") != "whatsapp"
            or not payload.get("to")
            or payload.get("type") not in payload
        ):
            return 400, graph_error(100)
        if payload["type"] == "interactive" and not _interactive_ok(
            payload["interactive"]
        ):
            return 400, graph_error(131009, "Parameter value is not valid")
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": payload["to"], "wa_id": payload["to"]}],
            "messages": [{"id": self._next_id("wamid")}],
        }

    def _media(self, request):
        content_type = request["headers"].get("Content-Type", "")
        document = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request["body"]
        )
        if not document.is_multipart():
            return 400, graph_error(100, "Expected multipart/form-data")
        request["form"], request["files"] = {}, {}
        for part in document.iter_parts():
            name = part.get_param("name", header="content-disposition")
            content = part.get_payload(decode=True)
            if part.get_filename():
                request["files"][name] = (
                    part.get_filename(),
                    content,
                    part.get_content_type(),
                )
            else:
                request["form"][name] = content.decode()
        if request["form"].get("messaging_product") != "whatsapp" or not request[
            "files"
        ].get("file"):
            return 400, graph_error(100)
        return 200, {"id": self._next_id("media")}

    def _create_template(self, request):
        payload = request["json"]
        if not isinstance(payload, dict) or not all(
            payload.get(key) for key in ("name", "language", "category", "components")
        ):
            return 400, graph_error(100)
        with self._lock:
            if any(
                (t.get("name"), t.get("language"))
                == (payload["name"], payload["language"])
                for t in self.templates
            ):
                return 400, graph_error(2388024)
            self._sequence += 1
            # Meta's template ids are numbers, sent as strings here.
            created = {
                "id": str(880000000000 + self._sequence),
                "status": "PENDING",
                "category": payload["category"],
            }
            self.templates.append(payload | created)
        return 200, created

    def _templates(self, request):
        start = int(request["query"].get("after") or 0)
        end = start + self.page_size
        answer = {
            "data": self.templates[start:end],
            "paging": {"cursors": {"before": str(start), "after": str(end)}},
        }
        if end < len(self.templates):
            host = self.next_host or self.base_url
            query = urlencode(
                {
                    "access_token": self.access_token,
                    "limit": self.page_size,
                    "after": end,
                }
            )
            answer["paging"]["next"] = f"{host}{request['path']}?{query}"
        return 200, answer

    def _json(self, handler, status, answer):
        headers = {"Content-Type": "application/json"}
        self._answer(handler, status, json.dumps(answer).encode(), headers)

    def _answer(self, handler, status, body, headers=None):
        try:
            handler.send_response(status)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            return  # the client gave up waiting (timeout tests)
