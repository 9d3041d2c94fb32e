"""Creates workspaces, users, tokens and channel accounts (CLI, demo seed and tests share it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from channels import registry
from channels.base import ChannelConfig, ChannelSpec, DemoAccount, ProviderSpec
from hub.auth import hash_password
from hub.crypto import SecretBox
from hub.tokens import TokenKey, TokenRow, create_token, revoke_token, token_by_id
from timeline import audit
from timeline.errors import Conflict
from timeline.models import ChannelAccount, Role, User, Workspace
from timeline.models.channels import new_webhook_key
from timeline.models.people import Availability
from timeline.policy import Permission


@dataclass(frozen=True, slots=True)
class NewChannel:
    id: int
    kind: str
    provider: str
    webhook_key: str


async def create_workspace(conn: AsyncConnection, name: str, *, default_country: str = "US") -> int:
    result = await conn.execute(
        Workspace.__table__.insert().returning(Workspace.id),
        {
            "name": name,
            "default_country": default_country.upper(),
            "reopen_window_seconds": 7 * 24 * 3600,
            "created_at": datetime.now(UTC),
        },
    )
    workspace_id = result.scalar_one()
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=None,
        action="workspace.created",
        entity_type="workspace",
        entity_id=workspace_id,
        changes={"name": name},
    )
    return workspace_id


async def create_user(
    conn: AsyncConnection,
    workspace_id: int,
    *,
    email: str,
    name: str,
    role: str = Role.AGENT,
    password: str | None = None,
    capacity: int = 10,
    available: bool = False,
    actor_user_id: int | None = None,
) -> int:
    """A user of `role` (a built-in role or one of the workspace's own, checked by callers
    that take it from input)."""
    result = await conn.execute(
        User.__table__.insert().returning(User.id),
        {
            "workspace_id": workspace_id,
            "email": email.strip().lower(),
            "name": name,
            "role": role,
            "password_hash": await hash_password(password) if password else None,
            "availability": Availability.AVAILABLE if available else Availability.AWAY,
            "capacity": capacity,
            "open_conversations": 0,
            "created_at": datetime.now(UTC),
        },
    )
    user_id = result.scalar_one()
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="user.created",
        entity_type="user",
        entity_id=user_id,
        changes={"email": email, "role": role},
    )
    return user_id


@dataclass(frozen=True, slots=True)
class NewToken:
    id: int
    token: str
    """Shown this once: only its HMAC is stored."""


async def create_api_token(
    conn: AsyncConnection,
    key: TokenKey,
    user_id: int,
    name: str = "api",
    *,
    permissions: frozenset[Permission] | None = None,
    expires_at: datetime | None = None,
    actor_user_id: int | None = None,
) -> NewToken:
    """A token for `user_id`, scoped to `permissions` (None: all the user's role allows),
    valid until `expires_at` (None: until revoked). LookupError: no such user."""
    workspace_id = (
        await conn.execute(select(User.workspace_id).where(User.id == user_id))
    ).scalar_one_or_none()
    if workspace_id is None:
        raise LookupError(f"no user {user_id}")
    token_id, token = await create_token(
        conn, key, workspace_id, user_id, name, permissions=permissions, expires_at=expires_at
    )
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="token.created",
        entity_type="api_token",
        entity_id=token_id,
        changes={
            "user_id": user_id,
            "name": name,
            "permissions": sorted(permissions) if permissions is not None else None,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return NewToken(token_id, token)


async def revoke_api_token(
    conn: AsyncConnection, workspace_id: int, token_id: int, *, actor_user_id: int | None = None
) -> TokenRow:
    """Revoke the workspace's token `token_id` (again is no error). LookupError: none there."""
    found = await token_by_id(conn, workspace_id, token_id)
    if found is None:
        raise LookupError(f"no API token {token_id}")
    revoked_at = await revoke_token(conn, token_id)
    if revoked_at is None:
        return found
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="token.revoked",
        entity_type="api_token",
        entity_id=token_id,
        changes={"user_id": found.user_id, "name": found.name},
    )
    return replace(found, revoked_at=revoked_at)


@dataclass(frozen=True, slots=True)
class AccountDraft:
    """A channel account as its channel's spec validated it, not stored yet."""

    kind: str
    provider: str
    address: str
    credentials: dict[str, str]
    settings: dict[str, Any]
    provider_base_url: str | None = None

    def config(self, channel_id: int = 0, workspace_id: int = 0) -> ChannelConfig:
        """What the adapter would be built from (to check the account with its provider)."""
        return ChannelConfig(
            id=channel_id,
            workspace_id=workspace_id,
            address=self.address,
            credentials=self.credentials,
            settings=self.settings,
            provider_base_url=self.provider_base_url,
        )


