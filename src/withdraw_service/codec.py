"""Encrypted Temporal payloads: every workflow and activity argument, result, update and query
payload (the OTP in `submitOtp` and `finalizeTransfer`, the redemption id that embeds the
account number, amounts, names) leaves the API and the worker as AES-256-GCM ciphertext, so the
Temporal server and its history never hold them in the clear.

Each encrypted payload names its key in the metadata (`encryption-key-id`), so keys rotate
without re-encrypting history: the active key encrypts, and every key still listed decrypts.
A payload without our encoding (history recorded before the codec existed) passes through
unchanged, so old executions and the checked-in replay histories keep working.

Search attributes are not payloads and stay readable (they are meant for searching): the
workflow puts only the correlationId, the userId and the status there.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE_BYTES = 12


class CodecError(ValueError):
    """A payload or a key cannot be used. The message never holds key material or plaintext."""


@dataclass(frozen=True)
class KeyRing:
    """The keys by id; `active` encrypts, all of them decrypt."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise CodecError(f"the active key id {self.active!r} is not among the keys")

    @classmethod
    def parse(cls, spec: str, active: str | None = None) -> KeyRing:
        """`id:base64key[,id:base64key...]`; the first key is active unless `active` names
        another. Keys are 32 bytes (AES-256), base64-encoded."""
        keys: dict[str, bytes] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise CodecError("codec keys must look like 'id:base64key[,id:base64key...]'")
            if key_id in keys:
                raise CodecError(f"codec key id {key_id!r} is listed twice")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise CodecError(f"codec key {key_id!r} is not valid base64") from None
            if len(key) != 32:
                raise CodecError(f"codec key {key_id!r} must be 32 bytes (AES-256)")
            keys[key_id] = key
        if not keys:
            raise CodecError("no codec key configured")
        return cls(keys=keys, active=active or next(iter(keys)))


def new_key() -> str:
    """A fresh random key, base64-encoded, for `WITHDRAW_CODEC_KEYS`."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


class EncryptionCodec(PayloadCodec):
    """`allow_plaintext`: pass payloads that are not encrypted through as they are (dev mode,
    and replaying histories recorded before the codec). Otherwise such a payload is refused:
    whoever reaches the Temporal frontend cannot hand the worker an input of their own (a
    workflow start, an update's OTP) without the key."""

    def __init__(self, ring: KeyRing, allow_plaintext: bool = False) -> None:
        self._ring = ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()}
        self._allow_plaintext = allow_plaintext

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._ring.active
        nonce = os.urandom(_NONCE_BYTES)
        # The key id is authenticated too: a payload cannot be relabelled to another key.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if self._allow_plaintext:
                return payload  # recorded before the codec: nothing to decrypt
            raise CodecError("refused a payload that is not encrypted (WITHDRAW_CODEC_KEYS)")
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(f"payload encrypted with unknown key id {key_id!r}")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag:
            raise CodecError(f"payload does not decrypt with key {key_id!r}") from None
        return Payload.FromString(plain)
