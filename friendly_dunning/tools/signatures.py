"""Webhook signatures of Meta (WhatsApp) and Twilio, computed and checked.

Both providers sign with an HMAC keyed by a secret we share with them. Every
check compares in constant time and answers ``False`` -- never raises -- for a
missing, empty or malformed secret, header or body, so a controller can turn
any bad request into a 403 without touching the database.
"""

import base64
import hashlib
import hmac
import re
from urllib.parse import urlsplit, urlunsplit

META_SIGNATURE_PREFIX = "sha256="
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _key(secret):
    """The secret as bytes, or ``None`` when there is no usable secret."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes | bytearray) or not secret:
        return None
    return bytes(secret)


def meta_signature(app_secret, raw_body):
    """The ``X-Hub-Signature-256`` value Meta sends with ``raw_body``:
    ``sha256=`` + hex HMAC-SHA256 keyed by the app secret."""
    key = _key(app_secret)
    if key is None:
        raise ValueError("An app secret is required to sign a webhook.")
    digest = hmac.new(key, bytes(raw_body), hashlib.sha256).hexdigest()
    return META_SIGNATURE_PREFIX + digest


def verify_meta_signature(app_secret, raw_body, header_value):
    """Whether ``header_value`` (``X-Hub-Signature-256``) signs ``raw_body``,
    the request body exactly as received (bytes, before any JSON parsing)."""
    key = _key(app_secret)
    if key is None or not isinstance(raw_body, bytes | bytearray):
        return False
    if not isinstance(header_value, str):
        return False
    prefix, _sep, given = header_value.strip().partition("=")
    given = given.lower()
    if prefix.lower() + "=" != META_SIGNATURE_PREFIX or not _SHA256_HEX.fullmatch(
        given
    ):
        return False
    expected = meta_signature(key, raw_body).removeprefix(META_SIGNATURE_PREFIX)
    return hmac.compare_digest(expected, given)


def _param_values(params, name):
    """Every value of ``name``: multi-dicts (werkzeug's ``getlist``) and
    list values are spread, like Twilio's own validator does."""
    getlist = getattr(params, "getlist", None)
    values = getlist(name) if callable(getlist) else params[name]
    if not isinstance(values, list | tuple):
        values = [values]
    return sorted({str(value) for value in values})


def twilio_signature(auth_token, url, params):
    """The ``X-Twilio-Signature`` for a request to ``url`` (the full public
    URL with its query string) carrying the form ``params``: Base64 of
    HMAC-SHA1(auth token, url + each name and value, sorted by name)."""
    key = _key(auth_token)
    if key is None:
        raise ValueError("An auth token is required to sign a request.")
    signed = url + "".join(
        name + value
        for name in sorted(set(params or ()))
        for value in _param_values(params, name)
    )
    digest = hmac.new(key, signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url):
    """``url`` as given, without and with its default port: Twilio may sign
    either form depending on how the webhook URL was configured."""
    variants = [url]
    parts = urlsplit(url)
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    if not parts.hostname or default_port is None:
        return variants
    try:
        port = parts.port
    except ValueError:
        return variants
    if port == default_port:
        netloc = parts.netloc.rsplit(":", 1)[0]
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    elif port is None:
        netloc = f"{parts.netloc}:{default_port}"
        variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def verify_twilio_signature(auth_token, url, params, header_value):
    """Whether ``header_value`` (``X-Twilio-Signature``) signs this request.

    ``url`` must be the URL Twilio called (scheme, host, path and query as
    configured in Twilio), not the one a reverse proxy forwarded to us.
    """
    if _key(auth_token) is None or not isinstance(url, str) or not url:
        return False
    if not isinstance(header_value, str) or not header_value.strip():
        return False
    given = header_value.strip().encode("ascii", "replace")
    try:
        candidates = [
            twilio_signature(auth_token, v, params) for v in _url_variants(url)
        ]
    except (TypeError, KeyError):
        return False
    # Check every variant so the time taken does not depend on which matched.
    matches = [hmac.compare_digest(c.encode("ascii"), given) for c in candidates]
    return any(matches)