class DraftInvalid(ValueError):
    """An account its channel's spec refuses; `problems` names each offending part (`kind`,
    `address`, `credentials.<name>`, `settings.<name>`), the message says it in one line."""

    def __init__(self, problems: dict[str, str], message: str) -> None:
        super().__init__(message)
        self.problems = problems


def draft_account(
    kind: str,
    provider: str | None = None,
    *,
    address: str | None,
    credentials: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    provider_base_url: str | None = None,
) -> AccountDraft:
    """Validate an account against its channel's spec (the default provider unless named):
    DraftInvalid says which credential or setting is wrong, in one line."""
    try:
        channel = registry.spec(kind)
    except LookupError as error:
        raise DraftInvalid({"kind": str(error)}, str(error)) from None
    try:
        spec = channel.provider(provider)
    except LookupError as error:
        raise DraftInvalid({"provider": str(error)}, str(error)) from None
    valid_credentials = _validated(spec.credentials, credentials, "credential")
    valid_settings = _validated(spec.settings, settings or {}, "setting")
    try:
        own_address = spec.address(address, valid_credentials)
    except ValueError as error:
        raise DraftInvalid({"address": str(error)}, str(error)) from None
    return AccountDraft(
        kind=kind,
        provider=spec.name,
        address=own_address,
        credentials=valid_credentials,
        settings=valid_settings,
        provider_base_url=provider_base_url,
    )


@dataclass(frozen=True, slots=True)
class DemoDraft:
    """A spec's demo account, validated like any account, with the provider it belongs to."""

    provider: ProviderSpec
    account: DemoAccount
    draft: AccountDraft


def demo_draft(spec: ChannelSpec, provider_base_url: str | None) -> DemoDraft:
    """The demo account of the spec's first provider that has one, as a draft to create."""
    provider = next(p for p in spec.providers if p.demo is not None)
    assert provider.demo is not None
    account = provider.demo(provider_base_url)
    draft = draft_account(
        spec.kind,
        provider.name,
        address=account.address,
        credentials=account.credentials,
        settings=account.settings,
        provider_base_url=account.provider_base_url,
    )
    return DemoDraft(provider, account, draft)


