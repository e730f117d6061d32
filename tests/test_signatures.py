"""Webhook signatures of Meta and Twilio, without Odoo."""

import json

import pytest

from .conftest import load_tool
from .fake_graph import signed_webhook

signatures = load_tool("signatures")

SECRET = "app-secret-123"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'

# Twilio's worked example (auth token 12345), published with these values.
TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
TWILIO_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


class MultiDict(dict):
    """Just enough of werkzeug's form: one key, several values."""

    def getlist(self, key):
        value = self[key]
        return value if isinstance(value, list) else [value]


def test_meta_signature_is_verified():
    header = signatures.meta_signature(SECRET, BODY)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert signatures.verify_meta_signature(SECRET, BODY, header) is True
    assert signatures.verify_meta_signature(SECRET.encode(), bytearray(BODY), header)


def test_meta_signature_matches_an_independent_signer():
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1"}]}
    raw_body, headers = signed_webhook(SECRET, payload)
    assert json.loads(raw_body) == payload
    header = headers["X-Hub-Signature-256"]
    assert header == signatures.meta_signature(SECRET, raw_body)
    assert signatures.verify_meta_signature(SECRET, raw_body, header)
    # The hex digest may come in upper case from a proxy: still the same MAC.
    assert signatures.verify_meta_signature(SECRET, raw_body, header.upper())


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        ("wrong-secret", BODY, "valid"),
        (SECRET, BODY + b" ", "valid"),  # tampered body
        (SECRET, BODY.replace(b"[]", b"[1]"), "valid"),
        (SECRET, BODY, None),  # missing header
        (SECRET, BODY, ""),
        (SECRET, BODY, "sha256="),
        (SECRET, BODY, "sha256=zz" + "0" * 62),  # not hex
        (SECRET, BODY, "sha256=" + "0" * 63),  # too short
        (SECRET, BODY, "sha1=" + "0" * 40),  # another algorithm
        (SECRET, BODY, "valid-without-prefix"),
        (SECRET, BODY, 12345),
        ("", BODY, "valid"),  # empty secret never validates
        (None, BODY, "valid"),
        (SECRET, BODY.decode(), "valid"),  # decoded body: not the raw bytes
        (SECRET, None, "valid"),
    ],
)
def test_meta_signature_rejects_bad_requests(secret, body, header):
    valid = signatures.meta_signature(SECRET, BODY)
    if header == "valid":
        header = valid
    elif header == "valid-without-prefix":
        header = valid.removeprefix("sha256=")
    assert signatures.verify_meta_signature(secret, body, header) is False


def test_empty_secret_signature_is_valid_for_nobody():
    with pytest.raises(ValueError):
        signatures.meta_signature("", BODY)
    forged = "sha256=" + "0" * 64
    assert signatures.verify_meta_signature("", BODY, forged) is False


def test_twilio_signature_matches_the_documented_example():
    signature = signatures.twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS)
    assert signature == TWILIO_EXPECTED
    assert signatures.verify_twilio_signature(
        TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, TWILIO_EXPECTED
    )


def test_twilio_signature_sorts_by_name_whatever_the_order():
    reversed_params = dict(reversed(list(TWILIO_PARAMS.items())))
    assert (
        signatures.twilio_signature(TWILIO_TOKEN, TWILIO_URL, reversed_params)
        == TWILIO_EXPECTED
    )


