"""The WhatsApp Cloud API client against a loopback fake of the Graph API."""

import bisect
import copy
import itertools
import json
import random
import socket
import threading
from decimal import Decimal

import pytest

from .conftest import load_tool
from .fake_graph import (
    PHONE_NUMBER_ID,
    TOKEN,
    WABA_ID,
    FakeGraph,
    signed_webhook,
    template,
)

wa_client = load_tool("whatsapp_client")
wa_payloads = load_tool("whatsapp_payloads")
rate_limiter = load_tool("rate_limiter")
wa_webhook = load_tool("whatsapp_webhook")
signatures = load_tool("signatures")


@pytest.fixture
def fake():
    with FakeGraph() as server:
        yield server


def client_for(fake, **kwargs):
    options = {"waba_id": WABA_ID, "base_url": fake.base_url, "timeout": 2}
    options.update(kwargs)
    return wa_client.WhatsAppCloudClient(PHONE_NUMBER_ID, TOKEN, **options)


# Sending


def test_send_text_posts_the_documented_payload(fake):
    client = client_for(fake)
    wamid = client.send_text("+55 (11) 98765-4321", "Olá!", callback_data="42")
    assert wamid == "wamid.1"
    [request] = fake.requests
    assert request["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["json"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "text",
        "text": {"body": "Olá!"},
        "biz_opaque_callback_data": "42",
    }


def test_send_template_posts_the_documented_payload(fake):
    client = client_for(fake, api_version="21.0")
    components = wa_payloads.template_components(
        body_params=[
            "Ana",
            wa_payloads.currency_param(Decimal("1234.56"), "BRL", "R$ 1.234,56"),
        ],
        url_button_suffix="inv/7?access_token=abc",
    )
    first = client.send_template("5511987654321", "reminder_1", "pt_BR", components)
    second = client.send_template("5511987654321", "thanks", "es_MX", None, 7)
    assert (first, second) == ("wamid.1", "wamid.2")
    assert fake.sent() == [
        {
            "messaging_product": "whatsapp",
            "to": "5511987654321",
            "type": "template",
            "template": {
                "name": "reminder_1",
                "language": {"code": "pt_BR"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Ana"},
                            {
                                "type": "currency",
                                "currency": {
                                    "fallback_value": "R$ 1.234,56",
                                    "code": "BRL",
                                    "amount_1000": 1234560,
                                },
                            },
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [
                            {"type": "text", "text": "inv/7?access_token=abc"}
                        ],
                    },
                ],
            },
        },
        {
            "messaging_product": "whatsapp",
            "to": "5511987654321",
            "type": "template",
            "template": {"name": "thanks", "language": {"code": "es_MX"}},
            "biz_opaque_callback_data": "7",
        },
    ]


def test_bad_recipient_or_callback_data_is_refused_before_any_call(fake):
    client = client_for(fake)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client.send_text(" - ", "hi")
    assert caught.value.kind == "invalid_request"
    assert not caught.value.retryable
    with pytest.raises(ValueError):
        client.send_text("15550100", "hi", callback_data="x" * 513)
    assert fake.requests == []
    assert client.send_text("15550100", "hi", callback_data="x" * 512) == "wamid.1"


def test_client_needs_its_credentials():
    with pytest.raises(ValueError):
        wa_client.WhatsAppCloudClient("", TOKEN)
    with pytest.raises(ValueError):
        wa_client.WhatsAppCloudClient(PHONE_NUMBER_ID, None)
    assert TOKEN not in repr(wa_client.WhatsAppCloudClient(PHONE_NUMBER_ID, TOKEN))


def test_upload_media_sends_multipart_and_returns_the_id(fake):
    client = client_for(fake)
    pdf = b"%PDF-1.4 fake invoice"
    media_id = client.upload_media("INV-2025-0007.pdf", pdf, "application/pdf")
    assert media_id == "media.1"
    [request] = fake.requests
    assert request["path"] == f"/v21.0/{PHONE_NUMBER_ID}/media"
    assert request["form"] == {
        "messaging_product": "whatsapp",
        "type": "application/pdf",
    }
    assert request["files"]["file"] == ("INV-2025-0007.pdf", pdf, "application/pdf")


