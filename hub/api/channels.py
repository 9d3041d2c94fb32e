"""Channel accounts: anyone lists and reads them (never their secrets); with channels.manage
(admins) add one after its provider's check, rename, reconfigure, rotate credentials,
deactivate, and see webhook URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from channels.base import CheckFailed
from hub.api.framework import NO_NUL, ApiRoutes, Call, Text
from hub.channel_accounts import (
    ChannelSummary,
    SavedChannel,
    add_channel,
    change_channel,
    find_channel,
    list_channels,
)
from hub.errors import ApiError, invalid, not_found
from hub.provisioning import ChannelChange, DraftInvalid, draft_account
from hub.web_keys import HUB
from timeline.models.base import MAX_BIGINT
from timeline.policy import Permission

routes = ApiRoutes()

FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
"""A credential's or a setting's name, as the channel's spec spells it."""
CredentialValue = Annotated[str, Field(min_length=1, max_length=4000, pattern=NO_NUL)]
SettingValue = (
    Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
    | bool
    | Annotated[int, Field(ge=-MAX_BIGINT - 1, le=MAX_BIGINT)]
)
ProviderUrl = Annotated[str, Field(max_length=500, pattern=r"^https?://[!-~]+$")]
ChannelName = Annotated[Text, Field(min_length=1, max_length=200)]


class ChannelOut(BaseModel):
    id: int
    kind: str
    provider: str
    name: str
    address: str
    active: bool
    revision: int
    credentials_set: list[str] = Field(
        description="the names of the credentials stored (encrypted); their values are never shown"
    )
    settings: dict[str, Any]
    provider_base_url: str | None
    webhook_url: str | None = Field(
        description="where the provider delivers, with the channel's public key; shown to "
        "channels.manage holders only (null for others)"
    )
    created_at: datetime


class ChannelList(BaseModel):
    items: list[ChannelOut]


class ChannelIn(BaseModel):
    """A new channel account: `credentials` and `settings` are validated by the channel's own
    spec (`switchboard channel add <kind> --help` lists them), each problem named in the 422's
    `fields` (`credentials.<name>`, `settings.<name>`)."""

    kind: str = Field(min_length=1, max_length=20, pattern=r"^[a-z][a-z0-9_]*$")
    provider: str | None = Field(None, min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_-]*$")
    name: ChannelName | None = None
    address: Annotated[Text, Field(max_length=320)] | None = Field(
        None, description="the channel's own address (our number, our mailbox)"
    )
    credentials: dict[FieldName, CredentialValue] = Field(max_length=20)
    settings: dict[FieldName, SettingValue] = Field(default_factory=dict, max_length=20)
    provider_base_url: ProviderUrl | None = Field(
        None, description="send to another compatible API than the provider's own"
    )
    check: bool = Field(True, description="ask the provider whether the account works first")


