"""The benchmark's heavy phase: its worst-case bodies, the answers proxyd gives them, and its goals."""

from __future__ import annotations

import zlib

import orjson

from bench.phase_heavy import HEALTHZ_LIMIT_MS, Heavy, HeavyRun, gzip_of_spaces, kinds, run_kind
from bench.report import render
from bench.results import Results, targets, to_json
from bench.stats import Summary
from proxyd.http.json_values import count_values
from proxyd.limits import MAX_JSON_VALUES
from tests.conftest import RunningProxy
from tests.test_bench_messages import META

GITHUB_TOKEN = "gho_benchheavy0000000000000000000000000001"
SMOKE = 0.125  # the smoke run's sizes: 3.9 MB, 4.2 MB, 128 MiB inflated


def inflated_size(gzipped: bytes) -> tuple[int, bytes]:
    """How many bytes a gzip body inflates to (a MiB at a time), and its first ones."""
    stream = zlib.decompressobj(zlib.MAX_WBITS | 16)
    size, data, head = 0, gzipped, b""
    while data:
        out = stream.decompress(data, 1 << 20)
        head = head or out[:200]
        size += len(out)
        data = stream.unconsumed_tail
    assert stream.eof and not stream.unused_data  # a whole gzip member, its CRC and size checked
    return size, head


def test_the_gzip_body_inflates_to_the_size_it_says_and_is_json() -> None:
    size = 3 * (1 << 20) + 12_345
    gzipped = gzip_of_spaces(size)
    assert len(gzipped) < 5_000  # about 1 KB per inflated MiB
    inflated = zlib.decompress(gzipped, zlib.MAX_WBITS | 16)
    assert len(inflated) == size
    assert orjson.loads(inflated)["model"] == "gpt-4.1"


def test_each_kind_holds_what_it_says_and_expects_the_answer_proxyd_owes_it() -> None:
    built = {kind.name: kind for kind in kinds(SMOKE)}
    assert list(built) == [
        "count_tokens",
        "count_tokens at the value limit",
        "images",
        "images at the value limit",
        "gzip",
    ]
    for name in ("count_tokens", "images"):
        full, capped = built[name], built[f"{name} at the value limit"]
        body = orjson.loads(full.body)
        assert full.description.startswith(f"{len(full.body) / 1e6:.1f} MB")
        assert count_values(full.body) > MAX_JSON_VALUES and full.expected_status == 400
        assert MAX_JSON_VALUES * SMOKE - 20 < count_values(capped.body) <= MAX_JSON_VALUES * SMOKE
        assert capped.expected_status == 200 and orjson.loads(capped.body)["model"] == body["model"]
    assert len(built["images"].body) < int(32 * (1 << 20) * SMOKE)
    images = orjson.loads(built["images"].body)["messages"][0]["content"]
    assert {block["type"] for block in images} == {"image"} and len(images) > 40_000
    gzip = built["gzip"]
    assert (gzip.expected_status, dict(gzip.headers)) == (413, {"Content-Encoding": "gzip"})
    assert inflated_size(gzip.body)[0] == (1 << 30) * SMOKE


async def test_proxyd_answers_each_kind_as_expected_while_healthz_is_polled(
    proxy: RunningProxy, sqlite_only: None
) -> None:
    proxy.upstream.state.add_github_token(GITHUB_TOKEN)
    await proxy.store.create("bench", GITHUB_TOKEN)
    for kind in kinds(SMOKE):
        run = await run_kind(proxy.url, GITHUB_TOKEN, kind, concurrency=1)
        assert run.as_expected, (kind.name, run.statuses)
        assert run.healthz.count > 0 and run.healthz_failed == 0
    # The images at the limit went to the fake as a chat completion, every block an image part.
    sent = proxy.upstream.state.last_request("/chat/completions").json
    assert {part["type"] for part in sent["messages"][0]["content"]} == {"image_url"}


def summary(max_ms: float) -> Summary:
    return Summary(count=100, mean_ms=1.0, p50_ms=1.0, p90_ms=2.0, p99_ms=max_ms / 2, max_ms=max_ms)


def run(kind: str, max_ms: float, statuses: dict[str, int], expected: int = 200) -> HeavyRun:
    return HeavyRun(kind, f"{kind} body", 1000, 4, statuses, expected, 1.5, summary(max_ms), 0)


def test_each_kind_is_judged_by_its_worst_poll_and_its_answers() -> None:
    heavy = Heavy(
        4,
        10.0,
        [
            run("count_tokens", 60.0, {"400": 4}, 400),
            run("images", HEALTHZ_LIMIT_MS, {"200": 4}),  # at the limit: not under it
            run("gzip", 20.0, {"413": 3, "ClientOSError": 1}, 413),
        ],
        idle=summary(5.0),
    )
    results = Results(meta=META, heavy=heavy)
    judged = {t.name: (t.measured, t.status) for t in targets(results, quick=True)}
    assert judged["/healthz while 4 count_tokens bodies are handled"] == ("max 60.0 ms, p99 30.0 ms", "PASS")
    assert judged["/healthz while 4 images bodies are handled"][1] == "MISS"
    assert judged["/healthz while 4 gzip bodies are handled"] == (
        "max 20.0 ms, p99 10.0 ms; answers 3 x 413, 1 x ClientOSError",
        "MISS",
    )
    report = render(results, quick=True)
    assert "## The event loop under worst-case bodies (`heavy`)" in report
    assert "| count_tokens | count_tokens body | 4 x 400 | 1.50 | 100 | 1.00 | 30.00 | 60.00 | **PASS** |" in report
    assert "| gzip | gzip body | 3 x 413, 1 x ClientOSError (expected 413) |" in report
    assert "/healthz polled alone first, for comparison" in report
    assert [t["status"] for t in to_json(results, quick=True)["targets"] if "/healthz" in t["name"]] == [
        "PASS",
        "MISS",
        "MISS",
    ]
    assert targets(Results(meta=META), quick=True)[-4].status == "N/A"  # the phase did not run