def test_test_connection_reads_the_business_number(fake):
    assert client_for(fake).test_connection() == {
        "display_phone_number": "+1 555-010-0199",
        "verified_name": "Friendly Dunning Test",
        "quality_rating": "GREEN",
    }
    assert fake.requests[0]["path"] == f"/v21.0/{PHONE_NUMBER_ID}"


# Templates

TEMPLATES = [
    template(
        "reminder_1",
        "Hi {{1}}, invoice {{2}} of {{3}} is due. {{1}}, pay here:",
        buttons=[
            {"type": "URL", "text": "Pay", "url": "https://erp.example.com/{{1}}"},
            {"type": "QUICK_REPLY", "text": "Already paid"},
        ],
    ),
    template("reminder_1", "Hola {{1}}", language="es_MX", status="PENDING"),
    template("lembrete", "Olá {{nome}}, vence {{ data }}", language="pt_BR"),
    template("paused_one", "Text", status="PAUSED"),
    template("no_variables", "Thank you for your payment!"),
]


def test_list_templates_follows_the_pages(fake):
    fake.templates = copy.deepcopy(TEMPLATES)
    listed = client_for(fake).list_templates()
    assert [(t["name"], t["language"], t["status"]) for t in listed] == [
        ("reminder_1", "en_US", "APPROVED"),
        ("reminder_1", "es_MX", "PENDING"),
        ("lembrete", "pt_BR", "APPROVED"),
        ("paused_one", "en_US", "PAUSED"),
        ("no_variables", "en_US", "APPROVED"),
    ]
    assert len(fake.requests) == 3  # pages of 2
    for request in fake.requests:
        assert request["path"] == f"/v21.0/{WABA_ID}/message_templates"
        assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
        # Meta's next links carry the token in the query: never sent back.
        assert "access_token" not in request["query"]
    assert [r["query"].get("after") for r in fake.requests] == [None, "2", "4"]


def test_list_templates_normalises_each_template(fake):
    fake.templates = copy.deepcopy(TEMPLATES)
    first, _es, named, _paused, plain = client_for(fake).list_templates()
    assert first == {
        "id": "tpl-reminder_1-en_US",
        "name": "reminder_1",
        "language": "en_US",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "POSITIONAL",
        "header_format": None,
        "body": "Hi {{1}}, invoice {{2}} of {{3}} is due. {{1}}, pay here:",
        "body_variables": ["1", "2", "3"],
        "body_variable_count": 3,
        "buttons": [
            {
                "type": "URL",
                "text": "Pay",
                "url": "https://erp.example.com/{{1}}",
                "url_has_variable": True,
            },
            {
                "type": "QUICK_REPLY",
                "text": "Already paid",
                "url": None,
                "url_has_variable": False,
            },
        ],
    }
    assert named["body_variables"] == ["nome", "data"]
    assert (plain["body_variable_count"], plain["buttons"]) == (0, [])


def test_list_templates_never_follows_a_link_to_another_host(fake):
    fake.templates = copy.deepcopy(TEMPLATES)
    fake.next_host = fake.base_url.replace("127.0.0.1", "localhost")
    listed = client_for(fake).list_templates()
    assert len(listed) == 5
    expected_host = fake.base_url.removeprefix("http://")
    assert {r["headers"]["Host"] for r in fake.requests} == {expected_host}


def test_list_templates_copes_with_odd_entries(fake):
    fake.templates = [
        "not a template",
        {"name": "bare"},
        {"name": "odd", "components": [None, {"type": "BUTTONS", "buttons": "x"}]},
    ]
    fake.page_size = 10
    listed = client_for(fake).list_templates()
    assert [(t["name"], t["body"], t["buttons"]) for t in listed] == [
        ("bare", "", []),
        ("odd", "", []),
    ]


def test_list_templates_needs_the_business_account(fake):
    with pytest.raises(ValueError):
        client_for(fake, waba_id=None).list_templates()


# Errors


