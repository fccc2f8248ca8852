"""Logging for the journal: one line per event, text or JSON, secrets masked on the way out."""

from __future__ import annotations

import logging
import re
import sys
import time

import orjson

# GitHub tokens (gho_, ghu_, ghp_, ghs_, ghr_, github_pat_) and Copilot tokens
# (tid=...;exp=...). Nothing should log them; this filter makes sure.
_SECRETS = re.compile(r"\b(gh[oupsr]_|github_pat_)[A-Za-z0-9_]{8,}|\btid=[^\s\"',]+")


# yoyo narrates every migration step at INFO; aiosqlite logs every statement
# with its parameters (keys, tokens) at DEBUG.
QUIETER_LIBRARIES = {"yoyo": logging.WARNING, "aiosqlite": logging.INFO}


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: m.group(0)[:10] + "...[redacted]", text)


def _redact_value(value: object) -> object:
    """``value`` with every string in it redacted, inside lists, tuples and dicts too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        # No timestamp: the journal adds its own.
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            # Structured fields are redacted like the message: a path may carry a token.
            entry.update({key: _redact_value(value) for key, value in fields.items()})
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry).decode()


class OneLineLibraryWarnings(logging.Filter):
    """A library's warning keeps its exception's type and message, not its traceback.

    asyncpg logs a traceback each time its pool fails to reconnect while the database is
    unreachable, an outage proxyd already reports in one line and rides out. A library's
    errors keep their tracebacks: those may be bugs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.levelno <= logging.WARNING and not record.name.startswith("proxyd"):
            exc = record.exc_info[1]
            if exc is not None:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                record.msg, record.args = f"{record.getMessage()} ({reason})", None
            record.exc_info, record.exc_text = None, None
        return True


def configure(level: int, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(OneLineLibraryWarnings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in QUIETER_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(level, floor))
