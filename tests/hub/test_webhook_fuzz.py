"""Signed random forms at the webhook route: NULs, huge fields, bytes that are not UTF-8, fields
repeated or missing, numbers past 64 bits. Every answer is 200, 400 with a quarantine row, 403
or 413; never a 5xx; and nothing accepted is lost."""

from __future__ import annotations

import itertools
from urllib.parse import quote_from_bytes

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from channels.base import MalformedPayload, UnsupportedEvent
from channels.sms.signature import twilio_signature
from hub.context import Hub
from tests.conftest import ServedHub
from tests.workspace import OUR_NUMBER, SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, seed_workspace
from timeline.events import RawPayload
from timeline.models import QuarantinedPayload, RawPayloadRecord

FORM = "application/x-www-form-urlencoded"
TWILIO_NAMES = (
    "MessageSid",
    "SmsSid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "NumSegments",
    "MediaUrl0",
    "MediaContentType0",
    "MessageStatus",
    "SmsStatus",
    "ErrorCode",
    "OptOutType",
    "Direction",
)
awkward_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("\x00\n\r%&=+٢²"), max_size=10),
    st.sampled_from(["", "0", "1", "99999999999999999999999", "١٢", "received", "delivered"]),
    st.builds(lambda n: "x" * n, st.integers(1000, 70_000)),
)
field = st.tuples(
    st.one_of(st.text(min_size=1, max_size=10), st.sampled_from(TWILIO_NAMES)), awkward_text
)


@st.composite
def forms(draw: st.DrawFn) -> tuple[list[tuple[str, str]], bytes | None]:
    """Twilio's fields for a text, some changed, dropped, repeated or added; and, sometimes,
    raw bytes to put in place of one value (percent-escaped, perhaps not UTF-8)."""
    base = [
        ("MessageSid", "SM" + draw(st.text("0123456789abcdef", min_size=32, max_size=32))),
        ("AccountSid", SMS_ACCOUNT_SID),
        ("From", draw(st.sampled_from(["+14155550123", "+98 912 345 6789", "whatsapp:+1"]))),
        ("To", OUR_NUMBER),
        ("Body", draw(awkward_text)),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
    ]
    kept = [pair for pair in base if draw(st.integers(0, 5)) or pair[0] == "Body"]
    extra = draw(st.lists(field, max_size=3))
    repeated = [(name, value + "2") for name, value in kept[: draw(st.sampled_from([0, 0, 1, 2]))]]
    raw_value = draw(st.one_of(st.none(), st.binary(max_size=20)))
    return kept + extra + repeated, raw_value


def _body(fields: list[tuple[str, str]], raw_value: bytes | None) -> bytes:
    parts = [
        quote_from_bytes(name.encode("utf-8", "surrogatepass"), safe="")
        + "="
        + quote_from_bytes(value.encode("utf-8", "surrogatepass"), safe="")
        for name, value in fields
    ]
    if raw_value is not None:
        parts.append("Body=" + quote_from_bytes(raw_value, safe=""))
    return "&".join(parts).encode("ascii")


_sources = itertools.count(2)


def _client() -> aiohttp.ClientSession:
    """A client with a loopback address of its own (127.0.0.N): the route limits refused
    requests per address, and each example here stands for a different sender."""
    number = next(_sources)
    address = f"127.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(form=forms())
async def test_signed_random_forms_are_answered_and_nothing_is_lost(
    served_hub: ServedHub, form: tuple[list, bytes | None]
) -> None:
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub, name=f"fuzz{id(form)}")
    channel = await hub.channels.get(ws.sms_channel_id)
    fields, raw_value = form
    body = _body(fields, raw_value)
    signed_fields = fields + ([("Body", raw_value.decode("utf-8", "replace"))] if raw_value else [])
    headers = {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio_signature(SMS_AUTH_TOKEN, ws.sms_webhook_url, signed_fields),
    }
    async with hub.engine.connect() as conn:
        quarantined_before = (
            await conn.execute(select(func.count()).select_from(QuarantinedPayload))
        ).scalar_one()
    async with _client() as http, http.post(ws.sms_webhook_url, data=body, headers=headers) as r:
        status, answer = r.status, await r.read()
    assert status in (200, 400, 403, 413), (status, answer)
    async with hub.engine.connect() as conn:
        quarantined = (
            await conn.execute(select(func.count()).select_from(QuarantinedPayload))
        ).scalar_one()
        stored = (
            await conn.execute(
                select(func.count())
                .select_from(RawPayloadRecord)
                .where(RawPayloadRecord.workspace_id == ws.id)
                .where(RawPayloadRecord.digest == RawPayload(FORM, body).digest)
            )
        ).scalar_one()
    assert quarantined == quarantined_before + (1 if status == 400 else 0), answer
    if status == 200 and _has_events(channel.adapter, body):
        assert stored == 1, "an accepted payload with events is kept"
    if status in (403, 413):
        assert stored == 0


def _has_events(adapter: object, body: bytes) -> bool:
    try:
        return bool(adapter.parse(RawPayload(FORM, body)))  # type: ignore[attr-defined]
    except (MalformedPayload, UnsupportedEvent):
        return False