def _validated(model: type[BaseModel], values: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The values the model accepts, without defaults the caller did not give (the adapter
    applies its own); DraftInvalid naming each offending field."""
    try:
        valid = model.model_validate(dict(values))
    except ValidationError as error:
        problems = {
            ".".join((what + "s", *(str(part) for part in issue["loc"]))): issue["msg"]
            for issue in error.errors()
        }
        message = "; ".join(
            f"{what} {'.'.join(str(part) for part in issue['loc']) or what}: {issue['msg']}"
            for issue in error.errors()
        )
        raise DraftInvalid(problems, message) from None
    return valid.model_dump(exclude_unset=True, exclude_none=True)


async def check_account(draft: AccountDraft) -> None:
    """Ask the provider whether the drafted account works, when its channel can tell:
    CheckFailed says why not (refused, or unreachable)."""
    check = registry.provider_spec(draft.kind, draft.provider).check
    if check is not None:
        await check(draft.config())


async def create_channel(
    conn: AsyncConnection,
    secrets_box: SecretBox,
    workspace_id: int,
    draft: AccountDraft,
    *,
    name: str,
    active: bool = True,
    actor_user_id: int | None = None,
) -> NewChannel:
    """Store a drafted account (its check with the provider, if wanted, is the caller's)."""
    webhook_key = new_webhook_key()
    result = await conn.execute(
        ChannelAccount.__table__.insert().returning(ChannelAccount.id),
        {
            "webhook_key": webhook_key,
            "revision": 1,
            "workspace_id": workspace_id,
            "kind": draft.kind,
            "provider": draft.provider,
            "name": name,
            "address": draft.address,
            "credentials_encrypted": secrets_box.seal(draft.credentials),
            "settings": draft.settings,
            "provider_base_url": draft.provider_base_url,
            "active": active,
            "created_at": datetime.now(UTC),
        },
    )
    channel_id = result.scalar_one()
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="channel.created",
        entity_type="channel_account",
        entity_id=channel_id,
        changes={
            "kind": draft.kind,
            "provider": draft.provider,
            "address": draft.address,
            "name": name,
            "credentials": sorted(draft.credentials),
        },
    )
    return NewChannel(channel_id, draft.kind, draft.provider, webhook_key)


@dataclass(frozen=True, slots=True)
class ChannelChange:
    """What to change on a channel account; None leaves a part as it is. Credentials and
    settings given are merged into the stored ones (a value of None removes that name)."""

    active: bool | None = None
    name: str | None = None
    credentials: Mapping[str, str | None] | None = None
    settings: Mapping[str, Any] | None = None
    provider_base_url: str | None = None
    new_webhook_key: bool = False
    """Give the account a new webhook URL: the old one answers 404 from then on."""

    @property
    def reaches_provider(self) -> bool:
        """Whether it changes what the provider is asked with (worth checking again)."""
        return bool(self.credentials or self.settings or self.provider_base_url)


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """A channel account as a change would leave it, read at `revision`."""

    row: Any
    draft: AccountDraft
    active: bool

    @property
    def revision(self) -> int:
        return int(self.row.revision)

    def asks_provider(self, change: ChannelChange) -> bool:
        """Whether the provider should see the account again: it stays or becomes active and
        what it is asked with changed, or it is switched on."""
        switched_on = self.active and not self.row.active
        return self.active and (change.reaches_provider or change.new_webhook_key or switched_on)


async def plan_change(
    conn: AsyncConnection,
    secrets_box: SecretBox,
    channel_id: int,
    change: ChannelChange,
    *,
    workspace_id: int | None = None,
    lock: bool = False,
) -> PlannedChange:
    """The account `change` would make, which must still satisfy its channel's spec and build
    an adapter (ValueError says what is wrong). LookupError: no such channel (in
    `workspace_id`, when given). `lock` holds the row until the transaction ends."""
    table = ChannelAccount.__table__
    query = select(table).where(table.c.id == channel_id)
    if workspace_id is not None:
        query = query.where(table.c.workspace_id == workspace_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise LookupError(f"no channel {channel_id}")
    draft = draft_account(
        row.kind,
        row.provider,
        address=row.address,
        credentials=_merged(secrets_box.open(row.credentials_encrypted), change.credentials),
        settings=_merged(row.settings, change.settings),
        provider_base_url=change.provider_base_url or row.provider_base_url,
    )
    registry.build_adapter(row.kind, row.provider, draft.config(row.id, row.workspace_id))
    return PlannedChange(row, draft, row.active if change.active is None else change.active)


async def update_channel(
    conn: AsyncConnection,
    secrets_box: SecretBox,
    channel_id: int,
    change: ChannelChange,
    *,
    workspace_id: int | None = None,
    actor_user_id: int | None = None,
    expected_revision: int | None = None,
) -> PlannedChange:
    """Apply `change` and raise the account's revision, so that every serving process rebuilds
    or drops its adapter within seconds (hub.channel_directory); the account as changed.

    ValueError and LookupError as `plan_change`; nothing is stored then. With
    `expected_revision` (the one a change was checked against, outside this transaction),
    Conflict `channel_changed` when someone changed the account in between.
    """
    planned = await plan_change(
        conn, secrets_box, channel_id, change, workspace_id=workspace_id, lock=True
    )
    row, draft = planned.row, planned.draft
    if expected_revision is not None and row.revision != expected_revision:
        raise Conflict(
            "channel_changed",
            "the channel was changed by someone else while this change was checked: "
            "read it and send the change again",
        )
    revision = row.revision + 1
    await conn.execute(
        update(ChannelAccount.__table__)
        .where(ChannelAccount.__table__.c.id == channel_id)
        .values(
            active=planned.active,
            name=row.name if change.name is None else change.name,
            credentials_encrypted=secrets_box.seal(draft.credentials),
            settings=draft.settings,
            provider_base_url=draft.provider_base_url,
            webhook_key=new_webhook_key() if change.new_webhook_key else row.webhook_key,
            revision=revision,
        )
    )
    await audit.record_all(
        conn,
        [
            audit.Audited(
                row.workspace_id,
                actor_user_id,
                action,
                "channel_account",
                channel_id,
                {**changes, "revision": [row.revision, revision]},
            )
            for action, changes in _audited_changes(row, change, draft.provider_base_url)
        ],
    )
    return planned


def _audited_changes(
    row: Any, change: ChannelChange, base_url: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """What a change did, as audit actions: credentials by name only, never their values."""
    found: list[tuple[str, dict[str, Any]]] = []
    if change.credentials:
        found.append(("channel.credentials_rotated", {"credentials": sorted(change.credentials)}))
    if change.new_webhook_key:
        found.append(("channel.webhook_key_rotated", {}))
    updated = {
        **({"name": [row.name, change.name]} if change.name is not None else {}),
        **({"settings": sorted(change.settings)} if change.settings else {}),
        **(
            {"provider_base_url": [row.provider_base_url, base_url]}
            if change.provider_base_url
            else {}
        ),
    }
    if updated:
        found.append(("channel.updated", updated))
    if change.active is not None and change.active != row.active:
        found.append(("channel.activated" if change.active else "channel.deactivated", {}))
    return found or [("channel.updated", {})]


def _merged(stored: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(stored)
    for name, value in (given or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
