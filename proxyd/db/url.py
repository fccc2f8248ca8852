"""``DATABASE_URL``: which database, where, and the driver options the daemon honours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from proxyd.errors import ConfigError

Dialect = Literal["sqlite", "postgresql", "mysql"]

_SCHEMES: Mapping[str, Dialect] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
}

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
