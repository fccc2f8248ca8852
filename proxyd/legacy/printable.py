"""File names from a legacy store, made safe to print, log and store.

A file name is whatever bytes the file system holds: a newline would forge a
report line, an escape sequence would repaint the admin's terminal, and a byte
that is not UTF-8 (kept by ``os.fsdecode`` as a lone surrogate) can neither be
printed nor stored in a database. :func:`printable` escapes all of them the way
Python's ``repr`` does, so every name in a report, a log line or the
``legacy_import`` table is one line of text that says which file was meant.
Record ids, names and tokens come from the same hand-editable files and are
shown the same way.
"""

from __future__ import annotations

from proxyd.keys.masking import mask_secret

_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# os.fsdecode turns each byte that is not UTF-8 into U+DC80..U+DCFF.
_UNDECODABLE = range(0xDC80, 0xDD00)


def printable(text: str) -> str:
    """``text`` with backslashes and non-printable characters escaped.

    ``\\xNN`` is an ASCII control character or a byte that is not UTF-8,
    ``\\uNNNN`` / ``\\UNNNNNNNN`` any other non-printable code point (line
    separators, bidirectional overrides, ...). Printable text is unchanged.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(ch) for ch in text)


def masked(secret: str) -> str:
    """:func:`mask_secret`, printable: a token's visible ends may hold control characters too."""
    return printable(mask_secret(secret))


def _escape(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code in _UNDECODABLE:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
