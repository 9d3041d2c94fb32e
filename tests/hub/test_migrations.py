"""The migrations build exactly the schema the models describe (collations included), and 0002
downgrades cleanly."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Row, text
from sqlalchemy.dialects import postgresql

from hub.db import create_engine
from hub.migrate import alembic_config, upgrade
from hub.schema import metadata


async def _differences(database_url: str) -> list[object]:
    engine = create_engine(database_url)

    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def _rows(database_url: str, sql: str) -> list[Row[Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql)))
    finally:
        await engine.dispose()


async def _execute(database_url: str, *statements: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


async def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await _differences(database_url) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_migrated_columns_have_the_models_collations(database_url: str) -> None:
    # Alembic's comparison above does not look at collations; key columns depend on theirs.
    dialect = postgresql.dialect()
    expected = {
        (table.name, column.name): collation
        for table in metadata.tables.values()
        for column in table.columns
        if (collation := getattr(column.type.dialect_impl(dialect), "collation", None))
    }
    rows = await _rows(
        database_url,
        "SELECT table_name, column_name, collation_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND collation_name IS NOT NULL",
    )
    found = {(table, column): collation for table, column, collation in rows}
    assert expected  # the key columns (timeline.models.base.key_string)
    assert found == expected


async def test_0002_downgrades_to_0001_and_back(database_url: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0001")
    assert await _differences(database_url) != []
    await asyncio.to_thread(upgrade, database_url)
    assert await _differences(database_url) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_migrated_tables_have_the_models_storage_settings(database_url: str) -> None:
    # Nor at storage parameters: the counters' tables leave room for updates on their pages.
    expected = {
        table.name: [f"{name}={value}" for name, value in options.items()]
        for table in metadata.tables.values()
        if (options := table.dialect_options["postgresql"]["with"])
    }
    rows = await _rows(
        database_url,
        "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r'"
        " AND relnamespace = current_schema()::regnamespace AND reloptions IS NOT NULL",
    )
    found = {table: options for table, options in rows}
    assert expected == {"conversations": ["fillfactor=80"], "customers": ["fillfactor=80"]}
    assert found == expected


async def test_0006_gives_existing_channels_a_key_and_keeps_each_receipt_once(
    database_url: str,
) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0005")
    await _execute(
        database_url,
        "INSERT INTO workspaces (id, name, default_country, reopen_window_seconds,"
        " created_at) VALUES (1, 'W', 'US', 60, CURRENT_TIMESTAMP)",
        "INSERT INTO channel_accounts (id, workspace_id, kind, provider, name, address,"
        " credentials_encrypted, settings, active, created_at) VALUES"
        " (1, 1, 'sms', 'twilio', 'a', '+1', 'x', '{}', true, CURRENT_TIMESTAMP),"
        " (2, 1, 'sms', 'twilio', 'b', '+2', 'x', '{}', true, CURRENT_TIMESTAMP)",
        "INSERT INTO customers (id, workspace_id, name, name_folded, attributes,"
        " events_count, created_at) VALUES (1, 1, 'C', 'c', '{}', 0, CURRENT_TIMESTAMP)",
        "INSERT INTO identities (id, workspace_id, customer_id, kind, value, created_at)"
        " VALUES (1, 1, 1, 'phone', '+3', CURRENT_TIMESTAMP)",
        "INSERT INTO conversations (id, workspace_id, customer_id, identity_id,"
        " channel_account_id, status, reply_token, messages_count, created_at,"
        " updated_at) VALUES (1, 1, 1, 1, 2, 'open', 't', 0, CURRENT_TIMESTAMP,"
        " CURRENT_TIMESTAMP)",
        "INSERT INTO delivery_receipts (workspace_id, channel_account_id, external_id,"
        " status, occurred_at) VALUES (1, 1, 'SM1', 'delivered', CURRENT_TIMESTAMP),"
        " (1, 1, 'SM1', 'delivered', CURRENT_TIMESTAMP),"
        " (1, 1, 'SM1', 'sent', CURRENT_TIMESTAMP)",
    )
    await asyncio.to_thread(upgrade, database_url)
    channels = await _rows(
        database_url, "SELECT id, webhook_key, revision FROM channel_accounts ORDER BY id"
    )
    assert [(row.id, row.revision) for row in channels] == [(1, 1), (2, 1)]
    assert all(len(row.webhook_key) == 43 for row in channels)
    assert channels[0].webhook_key != channels[1].webhook_key
    receipts = await _rows(database_url, "SELECT status FROM delivery_receipts ORDER BY id")
    assert [row.status for row in receipts] == ["delivered", "sent"]
    conversations = await _rows(database_url, "SELECT channel_account_id FROM conversations")
    assert [row.channel_account_id for row in conversations] == [2]
    assert await _differences(database_url) == []


async def test_0009_turns_tokens_stored_threads_and_sent_ids_into_keys(database_url: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0008")
    thread = (
        '{"sender": "ann@x.test", "thread": {"message_id": "<c2@x>", "in_reply_to": ["<s1@y>"],'
        ' "references": ["<c1@x>", "<s1@y>"], "subject": "Re: Order"}}'
    )
    await _execute(
        database_url,
        "INSERT INTO workspaces (id, name, default_country, reopen_window_seconds,"
        " created_at) VALUES (1, 'W', 'US', 60, CURRENT_TIMESTAMP)",
        "INSERT INTO channel_accounts (id, workspace_id, kind, provider, name, address,"
        " credentials_encrypted, settings, active, created_at, webhook_key, revision)"
        " VALUES (1, 1, 'email', 'imap', 'a', 'a@y', 'x', '{}', true,"
        " CURRENT_TIMESTAMP, 'k', 1)",
        "INSERT INTO customers (id, workspace_id, name, name_folded, attributes,"
        " events_count, created_at) VALUES (1, 1, 'C', 'c', '{}', 0, CURRENT_TIMESTAMP)",
        "INSERT INTO identities (id, workspace_id, customer_id, kind, value, created_at)"
        " VALUES (1, 1, 1, 'email', 'ann@x.test', CURRENT_TIMESTAMP)",
        "INSERT INTO conversations (id, workspace_id, customer_id, identity_id,"
        " channel_account_id, status, reply_token, subject_token, messages_count,"
        " created_at, updated_at) VALUES"
        " (1, 1, 1, 1, 1, 'open', 'r1', 'S1', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),"
        " (2, 1, 1, 1, 1, 'open', 'r2', NULL, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO timeline_events (id, workspace_id, customer_id, conversation_id,"
        " channel_account_id, kind, direction, external_id, body, attachments, meta,"
        " occurred_at, created_at) VALUES"
        f" (1, 1, 1, 1, 1, 'message_received', 'inbound', 'e1', 'b', '[]', '{thread}',"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),"
        " (2, 1, 1, 1, 1, 'message_sent', 'outbound', NULL, 'ours', '[]', '{}',"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO outbound_messages (id, workspace_id, event_id, conversation_id,"
        " channel_account_id, recipient_kind, recipient_value, body, status, external_id,"
        " attempts, next_attempt_at, created_at, updated_at) VALUES (1, 1, 2, 1, 1,"
        " 'email', 'ann@x.test', 'ours', 'sent', '<s1@y>', 1, CURRENT_TIMESTAMP,"
        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        "INSERT INTO thread_keys (channel_account_id, key, workspace_id, conversation_id)"
        " VALUES (1, '<c2@x>', 1, 1), (1, '<s1@y>', 1, 1)",
    )
    await asyncio.to_thread(upgrade, database_url)
    keys = await _rows(
        database_url,
        "SELECT kind, key, conversation_id, event_id, reply_context FROM thread_keys"
        " ORDER BY kind, key",
    )
    assert [tuple(row) for row in keys] == [
        ("message-id", "<c2@x>", 1, 1, "<c1@x> <s1@y>"),
        ("message-id", "<s1@y>", 1, 2, None),
        ("reply-token", "r1", 1, None, None),
        ("subject-token", "S1", 1, None, None),
    ]
    (meta,) = await _rows(database_url, "SELECT meta FROM timeline_events WHERE id = 1")
    stored = meta.meta if isinstance(meta.meta, dict) else json.loads(meta.meta)
    assert stored == {"sender": "ann@x.test"}
    assert await _differences(database_url) == []
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0008")
    tokens = await _rows(
        database_url, "SELECT id, reply_token, subject_token FROM conversations ORDER BY id"
    )
    assert [(row.id, row.reply_token, row.subject_token) for row in tokens[:1]] == [(1, "r1", "S1")]
    assert tokens[1].reply_token and tokens[1].subject_token is None
