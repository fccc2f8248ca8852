"""Configuration: one frozen dataclass built from the environment and validated once.

Every error names the variable it is about, so ``proxyd serve`` can stop with one
line an operator can act on.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from proxyd.crypto.keyring import parse_key
from proxyd.db.url import DatabaseUrl
from proxyd.errors import ConfigError
from proxyd.http.hosts import host_name

LegacyMode = Literal["off", "fallback"]
LogFormat = Literal["text", "json"]
EventLoop = Literal["auto", "asyncio", "uvloop"]
T = TypeVar("T")
S = TypeVar("S", bound=str)

_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class RedisUrl:
    """A parsed ``PROXYD_REDIS_URL``. ``repr`` and ``redacted`` never show the password."""

    raw: str = field(repr=False)
    password: str = field(default="", repr=False)
    shown: str = ""  # the URL with its password masked

    @classmethod
    def parse(cls, raw: str, variable: str = "PROXYD_REDIS_URL") -> RedisUrl:
        try:
            parts = urlsplit(raw)
            _ = parts.port  # raises on a malformed port
        except ValueError as exc:
            raise ConfigError(f"{variable}: not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"{variable}: unsupported scheme {parts.scheme!r} (use redis://host:6379/0, rediss://… or unix:///path)"
            )
        if scheme == "unix" and not parts.path:
            raise ConfigError(f"{variable}: a unix:// URL needs the socket's path (unix:///run/redis/redis.sock)")
        if scheme != "unix" and not parts.hostname:
            raise ConfigError(f"{variable}: a {scheme}:// URL needs a host")
        password = unquote(parts.password or "")
        if not password:
            password = next((v for n, v in parse_qsl(parts.query) if n.lower() == "password"), "")
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.partition(':')[0]}:***@{host}"
        query = redact_url_query(parts.query)
        shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
        return cls(raw=raw, password=password, shown=shown)

    def scrub(self, text: str) -> str:
        """``text`` (a driver's error message, say) with this URL's password masked."""
        return text.replace(self.password, "***") if len(self.password) >= 4 else text

    def redacted(self) -> str:
        return self.shown


def redact_url_query(query: str) -> str:
    """A URL's query with the values of ``password``-like options masked."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any("password" in name.lower() for name, _ in pairs):
        return query
    return "&".join(f"{name}={'***' if 'password' in name.lower() else value}" for name, value in pairs)


Parser = Callable[[str, str], T]


def setting(env: str, default: T, parse: Parser[T], *, secret: bool = False) -> T:
    """A configuration field: its environment variable, its one default, and how to read the variable."""
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse})


def text(name: str, raw: str) -> str:
    return raw


def optional_text(name: str, raw: str) -> str | None:
    return raw


def path(name: str, raw: str) -> Path | None:
    return Path(raw)


def bearer_token(name: str, raw: str) -> str | None:
    """A secret clients send as ``Authorization: Bearer <it>``: printable ASCII, no spaces, 16 characters or more."""
    if len(raw) < 16 or not all("!" <= c <= "~" for c in raw):
        raise ConfigError(f"{name}: expected at least 16 printable ASCII characters without spaces")
    return raw


def database_url(name: str, raw: str) -> DatabaseUrl:
    return DatabaseUrl.parse(raw, name)


def redis_url(name: str, raw: str) -> RedisUrl | None:
    return RedisUrl.parse(raw, name)