@pytest.mark.parametrize(
    ("status", "code", "retry_after", "kind", "retryable"),
    [
        (429, 130429, 7, "rate_limited", True),
        (400, 130429, None, "rate_limited", True),
        (400, 131056, None, "rate_limited", True),
        (429, None, 2, "rate_limited", True),
        (500, None, None, "server", True),
        (503, 131000, None, "server", True),
        (400, 131047, None, "outside_window", False),
        (400, 131026, None, "undeliverable", False),
        (404, 132001, None, "template", False),
        (400, 132015, None, "template", False),
        (400, 132016, None, "template", False),
        (401, 190, None, "auth", False),
        (400, 190, None, "auth", False),
        (401, None, None, "auth", False),
        (400, 100, None, "invalid_request", False),
        (404, None, None, "invalid_request", False),
    ],
)
def test_provider_errors_are_mapped(fake, status, code, retry_after, kind, retryable):
    fake.fail_next(status=status, code=code, retry_after=retry_after)
    client = client_for(fake)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client.send_text("15550100", "hello")
    error = caught.value
    assert (error.kind, error.retryable) == (kind, retryable)
    assert (error.code, error.http_status) == (code, status)
    assert error.retry_after == retry_after
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    # The failure was scripted once: the next call goes through.
    assert client.send_text("15550100", "hello") == "wamid.1"


def test_error_message_carries_the_provider_details(fake):
    fake.fail_next(status=400, code=131047)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client_for(fake).send_template("15550100", "reminder_1", "en_US")
    assert "131047" in caught.value.message
    assert caught.value.trace_id == "AbCdEfFakeTrace"


def test_expired_token_is_an_auth_error(fake):
    client = wa_client.WhatsAppCloudClient(
        PHONE_NUMBER_ID, "expired-token", base_url=fake.base_url, timeout=2
    )
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client.test_connection()
    assert (caught.value.kind, caught.value.code) == ("auth", 190)
    assert "expired-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "retry_after"),
    [
        (502, b"<html>Bad gateway</html>", "soon"),
        (200, b"not json", None),
        (200, b"[]", None),
        (200, b"{}", None),  # no message id
        (200, b'{"messages": [{}]}', None),
        (200, b'{"messages": "wamid.1"}', None),
    ],
)
def test_unexpected_answers_are_server_errors(fake, status, body, retry_after):
    fake.fail_next(status=status, body=body, retry_after=retry_after)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client_for(fake).send_text("15550100", "hello")
    assert (caught.value.kind, caught.value.retryable) == ("server", True)
    assert caught.value.retry_after is None


def test_read_timeout_is_an_unknown_outcome_never_retried_blindly():
    with FakeGraph(latency=0.5) as fake:
        client = client_for(fake, timeout=0.05)
        with pytest.raises(wa_client.WhatsAppError) as caught:
            client.send_text("15550100", "hello")
    # The request reached the server: it may have sent the message.
    assert (caught.value.kind, caught.value.retryable) == ("server", False)
    assert caught.value.outcome_unknown
    assert caught.value.code is None


def test_latency_within_the_timeout_is_fine():
    with FakeGraph(latency=0.05) as fake:
        assert client_for(fake).send_text("15550100", "hello") == "wamid.1"


def test_unreachable_server_is_a_retryable_server_error():
    fake = FakeGraph()
    base_url = fake.base_url
    fake.stop()  # the port is closed now
    client = wa_client.WhatsAppCloudClient(PHONE_NUMBER_ID, TOKEN, base_url=base_url)
    with pytest.raises(wa_client.WhatsAppError) as caught:
        client.send_text("15550100", "hello")
    assert (caught.value.kind, caught.value.retryable) == ("server", True)
    assert not caught.value.outcome_unknown
    assert base_url not in str(caught.value)


