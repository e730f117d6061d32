"""Shared helpers of the WhatsApp tests: signed webhook payloads, and the
Graph API answered in-process (``GraphMock``, patched in for the client's
request function) or on loopback (``GraphMessagesServer``, the messages
endpoint only, for the one end-to-end test; ``GraphMediaServer``, the files
customers send, with the messages endpoint for our answers)."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import requests

from ..tools.whatsapp_client import _error_from_response

SECRET = "test-app-secret"
TOKEN = "test-access-token"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
API_VERSION = "v21.0"

ERROR_MESSAGES = {
    100: "(#100) Invalid parameter",
    130429: "(#130429) Rate limit hit",
    131026: "(#131026) Message undeliverable",
    131047: "(#131047) Re-engagement message",
    190: "Error validating access token: Session has expired",
    2388024: "Content in this language already exists",
}


# ----------------------------------------------------------------------
# Webhook payloads, signed as Meta signs them
# ----------------------------------------------------------------------


def whatsapp_channel(env, company, **values):
    """A WhatsApp number of ``company`` that the tests' Graph API answers,
    with the company's sandbox archived so that it carries nothing."""
    env["dunning.channel"].search(
        [("company_id", "=", company.id), ("channel_type", "=", "sandbox")]
    ).active = False
    return env["dunning.channel"].create(
        {
            "name": "WhatsApp",
            "channel_type": "whatsapp",
            "company_id": company.id,
            "wa_phone_number_id": PHONE_NUMBER_ID,
            "wa_business_account_id": WABA_ID,
            "wa_access_token": TOKEN,
            "wa_app_secret": SECRET,
        }
        | values
    )


def signed(payload, secret=SECRET):
    """``(raw body, headers)`` of a webhook POST of ``payload``, signed with
    ``secret`` as Meta documents it (independently of the addon's code)."""
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}"}


def status_payload(*statuses, phone_number_id=PHONE_NUMBER_ID):
    """A webhook POST of ``statuses`` for our number ``phone_number_id``."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "waba-1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": phone_number_id},
                            "statuses": list(statuses),
                        },
                    }
                ],
            }
        ],
    }


def status(wamid, state, timestamp, **extra):
    return {
        "id": wamid,
        "status": state,
        "timestamp": str(timestamp),
        "recipient_id": "34612345678",
        **extra,
    }


def template_review_payload(
    template_id,
    event,
    timestamp,
    name="fd_reminder_overdue",
    language="es",
    reason=None,
    waba_id=WABA_ID,
    **extra,
):
    """A ``message_template_status_update`` webhook POST, as Meta sends it
    for the business account ``waba_id`` (Meta's template ids are numbers)."""
    value = {
        "event": event,
        "message_template_id": int(template_id)
        if template_id.isdigit()
        else template_id,
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason or "NONE",
        **extra,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "time": timestamp,
                "changes": [
                    {"field": "message_template_status_update", "value": value}
                ],
            }
        ],
    }


def template_category_payload(
    template_id,
    new_category,
    timestamp,
    previous_category="UTILITY",
    name="fd_reminder_overdue",
    language="es",
    waba_id=WABA_ID,
):
    """A ``template_category_update`` webhook POST: Meta re-categorised the
    template."""
    payload = template_review_payload(
        template_id, "-", timestamp, name, language, waba_id=waba_id
    )
    payload["entry"][0]["changes"] = [
        {
            "field": "template_category_update",
            "value": {
                "message_template_id": template_id,
                "message_template_name": name,
                "message_template_language": language,
                "previous_category": previous_category,
                "new_category": new_category,
            },
        }
    ]
    return payload


def inbound_payload(
    wamid, text=None, payload=None, context=None, media=None, sender="34612345678"
):
    """A webhook POST of one customer message: ``text``, a quick reply's
    ``payload``, or ``media`` (the ``image`` or ``document`` object, with
    ``type``, ``id``, ``mime_type``, ``sha256``, ``filename``, ``caption``)."""
    message = {"from": sender, "id": wamid, "timestamp": "1700000200"}
    if media:
        media = dict(media)
        kind = media.pop("type")
        message |= {"type": kind, kind: media}
    elif payload:
        message |= {"type": "button", "button": {"payload": payload, "text": "Paid"}}
    else:
        message |= {"type": "text", "text": {"body": text}}
    if context:
        message["context"] = {"id": context}
    envelope = status_payload()
    envelope["entry"][0]["changes"][0]["value"].pop("statuses")
    envelope["entry"][0]["changes"][0]["value"]["messages"] = [message]
    return envelope


# ----------------------------------------------------------------------
# The Graph API
# ----------------------------------------------------------------------


