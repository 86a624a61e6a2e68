"""A small software authenticator for passkey tests: what a browser and a platform authenticator
together hand to the server, built by hand from the WebAuthn specification.

One P-256 key per credential (COSE algorithm -7, ES256), "none" attestation, CBOR by `cbor2`
(installed with `webauthn`). Registration gives the JSON of `PublicKeyCredential` after
`navigator.credentials.create()`; an assertion gives the JSON after `navigator.credentials.get()`:
the signature covers authenticatorData ‖ SHA-256(clientDataJSON).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Flags of authenticatorData (WebAuthn §6.1).
USER_PRESENT = 0x01
USER_VERIFIED = 0x04
ATTESTED_CREDENTIAL_DATA = 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One passkey: `create(options)` registers it, `get(options)` signs in with it.

    Every argument that a test may want to get wrong (origin, challenge, rp id, sign count, the
    signature itself) can be given explicitly; by default the authenticator behaves like a real
    one and takes them from the options the server sent.
    """

    def __init__(self, *, origin: str, rp_id: str | None = None, aaguid: bytes = bytes(16)):
        self.origin = origin
        self.rp_id = rp_id
        self.aaguid = aaguid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle: bytes | None = None
        self.sign_count = 0

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            },
            separators=(",", ":"),
        ).encode()

    def _auth_data(self, rp_id: str, flags: int, sign_count: int, attested: bytes = b"") -> bytes:
        rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", sign_count) + attested

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        challenge: str | None = None,
        rp_id: str | None = None,
    ) -> dict[str, Any]:
        """The registration response to `PublicKeyCredentialCreationOptions` in JSON form."""
        rp_id = rp_id or self.rp_id or options["rp"]["id"]
        self.user_handle = b64url_decode(options["user"]["id"])
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        attested = (
            self.aaguid
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self.cose_public_key()
        )
        auth_data = self._auth_data(
            rp_id,
            USER_PRESENT | USER_VERIFIED | ATTESTED_CREDENTIAL_DATA,
            self.sign_count,
            attested,
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        challenge: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        corrupt_signature: bool = False,
    ) -> dict[str, Any]:
        """The assertion for `PublicKeyCredentialRequestOptions` in JSON form. The sign count goes
        up by one each time unless `sign_count` is given."""
        rp_id = rp_id or self.rp_id or options["rpId"]
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = self._auth_data(rp_id, USER_PRESENT | USER_VERIFIED, sign_count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if corrupt_signature:
            # Same length and DER shape, another message signed: verification must fail.
            signature = self.key.sign(signed + b"x", ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle) if self.user_handle else None,
            },
            "clientExtensionResults": {},
        }