def test_connection_dropped_after_the_request_is_an_unknown_outcome():
    """A server that reads the request and hangs up without answering may
    have accepted the message: never retried blindly."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def read_then_hang_up():
        connection, _address = server.accept()
        with connection:
            connection.settimeout(2)
            data = b""
            while b"hello" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk

    thread = threading.Thread(target=read_then_hang_up, daemon=True)
    thread.start()
    try:
        client = wa_client.WhatsAppCloudClient(
            PHONE_NUMBER_ID, TOKEN, base_url=f"http://127.0.0.1:{port}"
        )
        with pytest.raises(wa_client.WhatsAppError) as caught:
            client.send_text("15550100", "hello")
    finally:
        thread.join(5)
        server.close()
    assert (caught.value.kind, caught.value.retryable) == ("server", False)
    assert caught.value.outcome_unknown


@pytest.mark.parametrize(
    ("code", "http_status", "kind"),
    [
        (131047, 400, "outside_window"),
        (131047, None, "outside_window"),  # from a failed status webhook
        (132000, None, "template"),
        (132999, 400, "template"),
        (133000, 400, "invalid_request"),
        (131026, None, "undeliverable"),
        (4, 400, "rate_limited"),
        (80007, 400, "rate_limited"),
        (None, 429, "rate_limited"),
        (None, 500, "server"),
        (0, 400, "auth"),
        (None, None, "invalid_request"),
    ],
)
def test_error_kind(code, http_status, kind):
    assert wa_client.error_kind(code, http_status) == kind


# Back-off and throughput


def test_backoff_doubles_up_to_the_cap():
    delays = [rate_limiter.backoff_seconds(attempt) for attempt in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert rate_limiter.backoff_seconds(0) == 30
    assert rate_limiter.backoff_seconds(10**6) == 3600
    assert rate_limiter.backoff_seconds(3, base=1, cap=10) == 4


def test_backoff_jitter_is_optional_and_bounded():
    assert rate_limiter.backoff_seconds(2, jitter=0.5, random_fn=lambda: 0.5) == 45
    assert rate_limiter.backoff_seconds(2, jitter=0.5, random_fn=lambda: 0.0) == 60
    draws = random.Random(7)
    for attempt in range(1, 12):
        delay = rate_limiter.backoff_seconds(attempt, jitter=1, random_fn=draws.random)
        assert 0 <= delay <= min(3600, 30 * 2 ** (attempt - 1))
    with pytest.raises(ValueError):
        rate_limiter.backoff_seconds(1, jitter=1.5)


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.slept = []
        self._lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def most_in_any_second(times):
    """The largest number of ``times`` inside one window [t, t + 1 s)."""
    times = sorted(times)
    # A hair below one second absorbs float rounding of the clock itself.
    return max(
        bisect.bisect_left(times, start + 1 - 1e-9) - index
        for index, start in enumerate(times)
    )


@pytest.mark.parametrize(("rate", "sends"), [(80, 400), (3, 20), (1000, 2500)])
def test_rate_limiter_never_exceeds_its_rate(rate, sends):
    clock = FakeClock()
    limiter = rate_limiter.RateLimiter(rate, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(sends):
        assert limiter.acquire()
        times.append(clock())
    assert most_in_any_second(times) == rate
    # ... and does not crawl either: the last send is due at (sends - 1) / rate.
    assert times[-1] - times[0] == pytest.approx((sends - 1) / rate)


def test_rate_limiter_burst_then_steady_rate():
    clock = FakeClock()
    limiter = rate_limiter.RateLimiter(10, burst=5, clock=clock, sleep=clock.sleep)
    assert [limiter.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 0.1
    assert limiter.try_acquire() and not limiter.try_acquire()
    clock.now += 60  # an idle minute refills the bucket to its burst, no more
    assert sum(limiter.try_acquire() for _ in range(20)) == 5


def test_rate_limiter_gives_up_after_its_timeout():
    clock = FakeClock()
    limiter = rate_limiter.RateLimiter(1, clock=clock, sleep=clock.sleep)
    assert limiter.acquire()
    assert limiter.acquire(timeout=0.5) is False
    assert clock.slept == []
    assert limiter.acquire(timeout=1)
    assert clock.slept == [pytest.approx(1.0)]


def test_rate_limiter_is_thread_safe():
    frozen = FakeClock()  # nobody sleeps: no token ever comes back
    limiter = rate_limiter.RateLimiter(80, burst=5, clock=frozen, sleep=frozen.sleep)
    granted = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        granted.extend(limiter.try_acquire() for _ in range(50))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(granted) == 400
    assert sum(granted) == 5


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (5, 0)])
def test_rate_limiter_refuses_nonsense(rate, burst):
    with pytest.raises(ValueError):
        rate_limiter.RateLimiter(rate, burst=burst)


def test_rate_limiter_refuses_more_than_its_burst():
    limiter = rate_limiter.RateLimiter(5, burst=2)
    with pytest.raises(ValueError):
        limiter.acquire(3)
    with pytest.raises(ValueError):
        limiter.try_acquire(3)


class LateClock(FakeClock):
    """A clock whose every sleep oversleeps, like a busy machine."""

    def __init__(self, late):
        super().__init__()
        self.late = late

    def sleep(self, seconds):
        super().sleep(seconds + self.late)


@pytest.mark.parametrize("late", [0.0, 0.0004, 0.003, 0.009])
def test_window_limiter_holds_the_cap_and_makes_up_for_late_wakeups(late):
    clock = LateClock(late)
    limiter = rate_limiter.WindowRateLimiter(80, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(2000):
        assert limiter.acquire()
        times.append(clock())
    assert most_in_any_second(times) <= 80
    # Spacing each grant a full interval after the one before would lose
    # every late wake-up: 2000 sends at 80/s take 25 s; oversleeping must not
    # stretch that much.
    assert times[-1] - times[0] < (2000 - 1) / 80 + 0.5


@pytest.mark.parametrize("pause", [0.03, 0.2, 0.9])
def test_window_limiter_makes_up_short_pauses_within_the_cap(pause):
    """The sending threads stall now and then (a garbage collection, the
    database thread holding the interpreter): the slots missed are made up
    at once, within the cap, so the number still sends 80 a second."""
    clock = FakeClock()
    limiter = rate_limiter.WindowRateLimiter(80, clock=clock, sleep=clock.sleep)
    times = []
    for index in range(2000):
        if index and index % 400 == 0:
            clock.now += pause
        assert limiter.acquire()
        times.append(clock())
    assert most_in_any_second(times) <= 80
    assert times[-1] - times[0] == pytest.approx((len(times) - 1) / 80)


def test_window_limiter_spaces_grants_evenly():
    clock = FakeClock()
    limiter = rate_limiter.WindowRateLimiter(80, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(400):
        assert limiter.acquire()
        times.append(clock())
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 80 - 1e-9, "no two sends closer than 1/rate"
    assert times[-1] - times[0] == pytest.approx(399 / 80), "at the full rate"
    # After a pause, sending starts at once, and spaced again.
    clock.now += 5
    start = clock()
    assert limiter.acquire() and clock() == start
    assert limiter.acquire() and clock() - start == pytest.approx(1 / 80)


@pytest.mark.parametrize("seed", range(5))
def test_window_limiter_survives_the_way_to_the_wire(seed):
    """Sends reach the provider a little after their grant, each with its own
    delay (thread scheduling, the request being built). Bunched grants let
    87 arrivals into one second at 80/s; evenly spaced ones, with delays
    that vary by less than an interval, let at most one more than the rate,
    and then only when the schedule is full."""
    rng = random.Random(seed)
    clock = LateClock(0.0004)
    limiter = rate_limiter.WindowRateLimiter(80, clock=clock, sleep=clock.sleep)
    grants, arrivals = [], []
    for _ in range(1600):
        assert limiter.acquire()
        grants.append(clock())
        arrivals.append(clock() + rng.uniform(0, 0.005))
    assert most_in_any_second(grants) <= 80
    assert most_in_any_second(arrivals) <= 81
    assert grants[-1] - grants[0] < (1600 - 1) / 80 + 0.05


def test_window_limiter_history_and_threads():
    clock = FakeClock()
    history = []
    limiter = rate_limiter.WindowRateLimiter(
        10, clock=clock, sleep=clock.sleep, history=history
    )
    threads = [
        threading.Thread(target=lambda: [limiter.acquire() for _ in range(10)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(history) == 40
    assert most_in_any_second(history) <= 10


def test_window_limiter_refuses_nonsense():
    with pytest.raises(ValueError):
        rate_limiter.WindowRateLimiter(0)


def test_gate_is_called_right_before_the_request_leaves(fake):
    calls = []

    def gate():
        calls.append(len(fake.requests))

    client_for(fake).send_text("15550100", "hello", gate=gate)
    client_for(fake).send_template("15550100", "t", "en_US", gate=gate)
    assert calls == [0, 1]
    assert len(fake.requests) == 2


# Template components


def test_template_components_header_body_and_buttons():
    components = wa_payloads.template_components(
        body_params=[
            "Ana",
            12,
            wa_payloads.currency_param(99.995, "USD", "$100.00"),
            wa_payloads.date_time_param("March 3, 2025"),
        ],
        url_button_suffix="abc",
        url_button_index=1,
        document_link="https://erp.example.com/inv.pdf",
        document_filename="INV-7.pdf",
        quick_reply_payloads={2: "ALREADY_PAID", 0: "PAY_NOW"},
    )
    assert components == [
        {
            "type": "header",
            "parameters": [
                {
                    "type": "document",
                    "document": {
                        "link": "https://erp.example.com/inv.pdf",
                        "filename": "INV-7.pdf",
                    },
                }
            ],
        },
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Ana"},
                {"type": "text", "text": "12"},
                {
                    "type": "currency",
                    "currency": {
                        "fallback_value": "$100.00",
                        "code": "USD",
                        "amount_1000": 99995,
                    },
                },
                {"type": "date_time", "date_time": {"fallback_value": "March 3, 2025"}},
            ],
        },
        {
            "type": "button",
            "sub_type": "url",
            "index": "1",
            "parameters": [{"type": "text", "text": "abc"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "0",
            "parameters": [{"type": "payload", "payload": "PAY_NOW"}],
        },
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "2",
            "parameters": [{"type": "payload", "payload": "ALREADY_PAID"}],
        },
    ]


def test_template_components_named_params_and_media_header():
    components = wa_payloads.template_components(
        body_params={
            "nome": "Ana",
            "valor": wa_payloads.currency_param("10.5", "BRL", "R$ 10,50"),
        },
        document_media_id="media.9",
    )
    assert components[0]["parameters"][0]["document"] == {"id": "media.9"}
    assert components[1]["parameters"] == [
        {"type": "text", "text": "Ana", "parameter_name": "nome"},
        {
            "type": "currency",
            "currency": {
                "fallback_value": "R$ 10,50",
                "code": "BRL",
                "amount_1000": 10500,
            },
            "parameter_name": "valor",
        },
    ]
    assert wa_payloads.template_components() == []


# Webhooks

WEBHOOK = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": WABA_ID,
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550100199",
                            "phone_number_id": PHONE_NUMBER_ID,
                        },
                        "contacts": [
                            {"profile": {"name": "Ana"}, "wa_id": "5511987654321"}
                        ],
                        "messages": [
                            {
                                "from": "5511987654321",
                                "id": "wamid.in1",
                                "timestamp": "1741000000",
                                "type": "text",
                                "text": {"body": "Já paguei"},
                                "context": {"from": "15550100199", "id": "wamid.1"},
                            },
                            {
                                "from": "5511987654321",
                                "id": "wamid.in2",
                                "timestamp": "1741000001",
                                "type": "button",
                                "button": {
                                    "payload": "NEED_TIME",
                                    "text": "Mais prazo",
                                },
                                "context": {"id": "wamid.2"},
                            },
                            {
                                "from": "5511987654321",
                                "id": "wamid.in3",
                                "timestamp": "1741000002",
                                "type": "interactive",
                                "interactive": {
                                    "type": "button_reply",
                                    "button_reply": {"id": "TALK", "title": "Falar"},
                                },
                            },
                            {
                                "from": "5511987654321",
                                "id": "wamid.in4",
                                "timestamp": "1741000003",
                                "type": "interactive",
                                "interactive": {
                                    "type": "list_reply",
                                    "list_reply": {"id": "PAY_NOW", "title": "Pagar"},
                                },
                            },
                            {
                                "from": "5511987654321",
                                "id": "wamid.in5",
                                "timestamp": "1741000004",
                                "type": "document",
                                "document": {
                                    "id": "media.77",
                                    "filename": "comprovante.pdf",
                                    "mime_type": "application/pdf",
                                    "caption": "segue",
                                },
                            },
                            {
                                "from": "5511987654321",
                                "id": "wamid.in6",
                                "timestamp": "1741000005",
                                "type": "reaction",
                                "reaction": {"message_id": "wamid.1", "emoji": "👍"},
                            },
                            {
                                "from": "5511987654321",
                                "id": "wamid.in7",
                                "timestamp": "1741000006",
                                "type": "unsupported",
                                "errors": [{"code": 131051}],
                            },
                        ],
                    },
                }
            ],
        },
        {
            "id": WABA_ID,
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "metadata": {"phone_number_id": PHONE_NUMBER_ID},
                        "statuses": [
                            {
                                "id": "wamid.1",
                                "status": "read",
                                "timestamp": "1741000100",
                                "recipient_id": "5511987654321",
                                "biz_opaque_callback_data": "42",
                            },
                            {
                                "id": "wamid.2",
                                "status": "delivered",
                                "timestamp": 1741000050,
                                "recipient_id": "5511987654321",
                                "pricing": {
                                    "billable": True,
                                    "pricing_model": "PMP",
                                    "category": "utility",
                                },
                                "biz_opaque_callback_data": "43",
                            },
                            {
                                "id": "wamid.3",
                                "status": "failed",
                                "timestamp": "1741000060",
                                "recipient_id": "5511987654321",
                                "errors": [
                                    {
                                        "code": 131047,
                                        "title": "Re-engagement message",
                                        "error_data": {"details": "24 h passed"},
                                    }
                                ],
                            },
                            {"id": "wamid.4", "status": "deleted", "timestamp": "1"},
                            {"status": "sent", "timestamp": "1"},
                        ],
                    },
                },
                {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}},
            ],
        },
    ],
}


def test_parse_webhook_statuses():
    statuses = wa_webhook.parse_webhook(WEBHOOK)["statuses"]
    assert statuses == [
        {
            "wamid": "wamid.1",
            "status": "read",
            "timestamp": 1741000100,
            "recipient": "5511987654321",
            "error_code": None,
            "error_title": None,
            "error_details": None,
            "pricing": None,
            "callback_data": "42",
            "phone_number_id": PHONE_NUMBER_ID,
        },
        {
            "wamid": "wamid.2",
            "status": "delivered",
            "timestamp": 1741000050,
            "recipient": "5511987654321",
            "error_code": None,
            "error_title": None,
            "error_details": None,
            "pricing": {
                "billable": True,
                "pricing_model": "PMP",
                "category": "utility",
            },
            "callback_data": "43",
            "phone_number_id": PHONE_NUMBER_ID,
        },
        {
            "wamid": "wamid.3",
            "status": "failed",
            "timestamp": 1741000060,
            "recipient": "5511987654321",
            "error_code": 131047,
            "error_title": "Re-engagement message",
            "error_details": "24 h passed",
            "pricing": None,
            "callback_data": None,
            "phone_number_id": PHONE_NUMBER_ID,
        },
    ]
    assert wa_client.error_kind(statuses[2]["error_code"]) == "outside_window"


def test_parse_webhook_inbound_messages():
    messages = wa_webhook.parse_webhook(WEBHOOK)["messages"]
    summary = [
        (
            m["wamid"],
            m["type"],
            m["text"],
            m["payload"],
            m["title"],
            m["context_wamid"],
            m["media_id"],
        )
        for m in messages
    ]
    assert summary == [
        ("wamid.in1", "text", "Já paguei", None, None, "wamid.1", None),
        (
            "wamid.in2",
            "button",
            "Mais prazo",
            "NEED_TIME",
            "Mais prazo",
            "wamid.2",
            None,
        ),
        ("wamid.in3", "interactive", "Falar", "TALK", "Falar", None, None),
        ("wamid.in4", "interactive", "Pagar", "PAY_NOW", "Pagar", None, None),
        ("wamid.in5", "document", "segue", None, None, None, "media.77"),
    ]  # the reaction and the unsupported message are skipped
    first, document = messages[0], messages[4]
    assert first["from"] == "5511987654321"
    assert first["profile_name"] == "Ana"
    assert first["timestamp"] == 1741000000
    assert first["phone_number_id"] == PHONE_NUMBER_ID
    assert (document["filename"], document["mime_type"]) == (
        "comprovante.pdf",
        "application/pdf",
    )


def test_signed_webhook_round_trip():
    raw_body, headers = signed_webhook("s3cret", WEBHOOK)
    assert signatures.verify_meta_signature(
        "s3cret", raw_body, headers["X-Hub-Signature-256"]
    )
    events = wa_webhook.parse_webhook(json.loads(raw_body))
    assert [s["wamid"] for s in events["statuses"]] == ["wamid.1", "wamid.2", "wamid.3"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "whatsapp_business_account",
        {},
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {"id": "1"}},
    ],
)
def test_parse_webhook_refuses_what_is_not_the_envelope(payload):
    with pytest.raises(ValueError):
        wa_webhook.parse_webhook(payload)


@pytest.mark.parametrize(
    "entry",
    [
        None,
        "entry",
        {},
        {"changes": None},
        {"changes": "x"},
        {"changes": [None, 1, "x", {}]},
        {"changes": [{"field": "messages"}]},
        {"changes": [{"field": "messages", "value": []}]},
        {"changes": [{"field": "messages", "value": {"messages": {}, "statuses": 1}}]},
        {"changes": [{"field": "messages", "value": {"messages": [None, 1, {}]}}]},
        {
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "contacts": [None, {"wa_id": 5}],
                        "metadata": "x",
                        "messages": [
                            {"id": "w1", "from": "1", "type": "text", "text": None},
                            {"id": "w2", "from": "1", "type": "button", "button": 3},
                            {"id": "w3", "type": "text", "text": {"body": "no sender"}},
                            {"id": ["w4"], "from": "1", "type": "text"},
                            {"id": "w5", "from": "1", "type": "image", "context": "x"},
                        ],
                        "statuses": [
                            {"id": "w1", "status": "sent", "timestamp": "soon"},
                            {"id": "w2", "status": "failed", "errors": "x"},
                            {"id": "w3", "status": "read", "errors": [None]},
                            {"id": "w4", "status": ["read"]},
                        ],
                    },
                }
            ]
        },
    ],
)
def test_parse_webhook_survives_malformed_entries(entry):
    events = wa_webhook.parse_webhook(
        {"object": "whatsapp_business_account", "entry": [entry]}
    )
    assert set(events) == {"statuses", "messages", "templates"}
    for event in events["statuses"]:
        assert event["wamid"] and event["status"] in wa_webhook.STATUSES
    for event in events["messages"]:
        assert (
            event["wamid"]
            and event["from"]
            and event["type"] in wa_webhook.MESSAGE_TYPES
        )


def test_parse_webhook_malformed_but_usable_events_are_kept():
    events = wa_webhook.parse_webhook(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messages": [
                                    {
                                        "id": "w1",
                                        "from": "1",
                                        "type": "text",
                                        "text": None,
                                    },
                                    {"id": "w5", "from": "1", "type": "image"},
                                ],
                                "statuses": [
                                    {"id": "w1", "status": "sent", "timestamp": "soon"},
                                    {"id": "w2", "status": "failed", "errors": "x"},
                                ],
                            },
                        }
                    ]
                }
            ],
        }
    )
    assert [(m["wamid"], m["text"], m["media_id"]) for m in events["messages"]] == [
        ("w1", None, None),
        ("w5", None, None),
    ]
    assert [
        (s["wamid"], s["timestamp"], s["error_code"]) for s in events["statuses"]
    ] == [
        ("w1", None, None),
        ("w2", None, None),
    ]


def _garble(value, draws):
    """``value`` with some of its leaves replaced by values of other types."""
    if isinstance(value, dict):
        return {key: _garble(item, draws) for key, item in value.items()}
    if isinstance(value, list):
        return [_garble(item, draws) for item in value]
    if draws.random() < 0.3:
        return draws.choice([None, 0, -1, 1.5, "", "x", [], {}, [None], {"a": 1}, True])
    return value


def test_parse_webhook_never_crashes_on_garbled_values():
    draws = random.Random(2025)
    for _ in range(300):
        payload = _garble(copy.deepcopy(WEBHOOK), draws)
        payload["object"] = "whatsapp_business_account"
        events = wa_webhook.parse_webhook(payload)
        assert isinstance(events["statuses"], list)
        assert isinstance(events["messages"], list)


def test_refusal_counter_turns_a_client_away_within_its_window_only():
    clock = FakeClock()
    counter = rate_limiter.RefusalCounter(limit=3, window_seconds=60, clock=clock)
    for _refusal in range(2):
        counter.add("10.0.0.1")
    assert not counter.blocked("10.0.0.1")
    counter.add("10.0.0.1")
    assert counter.blocked("10.0.0.1")
    assert not counter.blocked("10.0.0.2"), "another client is not affected"
    clock.sleep(60)
    assert not counter.blocked("10.0.0.1"), "the window has passed"


def test_refusal_counter_remembers_a_bounded_number_of_clients():
    counter = rate_limiter.RefusalCounter(limit=1, window_seconds=60, max_clients=2)
    for client in ("a", "b", "c"):
        counter.add(client)
    assert not counter.blocked("a"), "the client refused longest ago is forgotten"
    assert counter.blocked("b") and counter.blocked("c")
