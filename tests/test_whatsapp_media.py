"""Downloading the files customers send on WhatsApp, against the loopback
fake of the Graph API."""

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import load_tool
from .fake_graph import PHONE_NUMBER_ID, TOKEN, FakeGraph

wa_client = load_tool("whatsapp_client")
uploads = load_tool("uploads")

PDF = b"%PDF-1.4\n" + b"receipt " * 100
LIMIT = 5 * 1024 * 1024
GRAPH = "https://graph.facebook.com"


@pytest.fixture
def fake():
    with FakeGraph() as server:
        yield server


def client_for(fake, **kwargs):
    options = {"base_url": fake.base_url, "timeout": 2} | kwargs
    return wa_client.WhatsAppCloudClient(PHONE_NUMBER_ID, TOKEN, **options)


class _Elsewhere:
    """Another loopback server, recording the headers of what reaches it;
    ``routes`` maps a path to ``(status, headers, body)``."""

    def __init__(self, routes=None):
        self.requests = []
        routes = routes or {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                """Quiet."""

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers.items())))
                status, headers, body = routes.get(self.path, (200, {}, PDF))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever)
        self._thread.daemon = True

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()


class _HeadersOnly:
    """A raw server that answers the headers ``head`` and then never sends
    a byte of the body."""

    def __init__(self, head):
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._head = head
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self):
        connection, _address = self._socket.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(self._head)
            self._stop.wait(5)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


def test_download_asks_for_a_fresh_url_then_fetches_with_the_token(fake):
    fake.add_media("1037", PDF, "application/pdf")
    client = client_for(fake)
    assert client.download_media("1037", LIMIT) == PDF
    assert client.download_media("1037", LIMIT) == PDF
    paths = [request["path"] for request in fake.requests]
    assert paths == ["/v21.0/1037", "/media-download/1037"] * 2
    assert {r["headers"]["Authorization"] for r in fake.requests} == {f"Bearer {TOKEN}"}


def test_media_info_reads_the_documented_fields(fake):
    fake.add_media("1037", PDF, "application/pdf")
    info = client_for(fake).media_info("1037")
    assert info == {
        "url": f"{fake.base_url}/media-download/1037",
        "mime_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "file_size": len(PDF),
    }


def test_announced_size_over_the_limit_is_refused_before_downloading(fake):
    fake.add_media("1037", PDF, "application/pdf", file_size=LIMIT + 1)
    with pytest.raises(uploads.UploadRefused) as caught:
        client_for(fake).download_media("1037", LIMIT)
    assert caught.value.kind == uploads.TOO_LARGE
    assert [request["path"] for request in fake.requests] == ["/v21.0/1037"]


def test_actual_bytes_over_the_limit_are_refused(fake):
    # The metadata says nothing of the size: the download stops at the limit.
    fake.add_media("1037", PDF, "application/pdf", file_size=False, sha256=False)
    with pytest.raises(uploads.UploadRefused):
        client_for(fake).download_media("1037", len(PDF) - 1)
    assert client_for(fake).download_media("1037", len(PDF)) == PDF


def test_content_length_over_the_limit_is_refused_before_reading():
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n"
        b"Content-Length: 6000000\r\n\r\n"
    )
    with _HeadersOnly(head) as cdn:
        client = wa_client.WhatsAppCloudClient(
            PHONE_NUMBER_ID, TOKEN, base_url=cdn.base_url, timeout=2
        )
        # Reading the body would wait for bytes that never come.
        with pytest.raises(uploads.UploadRefused):
            client._download(f"{cdn.base_url}/file", LIMIT, 5)


def test_sha256_mismatch_is_a_retryable_server_error(fake):
    fake.add_media("1037", PDF, "application/pdf", sha256="ab" * 32)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client_for(fake).download_media("1037", LIMIT)
    assert (caught.value.kind, caught.value.retryable) == ("server", True)


def test_a_url_off_meta_hosts_is_never_fetched(fake):
    with _Elsewhere() as elsewhere:
        fake.add_media("1037", PDF, "application/pdf", url=f"{elsewhere.base_url}/x")
        with pytest.raises(wa_client.WhatsAppError) as caught:
            client_for(fake).download_media("1037", LIMIT)
        assert caught.value.kind == "invalid_request"
        assert elsewhere.requests == []


def test_a_redirect_off_meta_hosts_is_not_followed():
    with _Elsewhere() as elsewhere:
        hop = {"/file": (302, {"Location": f"{elsewhere.base_url}/file"}, b"")}
        with _Elsewhere(hop) as graph:
            client = client_for(graph)
            with pytest.raises(wa_client.WhatsAppError) as caught:
                client._download(f"{graph.base_url}/file", LIMIT, 5)
        assert caught.value.kind == "invalid_request"
        assert [path for path, _headers in graph.requests] == ["/file"]
        assert elsewhere.requests == []


