"""Named SQL queries, aiosql style: ``-- name: find_by_id`` starts a query.

Queries are written with ``:name`` placeholders in every dialect; each driver's
placeholder style is derived here once, at load time, so the SQL files stay
plain SQL and the adapters never rewrite SQL per call.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal

from proxyd.db.url import Dialect

Paramstyle = Literal["named", "pyformat", "numeric_dollar"]

_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
# ``::`` is a PostgreSQL cast and ``:=`` an assignment; neither is a placeholder.
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    sql: str
    # Parameter names in positional order, for drivers that bind by position.
    params: tuple[str, ...]


def compile_query(name: str, text: str, paramstyle: Paramstyle) -> Query:
    order: list[str] = []

    def position(match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in order:
            order.append(param)
        if paramstyle == "numeric_dollar":
            return f"${order.index(param) + 1}"
        if paramstyle == "pyformat":
            return f"%({param})s"
        return f":{param}"

    if paramstyle == "pyformat":
        text = text.replace("%", "%%")
    sql = _PLACEHOLDER.sub(position, text)
    return Query(name=name, sql=sql, params=tuple(order))


def parse_queries(text: str, paramstyle: Paramstyle, source: str) -> dict[str, Query]:
    chunks = _NAME_LINE.split(text)
    queries: dict[str, Query] = {}
    for name, body in zip(chunks[1::2], chunks[2::2], strict=True):
        sql = _strip_comments(body).strip().rstrip(";").strip()
        if not sql:
            raise ValueError(f"{source}: query {name!r} is empty")
        if name in queries:
            raise ValueError(f"{source}: query {name!r} defined twice")
        queries[name] = compile_query(name, sql, paramstyle)
    return queries


def _strip_comments(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--"))


class Queries(Mapping[str, Query]):
    """Every named query of one dialect, loaded once from ``sql/<dialect>/*.sql``."""

    def __init__(self, dialect: Dialect, queries: dict[str, Query]) -> None:
        self.dialect = dialect
        self._queries = queries

    @classmethod
    def load(cls, dialect: Dialect, paramstyle: Paramstyle) -> Queries:
        folder = files("proxyd.sql").joinpath(dialect)
        queries: dict[str, Query] = {}
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".sql"):
                continue
            for name, query in parse_queries(entry.read_text("utf-8"), paramstyle, entry.name).items():
                if name in queries:
                    raise ValueError(f"sql/{dialect}/{entry.name}: query {name!r} already defined")
                queries[name] = query
        return cls(dialect, queries)

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no query {name!r} in sql/{self.dialect}/") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)


@functools.cache
def queries_for(dialect: Dialect, paramstyle: Paramstyle) -> Queries:
    """The queries of ``dialect`` for one placeholder style, read once per process.

    The async adapters and the legacy import's synchronous executor both take theirs from here, so a
    driver pair with the same style (sqlite3 and aiosqlite, PyMySQL and aiomysql) shares the very same
    ``Query`` objects; asyncpg (``$1``) and psycopg2 (``%(name)s``) get the same SQL, compiled twice.
    """
    return Queries.load(dialect, paramstyle)
