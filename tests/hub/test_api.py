"""REST API v1: customers, timeline paging, conversations, agents, errors and the OpenAPI doc."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.api.framework import MAX_PUBLIC_REQUEST_BYTES
from hub.context import Hub
from tests.conftest import OpenApiChecker, bearer
from tests.workspace import SeededWorkspace, seed_workspace, sms_request
from timeline.models import AuditEntry, Conversation, User

T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def _text(hub: Hub, ws: SeededWorkspace, sender: str, sid: str, at: datetime = T0) -> None:
    await hub.pipeline.ingest([sms_request(ws, sid, sender, at=at, body=f"text {sid}")])


def _auth(ws: SeededWorkspace) -> dict[str, str]:
    return bearer(ws.token)


async def test_every_api_route_is_documented_and_nothing_else(
    client: TestClient, openapi: OpenApiChecker
) -> None:
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.resource.canonical != "/api/v1/openapi.json"
        and route.method != "HEAD"
    }
    documented = {(m, p) for p, ops in openapi.document["paths"].items() for m in ops}
    assert served == documented
    jsonschema.Draft202012Validator.check_schema(
        openapi.document["components"]["schemas"]["CustomerOut"]
    )


async def test_customers_are_found_by_any_spelling_of_their_number(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub)
    await _text(hub, ws, "+14155550123", "SM1")
    await _text(hub, ws, "+14155550999", "SM2")
    for spelling in ("(415) 555-0123", "+1 415 555 0123", "001 415 555 0123", "+1-415-555-0123"):
        response = await client.get("/api/v1/customers", params={"q": spelling}, headers=_auth(ws))
        body = await response.json()
        assert response.status == 200, body
        openapi.check("GET", "/api/v1/customers", 200, body)
        assert [i["identities"][0]["value"] for i in body["items"]] == ["+14155550123"], spelling


async def test_the_timeline_pages_newest_first_without_gaps_or_repeats(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub)
    for n in range(23):
        await _text(hub, ws, "+14155550123", f"SM{n:02d}", at=T0 + timedelta(minutes=n // 2))
    customer_id = (await (await client.get("/api/v1/customers", headers=_auth(ws))).json())[
        "items"
    ][0]["id"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            f"/api/v1/customers/{customer_id}/timeline", params=params, headers=_auth(ws)
        )
        body = await response.json()
        openapi.check("GET", "/api/v1/customers/{customer_id}/timeline", 200, body)
        seen += [item["external_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"SM{n:02d}" for n in reversed(range(23))]


async def test_conversation_lifecycle_assign_note_resolve_reopen(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub, agents=2)
    await _text(hub, ws, "+14155550123", "SM1")
    listing = await (
        await client.get("/api/v1/conversations", params={"status": "open"}, headers=_auth(ws))
    ).json()
    openapi.check("GET", "/api/v1/conversations", 200, listing)
    conversation = listing["items"][0]
    first_agent = conversation["assignee_id"]
    other_agent = next(a for a in ws.agent_ids if a != first_agent)
    base = f"/api/v1/conversations/{conversation['id']}"

    response = await client.post(
        f"{base}/assign", json={"agent_id": other_agent}, headers=_auth(ws)
    )
    assigned = await response.json()
    openapi.check("POST", "/api/v1/conversations/{conversation_id}/assign", 200, assigned)
    assert assigned["assignee_id"] == other_agent
    response = await client.post(f"{base}/notes", json={"body": "VIP, be quick"}, headers=_auth(ws))
    assert response.status == 201
    resolved = await (await client.post(f"{base}/resolve", headers=_auth(ws))).json()
    assert resolved["status"] == "resolved" and resolved["resolved_at"]
    async with hub.engine.connect() as conn:
        loads = dict((await conn.execute(select(User.id, User.open_conversations))).all())
    assert loads[other_agent] == 0 and loads[first_agent] == 0
    reopened = await (await client.post(f"{base}/reopen", headers=_auth(ws))).json()
    assert reopened["status"] == "open" and reopened["assignee_id"] == other_agent
    filtered = await (
        await client.get(
            "/api/v1/conversations", params={"assignee_id": str(other_agent)}, headers=_auth(ws)
        )
    ).json()
    assert [c["id"] for c in filtered["items"]] == [conversation["id"]]
    async with hub.engine.connect() as conn:
        actions = (
            (await conn.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars().all()
        )
    assert actions[-4:] == [
        "conversation.assigned",
        "conversation.noted",
        "conversation.resolved",
        "conversation.reopened",
    ]


async def test_waiting_conversations_go_to_an_agent_who_becomes_available(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub, agents=1, capacity=5)
    agent = ws.agent_ids[0]
    await client.put(
        f"/api/v1/agents/{agent}/availability", json={"availability": "away"}, headers=_auth(ws)
    )
    await _text(hub, ws, "+14155550123", "SM1")
    async with hub.engine.connect() as conn:
        conversation_id, assignee = (
            await conn.execute(select(Conversation.id, Conversation.assignee_id))
        ).one()
    assert assignee is None
    heard = await hub.bus.subscribe()
    response = await client.put(
        f"/api/v1/agents/{agent}/availability",
        json={"availability": "available"},
        headers=_auth(ws),
    )
    assert (await response.json())["open_conversations"] == 1
    async with hub.engine.connect() as conn:
        assert (await conn.execute(select(Conversation.assignee_id))).scalar_one() == agent
    published = await heard.next()
    assert published is not None
    assert [(e.type, e.data) for e in published] == [
        ("agent.availability_changed", {"agent_id": agent, "availability": "available"}),
        ("conversation.assigned", {"conversation_id": conversation_id, "agent_id": agent}),
    ]


async def test_conversations_are_snoozed_marked_pending_and_listed_by_each_status(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub)
    for n in range(4):
        await _text(hub, ws, f"+1415555010{n}", f"SM{n}")
    async with hub.engine.connect() as conn:
        opened, pending, snoozed, resolved = (
            (await conn.execute(select(Conversation.id).order_by(Conversation.id))).scalars().all()
        )
    path = "/api/v1/conversations/{conversation_id}"
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    heard = await hub.bus.subscribe()
    response = await client.post(
        f"/api/v1/conversations/{snoozed}/snooze",
        json={"until": until.isoformat().replace("+00:00", "Z")},
        headers=_auth(ws),
    )
    body = await response.json()
    assert response.status == 200, body
    openapi.check("POST", f"{path}/snooze", 200, body)
    assert body["status"] == "snoozed" and datetime.fromisoformat(body["snoozed_until"]) == until
    assert [e.type for e in await heard.next() or []] == ["conversation.snoozed"]
    response = await client.post(f"/api/v1/conversations/{pending}/pending", headers=_auth(ws))
    body = await response.json()
    openapi.check("POST", f"{path}/pending", 200, body)
    assert body["status"] == "pending" and body["snoozed_until"] is None
    await client.post(f"/api/v1/conversations/{resolved}/resolve", headers=_auth(ws))

    for status, expected in [
        ("open", opened),
        ("pending", pending),
        ("snoozed", snoozed),
        ("resolved", resolved),
    ]:
        listing = await (
            await client.get("/api/v1/conversations", params={"status": status}, headers=_auth(ws))
        ).json()
        openapi.check("GET", "/api/v1/conversations", 200, listing)
        assert [c["id"] for c in listing["items"]] == [expected], status

    for until_text in [
        "2020-01-01T00:00:00Z",  # past
        "2030-01-01T00:00:00",  # no offset
        "2030-01-01 09:00:00Z",  # outside the documented pattern, though Python reads them
        "20300101T090000Z",
    ]:
        response = await client.post(
            f"/api/v1/conversations/{opened}/snooze", json={"until": until_text}, headers=_auth(ws)
        )
        assert response.status == 422, until_text
        assert set((await response.json())["error"]["fields"]) == {"until"}
    for change, body in [("snooze", {"until": "2099-01-01T00:00:00Z"}), ("pending", None)]:
        response = await client.post(
            f"/api/v1/conversations/{resolved}/{change}", json=body, headers=_auth(ws)
        )
        assert response.status == 409, change
        assert (await response.json())["error"]["code"] == "resolved"


async def test_another_workspaces_ids_are_not_found(hub: Hub, client: TestClient) -> None:
    ours = await seed_workspace(hub, name="ours")
    theirs = await seed_workspace(hub, name="theirs")
    await _text(hub, theirs, "+14155550123", "SM1")
    async with hub.engine.connect() as conn:
        conversation_id = (await conn.execute(select(Conversation.id))).scalar_one()
        customer_id = (await conn.execute(select(Conversation.customer_id))).scalar_one()
    for method, path, body in [
        ("GET", f"/api/v1/conversations/{conversation_id}", None),
        ("POST", f"/api/v1/conversations/{conversation_id}/replies", {"body": "hi"}),
        ("POST", f"/api/v1/conversations/{conversation_id}/resolve", None),
        ("POST", f"/api/v1/conversations/{conversation_id}/pending", None),
        (
            "POST",
            f"/api/v1/conversations/{conversation_id}/snooze",
            {"until": "2099-01-01T00:00:00Z"},
        ),
        ("GET", f"/api/v1/customers/{customer_id}", None),
        ("GET", f"/api/v1/customers/{customer_id}/timeline", None),
        ("PUT", f"/api/v1/agents/{theirs.agent_ids[0]}/availability", {"availability": "away"}),
    ]:
        response = await client.request(method, path, json=body, headers=_auth(ours))
        assert response.status == 404, path
        assert (await response.json())["error"]["code"] == "not_found"
    listing = await (await client.get("/api/v1/customers", headers=_auth(ours))).json()
    assert listing["items"] == []


async def test_invalid_input_names_the_offending_fields(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await _text(hub, ws, "+14155550123", "SM1")
    async with hub.engine.connect() as conn:
        conversation_id = (await conn.execute(select(Conversation.id))).scalar_one()
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/replies", json={"body": ""}, headers=_auth(ws)
    )
    assert response.status == 422
    assert set((await response.json())["error"]["fields"]) == {"body"}
    response = await client.get(
        "/api/v1/conversations", params={"status": "closed", "limit": "0"}, headers=_auth(ws)
    )
    assert response.status == 422
    assert set((await response.json())["error"]["fields"]) == {"status", "limit"}
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/replies", data=b"{not json", headers=_auth(ws)
    )
    assert response.status == 400
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/replies",
        json={"body": "x" * 1601},
        headers=_auth(ws),
    )
    assert response.status == 422 and "1600" in (await response.json())["error"]["fields"]["body"]


async def test_a_compressed_body_is_refused_not_inflated(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    body = json.dumps({"name": "tier"}).encode()
    for encoding, compressed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        headers = {**_auth(ws), "Content-Type": "application/json", "Content-Encoding": encoding}
        response = await client.post("/api/v1/custom-fields", data=compressed, headers=headers)
        assert response.status == 415
        assert (await response.json())["error"]["code"] == "unsupported_encoding"
    response = await client.post("/api/v1/custom-fields", json={"name": "tier"}, headers=_auth(ws))
    assert response.status == 201


@pytest.mark.parametrize("path", ["/api/v1/session", "/api/v1/password-reset"])
async def test_endpoints_anyone_may_call_read_small_bodies_only(
    hub: Hub, client: TestClient, path: str
) -> None:
    """A stranger's 30 MB bodies, eight at once, raised the serving process's memory by 276 MB
    before each was refused; now nothing past the limit is read."""
    padded = {"email": "ann@acme.test", "password": "x" * MAX_PUBLIC_REQUEST_BYTES}
    response = await client.post(path, json=padded)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "request_entity_too_large"
    chunked = await client.post(path, data=_chunks(json.dumps(padded).encode()))
    assert chunked.status == 413


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    """A body sent without a declared length."""
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


async def test_requests_without_a_valid_token_are_refused(hub: Hub, client: TestClient) -> None:
    await seed_workspace(hub)
    assert (await client.get("/api/v1/customers")).status == 401
    response = await client.get("/api/v1/customers", headers={"Authorization": "Bearer sbt_nope"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200


def test_the_committed_openapi_document_is_current() -> None:
    from scripts.generate_openapi import TARGET, render

    assert TARGET.read_text() == render(), "run: .venv/bin/python scripts/generate_openapi.py"
