"""Issuing a customer's link token: through the API (201, documented; another workspace's
customer is not found) and the command line; recorded in the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from tests.conftest import OpenApiChecker, bearer
from tests.hub.test_cli import run
from tests.workspace import seed_workspace, sms_request
from timeline.link_tokens import LinkTokens
from timeline.models import AuditEntry, Customer


async def test_the_api_issues_a_token_naming_the_customer(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub)
    other = await seed_workspace(hub, name="Other")
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    async with hub.engine.connect() as conn:
        customer_id = (await conn.execute(select(Customer.id))).scalar_one()

    answer = await client.post(
        f"/api/v1/customers/{customer_id}/link-token", headers=bearer(ws.token)
    )
    assert answer.status == 201, await answer.text()
    issued = await answer.json()
    openapi.check("post", "/api/v1/customers/{customer_id}/link-token", 201, issued)
    assert hub.link_tokens.customer_of(issued["token"], ws.id, datetime.now(UTC)) == customer_id
    assert issued["links"] == []  # SMS has no link to carry a token
    async with hub.engine.connect() as conn:
        audited = (await conn.execute(select(AuditEntry.action, AuditEntry.entity_id))).all()
    assert ("customer.link_token_issued", str(customer_id)) in [tuple(a) for a in audited]

    foreign = await client.post(
        f"/api/v1/customers/{customer_id}/link-token", headers=bearer(other.token)
    )
    assert foreign.status == 404
    assert (await foreign.json())["error"]["code"] == "not_found"


def test_the_command_line_issues_a_token(tmp_path: Path) -> None:
    from tests.conftest import TEST_SECRET_KEY

    url = f"sqlite:///{tmp_path}/links.db"
    assert run(url, "migrate").returncode == 0
    demo = json.loads(run(url, "demo", "--json").stdout)
    customers = run(url, "customer", "link-token", "1", "--workspace", str(demo["workspace_id"]))
    assert customers.returncode == 0, customers.stderr
    token = customers.stdout.splitlines()[0]
    assert LinkTokens(TEST_SECRET_KEY).customer_of(token, demo["workspace_id"], datetime.now(UTC))
    as_json = run(
        url, "customer", "link-token", "1", "--workspace", str(demo["workspace_id"]), "--json"
    )
    assert set(json.loads(as_json.stdout)) == {"token", "expires_at", "links"}
    missing = run(url, "customer", "link-token", "1", "--workspace", "999")
    assert missing.returncode == 1 and "no customer 1 in workspace 999" in missing.stderr
    huge = run(url, "customer", "link-token", str(2**64), "--workspace", "1")
    assert huge.returncode == 2 and "expected a whole number from 1 to" in huge.stderr
