"""A database out of reach is an outage to wait out, not an error of the hub's: the API answers
503 with Retry-After, in its error shape, as the webhook route does."""

from __future__ import annotations

from tests.conftest import HubAndClient, bearer, free_port


async def test_an_unreachable_database_is_503_with_retry_after(
    hub_and_client: HubAndClient,
) -> None:
    _, client = await hub_and_client(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone"
    )
    response = await client.get("/api/v1/customers", headers=bearer("sbt_" + "x" * 43))
    assert response.status == 503, await response.text()
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"]["code"] == "unavailable"
    ready = await client.get("/readyz")
    assert ready.status == 503