@pytest.mark.parametrize(
    ("token", "url", "params", "header"),
    [
        ("54321", TWILIO_URL, TWILIO_PARAMS, TWILIO_EXPECTED),
        ("", TWILIO_URL, TWILIO_PARAMS, TWILIO_EXPECTED),
        (None, TWILIO_URL, TWILIO_PARAMS, TWILIO_EXPECTED),
        (TWILIO_TOKEN, TWILIO_URL, dict(TWILIO_PARAMS, Digits="9999"), TWILIO_EXPECTED),
        (TWILIO_TOKEN, TWILIO_URL, dict(TWILIO_PARAMS, Body="STOP"), TWILIO_EXPECTED),
        (TWILIO_TOKEN, TWILIO_URL + "&x=3", TWILIO_PARAMS, TWILIO_EXPECTED),
        (
            TWILIO_TOKEN,
            TWILIO_URL.replace("https", "http"),
            TWILIO_PARAMS,
            TWILIO_EXPECTED,
        ),
        (TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, None),
        (TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, ""),
        (TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, "not base64 at all"),
        (TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
        (TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, "ñ" * 28),
        (TWILIO_TOKEN, "", TWILIO_PARAMS, TWILIO_EXPECTED),
        (TWILIO_TOKEN, None, TWILIO_PARAMS, TWILIO_EXPECTED),
    ],
)
def test_twilio_signature_rejects_bad_requests(token, url, params, header):
    assert signatures.verify_twilio_signature(token, url, params, header) is False


def test_twilio_signature_accepts_the_url_with_or_without_default_port():
    url = "https://example.com/sms/inbound"
    params = {"From": "+5511987654321", "Body": "pare"}
    with_port = signatures.twilio_signature(
        TWILIO_TOKEN, url.replace(".com", ".com:443"), params
    )
    assert signatures.verify_twilio_signature(TWILIO_TOKEN, url, params, with_port)
    without_port = signatures.twilio_signature(TWILIO_TOKEN, url, params)
    assert signatures.verify_twilio_signature(
        TWILIO_TOKEN, "https://example.com:443/sms/inbound", params, without_port
    )
    # A non-default port is part of the signed URL: no variant is tried.
    assert not signatures.verify_twilio_signature(
        TWILIO_TOKEN, "https://example.com:8443/sms/inbound", params, without_port
    )


def test_twilio_signature_of_repeated_and_empty_parameters():
    form = MultiDict({"MediaUrl": ["b", "a"], "Body": "", "To": "+1"})
    plain = {"MediaUrl": ["a", "b"], "Body": "", "To": "+1"}
    signature = signatures.twilio_signature(TWILIO_TOKEN, TWILIO_URL, form)
    assert signature == signatures.twilio_signature(TWILIO_TOKEN, TWILIO_URL, plain)
    assert signatures.verify_twilio_signature(TWILIO_TOKEN, TWILIO_URL, form, signature)
    empty = signatures.twilio_signature(TWILIO_TOKEN, TWILIO_URL, {})
    assert empty == signatures.twilio_signature(TWILIO_TOKEN, TWILIO_URL, None)
    assert signatures.verify_twilio_signature(TWILIO_TOKEN, TWILIO_URL, {}, empty)


def test_twilio_signature_needs_a_token():
    with pytest.raises(ValueError):
        signatures.twilio_signature("", TWILIO_URL, TWILIO_PARAMS)


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (TWILIO_URL, TWILIO_PARAMS),
        (
            "https://erp.example.com/friendly_dunning/sms/inbound",
            {
                "MessageSid": "SM0123456789abcdef0123456789abcdef",
                "From": "+5511987654321",
                "To": "+15550100199",
                "Body": "Não quero mais mensagens, obrigado 🙏",
                "OptOutType": "STOP",
                "NumMedia": "0",
            },
        ),
        ("https://example.com:443/x?a=1", {"A": "1", "a": "2", "_": "3"}),
    ],
)
def test_twilio_signature_agrees_with_the_twilio_library(url, params):
    request_validator = pytest.importorskip("twilio.request_validator")
    validator = request_validator.RequestValidator(TWILIO_TOKEN)
    expected = validator.compute_signature(url, params)
    assert signatures.twilio_signature(TWILIO_TOKEN, url, params) == expected
    ours = signatures.twilio_signature(TWILIO_TOKEN, url, params)
    assert validator.validate(url, params, ours)
