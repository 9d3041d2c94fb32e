"""Twilio request signatures: published vectors, port variants, and the adapter's verify()."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from channels.base import ChannelConfig, SignatureInvalid, WebhookRequest
from channels.sms.signature import signature_matches, twilio_signature, url_variants
from channels.sms.twilio import TwilioSmsAdapter

from .fake_twilio import sign_like_twilio

FIXTURES = Path(__file__).parent / "fixtures"
FORM = "application/x-www-form-urlencoded"

# Twilio's worked example (twilio.com/docs/usage/security, "Validating Requests"):
DOCS_TOKEN = "12345"
DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOCS_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

# The vectors in twilio-python's tests/unit/test_request_validator.py (same URL and token):
LIB_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
LIB_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
LIB_DUPLICATE_PARAMS = [
    ("Sid", "CA123"),
    ("SidAccount", "AC123"),
    ("Digits", "5678"),
    ("Digits", "1234"),
]
LIB_DUPLICATE_SIGNATURE = "IK+Dwps556ElfBT0I3Rgjkr1wJU="

WEBHOOK_URL = "https://hub.example.com/webhooks/sms/twilio/7"
AUTH_TOKEN = "adapter-test-token"


def test_docs_example_signature() -> None:
    assert twilio_signature(DOCS_TOKEN, DOCS_URL, DOCS_PARAMS) == DOCS_SIGNATURE


def test_twilio_python_vector() -> None:
    assert twilio_signature(DOCS_TOKEN, DOCS_URL, LIB_PARAMS) == LIB_SIGNATURE


def test_repeated_names_sign_every_value_sorted() -> None:
    assert twilio_signature(DOCS_TOKEN, DOCS_URL, LIB_DUPLICATE_PARAMS) == LIB_DUPLICATE_SIGNATURE
    reordered = list(reversed(LIB_DUPLICATE_PARAMS))
    assert twilio_signature(DOCS_TOKEN, DOCS_URL, reordered) == LIB_DUPLICATE_SIGNATURE


def test_pairs_and_mapping_sign_alike() -> None:
    pairs = list(LIB_PARAMS.items())
    assert twilio_signature(DOCS_TOKEN, DOCS_URL, pairs) == LIB_SIGNATURE


def test_signature_agrees_with_a_hand_computation_on_unicode() -> None:
    body = (FIXTURES / "message_received__unicode_persian.form").read_text("ascii")
    params = parse_qsl(body, keep_blank_values=True)
    signed = WEBHOOK_URL + "".join(k + v for k, v in sorted(params))
    expected = base64.b64encode(
        hmac.new(AUTH_TOKEN.encode(), signed.encode("utf-8"), hashlib.sha1).digest()
    ).decode()
    assert twilio_signature(AUTH_TOKEN, WEBHOOK_URL, params) == expected


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # URL with a port, signature over the URL without it (test_validation_removes_port_*)
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", LIB_SIGNATURE),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # URL without a port, signature over the URL with the standard port
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_signature_accepted_with_or_without_port(url: str, signature: str) -> None:
    assert signature_matches(DOCS_TOKEN, url, LIB_PARAMS, signature)


def test_wrong_signature_token_params_or_url_refused() -> None:
    assert signature_matches(DOCS_TOKEN, DOCS_URL, LIB_PARAMS, LIB_SIGNATURE)
    assert not signature_matches("54321", DOCS_URL, LIB_PARAMS, LIB_SIGNATURE)
    assert not signature_matches(
        DOCS_TOKEN, DOCS_URL, {**LIB_PARAMS, "Digits": "1235"}, LIB_SIGNATURE
    )
    assert not signature_matches(DOCS_TOKEN, DOCS_URL + "&x=1", LIB_PARAMS, LIB_SIGNATURE)
    assert not signature_matches(DOCS_TOKEN, DOCS_URL, LIB_PARAMS, "")
    assert not signature_matches(DOCS_TOKEN, DOCS_URL, LIB_PARAMS, "ΣΣΣ")


@pytest.mark.parametrize(
    ("url", "variants"),
    [
        ("https://h.io/p?a=%20b", ("https://h.io/p?a=%20b", "https://h.io:443/p?a=%20b")),
        ("https://h.io:443/p", ("https://h.io:443/p", "https://h.io/p")),
        ("http://u:pw@h.io:8080/p#f", ("http://u:pw@h.io:8080/p#f", "http://u:pw@h.io/p#f")),
        ("https://[::1]:8443/x", ("https://[::1]:8443/x", "https://[::1]/x")),
        ("https://[::1]/x", ("https://[::1]/x", "https://[::1]:443/x")),
        ("ftp://h.io/x", ("ftp://h.io/x",)),
        ("not a url", ("not a url",)),
    ],
)
def test_url_variants_keep_everything_but_the_port(url: str, variants: tuple[str, ...]) -> None:
    assert url_variants(url) == variants


# -- the adapter's verify() --------------------------------------------------------------------


def _adapter() -> TwilioSmsAdapter:
    config = ChannelConfig(
        id=7,
        workspace_id=1,
        address="+15017122661",
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN},
    )
    return TwilioSmsAdapter(config)


def _signed_request(
    fixture: str = "message_received__plain.form", url: str = WEBHOOK_URL
) -> WebhookRequest:
    body = (FIXTURES / fixture).read_bytes()
    fields = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))
    signature = sign_like_twilio(AUTH_TOKEN, url, fields)
    return WebhookRequest(
        url=url, headers={"X-Twilio-Signature": signature}, body=body, content_type=FORM
    )


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.form")))
def test_verify_accepts_every_fixture_signed_like_twilio(fixture: str) -> None:
    _adapter().verify(_signed_request(fixture))


def test_verify_reads_the_header_case_insensitively() -> None:
    request = _signed_request()
    lower = {"x-twilio-signature": request.headers["X-Twilio-Signature"]}
    _adapter().verify(WebhookRequest(request.url, lower, request.body, request.content_type))


def test_verify_accepts_the_public_url_with_its_default_port() -> None:
    request = _signed_request(url=WEBHOOK_URL)
    with_port = WEBHOOK_URL.replace("example.com", "example.com:443")
    moved = WebhookRequest(with_port, request.headers, request.body, request.content_type)
    _adapter().verify(moved)


def test_verify_refuses_missing_header() -> None:
    request = _signed_request()
    bare = WebhookRequest(request.url, {}, request.body, request.content_type)
    with pytest.raises(SignatureInvalid, match="missing X-Twilio-Signature"):
        _adapter().verify(bare)


def test_verify_refuses_a_tampered_param() -> None:
    request = _signed_request()
    body = request.body.replace(b"Body=Hello", b"Body=Hallo")
    assert body != request.body
    tampered = WebhookRequest(request.url, request.headers, body, request.content_type)
    with pytest.raises(SignatureInvalid, match="does not match"):
        _adapter().verify(tampered)


def test_verify_refuses_an_added_param() -> None:
    request = _signed_request()
    body = request.body + b"&Extra=1"
    with pytest.raises(SignatureInvalid):
        _adapter().verify(WebhookRequest(request.url, request.headers, body, FORM))


def test_verify_refuses_another_url() -> None:
    request = _signed_request()
    other = WebhookRequest(WEBHOOK_URL.replace("/7", "/8"), request.headers, request.body, FORM)
    with pytest.raises(SignatureInvalid):
        _adapter().verify(other)


def test_verify_refuses_another_token() -> None:
    request = _signed_request()
    config = ChannelConfig(
        id=7,
        workspace_id=1,
        address="+15017122661",
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": "someone-else"},
    )
    with pytest.raises(SignatureInvalid):
        TwilioSmsAdapter(config).verify(request)


def test_verify_refuses_a_body_that_is_not_utf8() -> None:
    body = b"Body=%FF&From=%2B15558675310"
    fields = {"Body": "\ufffd", "From": "+15558675310"}
    signature = sign_like_twilio(AUTH_TOKEN, WEBHOOK_URL, fields)
    request = WebhookRequest(WEBHOOK_URL, {"X-Twilio-Signature": signature}, body, FORM)
    with pytest.raises(SignatureInvalid, match="field Body is not valid UTF-8"):
        _adapter().verify(request)


def test_verify_honours_the_declared_charset() -> None:
    body = b"Body=Gr%FC%DFe&From=%2B15558675310&MessageSid=SM1&AccountSid=AC1&To=%2B15017122661"
    fields = {
        "Body": "Grüße",
        "From": "+15558675310",
        "MessageSid": "SM1",
        "AccountSid": "AC1",
        "To": "+15017122661",
    }
    signature = sign_like_twilio(AUTH_TOKEN, WEBHOOK_URL, fields)
    latin1 = f"{FORM}; charset=ISO-8859-1"
    request = WebhookRequest(WEBHOOK_URL, {"X-Twilio-Signature": signature}, body, latin1)
    adapter = _adapter()
    decoded = adapter.verify(request)
    [message] = adapter.parse(request.raw(), decoded)
    assert message.body == "Grüße"
    [again] = adapter.parse(request.raw())  # a replay: the charset comes with the payload
    assert again.body == "Grüße"


@pytest.mark.parametrize("charset", ["utf-16", "x-no-such-charset"])
def test_verify_refuses_a_charset_that_cannot_carry_a_form(charset: str) -> None:
    body = b"Body=hi&From=%2B15558675310"
    signature = sign_like_twilio(AUTH_TOKEN, WEBHOOK_URL, {"Body": "hi", "From": "+15558675310"})
    content_type = f"{FORM}; charset={charset}"
    request = WebhookRequest(WEBHOOK_URL, {"X-Twilio-Signature": signature}, body, content_type)
    with pytest.raises(SignatureInvalid, match="cannot carry a form"):
        _adapter().verify(request)


def test_verify_refuses_an_unsigned_json_body() -> None:
    signature = sign_like_twilio(AUTH_TOKEN, WEBHOOK_URL, {})
    request = WebhookRequest(
        WEBHOOK_URL, {"X-Twilio-Signature": signature}, b'{"Body": "hi"}', "application/json"
    )
    with pytest.raises(SignatureInvalid, match="not covered"):
        _adapter().verify(request)


def test_verify_accepts_a_json_body_vouched_for_by_body_sha256() -> None:
    body = b'{"Body": "hi"}'
    url = f"{WEBHOOK_URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = sign_like_twilio(AUTH_TOKEN, url, {})
    headers = {"X-Twilio-Signature": signature}
    _adapter().verify(WebhookRequest(url, headers, body, "application/json"))
    with pytest.raises(SignatureInvalid):
        _adapter().verify(WebhookRequest(url, headers, b'{"Body": "ho"}', "application/json"))
