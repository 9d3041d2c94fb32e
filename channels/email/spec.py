"""The email channel as the hub knows it: a mailbox read over IMAP, answered over SMTP."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels.base import (
    ChannelConfig,
    ChannelSpec,
    CheckFailed,
    DemoAccount,
    ProviderSpec,
    Transport,
)
from channels.email.adapter import ImapSmtpEmailAdapter
from channels.email.attachments import DEFAULT_MAX_ATTACHMENT_BYTES
from channels.email.imap import ImapMailbox
from channels.email.imap_errors import ImapError
from channels.email.imap_url import AfterImport, MailboxUrl
from channels.email.smtp import check_login
from channels.email.smtp_url import SmtpUrl

CHECK_TIMEOUT_SECONDS = 15.0


class MailboxCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    imap_url: str = Field(
        max_length=2000,
        description="imap[s]://user:password@host:port/MAILBOX (docs/channels/email.md)",
    )
    smtp_url: str = Field(max_length=2000, description="smtp[s]://user:password@host:port")

    @field_validator("imap_url")
    @classmethod
    def _imap(cls, value: str) -> str:
        MailboxUrl.parse(value)
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str) -> str:
        SmtpUrl.parse(value)
        return value


class MailboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after_import: str = Field("none", description="none, seen or move:<Folder>")
    from_name: str | None = Field(None, max_length=200, description="the name replies come from")
    reply_domain: str | None = Field(
        None, max_length=253, description="domain of reply+<token>@ addresses (default: ours)"
    )
    max_attachment_bytes: int = Field(
        DEFAULT_MAX_ATTACHMENT_BYTES,
        ge=0,
        description="larger attachments keep only their metadata",
    )

    @field_validator("after_import")
    @classmethod
    def _after_import(cls, value: str) -> str:
        AfterImport.parse(value)
        return value


async def check_mailbox(config: ChannelConfig) -> None:
    """Log in to the mailbox (and select it) and to the SMTP server, as the channel will."""
    try:
        async with ImapMailbox(config.credentials["imap_url"], timeout=CHECK_TIMEOUT_SECONDS):
            pass
    except (ImapError, OSError) as error:
        raise CheckFailed(f"IMAP: {error}") from error
    await check_login(SmtpUrl.parse(config.credentials["smtp_url"]), timeout=CHECK_TIMEOUT_SECONDS)


def demo_mailbox(_: str | None) -> DemoAccount:
    """A mailbox account to fill in: seeded inactive, since the demo has no mail server."""
    return DemoAccount(
        address="support@demo.switchboard.test",
        credentials={
            "imap_url": "imap://support%40demo.switchboard.test:change-me@127.0.0.1:143/INBOX",
            "smtp_url": "smtp://127.0.0.1:25",
        },
        active=False,
        hint=(
            "inactive until it points at a real mailbox: switchboard channel update {id} "
            "--credential imap_url=imaps://... --credential smtp_url=smtps://... --activate"
        ),
    )


def our_address(given: str | None, credentials: Mapping[str, str]) -> str:
    """The mailbox's address: as given, else the IMAP user name when that is an address."""
    user = MailboxUrl.parse(credentials["imap_url"]).user
    address = given or (user if "@" in user else None)
    if not address:
        raise ValueError("give --address: the IMAP user name is not an email address")
    return address.strip().lower()


SPEC = ChannelSpec(
    kind="email",
    title="Email",
    providers=(
        ProviderSpec(
            name="imap",
            adapter=ImapSmtpEmailAdapter,
            credentials=MailboxCredentials,
            settings=MailboxSettings,
            transports=(Transport.POLLING,),
            check=check_mailbox,
            demo=demo_mailbox,
            address=our_address,
        ),
    ),
    docs="docs/channels/email.md",
)
