"""The parts of a proxied request, each on its own: who asks, the Copilot client, accounting.

(The relay on its own: tests/test_client_disconnect.py.) Everything else in the
suite goes through the whole path; these show each part keeps its contract
without the others, which is what a translating route relies on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bench.fake_upstream import FakeUpstream
from proxyd.admin.routes_stats import unfiltered
from proxyd.config import Config
from proxyd.db import Database
from proxyd.errors import Forbidden, Unauthorized, UnsupportedMediaType
from proxyd.gateway.accounting import Accounting
from proxyd.gateway.principal import ClientAuth, Principal
from proxyd.gateway.record import RequestRecord
from proxyd.gateway.recorder import UsageRecorder
from proxyd.keys.account_resolver import KeyResolver
from proxyd.keys.records import ApiKey
from proxyd.keys.store import KeyStore
from proxyd.metrics import Metrics
from proxyd.sharedstate.memory import MemoryState
from proxyd.upstream.client import Ask, CopilotClient, UpstreamCall
from proxyd.upstream.direct import DirectClient, UpstreamResponse
from proxyd.upstream.github import GitHubClient
from proxyd.upstream.identity import ClientIdentity
from proxyd.upstream.outbound import ProxySelector
from proxyd.upstream.tokens import CopilotTokens
from proxyd.upstream.wire import JsonUsageSniffer, Usage

GITHUB_TOKEN = "gho_gateway00000000000000000000000000001"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def _request(headers: dict[str, str], method: str = "POST") -> web.Request:
    return make_mocked_request(method, "/v1/chat/completions", headers=headers)


# --- who asks --------------------------------------------------------------------------------


async def test_client_auth_resolves_keys_and_the_default(store: KeyStore, sqlite_only: None) -> None:
    account = await store.create("a", GITHUB_TOKEN)  # the first key: also the default
    auth = ClientAuth(KeyResolver(store, ttl=5), allowed_hosts=frozenset())
    json = {"Content-Type": "application/json"}
    by_key = await auth.authenticate(_request({"Authorization": f"Bearer {GITHUB_TOKEN}", **json}))
    assert by_key == Principal(account=account, presented_key=True)
    keyless = await auth.authenticate(_request({"Host": "localhost:3000", **json}))
    assert keyless.account.id == account.id and not keyless.presented_key
    with pytest.raises(Unauthorized):
        await auth.authenticate(_request({"Authorization": "Bearer gho_unknown", **json}))
    with pytest.raises(Forbidden):  # keyless under a foreign Host: a rebound web page
        await auth.authenticate(_request({"Host": "rebind.example:3000", **json}))
    with pytest.raises(UnsupportedMediaType):  # keyless and not JSON: a cross-site form post
        await auth.authenticate(_request({"Host": "localhost", "Content-Type": "text/plain"}))


async def test_client_auth_takes_anthropics_x_api_key(store: KeyStore, sqlite_only: None) -> None:
    account = await store.create("a", GITHUB_TOKEN)
    auth = ClientAuth(KeyResolver(store, ttl=5), allowed_hosts=frozenset())
    # A custom header needs a CORS preflight, like Authorization: a body in any type is no cross-site post.
    by_key = await auth.authenticate(_request({"x-api-key": GITHUB_TOKEN, "Content-Type": "text/plain"}))
    assert by_key == Principal(account=account, presented_key=True)
    with pytest.raises(Unauthorized):  # Authorization comes first
        await auth.authenticate(_request({"Authorization": "Bearer gho_unknown", "x-api-key": GITHUB_TOKEN}))


# --- the Copilot client ----------------------------------------------------------------------


@pytest.fixture
async def copilot(
    config: Config, store: KeyStore, upstream: FakeUpstream
) -> AsyncIterator[tuple[CopilotClient, ApiKey, Metrics]]:
    config = dataclasses.replace(config, github_api_url=upstream.url, copilot_api_url=upstream.url)
    upstream.state.add_github_token(GITHUB_TOKEN)
    account = await store.create("a", GITHUB_TOKEN)
    metrics = Metrics()
    async with aiohttp.ClientSession() as session, DirectClient(connect_timeout=5, read_timeout=30) as direct:
        proxies = ProxySelector()
        tokens = CopilotTokens(GitHubClient(session, config, proxies), store, config)
        identity = ClientIdentity.from_config(config)
        client = CopilotClient(
            session,
            tokens,
            proxies,
            metrics,
            identity,
            connect_timeout=5,
            read_timeout=30,
            state=MemoryState(),
            direct=direct,
        )
        yield client, account, metrics
        await tokens.drain()


async def _send(client: CopilotClient, account: ApiKey, call: UpstreamCall) -> UpstreamResponse:
    response, _ = await client.send(account, Ask(lambda _: (call, None)))
    return response


async def test_copilot_client_replays_once_with_a_fresh_token_on_401(
    copilot: tuple[CopilotClient, ApiKey, Metrics], upstream: FakeUpstream, sqlite_only: None
) -> None:
    client, account, metrics = copilot
    call = UpstreamCall("POST", "/chat/completions", orjson.dumps(CHAT), CHAT, None)
    async with await _send(client, account, call) as first:
        assert first.status == 200
    upstream.state.expire_all_copilot_tokens()  # Copilot now refuses the cached token
    async with await _send(client, account, call) as replayed:
        assert replayed.status == 200
    assert upstream.state.exchange_count(GITHUB_TOKEN) == 2  # one exchange per token, no more
    chats = upstream.state.requests_to("/chat/completions")
    assert [r.headers["Authorization"] == chats[0].headers["Authorization"] for r in chats] == [True, True, False]
    assert 'proxyd_upstream_latency_seconds_count{endpoint="/chat/completions"} 3' in metrics.render()


async def test_copilot_client_says_when_github_refuses_the_account(
    copilot: tuple[CopilotClient, ApiKey, Metrics], upstream: FakeUpstream, sqlite_only: None
) -> None:
    client, account, _ = copilot
    stranger = dataclasses.replace(account, id="other", key="gho_not_known_to_github")
    with pytest.raises(Unauthorized, match="GitHub refused this API key"):
        await _send(client, stranger, UpstreamCall("GET", "/models"))
    assert upstream.state.requests_to("/models") == []


# --- accounting ------------------------------------------------------------------------------


async def test_accounting_counts_copilot_successes_and_logs_every_exchange(
    database: Database, store: KeyStore, sqlite_only: None
) -> None:
    account = await store.create("a", GITHUB_TOKEN)
    recorder = UsageRecorder(database, store)
    accounting = Accounting(recorder)
    principal = Principal(account=account, presented_key=True)
    served = RequestRecord("/chat/completions", principal, model="gpt-4o", upstream_status=200, status=200)
    served.usage = (12, 8, 20)
    left = RequestRecord("/chat/completions", principal, upstream_status=200, status=0)  # the client left: 499
    refused = RequestRecord("/embeddings", principal, upstream_status=429, status=429)
    for record in (served, left, refused):
        accounting.record(record)
    assert await recorder.flush()
    assert (await store.get(account.id)).usage_count == 2  # Copilot did the work twice
    rows = await database.fetch_all(database.queries["page_request_log"], {**unfiltered(), "limit": 10, "offset": 0})
    assert sorted((r["endpoint"], r["status"], r["total_tokens"]) for r in rows) == [
        ("/chat/completions", 200, 20),
        ("/chat/completions", 499, None),
        ("/embeddings", 429, None),
    ]


@pytest.mark.parametrize(
    ("answer", "usage"),
    [
        (b'{"id":"c1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}', (5, 6, 11)),
        # usage not last, with a nested object: the pattern, not the one parse, finds it
        (b'{"usage":{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":0}},"id":"x"}', (1, None, 1)),
        (b'[{"usage":{"total_tokens":3}}]', (None, None, 3)),
        (b'{"object":"list","data":[{"embedding":[0.1]}]}', None),
        (b'{"usage": 5}', None),
        (b'{"note":"usage"}', None),
    ],
)
def test_json_usage_is_found_at_the_end_of_an_answer(answer: bytes, usage: Usage | None) -> None:
    sniffer = JsonUsageSniffer()
    for start in range(0, len(answer), 7):  # as the chunks of a response arrive
        sniffer.feed(answer[start : start + 7])
    assert sniffer.usage == usage
