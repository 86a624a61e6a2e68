"""The portal's Ed25519 keys that sign the checkpoints' manifests (O1, docs/offline.md).

The private keys live in files under settings.MANIFEST_KEY_DIR (mode 0600 in a 0700 directory),
not in the database: neither the admin nor a database dump can sign a manifest. The directory
holds one PEM file per key (`<key id>.pem`) and `keyring.json` naming the current key and the
previous one. Manifests are signed with the current key; devices accept the current and the
previous public key, so a key can rotate while devices still hold manifests signed by the old
one. A rotation makes a new key current, keeps the old current one as previous and deletes the
key before that (it is no longer accepted anywhere).

A key id is the first 16 hex digits of the SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

KEYRING = "keyring.json"


class NoManifestKey(Exception):
    """No signing key has been made yet (`manage.py rotate_manifest_key`)."""


@dataclasses.dataclass(frozen=True)
class PublicKey:
    key_id: str
    raw: bytes
    role: str  # "current" | "previous"

    @property
    def base64(self) -> str:
        return base64.b64encode(self.raw).decode()


def _dir() -> Path:
    return Path(settings.MANIFEST_KEY_DIR)


def _raw_public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def key_id_of(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:16]


def _keyring() -> dict:
    try:
        return json.loads((_dir() / KEYRING).read_text())
    except FileNotFoundError:
        return {}


def current_key_id() -> str | None:
    return _keyring().get("current")


def _private(key_id: str) -> Ed25519PrivateKey:
    data = (_dir() / f"{key_id}.pem").read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise NoManifestKey(f"{key_id}.pem is not an Ed25519 key")
    return key


# (directory, keyring text) -> (current key id, its private key): read once per rotation.
_cache: dict[tuple[str, str], tuple[str, Ed25519PrivateKey]] = {}


def current_signer() -> tuple[str, Ed25519PrivateKey]:
    """(key id, private key) of the current key; NoManifestKey when none was made."""
    path = _dir() / KEYRING
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NoManifestKey(str(path)) from None
    cached = _cache.get((str(path), text))
    if cached is None:
        key_id = json.loads(text)["current"]
        cached = (key_id, _private(key_id))
        _cache.clear()
        _cache[(str(path), text)] = cached
    return cached


def sign(data: bytes) -> tuple[str, bytes]:
    """(key id, Ed25519 signature of `data`) with the current key."""
    key_id, private = current_signer()
    return key_id, private.sign(data)


# keyring text -> the public keys it names: the PEM files are read once per rotation.
_public_cache: dict[str, list[PublicKey]] = {}


def public_keys() -> list[PublicKey]:
    """The keys a device accepts: the current one first, then the previous one (if any)."""
    try:
        text = (_dir() / KEYRING).read_text()
    except FileNotFoundError:
        return []
    cached = _public_cache.get(f"{_dir()}\n{text}")
    if cached is None:
        cached = _public_keys_of(json.loads(text))
        _public_cache.clear()
        _public_cache[f"{_dir()}\n{text}"] = cached
    return list(cached)


def _public_keys_of(ring: dict) -> list[PublicKey]:
    found = []
    for role in ("current", "previous"):
        key_id = ring.get(role)
        if not key_id:
            continue
        try:
            raw = _raw_public(_private(key_id))
        except FileNotFoundError:
            continue
        found.append(PublicKey(key_id=key_id, raw=raw, role=role))
    return found


def verify(data: bytes, signature: bytes, key_id: str) -> bool:
    """Whether `signature` is a valid one of `data` by an accepted key named `key_id`."""
    for key in public_keys():
        if key.key_id == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(key.raw).verify(signature, data)
            except Exception:
                return False
            return True
    return False


def _write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(handle, mode)
        os.write(handle, data)
        os.fsync(handle)
    finally:
        os.close(handle)
    os.replace(temporary, path)


def rotate(*, only_if_missing: bool = False) -> tuple[str, str | None, list[str]]:
    """Make a new current key; the current one becomes previous, the previous one is deleted.
    Returns (new key id, previous key id, deleted key ids). With `only_if_missing` nothing
    happens when a current key exists (returns its id, the previous, [])."""
    folder = _dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    ring = _keyring()
    if only_if_missing and ring.get("current"):
        return ring["current"], ring.get("previous"), []
    private = Ed25519PrivateKey.generate()
    key_id = key_id_of(_raw_public(private))
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(folder / f"{key_id}.pem", pem)
    previous = ring.get("current")
    new_ring = {"current": key_id, "previous": previous}
    _write_atomically(folder / KEYRING, json.dumps(new_ring, indent=1).encode())
    deleted = []
    for pem_file in folder.glob("*.pem"):
        if pem_file.stem not in (key_id, previous):
            pem_file.unlink()
            deleted.append(pem_file.stem)
    _cache.clear()
    _public_cache.clear()
    return key_id, previous, sorted(deleted)
