"""The keys that protect tokens at rest: sealing them (AES-256-GCM) and the keyed hashes that find them.

A keyring is one or more 32-byte secrets; the first seals, every one opens
(``MultiFernet``'s rule), which is what lets a rotation run while proxyd serves.
From each secret three independent keys are derived with HKDF-SHA-256: the
AES-256-GCM key, the HMAC-SHA-256 key of the lookup hashes, and a short key id.

A sealed token is ``v1.<key id>.<base64url(nonce | ciphertext | tag)>``: a fresh
96-bit random nonce per seal, and as associated data the kind of token and the
id of the row it belongs to, so a ciphertext copied into another row or column
does not open. The key id says which key a value needs, so a rotation knows what
is left to do and a wrong key is named, without trying every key; it is derived
one-way and reveals nothing about the key.

The lookup hash of a token is HMAC-SHA-256 under the key's lookup key: stored
beside the ciphertext, unique and indexed, it finds the account a client
presents without decrypting anything, and without the key it is useless to
whoever reads the database (a plain hash of a token could be checked against
guesses offline).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from proxyd.errors import UndecryptableToken

KEY_BYTES = 32
NONCE_BYTES = 12
_FORMAT = "v1"
_KEY_ID_BYTES = 6  # 12 hex characters: enough to tell a keyring's keys apart, and to name one in a message

# What a sealed value is: bound into the ciphertext, so a GitHub token's ciphertext never opens as a Copilot token.
Purpose = Literal["github-token", "copilot-token"]


def parse_key(text: str) -> bytes:
    """A key as written in PROXYD_ENCRYPTION_KEY or the key file: 32 bytes in base64 (standard or URL-safe).

    ValueError (never quoting the text: it may be a real key with a typo) when it is not one.
    """
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{len(raw)} bytes instead of {KEY_BYTES}")
    return raw


def generate_key() -> str:
    """A new random key, written as ``openssl rand -base64 32`` writes one."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def _derive(secret: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"proxyd/v1/" + purpose).derive(secret)


@dataclass(frozen=True, slots=True, eq=False)
class TokenKey:
    """One secret's derived keys."""

    id: str
    _cipher: AESGCM = field(repr=False)
    _lookup: bytes = field(repr=False)

    @classmethod
    def derive(cls, secret: bytes) -> TokenKey:
        return cls(
            id=_derive(secret, b"key-id", _KEY_ID_BYTES).hex(),
            _cipher=AESGCM(_derive(secret, b"seal", KEY_BYTES)),
            _lookup=_derive(secret, b"lookup", KEY_BYTES),
        )

    def lookup_hash(self, token: str) -> str:
        return hmac.digest(self._lookup, token.encode("utf-8", "surrogatepass"), "sha256").hex()


def _associated(purpose: Purpose, row_id: str) -> bytes:
    return b"proxyd\x00" + purpose.encode() + b"\x00" + row_id.encode("utf-8", "surrogatepass")


class Keyring:
    """Keys in order: the first seals and makes the lookup hash of new rows; all of them open."""

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("a keyring needs at least one key")
        keys: dict[str, TokenKey] = {}
        for secret in secrets:
            key = TokenKey.derive(secret)
            keys.setdefault(key.id, key)  # the same key twice is one key
        self.keys = tuple(keys.values())
        self._by_id = keys

    @property
    def primary(self) -> TokenKey:
        return self.keys[0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def seal(self, plaintext: str, purpose: Purpose, row_id: str) -> str:
        key = self.primary
        nonce = os.urandom(NONCE_BYTES)
        sealed = key._cipher.encrypt(nonce, plaintext.encode("utf-8"), _associated(purpose, row_id))
        return f"{_FORMAT}.{key.id}.{base64.urlsafe_b64encode(nonce + sealed).rstrip(b'=').decode('ascii')}"

    def open(self, sealed: str, purpose: Purpose, row_id: str) -> str:
        """The plaintext of ``sealed``; UndecryptableToken when no key here opens it intact."""
        key_id = sealed_key_id(sealed)
        if key_id is None:
            raise UndecryptableToken("not a value proxyd sealed")
        key = self._by_id.get(key_id)
        if key is None:
            raise UndecryptableToken(f"sealed under key {key_id}, which is not in the keyring", key_id)
        body = sealed.split(".", 2)[2]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            opened = key._cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(purpose, row_id))
            return opened.decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            # Altered, truncated, or copied from another row: authenticated encryption refuses it whole.
            raise UndecryptableToken(f"sealed under key {key_id}, but not intact", key_id) from None

    def lookup_hash(self, token: str) -> str:
        """What a row sealed now stores beside the ciphertext, to be found by ``token``."""
        return self.primary.lookup_hash(token)

    def lookup_hashes(self, token: str) -> tuple[str, ...]:
        """The hash of ``token`` under every key, the sealing key's first: rows sealed under any of them are found."""
        return tuple(key.lookup_hash(token) for key in self.keys)


def sealed_key_id(sealed: str) -> str | None:
    """The id of the key ``sealed`` was sealed under, or None when it is not a sealed value at all."""
    parts = sealed.split(".", 2)
    if len(parts) != 3 or parts[0] != _FORMAT or len(parts[1]) != 2 * _KEY_ID_BYTES:
        return None
    return parts[1]