class ChannelPatch(BaseModel):
    """What to change, at least one thing; what is left out stays. Credentials and settings
    given are merged into the stored ones (null removes one); the result must satisfy the
    channel's spec."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: ChannelName | None = None
    active: bool | None = None
    credentials: dict[FieldName, CredentialValue | None] | None = Field(None, max_length=20)
    settings: dict[FieldName, SettingValue | None] | None = Field(None, max_length=20)
    provider_base_url: ProviderUrl | None = None
    rotate_webhook_key: bool = Field(
        False,
        description="give the channel a new webhook URL (answered as webhook_url); the old one "
        "answers 404 from then on. Where the provider registers webhooks (Telegram) it is told "
        "at once; elsewhere (Twilio) enter the new URL in the provider's console",
    )
    check: bool = Field(
        True,
        description="ask the provider first, when credentials, settings or its URL change on an "
        "active account",
    )

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("say what to change")
        return self


class ChannelSaved(ChannelOut):
    webhook_unregistered: str | None = Field(
        description="why the provider could not be told the webhook URL (the hub tries again "
        "whenever it starts serving); null when it was, or needs not be"
    )


@routes.add("GET", "/channels", summary="List channel accounts", tag="channels",
            response=ChannelList)  # fmt: skip
async def get_channels(call: Call[Any, Any]) -> ChannelList:
    hub = call.request.app[HUB]
    async with hub.reads.connect() as conn:
        found = await list_channels(hub, conn, call.principal.workspace_id)
    return ChannelList(items=[_out(call, channel) for channel in found])


@routes.add("GET", "/channels/{channel_id}", summary="Read a channel account", tag="channels",
            response=ChannelOut)  # fmt: skip
async def get_channel(call: Call[Any, Any]) -> ChannelOut:
    hub = call.request.app[HUB]
    async with hub.reads.connect() as conn:
        channel = await find_channel(hub, conn, call.principal.workspace_id, call.ids["channel_id"])
    if channel is None:
        raise not_found("channel")
    return _out(call, channel)


@routes.add(
    "POST",
    "/channels",
    summary="Add a channel account (checked with its provider first)",
    tag="channels",
    response=ChannelSaved,
    body=ChannelIn,
    status=201,
    permission=Permission.CHANNELS_MANAGE,
)
async def post_channel(call: Call[ChannelIn, Any]) -> ChannelSaved:
    body = call.body
    _provider_url_allowed(call, body.provider_base_url)
    try:
        draft = draft_account(
            body.kind,
            body.provider,
            address=body.address,
            credentials=body.credentials,
            settings=body.settings,
            provider_base_url=body.provider_base_url,
        )
        added = await add_channel(
            call.request.app[HUB],
            call.principal.workspace_id,
            draft,
            name=body.name or f"{draft.kind} {draft.address}",
            check=body.check,
            actor_user_id=call.principal.user_id,
        )
    except DraftInvalid as error:
        raise invalid(error.problems, str(error)) from None
    except CheckFailed as error:
        raise _check_failed(error) from None
    return _saved(call, added)


@routes.add(
    "PATCH",
    "/channels/{channel_id}",
    summary="Change a channel account: rename, reconfigure, rotate credentials, (de)activate",
    tag="channels",
    response=ChannelSaved,
    body=ChannelPatch,
    permission=Permission.CHANNELS_MANAGE,
)
async def patch_channel(call: Call[ChannelPatch, Any]) -> ChannelSaved:
    body = call.body
    _provider_url_allowed(call, body.provider_base_url)
    change = ChannelChange(
        active=body.active,
        name=body.name,
        credentials=body.credentials,
        settings=body.settings,
        provider_base_url=body.provider_base_url,
        new_webhook_key=body.rotate_webhook_key,
    )
    try:
        saved = await change_channel(
            call.request.app[HUB],
            call.principal.workspace_id,
            call.ids["channel_id"],
            change,
            check=body.check,
            actor_user_id=call.principal.user_id,
        )
    except DraftInvalid as error:
        raise invalid(error.problems, str(error)) from None
    except ValueError as error:
        raise invalid({"body": str(error)}) from None
    except CheckFailed as error:
        raise _check_failed(error) from None
    except LookupError:
        raise not_found("channel") from None
    return _saved(call, saved)


def _saved(call: Call[Any, Any], saved: SavedChannel) -> ChannelSaved:
    return ChannelSaved(
        **_out(call, saved.channel).model_dump(), webhook_unregistered=saved.unregistered
    )


def _provider_url_allowed(call: Call[Any, Any], url: str | None) -> None:
    """Another URL for the provider makes the hub send requests (the check, every message) where
    a workspace's admin says: on a hub that serves several organisations, anywhere its network
    reaches. The operator allows it (SWITCHBOARD_API_PROVIDER_URLS); the CLI always may."""
    if url is not None and not call.request.app[HUB].settings.provider_urls_by_api:
        raise invalid(
            {"provider_base_url": "not allowed through the API on this hub"},
            "the operator sets a channel's provider URL (switchboard channel add/update), "
            "or allows it through the API with SWITCHBOARD_API_PROVIDER_URLS=true",
        )


def _check_failed(error: CheckFailed) -> ApiError:
    """422, not 502: the account as given cannot be used (whether the provider refused it or
    cannot be reached at its URL), and the hub itself did not fail."""
    return ApiError(
        422,
        "provider_check_failed",
        f"the provider did not accept the account: {error} (`check`: false skips asking it)",
        {"provider": str(error)},
    )


def _out(call: Call[Any, Any], channel: ChannelSummary) -> ChannelOut:
    manages = call.principal.may(Permission.CHANNELS_MANAGE)
    return ChannelOut(
        id=channel.id,
        kind=channel.kind,
        provider=channel.provider,
        name=channel.name,
        address=channel.address,
        active=channel.active,
        revision=channel.revision,
        credentials_set=channel.credential_names,
        settings=channel.settings,
        provider_base_url=channel.provider_base_url,
        webhook_url=channel.webhook_url if manages else None,
        created_at=channel.created_at,
    )