def test_a_redirect_on_the_same_host_is_followed():
    with _Elsewhere({"/hop": (302, {"Location": "/file"}, b"")}) as graph:
        assert client_for(graph)._download(f"{graph.base_url}/hop", LIMIT, 5) == PDF
    assert [path for path, _headers in graph.requests] == ["/hop", "/file"]
    assert graph.requests[1][1]["Authorization"] == f"Bearer {TOKEN}"


def test_endless_redirects_give_up():
    with (
        _Elsewhere({"/hop": (302, {"Location": "/hop"}, b"")}) as graph,
        pytest.raises(wa_client.WhatsAppError) as caught,
    ):
        client_for(graph)._download(f"{graph.base_url}/hop", LIMIT, 5)
    assert caught.value.kind == "server"
    assert len(graph.requests) == wa_client.MAX_MEDIA_REDIRECTS + 1


@pytest.mark.parametrize(
    ("url", "base_url", "allowed"),
    [
        (
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
            GRAPH,
            True,
        ),
        (
            "https://scontent.xx.fbcdn.net/v/t1/1.jpg",
            GRAPH,
            True,
        ),
        ("https://graph.facebook.com/v21.0/1037", GRAPH, True),
        # Not https, another host, a look-alike host, another port, credentials.
        ("http://lookaside.fbsbx.com/a", GRAPH, False),
        ("https://example.com/a", GRAPH, False),
        ("https://fbsbx.com.example.com/a", GRAPH, False),
        ("https://evilfbsbx.com/a", GRAPH, False),
        ("https://lookaside.fbsbx.com:8443/a", GRAPH, False),
        (
            "https://lookaside.fbsbx.com@example.com/a",
            GRAPH,
            False,
        ),
        ("https://user:pw@lookaside.fbsbx.com/a", GRAPH, False),
        ("ftp://lookaside.fbsbx.com/a", GRAPH, False),
        ("file:///etc/passwd", GRAPH, False),
        ("/relative", GRAPH, False),
        ("https://[::1/a", GRAPH, False),
        # A loopback fake: http on its own origin only.
        ("http://127.0.0.1:8069/m", "http://127.0.0.1:8069", True),
        ("http://127.0.0.1:8070/m", "http://127.0.0.1:8069", False),
        ("http://localhost:8069/m", "http://127.0.0.1:8069", False),
        ("http://10.0.0.1:8069/m", "http://10.0.0.1:8069", False),
        ("http://169.254.169.254/latest", GRAPH, False),
    ],
)
def test_media_url_allowed(url, base_url, allowed):
    assert wa_client.media_url_allowed(url, base_url) is allowed


@pytest.mark.parametrize("media_id", ["", "../messages", "1037/messages", "a?b", ".x"])
def test_a_malformed_media_id_is_refused_before_any_call(fake, media_id):
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client_for(fake).download_media(media_id, LIMIT)
    assert caught.value.kind == "invalid_request"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [(503, None, "server"), (429, None, "rate_limited"), (400, 100, "invalid_request")],
)
def test_graph_errors_are_mapped(fake, status, code, kind):
    fake.add_media("1037", PDF, "application/pdf")
    fake.fail_next(status=status, code=code)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client_for(fake).download_media("1037", LIMIT)
    assert caught.value.kind == kind
    assert not caught.value.outcome_unknown


def test_download_errors_are_mapped(fake):
    fake.add_media("1037", PDF, "application/pdf")
    client = client_for(fake)
    client.media_info("1037")  # spends no failure
    fake.fail_next(status=500)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client._download(f"{fake.base_url}/media-download/1037", LIMIT, 5)
    assert (caught.value.kind, caught.value.http_status) == ("server", 500)


def test_unknown_media_and_wrong_token_are_permanent(fake):
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client_for(fake).download_media("999", LIMIT)
    assert caught.value.kind == "invalid_request"
    fake.add_media("1037", PDF, "application/pdf")
    client = wa_client.WhatsAppCloudClient(
        PHONE_NUMBER_ID, "wrong", base_url=fake.base_url, timeout=2
    )
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client.download_media("1037", LIMIT)
    assert caught.value.kind == "auth"


def test_a_slow_answer_is_a_retryable_timeout():
    with FakeGraph(latency=0.5) as fake:
        fake.add_media("1037", PDF, "application/pdf")
        with pytest.raises(wa_client.WhatsAppError) as caught:
            client_for(fake, timeout=0.05).download_media("1037", LIMIT)
    # Only reading: a timeout never makes a repeat unsafe.
    assert (caught.value.kind, caught.value.retryable) == ("server", True)


def test_a_download_that_never_ends_stops_at_the_deadline():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def trickle():
        connection, _address = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            while not stop.wait(0.02):
                try:
                    connection.sendall(b"1\r\nx\r\n")
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        client = wa_client.WhatsAppCloudClient(
            PHONE_NUMBER_ID, TOKEN, base_url=base_url, timeout=1
        )
        with pytest.raises(wa_client.WhatsAppError) as caught:
            client._download(f"{base_url}/file", LIMIT, 0.3)
    finally:
        stop.set()
        thread.join(5)
        server.close()
    assert caught.value.kind == "server"
