"""What a client key (``pxd_...``) costs against a stored GitHub token: the same chat completions, one proxyd."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from .phase_http import AddedLatency, ThroughputRun, added_latency, at_moderate_rate, closed_run, warm_up
from .services import Proxyd, Target, register_client_key
from .settings import Settings

BY_GITHUB_TOKEN = "proxyd-github-token"
BY_CLIENT_KEY = "proxyd-client-key"


@dataclass(frozen=True, slots=True)
class ClientKeyCost:
    """``github_token`` and ``client_key`` share their direct side (one run against the fake alone).

    ``runs``: closed loop at one concurrency, GitHub token, client key, client key, GitHub token: a drift in the
    machine's other load then weighs on both alike. Their CPU time per request is the figure it disturbs least.
    """

    github_token: AddedLatency
    client_key: AddedLatency
    runs: list[ThroughputRun]

    @property
    def rps_ratio(self) -> float:
        """The client key's closed-loop req/s over the GitHub token's, each the mean of its runs."""
        token, key = (sum(run.rps for run in runs) / len(runs) for runs in self._by_key_kind())
        return key / token if token > 0 else math.nan

    @property
    def extra_cpu_us_per_request(self) -> float | None:
        token, key = (_cpu_us_per_request(runs) for runs in self._by_key_kind())
        return key - token if key is not None and token is not None else None

    def _by_key_kind(self) -> list[list[ThroughputRun]]:
        """The GitHub token's closed-loop runs, then the client key's."""
        return [[run for run in self.runs if run.target == name] for name in (BY_GITHUB_TOKEN, BY_CLIENT_KEY)]


def _cpu_us_per_request(runs: list[ThroughputRun]) -> float | None:
    """Over all ``runs``, each weighted by its requests."""
    measured = [(run.cpu_us_per_request, run.requests) for run in runs if run.cpu_us_per_request is not None]
    requests = sum(n for _, n in measured)
    return sum(cpu * n for cpu, n in measured) / requests if requests else None


async def client_key_cost(
    settings: Settings, workdir: Path, proxyd: Proxyd, direct: Target, proxied: Target
) -> ClientKeyCost:
    """``proxied`` presents the stored GitHub token; the client key it is compared with may use every account."""
    by_token = replace(proxied, name=BY_GITHUB_TOKEN)
    by_client_key = replace(proxied, name=BY_CLIENT_KEY, token=await register_client_key(proxyd.url))
    for target in (by_token, by_client_key):
        await warm_up(workdir, target)
    at_rate = await at_moderate_rate(settings, workdir, direct, by_token, by_client_key)
    concurrency = settings.client_key_concurrency
    alternated = (by_token, by_client_key, by_client_key, by_token)
    return ClientKeyCost(
        github_token=added_latency(settings, at_rate, direct, by_token),
        client_key=added_latency(settings, at_rate, direct, by_client_key),
        runs=[await closed_run(settings, workdir, target, concurrency) for target in alternated],
    )