def graph_error(code):
    """A Graph API error body."""
    message = ERROR_MESSAGES.get(code, f"(#{code}) Error")
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
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
):
    """A ``message_templates`` entry as Meta lists it; ``header`` is a
    format such as ``"DOCUMENT"``."""
    components = [{"type": "BODY", "text": body}]
    if header:
        components.insert(0, {"type": "HEADER", "format": header})
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "id": f"tpl-{name}-{language}",
        "name": name,
        "language": language,
        "status": status,
        "category": "UTILITY",
        "components": components,
    }


class GraphMock:
    """Answers the client's calls as the Graph API documents them, without
    HTTP: ``client_request()`` replaces ``WhatsAppCloudClient._request``. Errors are
    built as HTTP answers and mapped by the client's own code.

    - ``POST /{version}/{phone_number_id}/messages`` -> a wamid
    - ``POST /{version}/{phone_number_id}/media`` -> ``media.N``
    - ``GET /{version}/{waba_id}/message_templates`` -> ``templates``
    - ``POST /{version}/{waba_id}/message_templates`` -> ``{id, status:
      PENDING, category}``; the template joins ``templates`` (PENDING), and a
      second one of the same name and language is refused as Meta does
    - ``POST /{version}/{template_id}`` (an edit) -> ``{success: true}``

    A wrong token gets 401 with code 190; ``fail_next`` scripts errors.
    Every call is recorded in ``requests``. Calls come from the sender's
    threads: the state is guarded by a lock.
    """

    def __init__(self, templates=(), access_token=TOKEN):
        self.templates = list(templates)
        self.access_token = access_token
        self.requests = []
        self._failures = []
        self._sequence = 0
        self._lock = threading.Lock()

    def fail_next(self, status=400, code=None, retry_after=None):
        """Answer the next call with HTTP ``status`` and a Graph error of
        ``code``, plus ``Retry-After`` when given."""
        with self._lock:
            self._failures.append((status, code, retry_after))

    def sent(self):
        """The JSON bodies of the messages sent so far."""
        return [
            request["json"]
            for request in self.requests
            if request["method"] == "POST" and request["path"].endswith("/messages")
        ]

    def client_request(self):
        """The function to patch in as ``WhatsAppCloudClient._request``."""

        def _request(client, method, url, gate=None, **kwargs):
            return self.request(client, method, url, gate, **kwargs)

        return _request

    def request(self, client, method, url, gate=None, **kwargs):
        """Answers one call of ``client`` as the Graph API would."""
        if gate is not None:
            gate()
        path = urlsplit(url).path
        with self._lock:
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "json": kwargs.get("json"),
                    "files": kwargs.get("files"),
                    "data": kwargs.get("data"),
                    "params": kwargs.get("params"),
                }
            )
            failure = self._failures.pop(0) if self._failures else None
            if failure:
                raise self._error(*failure)
            if client._access_token != self.access_token:
                raise self._error(401, 190)
            return self._answer(method, path.split("/")[1:], kwargs)

    def _error(self, status, code, retry_after=None):
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(
            graph_error(code) if code is not None else {}
        ).encode()
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return _error_from_response(response)

    def _next_id(self, prefix):
        self._sequence += 1
        return f"{prefix}.{self._sequence}"

    def _answer(self, method, parts, kwargs):
        version, node, edge = parts[0], parts[1], "/".join(parts[2:])
        if version != API_VERSION:
            raise self._error(400, 100)
        if node == PHONE_NUMBER_ID and method == "POST" and edge == "messages":
            payload = kwargs["json"]
            if payload.get("type") not in payload or not payload.get("to"):
                raise self._error(400, 100)
            return {"messages": [{"id": self._next_id("wamid")}]}
        if node == PHONE_NUMBER_ID and method == "POST" and edge == "media":
            if kwargs["data"].get("messaging_product") != "whatsapp":
                raise self._error(400, 100)
            return {"id": self._next_id("media")}
        if node == WABA_ID and method == "GET" and edge == "message_templates":
            return {"data": list(self.templates)}
        if node == WABA_ID and method == "POST" and edge == "message_templates":
            return self._create_template(kwargs["json"])
        edited = [t for t in self.templates if t["id"] == node]
        if edited and method == "POST" and not edge:
            edited[0].update(
                components=kwargs["json"]["components"],
                category=kwargs["json"]["category"],
                status="PENDING",
            )
            return {"success": True}
        raise self._error(400, 100)

    def _create_template(self, payload):
        if not all(payload.get(key) for key in ("name", "language", "category")):
            raise self._error(400, 100)
        if any(
            (t["name"], t["language"]) == (payload["name"], payload["language"])
            for t in self.templates
        ):
            raise self._error(400, 2388024)
        self._sequence += 1
        created = {
            # Meta's template ids are numbers, sent as strings here.
            "id": str(880000000000 + self._sequence),
            "status": "PENDING",
            "category": payload["category"],
        }
        self.templates.append(payload | created)
        return created


