"""``GET /api/api-keys/{id}/quota``: the account's Copilot plan and quotas, cached a minute, shown in the stats."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from proxyd.keys.records import ApiKey
from proxyd.upstream.quota import QuotaCache, quota_view
from tests.conftest import RunningProxy

GITHUB_TOKEN = "gho_quotatest0000000000000000000000000001"


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def test_quota_is_fetched_once_a_minute_and_shown_in_the_stats(proxy: RunningProxy) -> None:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN).premium_remaining = 120
    key = await proxy.store.create("quota key", GITHUB_TOKEN)
    status, stats = await get(f"{proxy.base_url}/admin/stats")
    assert (status, stats["accountQuotas"]) == (200, [])  # nothing known yet, and no GitHub call for it
    assert proxy.upstream.state.requests_to("/copilot_internal/user") == []

    status, quota = await get(f"{proxy.base_url}/api-keys/{key.id}/quota")
    assert status == 200
    assert quota["id"] == key.id and quota["copilot_plan"] == "individual"
    assert quota["quota_reset_date"]
    assert quota["quota_snapshots"]["premium_interactions"] == {
        "entitlement": 300,
        "remaining": 120,
        "percent_remaining": 40.0,
        "unlimited": False,
    }
    assert quota["quota_snapshots"]["chat"]["unlimited"] is True
    (request,) = proxy.upstream.state.requests_to("/copilot_internal/user")
    assert request.headers["Authorization"] == f"token {GITHUB_TOKEN}"

    assert (await get(f"{proxy.base_url}/api-keys/{key.id}/quota"))[1] == quota  # cached
    (entry,) = (await get(f"{proxy.base_url}/admin/stats"))[1]["accountQuotas"]
    assert (entry["apiKeyId"], entry["premiumRemaining"], entry["premiumEntitlement"]) == (key.id, 120, 300)
    assert len(proxy.upstream.state.requests_to("/copilot_internal/user")) == 1


async def test_quota_of_an_unknown_key_is_404(proxy: RunningProxy, sqlite_only: None) -> None:
    status, body = await get(f"{proxy.base_url}/api-keys/nope/quota")
    assert status == 404 and body["message"] == "API key not found"


async def test_github_refusing_the_quota_is_a_bad_gateway(proxy: RunningProxy, sqlite_only: None) -> None:
    key = await proxy.store.create("unknown to github", "gho_unknown000000000000000000000000000001")
    status, body = await get(f"{proxy.base_url}/api-keys/{key.id}/quota")
    assert status == 502 and "GitHub refused the quota request (401: Bad credentials)" in body["message"]


class _CountingGitHub:
    def __init__(self) -> None:
        self.calls = 0

    async def copilot_user(self, github_token: str) -> dict[str, Any]:
        self.calls += 1
        return {"copilot_plan": "business", "quota_snapshots": {}}


@pytest.mark.parametrize("elapsed", [59.0, 61.0])
async def test_the_cache_lasts_a_minute(elapsed: float) -> None:
    now = [0.0]
    github = _CountingGitHub()
    cache = QuotaCache(github, clock=lambda: now[0])
    account = ApiKey(id="k", name="n", key="gho_x", is_default=False, created_at=0)
    await cache.get(account)
    now[0] = elapsed
    await cache.get(account)
    assert github.calls == (1 if elapsed < 60 else 2)


def test_quota_view_keeps_what_github_sent() -> None:
    view = quota_view({"copilot_plan": "free", "quota_snapshots": {"chat": {"remaining": 5, "extra": 1}}})
    assert view == {
        "copilot_plan": "free",
        "quota_reset_date": None,
        "quota_snapshots": {
            "premium_interactions": None,
            "chat": {"entitlement": None, "remaining": 5, "percent_remaining": None, "unlimited": None},
            "completions": None,
        },
    }
