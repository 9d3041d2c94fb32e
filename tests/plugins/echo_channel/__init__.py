"""Echo: a minimal chat channel for the test suite, built only on the channel contract.

Its provider posts JSON messages, and edits of them (`"type": "edit"` with the message's id and
`edited_at`), signed with HMAC-SHA256 of the body under the account's secret
(`X-Echo-Signature`, hex) and takes replies at `POST {base}/messages`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from channels.base import (
    Capabilities,
    ChannelConfig,
    ChannelSpec,
    CheckFailed,
    DemoAccount,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    ProviderSpec,
    SendResult,
    SignatureInvalid,
    TransientSendError,
    UnsupportedEvent,
    WebhookRequest,
)
from timeline.events import (
    DeliveryStatus,
    ExternalIdentity,
    IdentityKind,
    InboundEvent,
    MessageEdited,
    MessageReceived,
    RawPayload,
)

SIGNATURE_HEADER = "X-Echo-Signature"


class EchoAdapter:
    kind: ClassVar[str] = "echo"
    provider: ClassVar[str] = "local"
    capabilities: ClassVar[Capabilities] = Capabilities(max_body_length=4096)

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self._secret = config.credentials["secret"].encode()

    def verify(self, request: WebhookRequest) -> None:
        expected = hmac.new(self._secret, request.body, hashlib.sha256).hexdigest()
        offered = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(expected.encode(), offered.encode()):
            raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")

    def parse(self, raw: RawPayload, decoded: object = None) -> list[InboundEvent]:
        try:
            message = json.loads(raw.body)
        except ValueError as error:
            raise MalformedPayload(f"not JSON: {error}") from None
        if not isinstance(message, dict):
            raise MalformedPayload("not a JSON object")
        kind = message.get("type", "message")
        if kind not in ("message", "edit"):
            raise UnsupportedEvent(f"echo event {kind!r} is not handled")
        try:
            sender, external_id, text = message["from"], message["id"], message["text"]
        except KeyError as missing:
            raise MalformedPayload(f"missing {missing}") from None
        if not all(isinstance(value, str) and value for value in (sender, external_id)):
            raise MalformedPayload("from and id must be non-empty strings")
        common = {
            "channel_account_id": self.config.id,
            "kind": self.kind,
            "sender": ExternalIdentity(IdentityKind.PHONE, sender),
            "raw_ref": raw.digest,
            "body": str(text),
        }
        if kind == "message":
            return [
                MessageReceived(external_id=external_id, occurred_at=datetime.now(UTC), **common)
            ]
        try:  # an edit: its own id is the message's and the edit's time
            edited_at = datetime.fromisoformat(message["edited_at"])
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedPayload(f"an edit needs edited_at: {error}") from None
        if edited_at.tzinfo is None:
            raise MalformedPayload("edited_at needs its offset")
        return [
            MessageEdited(
                external_id=f"{external_id}@{edited_at.isoformat()}",
                original_id=external_id,
                occurred_at=edited_at.astimezone(UTC),
                **common,
            )
        ]

    async def send(self, message: OutboundMessage) -> SendResult:
        url = f"{self.config.provider_base_url}/messages"
        payload = {"to": message.recipient.value, "text": message.body}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(url, json=payload) as answer,
            ):
                body: Any = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise TransientSendError(f"echo provider unreachable: {error}") from error
        if answer.status != 201:
            raise PermanentSendError(f"echo provider answered {answer.status}")
        return SendResult(external_id=str(body["id"]), status=DeliveryStatus.SENT)

    def webhook_response(self) -> tuple[str, str]:
        return "{}", "application/json"


class EchoCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=16, description="signs the provider's webhooks")


class EchoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def check_echo(config: ChannelConfig) -> None:
    if not config.provider_base_url:
        raise CheckFailed("an echo channel needs --provider-base-url")


def signed_by_echo(
    credentials: Mapping[str, str], url: str, body: bytes, content_type: str
) -> dict[str, str]:
    digest = hmac.new(credentials["secret"].encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, SIGNATURE_HEADER: digest}


def demo_echo(provider_base_url: str | None) -> DemoAccount:
    secret = secrets.token_hex(16)
    return DemoAccount(
        address="echo",
        credentials={"secret": secret},
        provider_base_url=provider_base_url or "http://127.0.0.1:9",
        webhook_secret=secret,
    )


SPEC = ChannelSpec(
    kind="echo",
    title="Echo (tests)",
    providers=(
        ProviderSpec(
            name="local",
            adapter=EchoAdapter,
            credentials=EchoCredentials,
            settings=EchoSettings,
            check=check_echo,
            demo=demo_echo,
            signed_headers=signed_by_echo,
        ),
    ),
    docs="tests/plugins/README.md",
)