class _MessagesHandler(BaseHTTPRequestHandler):
    server_state = None  # the GraphMessagesServer, set on a subclass

    def log_message(self, format, *args):
        """Keep the test log clean."""

    def do_POST(self):
        state = self.server_state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        expected = f"/{API_VERSION}/{PHONE_NUMBER_ID}/messages"
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json(401, graph_error(190))
        if urlsplit(self.path).path != expected:
            return self._json(400, graph_error(100))
        try:
            payload = json.loads(body)
        except ValueError:
            return self._json(400, graph_error(100))
        if payload.get("messaging_product") != "whatsapp" or not payload.get("to"):
            return self._json(400, graph_error(100))
        with state.lock:
            state.sent.append(payload)
            wamid = f"wamid.{len(state.sent)}"
            answer = state.on_message is None or state.on_message(len(state.sent))
        if not answer:
            return None  # accepted, but the answer never reaches the caller
        return self._json(200, {"messages": [{"id": wamid}]})

    def _json(self, status, answer):
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class GraphMessagesServer:
    """The Graph API's messages endpoint on loopback, for the end-to-end
    tests of sending over HTTP. ``sent`` holds the JSON bodies received.
    ``on_message``, when set, is called with the number of messages received
    so far as each one arrives; when it answers False, the message counts as
    accepted but no answer is sent (the caller never learns its outcome)."""

    handler_class = _MessagesHandler

    def __init__(self, on_message=None):
        self.sent = []
        self.on_message = on_message
        self.lock = threading.Lock()
        handler = type("Handler", (self.handler_class,), {"server_state": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )

    @property
    def base_url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=2)
        self._server.server_close()


MEDIA_DOWNLOAD_PATH = "/media-download/"


class _MediaHandler(_MessagesHandler):
    def do_GET(self):
        state = self.server_state
        path = urlsplit(self.path).path
        with state.lock:
            state.requests.append(("GET", path, self.headers.get("Authorization")))
            failure = state.failures.pop(0) if state.failures else None
        if failure:
            status, code = failure
            return self._json(status, graph_error(code) if code else {})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._json(401, graph_error(190))
        if path.startswith(MEDIA_DOWNLOAD_PATH):
            media = state.media.get(path[len(MEDIA_DOWNLOAD_PATH) :])
            if media is None:
                return self._json(404, graph_error(100))
            content = media["content"]
            self.send_response(200)
            self.send_header("Content-Type", media["mime_type"])
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            return None
        version, _slash, media_id = path.strip("/").partition("/")
        media = state.media.get(media_id)
        if version != API_VERSION or media is None:
            return self._json(400, graph_error(100))
        answer = {
            "messaging_product": "whatsapp",
            "id": media_id,
            "url": media["url"] or f"{state.base_url}{MEDIA_DOWNLOAD_PATH}{media_id}",
            "mime_type": media["mime_type"],
            "sha256": media["sha256"],
            "file_size": media["file_size"],
        }
        return self._json(200, answer)

    def do_POST(self):
        with self.server_state.lock:
            self.server_state.requests.append(
                ("POST", urlsplit(self.path).path, self.headers.get("Authorization"))
            )
        return super().do_POST()


class GraphMediaServer(GraphMessagesServer):
    """The Graph API on loopback for the files customers send:

    - ``GET /{version}/{media_id}`` -> ``{url, mime_type, sha256, file_size}``
      of a file served with ``add_media``;
    - ``GET /media-download/{media_id}`` (that ``url``) -> its bytes;
    - ``POST /{version}/{phone_number_id}/messages`` -> our answers (``sent``).

    Both GETs want our bearer token. ``fail_next`` scripts error answers of
    the next GETs; ``requests`` records ``(method, path, Authorization)``."""

    handler_class = _MediaHandler

    def __init__(self):
        self.media = {}
        self.requests = []
        self.failures = []
        super().__init__()

    def add_media(
        self, media_id, content, mime_type, sha256=None, file_size=None, url=None
    ):
        """Serve ``content`` as the file ``media_id``; ``sha256`` and
        ``file_size`` are what the metadata announces (by default those of
        ``content``), ``url`` replaces its download address."""
        self.media[media_id] = {
            "content": content,
            "mime_type": mime_type,
            "sha256": sha256 or hashlib.sha256(content).hexdigest(),
            "file_size": len(content) if file_size is None else file_size,
            "url": url,
        }

    def fail_next(self, status=503, code=None, count=1):
        """Answer the next ``count`` GETs with HTTP ``status`` (and a Graph
        error of ``code``)."""
        with self.lock:
            self.failures += [(status, code)] * count

    def fetched(self):
        """The paths of the GETs received so far."""
        return [path for method, path, _auth in self.requests if method == "GET"]
