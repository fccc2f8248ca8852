"""Admin changes to one key racing each other over HTTP, on every database.

A rename racing a delete must come out as one of the two serial orders: the
rename first (200 with the new name, then the delete removes it) or the delete
first (404). Never a 500, and never a 200 for a rename that was not stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.conftest import RunningProxy
from tests.test_admin import GITHUB_KEY, NOT_FOUND, send

KEY_ID = "7b0c5a8e-race-4c1e-9d2a-000000000001"
ROUNDS = 100


async def _rename(http: aiohttp.ClientSession, proxy: RunningProxy, name: str) -> tuple[int, Any]:
    reply = await send(http, "PATCH", f"{proxy.base_url}/api-keys/{KEY_ID}", json={"name": name})
    return reply.status, reply.json if reply.content_type == "application/json" else reply.body


async def _delete(http: aiohttp.ClientSession, proxy: RunningProxy) -> int:
    return (await send(http, "DELETE", f"{proxy.base_url}/api-keys/{KEY_ID}")).status


async def _listed(http: aiohttp.ClientSession, proxy: RunningProxy) -> dict[str, str]:
    reply = await send(http, "GET", f"{proxy.base_url}/api-keys")
    assert reply.status == 200, reply.body
    return {k["id"]: k["name"] for k in reply.json}


async def test_rename_racing_delete_is_200_with_the_stored_name_or_404(proxy: RunningProxy) -> None:
    outcomes: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        for round_ in range(ROUNDS):
            await proxy.store.create("before", GITHUB_KEY, key_id=KEY_ID)
            name = f"renamed-{round_}"
            rename, delete = _rename(http, proxy, name), _delete(http, proxy)
            if round_ % 2:  # either request may be sent first
                deleted, (status, body) = await asyncio.gather(delete, rename)
            else:
                (status, body), deleted = await asyncio.gather(rename, delete)
            outcomes[status] = outcomes.get(status, 0) + 1
            assert status in (200, 404), f"round {round_}: PATCH answered {status}: {body!r}"
            if status == 200:
                # The rename came first, so it was stored: the record it answers is the renamed one.
                assert body["id"] == KEY_ID and body["name"] == name, f"round {round_}: {body}"
            else:
                assert body == NOT_FOUND
            assert deleted == 200, f"round {round_}"
            assert KEY_ID not in await _listed(http, proxy)
    print(f"PATCH outcomes over {ROUNDS} rounds: {outcomes}")


async def test_renames_racing_each_other_leave_one_of_them(proxy: RunningProxy) -> None:
    async with aiohttp.ClientSession() as http:
        await proxy.store.create("before", GITHUB_KEY, key_id=KEY_ID)
        for round_ in range(20):
            names = [f"first-{round_}", f"second-{round_}"]
            replies = await asyncio.gather(*(_rename(http, proxy, name) for name in names))
            for (status, body), name in zip(replies, names, strict=True):
                assert status == 200, body
                assert body["name"] == name
            assert (await _listed(http, proxy))[KEY_ID] in names


async def test_renaming_to_the_same_name_is_200(proxy: RunningProxy) -> None:
    async with aiohttp.ClientSession() as http:
        await proxy.store.create("same", GITHUB_KEY, key_id=KEY_ID)
        for _ in range(2):
            status, body = await _rename(http, proxy, "same")
            assert status == 200, body
            assert body["name"] == "same"
        assert (await _listed(http, proxy))[KEY_ID] == "same"
        status, body = await _rename(http, proxy, "other")
        assert (status, body["name"]) == (200, "other")
