"""Configuration: one frozen dataclass built from the environment and validated once.

Every error names the variable it is about, so ``proxyd serve`` can stop with one
line an operator can act on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from .errors import ConfigError

Dialect = Literal["sqlite", "postgresql", "mysql"]
LegacyMode = Literal["off", "fallback"]

_SCHEMES: Mapping[str, Dialect] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
}
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# Query options of DATABASE_URL the daemon's drivers honour, per dialect. Anything else is refused
# at start-up: an option that only the migrations would honour (TLS above all) must not be
# silently dropped by the daemon.
URL_OPTIONS: Mapping[Dialect, frozenset[str]] = {
    "sqlite": frozenset(),
    # libpq options that asyncpg understands (host, port, user, password and dbname belong in the URL itself).
    "postgresql": frozenset(
        {
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "sslpassword",
            "sslcrl",
            "sslnegotiation",
            "ssl_min_protocol_version",
            "ssl_max_protocol_version",
            "application_name",
            "target_session_attrs",
            "krbsrvname",
            "gsslib",
            "passfile",
        }
    ),
    # What yoyo's MySQL backend understands; charset is fixed to utf8mb4.
    "mysql": frozenset({"ssl", "sslca", "sslcapath", "sslcert", "sslkey", "sslcipher", "charset"}),
}
# Options whose values are checked up front, where a typo would otherwise surface only when connecting.
_URL_OPTION_VALUES: Mapping[Dialect, Mapping[str, tuple[str, ...]]] = {
    "sqlite": {},
    "postgresql": {"sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")},
    "mysql": {"ssl": ("1", "true", "yes", "on"), "charset": ("utf8mb4",)},
}


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A parsed ``DATABASE_URL``. ``repr`` and ``redacted`` never show the password."""

    dialect: Dialect
    raw: str = field(repr=False)
    path: str = ""  # SQLite file
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str = field(default="", repr=False)
    database: str = ""
    query: str = field(default="", repr=False)  # may hold a secret (sslpassword)

    @classmethod
    def parse(cls, raw: str, variable: str = "DATABASE_URL") -> DatabaseUrl:
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{variable}: not a valid URL ({exc})") from None
        dialect = _SCHEMES.get(parts.scheme.lower())
        if dialect is None:
            raise ConfigError(
                f"{variable}: unsupported scheme {parts.scheme!r} (use sqlite:///file.db, postgresql://… or mysql://…)"
            )
        if dialect == "sqlite":
            return cls._parse_sqlite(raw, parts, variable)
        database = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not database:
            raise ConfigError(f"{variable}: {dialect} URL needs a host and a database name")
        cls._check_options(dialect, parts.query, variable)
        return cls(
            dialect=dialect,
            raw=raw,
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=database,
            query=parts.query,
        )

    @classmethod
    def _parse_sqlite(cls, raw: str, parts: SplitResult, variable: str) -> DatabaseUrl:
        # sqlite:///rel.db has path "/rel.db"; sqlite:////abs.db has path "//abs.db".
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise ConfigError(f"{variable}: use sqlite:///relative.db or sqlite:////absolute/path.db")
        cls._check_options("sqlite", parts.query, variable)
        return cls(dialect="sqlite", raw=raw, path=unquote(parts.path[1:]))

    def options(self) -> dict[str, str]:
        """The query options, decoded (``parse`` allowed each one and rejected duplicates)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def scrub(self, text: str) -> str:
        """``text`` (a driver's error message, say) with this URL's password masked."""
        # A very short password would mask unrelated letters all over the message.
        return text.replace(self.password, "***") if len(self.password) >= 4 else text

    def redacted(self) -> str:
        if self.dialect == "sqlite":
            return f"sqlite:///{self.path}"
        auth = f"{self.user}:***@" if self.password else (f"{self.user}@" if self.user else "")
        port = f":{self.port}" if self.port else ""
        return f"{self.dialect}://{auth}{self.host}{port}/{self.database}"

    @staticmethod
    def _check_options(dialect: Dialect, query: str, variable: str) -> None:
        """Refuse query options the daemon cannot honour; messages name the option, never its value."""
        if not query:
            return
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise ConfigError(f"{variable}: malformed query string (expected name=value&name=value)") from None
        allowed = URL_OPTIONS[dialect]
        seen: set[str] = set()
        for name, value in pairs:
            if name not in allowed:
                supported = ", ".join(sorted(allowed)) or "none"
                raise ConfigError(f"{variable}: unsupported {dialect} option {name!r} (supported: {supported})")
            if name in seen:
                raise ConfigError(f"{variable}: option {name!r} given twice")
            seen.add(name)
            choices = _URL_OPTION_VALUES[dialect].get(name)
            if choices is not None and value not in choices:
                raise ConfigError(f"{variable}: option {name!r} must be one of {', '.join(choices)}")


@dataclass(frozen=True, slots=True)
class Config:
    database: DatabaseUrl = field(default_factory=lambda: DatabaseUrl.parse("sqlite:///proxyd.db"))
    host: str = "127.0.0.1"
    port: int = 3000
    api_prefix: str = "/api"
    admin_token: str | None = field(default=None, repr=False)
    admin_user: str = "admin"
    admin_password: str | None = field(default=None, repr=False)
    github_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    github_client_id: str = "Iv1.b507a08c87ecfe98"
    copilot_api_url: str | None = None
    legacy_dir: Path | None = None
    legacy_mode: LegacyMode = "off"
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    db_pool_min: int = 1
    db_pool_max: int = 10
    db_timeout: float = 10.0
    max_body_bytes: int = 32 * 1024 * 1024
    upstream_timeout: float = 600.0
    upstream_connect_timeout: float = 10.0
    client_timeout: float = 60.0
    key_cache_ttl: float = 5.0
    usage_flush_interval: float = 1.0
    request_log_days: int = 90
    shutdown_timeout: float = 30.0
    workers: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        source = _Env(os.environ if env is None else env)
        legacy_dir = source.text("PROXYD_LEGACY_DIR", "")
        config = cls(
            database=DatabaseUrl.parse(source.text("DATABASE_URL", "sqlite:///proxyd.db")),
            host=source.text("PROXYD_HOST", "127.0.0.1"),
            port=source.integer("PROXYD_PORT", 3000, minimum=0, maximum=65535),
            api_prefix=source.prefix("PROXYD_API_PREFIX", "/api"),
            admin_token=source.text("PROXYD_ADMIN_TOKEN", "") or None,
            admin_user=source.text("PROXYD_ADMIN_USER", "admin"),
            admin_password=source.text("PROXYD_ADMIN_PASSWORD", "") or None,
            github_url=source.url("PROXYD_GITHUB_URL", "https://github.com"),
            github_api_url=source.url("PROXYD_GITHUB_API_URL", "https://api.github.com"),
            github_client_id=source.text("PROXYD_GITHUB_CLIENT_ID", "Iv1.b507a08c87ecfe98"),
            copilot_api_url=source.url("PROXYD_COPILOT_API_URL", "") or None,
            legacy_dir=Path(legacy_dir) if legacy_dir else None,
            legacy_mode=source.choice("PROXYD_LEGACY_MODE", "off", ("off", "fallback")),  # type: ignore[arg-type]
            log_level=source.choice("LOG_LEVEL", "info", _LOG_LEVELS),
            log_format=source.choice("LOG_FORMAT", "text", ("text", "json")),  # type: ignore[arg-type]
            db_pool_min=source.integer("PROXYD_DB_POOL_MIN", 1, minimum=0, maximum=1000),
            db_pool_max=source.integer("PROXYD_DB_POOL_MAX", 10, minimum=1, maximum=1000),
            db_timeout=source.seconds("PROXYD_DB_TIMEOUT", 10.0),
            max_body_bytes=source.integer("PROXYD_MAX_BODY_BYTES", 32 * 1024 * 1024, minimum=1024),
            upstream_timeout=source.seconds("PROXYD_UPSTREAM_TIMEOUT", 600.0),
            upstream_connect_timeout=source.seconds("PROXYD_UPSTREAM_CONNECT_TIMEOUT", 10.0),
            client_timeout=source.seconds("PROXYD_CLIENT_TIMEOUT", 60.0),
            key_cache_ttl=source.seconds("PROXYD_KEY_CACHE_TTL", 5.0, minimum=0.0),
            usage_flush_interval=source.seconds("PROXYD_USAGE_FLUSH_INTERVAL", 1.0),
            request_log_days=source.integer("PROXYD_REQUEST_LOG_DAYS", 90, minimum=0, maximum=36_500),
            shutdown_timeout=source.seconds("PROXYD_SHUTDOWN_TIMEOUT", 30.0, minimum=0.0),
            workers=source.integer("PROXYD_WORKERS", 1, minimum=1, maximum=256),
        )
        if config.db_pool_min > config.db_pool_max:
            raise ConfigError("PROXYD_DB_POOL_MIN: must not exceed PROXYD_DB_POOL_MAX")
        if config.legacy_mode == "fallback" and config.legacy_dir is None:
            raise ConfigError("PROXYD_LEGACY_MODE: 'fallback' needs PROXYD_LEGACY_DIR")
        return config

    @property
    def python_log_level(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level.upper()]


class _Env:
    """Typed reads of environment variables; each failure names its variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, "").strip() or default

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self.text(name, "")
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ConfigError(f"{name}: must be {bounds}, got {value}")
        return value

    def seconds(self, name: str, default: float, *, minimum: float = 0.001) -> float:
        raw = self.text(name, "")
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
        if not value >= minimum or value == float("inf"):
            raise ConfigError(f"{name}: must be a finite number of seconds >= {minimum}, got {raw!r}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default).rstrip("/")
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name}: expected an http(s) URL, got {value!r}")
        return value

    def prefix(self, name: str, default: str) -> str:
        value = self.text(name, default)
        if not value.startswith("/") or (value.endswith("/") and value != "/"):
            raise ConfigError(f"{name}: expected a path like /api, got {value!r}")
        return "" if value == "/" else value
