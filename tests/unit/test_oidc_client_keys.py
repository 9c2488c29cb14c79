"""The gateway's client keys: a directory rotated by file names, published as a JWKS."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.oidc.client_keys import ClientKeyRing, key_file_name
from rooms.clock import FakeClock
from rooms.errors import ConfigError
from tests.support.oidc.fake import new_rsa_key, pooled_rsa_keys, write_pem

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
PUBLIC_FIELDS = {"kty", "use", "alg", "kid", "n", "e"}


def ring(directory: Path, clock: FakeClock, **kwargs: object) -> ClientKeyRing:
    made = ClientKeyRing(
        directory,
        clock,
        signing_alg="RS256",
        encryption_alg="RSA-OAEP-256",
        grace=timedelta(hours=24),
        reload_seconds=60,
        new_key_bits=2048,
        **kwargs,  # type: ignore[arg-type]
    )
    made.load()
    return made


def put(directory: Path, use: str, starts: datetime, key: rsa.RSAPrivateKey) -> None:
    write_pem(directory, key_file_name(use, starts), key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """A sig and an enc key, both started an hour before T0."""
    directory = tmp_path / "keys"
    first_sig, first_enc = pooled_rsa_keys()[1:]
    put(directory, "sig", T0 - timedelta(hours=1), first_sig)
    put(directory, "enc", T0 - timedelta(hours=1), first_enc)
    return directory


def kids(jwks: dict[str, list[dict[str, object]]], use: str) -> list[object]:
    return [key["kid"] for key in jwks["keys"] if key["use"] == use]


def test_the_jwks_has_public_keys_only(keys: Path, clock: FakeClock) -> None:
    jwks = ring(keys, clock).public_jwks()
    assert [key["use"] for key in jwks["keys"]] == ["sig", "enc"]
    for key in jwks["keys"]:
        assert set(key) == PUBLIC_FIELDS
        assert key["kty"] == "RSA"
    assert [key["alg"] for key in jwks["keys"]] == ["RS256", "RSA-OAEP-256"]
    assert kids(jwks, "sig") != kids(jwks, "enc")


def test_an_empty_directory_gets_keys_of_its_own(tmp_path: Path, clock: FakeClock) -> None:
    directory = tmp_path / "new" / "keys"
    made = ring(directory, clock)
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["enc-20261203T100000Z.pem", "sig-20261203T100000Z.pem"]
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert made.signing_key().starts == T0


def test_a_new_key_is_published_before_it_is_used(keys: Path, clock: FakeClock) -> None:
    keyring = ring(keys, clock)
    old = keyring.signing_key()
    put(keys, "sig", T0 + timedelta(hours=2), new_rsa_key())
    clock.advance(30)
    assert len(kids(keyring.public_jwks(), "sig")) == 1  # not re-read within a minute
    clock.advance(30)
    published = kids(keyring.public_jwks(), "sig")
    assert len(published) == 2 and published[0] == old.kid  # the active one first
    assert keyring.signing_key().kid == old.kid
    clock.set(T0 + timedelta(hours=2))
    new = keyring.signing_key()
    assert new.kid != old.kid and new.kid == published[1]
    assert kids(keyring.public_jwks(), "sig") == [new.kid, old.kid]  # old kept for grace
    clock.set(T0 + timedelta(hours=26, seconds=-1))
    assert kids(keyring.public_jwks(), "sig") == [new.kid, old.kid]
    clock.set(T0 + timedelta(hours=26))
    assert kids(keyring.public_jwks(), "sig") == [new.kid]


def test_a_replaced_encryption_key_still_decrypts_for_the_grace_time(
    keys: Path, clock: FakeClock
) -> None:
    keyring = ring(keys, clock)
    [old] = keyring.decryption_keys(None)
    put(keys, "enc", T0 + timedelta(minutes=5), new_rsa_key())
    clock.advance(5 * 60)
    new = [k for k in keyring.decryption_keys(None) if k.kid != old.kid]
    assert [k.kid for k in keyring.decryption_keys(None)] == [new[0].kid, old.kid]
    assert keyring.decryption_keys(old.kid) == [old]
    assert keyring.decryption_keys("unknown") == []
    clock.advance(24 * 3600)
    assert keyring.decryption_keys(old.kid) == []


def test_a_deleted_key_is_gone_at_the_next_reading(keys: Path, clock: FakeClock) -> None:
    keyring = ring(keys, clock)
    put(keys, "enc", T0 - timedelta(minutes=5), new_rsa_key())
    keyring.load()
    assert len(keyring.decryption_keys(None)) == 2
    (keys / key_file_name("enc", T0 - timedelta(hours=1))).unlink()
    keyring.load()
    assert len(keyring.decryption_keys(None)) == 1


def test_the_kid_is_the_rfc7638_thumbprint(keys: Path, clock: FakeClock) -> None:
    from joserfc.jwk import RSAKey

    key = ring(keys, clock).signing_key()
    assert key.kid == RSAKey.import_key(key.private_key.public_key()).thumbprint()


def test_a_key_without_a_time_is_used_from_the_beginning(tmp_path: Path, clock: FakeClock) -> None:
    sig, enc = pooled_rsa_keys()[1:]
    write_pem(tmp_path, "sig.pem", sig)
    write_pem(tmp_path, "enc.pem", enc)
    write_pem(tmp_path, "notes.pem.bak", sig)  # ignored
    keyring = ring(tmp_path, clock)
    assert keyring.signing_key().starts.year == 1970
    assert len(keyring.public_jwks()["keys"]) == 2


def test_bad_files_stop_the_start(tmp_path: Path, clock: FakeClock) -> None:
    (tmp_path / "sig.pem").write_text("not a key")
    with pytest.raises(ConfigError, match=r"sig\.pem"):
        ring(tmp_path, clock)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    write_pem(tmp_path, "sig.pem", small)
    with pytest.raises(ConfigError, match="2048"):
        ring(tmp_path, clock)


def test_a_bad_file_later_keeps_the_keys_loaded(keys: Path, clock: FakeClock) -> None:
    keyring = ring(keys, clock)
    kid = keyring.signing_key().kid
    (keys / key_file_name("sig", T0)).write_text("broken")
    clock.advance(61)
    assert keyring.signing_key().kid == kid


def test_without_creation_an_empty_directory_is_an_error(tmp_path: Path, clock: FakeClock) -> None:
    with pytest.raises(ConfigError):
        ring(tmp_path / "missing", clock, create_missing=False)


def test_the_oidc_key_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    start = ["--start", "2027-01-01T00:00+02:00", "--dir", str(tmp_path)]
    assert main(["oidc-key", "--use", "enc", *start]) == 0
    assert "enc-20261231T220000Z.pem" in capsys.readouterr().out
    path = tmp_path / "enc-20261231T220000Z.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["oidc-key", "--use", "enc", *start]) == 2  # that one exists already
    assert "exists" in capsys.readouterr().err
    assert main(["oidc-key", "--use", "sig", "--start", "2027-01-01", "--dir", str(tmp_path)]) == 2
    assert "offset" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
