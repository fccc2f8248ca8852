"""Logging for the journal: one line per event, text or JSON, secrets masked on the way out.

Whoever logs (proxyd, aiohttp, asyncio, a driver), every record that reaches
proxyd's handler is redacted first (``RedactSecrets``): its message with its
arguments, its traceback and stack (``JsonFormatter`` redacts the structured
fields it writes). The text format
then escapes control characters, so a client cannot forge log lines with a
CR/LF (or paint the terminal with ESC) in a path, a query or a header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import time
from typing import TextIO

import orjson

# GitHub tokens (gho_, ghu_, ghp_, ghs_, ghr_, github_pat_), client keys (pxd_) and Copilot tokens
# (tid=...;exp=...). Nothing should log them; this filter makes sure. What stays shows no more than
# a masked key does (the first 10 characters).
_SECRETS = re.compile(r"\b(gh[oupsr]_|github_pat_)[A-Za-z0-9_]{8,}|\bpxd_[A-Za-z0-9_-]{8,}|\btid=[^\s\"',]+")

# The value of an Authorization, Proxy-Authorization or x-api-key header, in
# any scheme and any shape it is printed in: a raw header line, a bytes repr
# (`b'Authorization: Bearer x\r\n...'`), a dict or multidict repr
# (`'authorization': 'Basic x'`), JSON (`"x-api-key":"x"`, escaped or not).
# The name must start a line or follow a quote, an escaped line break or
# punctuation, not a word: "the device authorization: denied" is prose.
# A quoted value ends at its closing quote; an unquoted one at the end of its
# line: a line break, an escaped `\r` / `\n`, or a `'` closing a repr.
# A malformed name (`Authorization\x01:`, `Authorization(:`, as aiohttp quotes the line it refuses)
# still counts: a few stray bytes, or their escapes, may stand between the name and its colon.
_HEADER_SECRET = re.compile(
    r"""(?P<head>(?:^|(?<=[\r\n'"(\[{,;:=<>|])|(?<=\\[rnt]))[ \t]*(?:(?:proxy-)?authorization|x-api-key)"""
    r"""(?:\\x[0-9a-f]{2}|[^\w\s:=\\'"]){0,8}"""
    r"""\\?["']?[ \t]*[:=][ \t]*(?P<quote>\\?["'])?)"""
    r"""(?P<value>(?(quote)(?:(?!(?P=quote))(?:\\.|[^\r\n]))*|(?:[^\r\n\\']|\\(?![rn])|'(?![\s,;)\]}]|\Z))*))""",
    re.IGNORECASE | re.MULTILINE,
)

# A query parameter named like a credential (api_key, key, token, access_token, client_secret,
# password, ...): its value. The name follows ? & or ; (``redact_query`` takes a query on its own).
_QUERY_SECRET = re.compile(
    r"(?P<head>(?<=[?&;])(?:[a-z0-9]+[_.-])*"
    r"(?:key|apikey|token|secret|password|passwd|pwd|auth|authorization|sig|signature|credentials?)=)"
    r"(?P<value>[^&;#\s\"']+)",
    re.IGNORECASE,
)

# A password in a URL: scheme://user:password@host.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^\s/@'\"]+(?=@)", re.IGNORECASE)

_REDACTED = "[redacted]"
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


# yoyo narrates every migration step at INFO; aiosqlite logs every statement
# with its parameters (keys, tokens) at DEBUG.
QUIETER_LIBRARIES = {"yoyo": logging.WARNING, "aiosqlite": logging.INFO}


# Secrets proxyd holds whose shape says nothing (the admin token, passwords): redacted by value.
_KNOWN_SECRETS: list[str] = []
# Shorter values are not redacted by value: they would mask unrelated text all over the log.
_KNOWN_SECRET_MIN_LENGTH = 6


def redact_values(*values: str | None) -> None:
    """Redact these values wherever they appear in any later log line (the admin token, say)."""
    for value in values:
        if value and len(value) >= _KNOWN_SECRET_MIN_LENGTH and value not in _KNOWN_SECRETS:
            _KNOWN_SECRETS.append(value)


def redact_query(query: str) -> str:
    """A query string (without its ``?``) with the values of parameters named like credentials redacted."""
    return _redact_query_parameters("?" + query)[1:] if "=" in query else query


def _redact_query_parameters(text: str) -> str:
    return _QUERY_SECRET.sub(lambda m: m.group("head") + _REDACTED, text) if "=" in text else text


def redact(text: str) -> str:
    # Every record goes through here (the access log once per request): the substring
    # checks spare the regular expressions most lines.
    for secret in _KNOWN_SECRETS:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    if "gh" in text or "tid=" in text or "pxd_" in text:
        text = _SECRETS.sub(lambda m: m.group(0)[:10] + "...[redacted]", text)
    text = _redact_query_parameters(text)
    lowered = text.lower()
    if "authorization" in lowered or "api-key" in lowered:
        text = _HEADER_SECRET.sub(_redact_header, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + _REDACTED, text)
    return text


def _redact_header(match: re.Match[str]) -> str:
    return match.group("head") + _REDACTED if match.group("value").strip() else match.group(0)


def _redact_value(value: object) -> object:
    """``value`` with every string in it redacted, inside lists, tuples and dicts too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


# Set on a record once RedactSecrets redacted it, so the formatters do not do it again.
_REDACTED_MARK = "_proxyd_redacted"


def escape_controls(text: str) -> str:
    """``text`` on one line: CR, LF, ESC and every other unprintable character as a visible escape."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    if char in _ESCAPES:
        return _ESCAPES[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


class RedactSecrets(logging.Filter):
    """Redacts a record in place before any formatter sees it; never drops one.

    Attached to the handler, not a logger, so it sees every library's records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _REDACTED_MARK, False):
            return True  # redacted by whoever made it (log_redacted), or by this filter on another handler
        try:
            message = record.getMessage()
        except Exception:  # a bad format string or arguments: keep what can be shown, safely
            message = f"{record.msg} [log arguments could not be formatted]"
        record.msg, record.args = redact(message), None
        setattr(record, _REDACTED_MARK, True)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        # Structured fields are left to JsonFormatter, the one formatter that writes them.
        return True


def _redacted_message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    return message if getattr(record, _REDACTED_MARK, False) else redact(message)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        # No timestamp: the journal adds its own.
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def event_line(self, level: int, logger: str, message: str, fields: dict[str, object]) -> str:
        """The line ``format`` writes for a record of ``message`` (redacted already), with no exception."""
        return f"{logging.getLevelName(level)} {logger}: {escape_controls(message)}"

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(_redacted_message(record))
        line = self.formatMessage(record)
        details = [text for text in (self._exception(record), record.stack_info) if text]
        if details:
            # Indented, so that no line of a traceback can pass for a record of its own.
            text = "\n".join(details)
            line += "\n" + "\n".join("  " + escape_controls(part) for part in redact(text).split("\n"))
        return line

    def _exception(self, record: logging.LogRecord) -> str | None:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return record.exc_text


class JsonFormatter(logging.Formatter):
    def event_line(self, level: int, logger: str, message: str, fields: dict[str, object]) -> str:
        """The line ``format`` writes for a record of ``message`` (redacted already) and ``fields``, now."""
        created = time.time()
        entry = self._entry(created, (created - int(created)) * 1000, level, logger, message, fields)
        return _json_line(entry)

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        entry = self._entry(
            record.created,
            record.msecs,
            record.levelno,
            record.name,
            _redacted_message(record),
            fields if isinstance(fields, dict) else {},
        )
        exception = record.exc_text or (self.formatException(record.exc_info) if record.exc_info else None)
        if exception:
            entry["exception"] = redact(exception)
        if record.stack_info:
            entry["stack"] = redact(record.stack_info)
        return _json_line(entry)

    @staticmethod
    def _entry(
        created: float, msecs: float, level: int, logger: str, message: str, fields: dict[str, object]
    ) -> dict[str, object]:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z",
            "level": logging.getLevelName(level).lower(),
            "logger": logger,
            "message": message,
        }
        # Structured fields are redacted like the message: a path may carry a token.
        entry.update({key: _redact_value(value) for key, value in fields.items()})
        return entry


def _json_line(entry: dict[str, object]) -> str:
    try:
        return orjson.dumps(entry).decode()
    except orjson.JSONEncodeError:
        # A lone surrogate (an undecodable header byte, say) is not valid UTF-8: escape it.
        return orjson.dumps(_unsurrogate(entry)).decode()


def _unsurrogate(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {str(_unsurrogate(key)): _unsurrogate(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_unsurrogate(item) for item in value]
    return value


def handler(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """The handler proxyd logs through: ``fmt`` is ``text`` or ``json``; every record is redacted."""
    out = LineWriter(stream or sys.stdout)
    out.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    out.addFilter(OneLineLibraryWarnings())  # first: the redaction then sees the line as written
    out.addFilter(RedactSecrets())
    return out


class LineWriter(logging.StreamHandler[TextIO]):
    """Writes the lines logged on an event loop's thread once per turn of the loop, together.

    Under load many requests end in one turn: their access lines cost one write instead of one
    each. A line waits at most until the loop's next turn; a line from another thread, ``flush()``
    (``logging.shutdown`` at exit runs it) and ``close()`` write what waits first, in order.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []
        # The loop a flush is scheduled on: a loop that ended before running it must not hold lines back.
        self._flushing_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._queue(line, record)

    def write_event(self, level: int, logger: str, message: str, fields: dict[str, object]) -> None:
        """What ``emit`` writes for such a record, without making one: ``message`` is redacted already."""
        formatter = self.formatter
        assert isinstance(formatter, _OWN_FORMATTERS)  # sole_writer() sends no other here
        try:
            line = formatter.event_line(level, logger, message, fields) + self.terminator
        except Exception:
            self.handleError(_event_record(level, logger, message, fields))
            return
        self.acquire()  # as Handler.handle does around emit: a flush from another thread may be under way
        try:
            self._queue(line, None)
        finally:
            self.release()

    def _queue(self, line: str, record: logging.LogRecord | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not the event loop's thread: no turn to wait for
            self._waiting.append(line)
            self._write_waiting(record)
            return
        if not self._waiting or self._flushing_on is not loop:
            self._flushing_on = loop
            loop.call_soon(self.flush)
        self._waiting.append(line)

    def flush(self) -> None:
        with self.lock if self.lock is not None else contextlib.nullcontext():
            self._write_waiting(None)

    def _write_waiting(self, record: logging.LogRecord | None) -> None:
        text = "".join(self._waiting)
        self._waiting.clear()
        try:
            if text:
                self.stream.write(text)
            self.stream.flush()
        except Exception:
            self.handleError(record or logging.makeLogRecord({"msg": "log lines could not be written"}))


def log_redacted(logger: logging.Logger, level: int, message: str, fields: dict[str, object]) -> None:
    """Log ``message``, already redacted by its caller, with structured ``fields``: the access log's fast path.

    When proxyd's own handler alone would write it (as ``configure`` sets logging up), the line goes
    to it directly: no record, no filters, no handler lookup, the same line. Otherwise (a test's
    capture, another handler) it is a record like any other, without what ``Logger.log`` does per
    call that proxyd's formatters never show (finding the caller's file and line) or a second
    redaction of the message. The fields are redacted on output either way.
    """
    if not logger.isEnabledFor(level):
        return
    writer = sole_writer(logger)
    if writer is not None and level >= writer.level:
        writer.write_event(level, logger.name, message, fields)
        return
    logger.handle(_event_record(level, logger.name, message, fields))


def _event_record(level: int, logger: str, message: str, fields: dict[str, object]) -> logging.LogRecord:
    return logging.makeLogRecord(
        {
            "name": logger,
            "levelno": level,
            "levelname": logging.getLevelName(level),
            "msg": message,
            "fields": fields,
            _REDACTED_MARK: True,
        }
    )


def sole_writer(logger: logging.Logger) -> LineWriter | None:
    """The ``LineWriter`` that alone writes ``logger``'s records, with proxyd's formatter and filters; else None."""
    # Runs for every access line: exact types against tuples, no generator (a ``A | B`` is a new object each call).
    found: LineWriter | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for candidate in current.handlers:
            if found is not None or type(candidate) is not LineWriter:
                return None
            if type(candidate.formatter) not in _OWN_FORMATTERS:
                return None
            for each in candidate.filters:
                if type(each) not in _OWN_FILTERS:
                    return None
            found = candidate
        current = current.parent if current.propagate else None
    return found


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


# What sole_writer() accepts on the way to the direct path: proxyd's own, as handler() sets them up.
_OWN_FORMATTERS = (TextFormatter, JsonFormatter)
_OWN_FILTERS = (OneLineLibraryWarnings, RedactSecrets)


def configure(level: int, fmt: str) -> None:
    # No format of proxyd's shows a record's thread or process: not looking them up saves every record
    # (the access log's one per request) a few microseconds, as the logging HOWTO's "Optimization" suggests.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler(fmt)]
    root.setLevel(level)
    for name, floor in QUIETER_LIBRARIES.items():
        logging.getLogger(name).setLevel(max(level, floor))
