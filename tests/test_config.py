"""Configuration from the environment: defaults, URL forms, and errors naming their variable."""

from __future__ import annotations

import pytest

from proxyd.config import Config
from proxyd.db.url import DatabaseUrl
from proxyd.errors import ConfigError
from tests.daemon import Daemon


def test_defaults() -> None:
    config = Config.from_env({})
    assert config.database.dialect == "sqlite" and config.database.path == "proxyd.db"
    assert (config.host, config.port, config.api_prefix) == ("127.0.0.1", 3000, "/api")
    assert config.legacy_mode == "off" and config.admin_token is None


@pytest.mark.parametrize(
    ("raw", "expected_dialect", "detail"),
    [
        ("sqlite:///rel.db", "sqlite", "rel.db"),
        ("sqlite:////var/lib/proxyd/proxyd.db", "sqlite", "/var/lib/proxyd/proxyd.db"),
        ("postgresql://u:p%40ss@db:5433/proxyd", "postgresql", "proxyd"),
        ("postgres://u@db/proxyd", "postgresql", "proxyd"),
        ("mysql://root@127.0.0.1:3307/proxyd", "mysql", "proxyd"),
    ],
)
def test_database_urls(raw: str, expected_dialect: str, detail: str) -> None:
    url = DatabaseUrl.parse(raw)
    assert url.dialect == expected_dialect
    assert detail in (url.path or url.database)


def test_password_never_shown() -> None:
    url = DatabaseUrl.parse("postgresql://user:s3cret@db:5432/proxyd")
    assert url.password == "s3cret"
    assert "s3cret" not in url.redacted() and "s3cret" not in repr(url)
    config = Config.from_env({"DATABASE_URL": url.raw, "PROXYD_ADMIN_TOKEN": "tok3n", "PROXYD_ADMIN_PASSWORD": "pw"})
    assert "s3cret" not in repr(config) and "tok3n" not in repr(config) and "pw'" not in repr(config)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("redis://:s3cret-pw@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://proxyd:s3cret-pw@redis.example.com/1", "rediss://proxyd:***@redis.example.com/1"),
        ("unix:///run/redis/redis.sock?db=2&password=s3cret-pw", "unix:///run/redis/redis.sock?db=2&password=***"),
        ("redis://localhost", "redis://localhost"),
    ],
)
def test_the_redis_password_is_never_shown(raw: str, shown: str) -> None:
    config = Config.from_env({"PROXYD_REDIS_URL": raw})
    assert config.redis_url is not None and config.redis_url.raw == raw
    assert config.redis_url.redacted() == shown
    assert "s3cret" not in repr(config) and "s3cret" not in repr(config.redis_url)


# The variable an error must name is the first one in each environment.
@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "oracle://x/y"},
        {"DATABASE_URL": "sqlite://relative.db"},
        {"DATABASE_URL": "postgresql://host-only"},
        {"DATABASE_URL": "mysql://h:notaport/db"},
        {"PROXYD_PORT": "http"},
        {"PROXYD_PORT": "70000"},
        {"PROXYD_DB_POOL_MAX": "0"},
        {"PROXYD_DB_POOL_MIN": "5", "PROXYD_DB_POOL_MAX": "2"},
        {"PROXYD_DB_TIMEOUT": "soon"},
        {"PROXYD_DB_TIMEOUT": "-1"},
        {"PROXYD_GITHUB_URL": "github.com"},
        {"PROXYD_LEGACY_MODE": "maybe"},
        {"PROXYD_LEGACY_MODE": "fallback"},
        {"LOG_LEVEL": "loud"},
        {"PROXYD_API_PREFIX": "api"},
        {"PROXYD_REDIS_URL": "http://redis:6379"},
        {"PROXYD_REDIS_URL": "redis:///0"},
        {"PROXYD_REDIS_URL": "redis://h:port/0"},
        {"PROXYD_REDIS_URL": "unix://"},
        {"PROXYD_REDIS_TIMEOUT": "0"},
    ],
)
def test_errors_name_the_variable(env: dict[str, str]) -> None:
    variable = next(iter(env))
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert str(info.value).startswith(f"{variable}:")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("env", "advised"),
    [
        ({"PROXYD_WORKERS": "1"}, False),
        ({"PROXYD_WORKERS": "2", "PROXYD_REDIS_URL": "redis://localhost"}, False),
        ({"PROXYD_WORKERS": "2"}, True),
        ({"PROXYD_REQUEST_LOG_DAYS": "7"}, False),  # monthly counts no longer come from the request log
    ],
)
def test_workers_without_redis_are_advised_against(env: dict[str, str], advised: bool) -> None:
    advice = Config.from_env(env).advisories()
    assert bool(advice) is advised
    assert all(line.startswith("PROXYD_WORKERS=2 without PROXYD_REDIS_URL") for line in advice)


async def test_serve_logs_the_advice_at_start(config: Config, sqlite_only: None) -> None:
    env = {"DATABASE_URL": config.database.raw, "PROXYD_WORKERS": "2"}
    (advice,) = Config.from_env(env).advisories()
    daemon = Daemon(env)
    await daemon.start("--migrate")
    assert await daemon.stop() == 0
    lines = daemon.output.decode().splitlines()
    assert [line for line in lines if "without PROXYD_REDIS_URL" in line] == [f"WARNING proxyd: {advice}"]
