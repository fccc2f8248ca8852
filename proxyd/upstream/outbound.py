"""Which proxy an outgoing call uses: ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``.

aiohttp's ``trust_env`` would do this, but it re-reads the environment and
``~/.netrc`` (in a thread) on every request, which profiling showed to cost a
fifth of proxyd's time. The environment is read once at start-up instead and
the answer cached per scheme and host.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit


class ProxySelector:
    def __init__(self, env_proxies: Mapping[str, str] | None = None) -> None:
        proxies = urllib.request.getproxies_environment() if env_proxies is None else env_proxies
        self._proxies = dict(proxies)
        self._cache: dict[tuple[str, str], str | None] = {}

    def __call__(self, url: str) -> str | None:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._cache:
            proxy = self._proxies.get(parts.scheme)
            host = parts.hostname or ""
            if proxy and urllib.request.proxy_bypass_environment(host, self._proxies):  # type: ignore[attr-defined]
                proxy = None
            self._cache[key] = proxy
        return self._cache[key]
