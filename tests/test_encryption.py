"""The encryption of tokens at rest, without a database: the keyring, the key setting and the key file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from proxyd.config import Config
from proxyd.crypto import key_file
from proxyd.crypto.keyring import Keyring, generate_key, parse_key, sealed_key_id
from proxyd.crypto.source import FileKeys, StaticKeys, key_source
from proxyd.db.url import DatabaseUrl
from proxyd.errors import ConfigError, UndecryptableToken
from tests.manual_clock import ManualClock
from tests.state_files import assert_state_file_placement, race, refused_file

TOKEN = "gho_encryptionUnitTest000000000000000001"
OLD, NEW = generate_key(), generate_key()
OTHER_UID = 65534  # nobody


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------- the keyring


def test_sealed_tokens_open_only_where_they_were_sealed() -> None:
    keyring = Keyring([parse_key(NEW)])
    sealed = keyring.seal(TOKEN, "github-token", "row-1")
    assert TOKEN not in sealed and TOKEN[4:20] not in sealed
    assert sealed.startswith(f"v1.{keyring.primary.id}.")
    assert keyring.open(sealed, "github-token", "row-1") == TOKEN
    assert keyring.seal(TOKEN, "github-token", "row-1") != sealed  # a fresh nonce every time
    # Bound to its row and its kind: copied elsewhere, it does not open.
    for purpose, row_id in (("github-token", "row-2"), ("copilot-token", "row-1")):
        with pytest.raises(UndecryptableToken, match="not intact"):
            keyring.open(sealed, purpose, row_id)  # type: ignore[arg-type]
    # Any change is refused whole: authenticated encryption never hands back a wrong plaintext.
    head, body = sealed.rsplit(".", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for altered in (f"{head}.{flipped}", sealed[:-4], f"{head}.", "v1.x.y", "gho_not-sealed-at-all"):
        with pytest.raises(UndecryptableToken):
            keyring.open(altered, "github-token", "row-1")


def test_a_keyring_seals_with_its_first_key_and_opens_with_all() -> None:
    old, both = Keyring([parse_key(OLD)]), Keyring([parse_key(NEW), parse_key(OLD)])
    under_old = old.seal(TOKEN, "github-token", "r")
    assert both.open(under_old, "github-token", "r") == TOKEN
    under_new = both.seal(TOKEN, "github-token", "r")
    assert sealed_key_id(under_new) == both.primary.id != old.primary.id
    with pytest.raises(UndecryptableToken, match="not in the keyring") as refused:
        old.open(under_new, "github-token", "r")
    assert refused.value.key_id == both.primary.id
    # Lookup hashes: keyed (the key decides them), one per key, the sealing key's first.
    assert both.lookup_hashes(TOKEN) == (both.lookup_hash(TOKEN), old.lookup_hash(TOKEN))
    assert both.lookup_hash(TOKEN) != old.lookup_hash(TOKEN)
    assert len(both.lookup_hash(TOKEN)) == 64 and TOKEN not in both.lookup_hash(TOKEN)
    assert Keyring([parse_key(OLD), parse_key(OLD)]).ids == old.ids  # the same key twice is one key


def test_keys_are_32_bytes_in_base64_either_alphabet() -> None:
    raw = os.urandom(32)
    assert parse_key(base64.b64encode(raw).decode()) == raw
    assert parse_key(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    assert len(parse_key(generate_key())) == 32
    for bad in ("", "not base64 at all!", base64.b64encode(os.urandom(16)).decode()):
        with pytest.raises(ValueError):  # noqa: PT011 - the reason is worded for the operator
            parse_key(bad)


# --------------------------------------------------------------------------- the settings


def test_the_key_setting_is_checked_and_never_echoed() -> None:
    config = Config.from_env({"PROXYD_ENCRYPTION_KEY": f"{NEW}, {OLD}"})
    assert config.encryption_key == (NEW, OLD) and config.encryption_key_file is None
    assert NEW not in repr(config)
    secret_typo = NEW[:-3] + "!!="
    with pytest.raises(ConfigError, match=r"^PROXYD_ENCRYPTION_KEY: key 2 of 2 is not 32 bytes") as refused:
        Config.from_env({"PROXYD_ENCRYPTION_KEY": f"{NEW},{secret_typo}"})
    assert secret_typo not in refused.value.message and "openssl rand -base64 32" in refused.value.message
    with pytest.raises(ConfigError, match=r"^PROXYD_ENCRYPTION_KEY_FILE: set PROXYD_ENCRYPTION_KEY or"):
        Config.from_env({"PROXYD_ENCRYPTION_KEY": NEW, "PROXYD_ENCRYPTION_KEY_FILE": "/etc/proxyd/key"})


def test_where_the_key_file_goes() -> None:
    assert_state_file_placement("encryption_key_file", "PROXYD_ENCRYPTION_KEY_FILE", "encryption-key")


# --------------------------------------------------------------------------- the key file


def test_the_key_file_is_created_private_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "encryption-key"
    config = Config(database=DatabaseUrl.parse(f"sqlite:///{tmp_path / 'p.db'}"), encryption_key_file=path)
    previous = os.umask(0)
    try:
        first = key_source(config, create=True)
    finally:
        os.umask(previous)
    assert mode(path) == 0o600 and os.listdir(tmp_path) == ["encryption-key"]
    text = path.read_text()
    assert "Back this file up apart from the database" in text
    (key,) = key_file.read_keys(path)
    assert first.keyring().ids == Keyring([parse_key(key)]).ids
    assert key_source(config, create=True).keyring().ids == first.keyring().ids  # read again, not replaced
    assert key not in caplog.text and str(path) in caplog.text and "back it up" in caplog.text


def test_racing_processes_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "encryption-key"
    results = race(lambda: key_file.load_or_create(path))
    assert len({keys for keys, _ in results}) == 1 and sum(created for _, created in results) == 1


@pytest.mark.parametrize(
    ("content", "file_mode", "message"),
    [
        (f"{NEW}\n", 0o640, "accessible to other users (mode 0640: group may read it); run chmod 600"),
        (f"{NEW}\n", 0o604, "accessible to other users (mode 0604: others may read it)"),
        ("", 0o600, "does not hold a usable key (no key in it)"),
        ("# only a comment\n", 0o600, "does not hold a usable key (no key in it)"),
        ("not-a-key\n", 0o600, "does not hold a usable key (line 1: not base64"),
        (f"# header\n{NEW}\nshort\n", 0o600, "does not hold a usable key (line 3: "),
    ],
)
def test_unusable_key_files_are_refused_never_replaced(
    tmp_path: Path, content: str, file_mode: int, message: str
) -> None:
    refused = refused_file(
        tmp_path / "encryption-key", content.encode(), file_mode, key_file.load_or_create, "PROXYD_ENCRYPTION_KEY_FILE"
    )
    assert message in refused
    assert "delete it" not in refused  # losing the key loses every stored token


def test_a_key_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    path = tmp_path / "encryption-key"
    path.write_bytes(key_file.content(NEW))
    path.chmod(0o600)
    os.chown(path, OTHER_UID, -1)
    with pytest.raises(ConfigError) as refused:
        key_file.read_keys(path)
    assert refused.value.message.startswith(
        f"PROXYD_ENCRYPTION_KEY_FILE: {path} belongs to another user (uid {OTHER_UID}; proxyd runs as uid 0)"
    )
    assert "do not delete it" in refused.value.message


def test_a_missing_key_file_is_created_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "encryption-key"
    config = Config(database=DatabaseUrl.parse(f"sqlite:///{tmp_path / 'p.db'}"), encryption_key_file=path)
    with pytest.raises(ConfigError, match=r"^PROXYD_ENCRYPTION_KEY_FILE: .* does not exist: because"):
        key_source(config, create=False, missing=": because")
    assert not path.exists()
    assert isinstance(key_source(Config(encryption_key=(NEW,)), create=True), StaticKeys)


def test_a_replaced_key_file_is_followed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "encryption-key"
    path.write_bytes(key_file.content(OLD))
    path.chmod(0o600)
    clock = ManualClock()
    keys = FileKeys(path, (OLD,), check_interval=1.0, clock=clock)
    old_ids = keys.keyring().ids
    key_file.write_keys(path, [NEW, OLD], note="rotation")
    assert mode(path) == 0o600
    assert keys.keyring().ids == old_ids  # looked at again only once the interval is over
    clock.advance(1.0)
    assert keys.keyring().ids == Keyring([parse_key(NEW), parse_key(OLD)]).ids
    key_file.write_keys(path, [NEW])
    assert keys.refresh() and keys.keyring().ids == Keyring([parse_key(NEW)]).ids  # at once when asked
    path.write_text("garbage\n")  # a broken file keeps the keys read before, and says so once
    assert not keys.refresh() and not keys.refresh()
    assert keys.keyring().ids == Keyring([parse_key(NEW)]).ids
    assert caplog.text.count("keeping the keys read before") == 1
    assert NEW not in caplog.text and OLD not in caplog.text