def integer(minimum: int, maximum: int | None = None) -> Parser[int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(f"{name}: must be {bounds}, got {value}")
        return value

    return parse


def seconds(minimum: float = 0.001) -> Parser[float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
        if not value >= minimum or value == float("inf"):
            raise ConfigError(f"{name}: must be a finite number of seconds >= {minimum}, got {raw!r}")
        return value

    return parse


def choice(*choices: S) -> Parser[S]:
    def parse(name: str, raw: str) -> S:
        value = raw.lower()
        for known in choices:
            if value == known:
                return known
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")

    return parse


def flag(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigError(f"{name}: expected 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def hosts(name: str, raw: str) -> frozenset[str]:
    """Comma-separated host names; a port is allowed and ignored, so is an IPv6 address with or without brackets."""
    names = set()
    for item in raw.split(","):
        entry = item.strip()
        if not entry:
            continue
        bare_ipv6 = entry.count(":") > 1 and not entry.startswith("[")
        parsed = host_name(f"[{entry}]" if bare_ipv6 else entry)
        if parsed is None:
            raise ConfigError(
                f"{name}: {entry!r} is not a host name (expected names like proxyd.example.com, "
                "192.0.2.7 or [2001:db8::7], comma-separated; a port is ignored; no wildcards)"
            )
        names.add(parsed)
    return frozenset(names)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(name: str, raw: str) -> tuple[Network, ...]:
    """Comma-separated IP addresses or CIDR networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``)."""
    found: list[Network] = []
    for item in raw.split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(
                f"{name}: {entry!r} is not an IP address or network (expected entries like 127.0.0.1, ::1 "
                "or 10.0.0.0/8, comma-separated)"
            ) from None
    return tuple(found)


def encryption_keys(name: str, raw: str) -> tuple[str, ...]:
    """One key or several (comma-separated), each 32 bytes in base64; the first encrypts, the others only decrypt."""
    keys = tuple(part.strip() for part in raw.replace(",", " ").split())
    for number, key in enumerate(keys, 1):
        try:
            parse_key(key)
        except ValueError as exc:
            # Never the value: it may be a real key with a typo.
            which = f"key {number} of {len(keys)}" if len(keys) > 1 else "the key"
            raise ConfigError(
                f"{name}: {which} is not 32 bytes in base64 ({exc}); make a key with: openssl rand -base64 32"
            ) from None
    return keys


def _state_file(state_directory: str, database: DatabaseUrl, name: str) -> Path:
    """systemd's ``StateDirectory=`` (its first entry), else beside the SQLite database, else the working directory."""
    first = state_directory.strip().split(":")[0]
    if first:
        return Path(first) / name
    if database.dialect == "sqlite":
        return Path(database.path).parent / f"proxyd-{name}"
    return Path(f"proxyd-{name}")


def default_admin_token_file(state_directory: str, database: DatabaseUrl) -> Path:
    return _state_file(state_directory, database, "admin-token")


def default_encryption_key_file(state_directory: str, database: DatabaseUrl) -> Path:
    return _state_file(state_directory, database, "encryption-key")


def url(name: str, raw: str) -> str:
    value = raw.rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: expected an http(s) URL, got {value!r}")
    return value


def optional_url(name: str, raw: str) -> str | None:
    return url(name, raw) or None


def model_names(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """A JSON object of model names (as clients send them) to Copilot model names."""
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) and v for v in parsed.values()):
        raise ConfigError(
            f'{name}: expected a JSON object of model names, like {{"claude-3-5-haiku-20241022": "gpt-4o-mini"}}'
        )
    return tuple(parsed.items())


_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")
_PRODUCT_VERSION = re.compile(r"[A-Za-z][A-Za-z0-9._-]*/[0-9][A-Za-z0-9.+-]*")


def api_version(name: str, raw: str) -> str:
    if not _API_VERSION.fullmatch(raw):
        raise ConfigError(f"{name}: expected a date like 2026-08-01, got {raw!r}")
    return raw


def product_version(name: str, raw: str) -> str:
    if not _PRODUCT_VERSION.fullmatch(raw):
        raise ConfigError(f"{name}: expected product/version like vscode/1.124.0, got {raw!r}")
    return raw


def prefix(name: str, raw: str) -> str:
    if not raw.startswith("/") or (raw.endswith("/") and raw != "/"):
        raise ConfigError(f"{name}: expected a path like /api, got {raw!r}")
    return "" if raw == "/" else raw


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting, each with its variable and its default written once (see ``setting``)."""

    database: DatabaseUrl = setting("DATABASE_URL", DatabaseUrl.parse("sqlite:///proxyd.db"), database_url)
    host: str = setting("PROXYD_HOST", "127.0.0.1", text)
    port: int = setting("PROXYD_PORT", 3000, integer(0, 65535))
    api_prefix: str = setting("PROXYD_API_PREFIX", "/api", prefix)
    admin_token: str | None = setting("PROXYD_ADMIN_TOKEN", None, optional_text, secret=True)
    # Where the generated admin token lives while PROXYD_ADMIN_TOKEN is unset (None: see admin_token_path).
    admin_token_file: Path | None = setting("PROXYD_ADMIN_TOKEN_FILE", None, path)
    # PROXYD_ADMIN_LOOPBACK=1: the old mode, no token for loopback clients while PROXYD_ADMIN_TOKEN is unset.
    admin_loopback: bool = setting("PROXYD_ADMIN_LOOPBACK", False, flag)
    # Host names (lower case, no port) besides loopback under which requests without a key are served.
    allowed_hosts: frozenset[str] = setting("PROXYD_ALLOWED_HOSTS", frozenset(), hosts)
    # Set: GET /metrics needs "Authorization: Bearer <it>"; unset, /metrics is open, as Prometheus expects.
    metrics_token: str | None = setting("PROXYD_METRICS_TOKEN", None, bearer_token, secret=True)
    # PROXYD_CLIENT_KEYS_ONLY=1: proxy routes accept client keys (pxd_...) only, no GitHub token, no keyless request.
    client_keys_only: bool = setting("PROXYD_CLIENT_KEYS_ONLY", False, flag)
    # Reverse proxies (addresses, networks) whose X-Forwarded-Proto and X-Forwarded-Host the admin console believes.
    trusted_proxies: tuple[Network, ...] = setting("PROXYD_TRUSTED_PROXIES", (), networks)
    # The keys GitHub and Copilot tokens are encrypted with at rest (proxyd/crypto/); the first encrypts. Unset:
    # the key file, created with a random key on first use (None here means its default place, see from_env).
    encryption_key: tuple[str, ...] = setting("PROXYD_ENCRYPTION_KEY", (), encryption_keys, secret=True)
    encryption_key_file: Path | None = setting("PROXYD_ENCRYPTION_KEY_FILE", None, path)
    admin_user: str = setting("PROXYD_ADMIN_USER", "admin", text)
    admin_password: str | None = setting("PROXYD_ADMIN_PASSWORD", None, optional_text, secret=True)
    github_url: str = setting("PROXYD_GITHUB_URL", "https://github.com", url)
    github_api_url: str = setting("PROXYD_GITHUB_API_URL", "https://api.github.com", url)
    github_client_id: str = setting("PROXYD_GITHUB_CLIENT_ID", "Iv1.b507a08c87ecfe98", text)
    copilot_api_url: str | None = setting("PROXYD_COPILOT_API_URL", None, optional_url)
    # Who proxyd says it is to Copilot (proxyd/upstream/identity.py). Copilot answers 466 to clients it deems
    # too old: these change without a release. Defaults: what the official client sends in late 2026.
    copilot_api_version: str = setting("PROXYD_COPILOT_API_VERSION", "2026-08-01", api_version)
    editor_version: str = setting("PROXYD_EDITOR_VERSION", "vscode/1.124.0", product_version)
    editor_plugin_version: str = setting("PROXYD_EDITOR_PLUGIN_VERSION", "copilot-chat/0.52.0", product_version)
    # How long a conversation stays pinned to its account after its last request (proxyd/upstream/affinity.py).
    conversation_idle: float = setting("PROXYD_CONVERSATION_TTL", 7200.0, seconds(minimum=1.0))
    legacy_dir: Path | None = setting("PROXYD_LEGACY_DIR", None, path)
    legacy_mode: LegacyMode = setting("PROXYD_LEGACY_MODE", "off", choice("off", "fallback"))
    log_level: str = setting("LOG_LEVEL", "info", choice(*_LOG_LEVELS))
    log_format: LogFormat = setting("LOG_FORMAT", "text", choice("text", "json"))
    db_pool_min: int = setting("PROXYD_DB_POOL_MIN", 1, integer(0, 1000))
    db_pool_max: int = setting("PROXYD_DB_POOL_MAX", 10, integer(1, 1000))
    db_timeout: float = setting("PROXYD_DB_TIMEOUT", 10.0, seconds())
    max_body_bytes: int = setting("PROXYD_MAX_BODY_BYTES", 32 * 1024 * 1024, integer(1024))
    # Open client connections per process; None: derived from the open-file limit (proxyd/runtime/connections.py).
    max_connections: int | None = setting("PROXYD_MAX_CONNECTIONS", None, integer(1, 10_000_000))
    upstream_timeout: float = setting("PROXYD_UPSTREAM_TIMEOUT", 600.0, seconds())
    upstream_connect_timeout: float = setting("PROXYD_UPSTREAM_CONNECT_TIMEOUT", 10.0, seconds())
    client_timeout: float = setting("PROXYD_CLIENT_TIMEOUT", 60.0, seconds())
    key_cache_ttl: float = setting("PROXYD_KEY_CACHE_TTL", 5.0, seconds(minimum=0.0))
    usage_flush_interval: float = setting("PROXYD_USAGE_FLUSH_INTERVAL", 1.0, seconds())
    request_log_days: int = setting("PROXYD_REQUEST_LOG_DAYS", 90, integer(0, 36_500))
    shutdown_timeout: float = setting("PROXYD_SHUTDOWN_TIMEOUT", 30.0, seconds(minimum=0.0))
    workers: int = setting("PROXYD_WORKERS", 1, integer(1, 256))
    # Model names -> Copilot's on every route, before the Claude rule (upstream/model_names.py); pairs keep it frozen.
    model_map: tuple[tuple[str, str], ...] = setting("PROXYD_MODEL_MAP", (), model_names)
    # Set: limits, cool-downs, conversations and the throttle are shared by every instance through Redis
    # (proxyd/sharedstate/redis.py); unset, each instance keeps them in its own memory.
    redis_url: RedisUrl | None = setting("PROXYD_REDIS_URL", None, redis_url, secret=True)
    # How long a Redis call may take before the instance falls back to its own memory for a while.
    redis_timeout: float = setting("PROXYD_REDIS_TIMEOUT", 0.25, seconds())
    # auto: uvloop when installed (the [uvloop] extra), else asyncio's own loop.
    event_loop: EventLoop = setting("PROXYD_EVENT_LOOP", "auto", choice("auto", "asyncio", "uvloop"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for each in fields(cls):
            raw = source.get(each.metadata["env"], "").strip()
            if raw:  # unset and empty both mean the default
                values[each.name] = each.metadata["parse"](each.metadata["env"], raw)
        config = cls(**values)
        if config.admin_token_file is None:
            state_directory = source.get("STATE_DIRECTORY", "")
            config = replace(config, admin_token_file=default_admin_token_file(state_directory, config.database))
        if config.encryption_key and config.encryption_key_file is not None:
            raise ConfigError(
                "PROXYD_ENCRYPTION_KEY_FILE: set PROXYD_ENCRYPTION_KEY or PROXYD_ENCRYPTION_KEY_FILE, not both"
            )
        if not config.encryption_key and config.encryption_key_file is None:
            state_directory = source.get("STATE_DIRECTORY", "")
            config = replace(config, encryption_key_file=default_encryption_key_file(state_directory, config.database))
        if config.db_pool_min > config.db_pool_max:
            raise ConfigError("PROXYD_DB_POOL_MIN: must not exceed PROXYD_DB_POOL_MAX")
        if config.legacy_mode == "fallback" and config.legacy_dir is None:
            raise ConfigError("PROXYD_LEGACY_MODE: 'fallback' needs PROXYD_LEGACY_DIR")
        return config

    def advisories(self) -> list[str]:
        """Settings that are valid but probably not what was meant: logged once at start."""
        advice = []
        if self.workers > 1 and self.redis_url is None:
            advice.append(
                f"PROXYD_WORKERS={self.workers} without PROXYD_REDIS_URL: each worker keeps its own limits, so a client"
                " key's rpm is admitted by every worker and an account cooling down on one is tried by the others"
            )
        return advice

    @property
    def python_log_level(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level.upper()]

    @property
    def admin_token_path(self) -> Path:
        return self.admin_token_file or default_admin_token_file("", self.database)

    @property
    def encryption_key_path(self) -> Path:
        """The key file, when PROXYD_ENCRYPTION_KEY is unset."""
        return self.encryption_key_file or default_encryption_key_file("", self.database)
