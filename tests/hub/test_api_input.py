"""What a stranger may put in a path, a query, a body or a cursor gets 4xx, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.api.framework import MAX_REQUEST_BYTES
from hub.context import Hub
from hub.demo import seed_demo
from tests.conftest import bearer
from tests.workspace import SeededWorkspace, seed_workspace, sms_request
from timeline.models import Conversation

BEYOND_64_BITS = 2**64
BEYOND_BIGINT = 2**63


def _cursor(*key: Any) -> str:
    """A cursor as a client could forge it: the same encoding with values of its choosing."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


async def _conversation(hub: Hub, ws: SeededWorkspace) -> Conversation:
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(Conversation))).one()


async def _error(response: Any) -> dict[str, Any]:
    assert response.content_type == "application/json"
    return (await response.json())["error"]


async def test_path_ids_are_ascii_digits_within_bigint_or_not_found(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    conversation = await _conversation(hub, ws)
    customer = conversation.customer_id
    assert (await client.get(f"/api/v1/customers/{customer}", headers=bearer(ws.token))).ok
    arabic = str(customer).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for path in [
        f"/api/v1/customers/{arabic}",
        "/api/v1/customers/²",
        f"/api/v1/customers/{BEYOND_BIGINT}",
        f"/api/v1/customers/{BEYOND_64_BITS}",
        "/api/v1/customers/0",
        f"/api/v1/customers/{'9' * 5000}",
        f"/api/v1/conversations/{BEYOND_64_BITS}/resolve",
        f"/api/v1/events/1/attachments/{2**31}",
        f"/api/v1/events/{BEYOND_64_BITS}/attachments/0",
    ]:
        method = "POST" if path.endswith("resolve") else "GET"
        response = await client.request(method, path, headers=bearer(ws.token))
        assert response.status == 404, path
        assert (await _error(response))["code"] == "not_found"


async def test_integers_beyond_bigint_in_queries_and_bodies_name_their_field(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    conversation = await _conversation(hub, ws)
    for params, field in [
        ({"assignee_id": str(BEYOND_64_BITS)}, "assignee_id"),
        ({"team_id": str(BEYOND_BIGINT)}, "team_id"),
        ({"channel_account_id": "²"}, "channel_account_id"),
        ({"limit": "٥"}, "limit"),
        ({"limit": " 5"}, "limit"),
        ({"limit": "5.0"}, "limit"),
    ]:
        response = await client.get(
            "/api/v1/conversations", params=params, headers=bearer(ws.token)
        )
        assert response.status == 422, params
        assert set((await _error(response))["fields"]) == {field}, params
    base = f"/api/v1/conversations/{conversation.id}"
    for path, body, field in [
        (f"{base}/assign", {"agent_id": BEYOND_64_BITS}, "agent_id"),
        (f"{base}/assign", {"agent_id": str(ws.agent_ids[0])}, "agent_id"),
        (f"{base}/transfer", {"team_id": BEYOND_BIGINT}, "team_id"),
        ("/api/v1/teams", {"name": "Billing", "member_ids": [BEYOND_64_BITS]}, "member_ids.0"),
    ]:
        response = await client.post(path, json=body, headers=bearer(ws.token))
        assert response.status == 422, body
        assert set((await _error(response))["fields"]) == {field}, body


async def test_nul_characters_never_reach_the_database(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    conversation = await _conversation(hub, ws)
    base = f"/api/v1/conversations/{conversation.id}"
    for path, body, field in [
        (f"{base}/notes", {"body": "before\u0000after"}, "body"),
        (f"{base}/replies", {"body": "hi", "html": "<p>\u0000</p>"}, "html"),
        ("/api/v1/teams", {"name": "Bill\u0000ing"}, "name"),
    ]:
        response = await client.post(path, json=body, headers=bearer(ws.token))
        assert response.status == 422, body
        assert set((await _error(response))["fields"]) == {field}, body
    response = await client.get(
        "/api/v1/customers", params={"q": "Jo\u0000"}, headers=bearer(ws.token)
    )
    assert response.status == 422
    assert set((await _error(response))["fields"]) == {"q"}


async def test_cursors_made_up_by_a_client_are_refused_with_422(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    conversation = await _conversation(hub, ws)
    timeline = f"/api/v1/customers/{conversation.customer_id}/timeline"
    for path, cursor in [
        (timeline, _cursor("2026-11-01T09:00:00", 1)),
        (timeline, _cursor("0001-01-01T00:00:00+05:00", 1)),
        (timeline, _cursor("9999-12-31T23:59:59-05:00", 1)),
        (timeline, _cursor("2026-11-01T09:00:00+00:00", BEYOND_64_BITS)),
        (timeline, _cursor("2026-11-01T09:00:00+00:00", "1")),
        ("/api/v1/conversations", _cursor(BEYOND_64_BITS)),
        ("/api/v1/conversations", _cursor(True)),
        ("/api/v1/customers", _cursor(BEYOND_BIGINT)),
        ("/api/v1/customers", _cursor(1) + "=="),
        ("/api/v1/customers", "x" * 201),
    ]:
        response = await client.get(path, params={"cursor": cursor}, headers=bearer(ws.token))
        assert response.status == 422, (path, cursor)
        assert set((await _error(response))["fields"]) == {"cursor"}, (path, cursor)


async def test_json_nested_100000_deep_is_bad_json(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    conversation = await _conversation(hub, ws)
    for deep in [b"[" * 100_000 + b"]" * 100_000, b'{"body": ' + b"[" * 100_000]:
        response = await client.post(
            f"/api/v1/conversations/{conversation.id}/notes",
            data=deep,
            headers={**bearer(ws.token), "Content-Type": "application/json"},
        )
        assert response.status == 400
        assert (await _error(response))["code"] == "bad_json"


async def test_a_body_over_the_size_limit_is_413_in_the_error_shape(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    conversation = await _conversation(hub, ws)
    response = await client.post(
        f"/api/v1/conversations/{conversation.id}/notes",
        data=b" " * (MAX_REQUEST_BYTES + 1),
        headers={**bearer(ws.token), "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await _error(response))["code"] == "request_entity_too_large"


async def test_a_method_a_path_does_not_have_is_405_with_allow(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    response = await client.delete("/api/v1/customers", headers=bearer(ws.token))
    assert response.status == 405
    assert (await _error(response))["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET"
    beside_an_id = await client.get("/api/v1/conversations/bulk", headers=bearer(ws.token))
    assert beside_an_id.status == 405, "a literal path beside /conversations/{id} is no id"
    assert beside_an_id.headers["Allow"] == "POST"


async def test_percent_and_underscore_in_a_name_search_are_letters(
    hub: Hub, client: TestClient
) -> None:
    demo = await seed_demo(hub)
    found = await client.get("/api/v1/customers", params={"q": "j"}, headers=bearer(demo.api_token))
    assert [item["name"] for item in (await found.json())["items"]] == ["John Miller"]
    for q in ["%", "_", "%%", "_ohn"]:
        response = await client.get(
            "/api/v1/customers", params={"q": q}, headers=bearer(demo.api_token)
        )
        assert response.status == 200
        assert (await response.json())["items"] == [], q
