"""The audit log's hash chain: the database refuses to change an entry, what a tamperer who
drops that guard edits or deletes is found, concurrent writers keep one chain, and retention
keeps what remains verifiable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from tests.workspace import seed_workspace
from timeline import audit
from timeline.audit_chain import GENESIS_HASH, entry_hash, verify_chains
from timeline.audit_retention import expire_entries
from timeline.models import AuditEntry

audit_log = AuditEntry.__table__


async def _record(
    hub: Hub, workspace_id: int | None, count: int, action: str = "test.done"
) -> None:
    async with hub.engine.begin() as conn:
        await audit.record_all(
            conn,
            [
                audit.Audited(workspace_id, None, action, "thing", n, {"n": n, "at": [1, 2]})
                for n in range(count)
            ],
            origin=audit.Origin(client_address="192.0.2.7", request_id="req-1"),
        )


async def _ids(hub: Hub, workspace_id: int) -> list[int]:
    async with hub.engine.connect() as conn:
        query = select(audit_log.c.id).where(audit_log.c.workspace_id == workspace_id)
        return list((await conn.execute(query.order_by(audit_log.c.id))).scalars())


async def _as_a_tamperer(conn: AsyncConnection) -> None:
    """Someone who owns the database can drop the trigger that keeps the log append-only."""
    on_table = " ON audit_log" if conn.dialect.name == "postgresql" else ""
    await conn.execute(text("DROP TRIGGER audit_log_append_only" + on_table))


async def test_the_database_refuses_to_change_an_entry(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await _record(hub, ws.id, 2)
    first = (await _ids(hub, ws.id))[0]
    with pytest.raises(DBAPIError, match="append-only"):
        async with hub.engine.begin() as conn:
            await conn.execute(
                update(audit_log).where(audit_log.c.id == first).values(action="test.forged")
            )
    if hub.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            async with hub.engine.begin() as conn:
                await conn.execute(delete(audit_log).where(audit_log.c.id == first))
    async with hub.engine.connect() as conn:
        assert (await verify_chains(conn)).broken is None


async def test_an_untouched_log_verifies_and_chains_each_workspace_apart(hub: Hub) -> None:
    ours = await seed_workspace(hub, name="ours")
    theirs = await seed_workspace(hub, name="theirs")
    await _record(hub, ours.id, 3)
    await _record(hub, None, 2)
    async with hub.engine.connect() as conn:
        outcome = await verify_chains(conn)
        firsts = (
            await conn.execute(
                select(audit_log.c.workspace_id, audit_log.c.previous_hash).where(
                    audit_log.c.id.in_(select(func.min(audit_log.c.id)).group_by("workspace_id"))
                )
            )
        ).all()
    assert outcome.broken is None
    assert set(outcome.heads) == {f"workspace {ours.id}", f"workspace {theirs.id}", "hub"}
    assert all(previous == GENESIS_HASH for _, previous in firsts)


async def test_an_entry_edited_in_the_database_is_found(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await _record(hub, ws.id, 4)
    edited = (await _ids(hub, ws.id))[-3]
    async with hub.engine.begin() as conn:
        await _as_a_tamperer(conn)
        await conn.execute(
            update(audit_log).where(audit_log.c.id == edited).values(actor_user_id=ws.admin_id)
        )
        outcome = await verify_chains(conn)
    assert outcome.broken is not None
    assert outcome.broken.entry_id == edited and "changed" in outcome.broken.problem


async def test_an_edit_with_its_hash_rewritten_breaks_the_next_link(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await _record(hub, ws.id, 4)
    ids = await _ids(hub, ws.id)
    async with hub.engine.begin() as conn:
        await _as_a_tamperer(conn)
        row = (await conn.execute(select(audit_log).where(audit_log.c.id == ids[-3]))).one()
        forged = {**row._mapping, "action": "test.forged"}
        await conn.execute(
            update(audit_log)
            .where(audit_log.c.id == ids[-3])
            .values(action="test.forged", entry_hash=entry_hash(forged))
        )
        outcome = await verify_chains(conn)
    assert outcome.broken is not None and outcome.broken.entry_id == ids[-2]


async def test_a_deleted_entry_is_found(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await _record(hub, ws.id, 4)
    ids = await _ids(hub, ws.id)
    async with hub.engine.begin() as conn:
        await _as_a_tamperer(conn)
        await conn.execute(delete(audit_log).where(audit_log.c.id == ids[-3]))
        outcome = await verify_chains(conn)
    assert outcome.broken is not None
    assert outcome.broken.entry_id == ids[-2]
    assert f"#{ids[-4]}" in outcome.broken.problem and "deleted" in outcome.broken.problem


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_concurrent_writers_keep_one_chain(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    before = len(await _ids(hub, ws.id))
    await asyncio.gather(*(_record(hub, ws.id, 3, f"writer.{n}") for n in range(12)))
    async with hub.engine.connect() as conn:
        outcome = await verify_chains(conn)
        previous = (
            (
                await conn.execute(
                    select(audit_log.c.previous_hash).where(audit_log.c.workspace_id == ws.id)
                )
            )
            .scalars()
            .all()
        )
    assert outcome.broken is None
    assert len(previous) == before + 36
    assert len(set(previous)) == len(previous), "no two entries follow the same one"


async def test_retention_removes_the_oldest_and_the_rest_still_verifies(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await _record(hub, ws.id, 5, "old")
    await _record(hub, None, 2, "old")
    cutoff = datetime.now(UTC)
    await _record(hub, ws.id, 3, "new")
    await _record(hub, None, 1, "new")
    async with hub.engine.begin() as conn:
        assert await expire_entries(conn, cutoff, limit=2) == 2
        while await expire_entries(conn, cutoff, limit=2):
            pass
        kept = (await conn.execute(select(audit_log.c.action))).scalars().all()
        outcome = await verify_chains(conn)
    assert kept == ["new"] * 4
    assert outcome.broken is None and outcome.entries == 4
