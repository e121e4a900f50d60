"""The payload codec (AES-256-GCM, key id in the metadata, rotation) and the codec server."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from tests.unit.conftest import PRODUCTION_PLACES
from withdraw_service.api.auth import token_for
from withdraw_service.bootstrap import data_converter
from withdraw_service.codec import ENCODING, KEY_ID, CodecError, EncryptionCodec, KeyRing
from withdraw_service.codec_server import create_codec_app
from withdraw_service.settings import DEV_CODEC_KEYS, Settings
from withdraw_service.workflows.models import OtpSubmission

OLD = base64.b64encode(b"o" * 32).decode()
NEW = base64.b64encode(b"n" * 32).decode()
SECRET = "a-test-jwt-secret-that-is-long-enough-0123456789"


def _plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def _codec(spec: str, active: str | None = None) -> EncryptionCodec:
    return EncryptionCodec(KeyRing.parse(spec, active))


async def test_round_trip_hides_the_plaintext_and_names_the_key() -> None:
    codec = _codec(f"k1:{OLD}")
    original = [_plain('{"otp_code":"654321"}'), _plain('"DWAA001001-ABC"')]
    sealed = await codec.encode(original)
    for payload in sealed:
        assert payload.metadata["encoding"] == ENCODING
        assert payload.metadata[KEY_ID] == b"k1"
        assert b"654321" not in payload.SerializeToString()
        assert b"DWAA001001" not in payload.SerializeToString()
    assert await codec.decode(sealed) == original


async def test_each_encryption_uses_a_fresh_nonce() -> None:
    codec = _codec(f"k1:{OLD}")
    first, second = await codec.encode([_plain("same"), _plain("same")])
    assert first.data != second.data


async def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    before = _codec(f"old:{OLD}")
    sealed_before = await before.encode([_plain("before rotation")])

    during = _codec(f"new:{NEW},old:{OLD}")  # the new key first: it encrypts
    sealed_during = await during.encode([_plain("during rotation")])
    assert sealed_during[0].metadata[KEY_ID] == b"new"
    assert await during.decode(sealed_before) == [_plain("before rotation")]
    assert await during.decode(sealed_during) == [_plain("during rotation")]

    after = _codec(f"new:{NEW}")  # the old key retired
    assert await after.decode(sealed_during) == [_plain("during rotation")]
    with pytest.raises(CodecError, match="unknown key id 'old'"):
        await after.decode(sealed_before)


async def test_active_key_can_be_named() -> None:
    codec = _codec(f"new:{NEW},old:{OLD}", active="old")
    assert (await codec.encode([_plain("x")]))[0].metadata[KEY_ID] == b"old"


async def test_tampering_and_relabelling_are_refused() -> None:
    codec = _codec(f"a:{OLD},b:{NEW}")
    (sealed,) = await codec.encode([_plain("amount 150.00")])
    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(CodecError, match="does not decrypt"):
        await codec.decode([flipped])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID] = b"b"  # the key id is authenticated data
    with pytest.raises(CodecError, match="does not decrypt"):
        await codec.decode([relabelled])


async def test_payloads_from_before_the_codec_pass_through_only_where_allowed() -> None:
    allowing = EncryptionCodec(KeyRing.parse(f"k1:{OLD}"), allow_plaintext=True)
    assert await allowing.decode([_plain("recorded in the clear")]) == [
        _plain("recorded in the clear")
    ]
    # Outside dev mode a plaintext input is refused: whoever reaches the Temporal frontend
    # cannot start a withdrawal or submit an update with an input of their own.
    with pytest.raises(CodecError, match="not encrypted"):
        await _codec(f"k1:{OLD}").decode([_plain('{"otp_code":"123456"}')])


def test_the_converter_refuses_plaintext_outside_dev_unless_replaying() -> None:
    def allows(settings: Settings) -> bool:
        codec = data_converter(settings).payload_codec
        assert isinstance(codec, EncryptionCodec)
        return codec._allow_plaintext

    assert allows(DEV)
    assert not allows(PROD)
    assert allows(PROD.model_copy(update={"codec_allow_plaintext": True}))


@pytest.mark.parametrize(
    ("spec", "active", "message"),
    [
        ("", None, "no codec key"),
        ("k1", None, "must look like"),
        (f":{OLD}", None, "must look like"),
        ("k1:not base64!", None, "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", None, "must be 32 bytes"),
        (f"k1:{OLD},k1:{NEW}", None, "listed twice"),
        (f"k1:{OLD}", "k2", "not among the keys"),
    ],
)
def test_bad_key_configuration_is_refused_without_echoing_keys(
    spec: str, active: str | None, message: str
) -> None:
    with pytest.raises(CodecError, match=message) as caught:
        KeyRing.parse(spec, active)
    assert OLD not in str(caught.value) and NEW not in str(caught.value)


ADDRESSED: dict[str, Any] = PRODUCTION_PLACES


def test_production_refuses_the_dev_key() -> None:
    with pytest.raises(ValueError, match="WITHDRAW_CODEC_KEYS"):
        Settings(environment="production", jwt_secret=SECRET, **ADDRESSED).check_production()
    Settings(
        environment="production", jwt_secret=SECRET, codec_keys=f"k:{OLD}", **ADDRESSED
    ).check_production()
    assert DEV_CODEC_KEYS.startswith("dev-1:")


async def test_the_service_converter_encrypts_pydantic_payloads() -> None:
    converter = data_converter(Settings(environment="dev"))
    encoded = await converter.encode([OtpSubmission(otp_code="246810"), Decimal("150.00")])
    assert all(p.metadata["encoding"] == ENCODING for p in encoded)
    assert not any(b"246810" in p.SerializeToString() for p in encoded)
    decoded = await converter.decode(encoded, [OtpSubmission, Decimal])
    assert decoded == [OtpSubmission(otp_code="246810"), Decimal("150.00")]


# -- the codec server ---------------------------------------------------------------------------


def _client(settings: Settings) -> httpx.AsyncClient:
    app = create_codec_app(settings, _codec(settings.codec_keys.get_secret_value()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


def _body(payloads: list[Payload]) -> dict[str, object]:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def _payloads(body: dict[str, object]) -> list[Payload]:
    return list(json_format.ParseDict(body, Payloads()).payloads)


DEV = Settings(environment="dev", codec_keys=f"k1:{OLD}")
PROD = Settings(environment="production", jwt_secret=SECRET, codec_keys=f"k1:{OLD}", **ADDRESSED)


@pytest.mark.parametrize("path", ["/decode", "/default/decode"])
async def test_codec_server_decodes_what_the_worker_encoded(path: str) -> None:
    sealed = await _codec(f"k1:{OLD}").encode([_plain('{"otp_code":"135790"}')])
    async with _client(DEV) as client:
        answer = await client.post(path, json=_body(sealed), headers={"X-Namespace": "default"})
    assert answer.status_code == 200, answer.text
    assert _payloads(answer.json()) == [_plain('{"otp_code":"135790"}')]


async def test_codec_server_encodes() -> None:
    async with _client(DEV) as client:
        answer = await client.post("/encode", json=_body([_plain("x")]))
    (sealed,) = _payloads(answer.json())
    assert sealed.metadata[KEY_ID] == b"k1"
    assert await _codec(f"k1:{OLD}").decode([sealed]) == [_plain("x")]


async def test_codec_server_refusals() -> None:
    foreign = await _codec(f"zz:{NEW}").encode([_plain("x")])
    async with _client(DEV) as client:
        other_ns = await client.post("/decode", json={}, headers={"X-Namespace": "other"})
        other_path = await client.post("/other/decode", json={})
        garbage = await client.post("/decode", content=b"not json")
        unknown_key = await client.post("/decode", json=_body(foreign))
        wrong_method = await client.get("/decode")
        empty = await client.post("/decode", json={})
    assert other_ns.status_code == other_path.status_code == 403
    assert garbage.status_code == 400
    assert unknown_key.status_code == 422 and "unknown key id 'zz'" in unknown_key.text
    assert wrong_method.status_code == 405
    assert empty.status_code == 200 and empty.json() == {"payloads": []}


async def test_codec_server_outside_dev_wants_an_operator() -> None:
    sealed = await _codec(f"k1:{OLD}").encode([_plain("x")])

    def bearer(roles: list[str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {token_for(PROD, 'op-1', roles, 60)}"}

    async with _client(PROD) as client:
        anonymous = await client.post("/decode", json=_body(sealed))
        customer = await client.post("/decode", json=_body(sealed), headers=bearer(["customer"]))
        operator = await client.post("/decode", json=_body(sealed), headers=bearer(["ops"]))
    assert anonymous.status_code == 401
    assert customer.status_code == 403
    assert operator.status_code == 200 and _payloads(operator.json()) == [_plain("x")]


async def test_every_decode_is_logged_with_its_caller_never_its_payloads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sealed = await _codec(f"k1:{OLD}").encode([_plain("secret-note-4711")])
    headers = {"Authorization": f"Bearer {token_for(PROD, 'ops-dana', ['ops'], 60)}"}
    with caplog.at_level(logging.INFO, logger="withdraw_service.codec_server"):
        async with _client(PROD) as client:
            answer = await client.post("/decode", json=_body(sealed), headers=headers)
    assert answer.status_code == 200
    (record,) = [r for r in caplog.records if r.name == "withdraw_service.codec_server"]
    assert record.getMessage() == "codec decode of 1 payloads for ops-dana"
    assert record.__dict__["operator"] == "ops-dana"
    assert "secret-note-4711" not in caplog.text


async def test_a_body_over_the_limit_is_refused_while_it_streams() -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 64 MiB if it were all read
            sent += 1
            yield b"x" * (1024 * 1024)

    async with _client(DEV) as client:
        answer = await client.post("/decode", content=chunks())
    assert answer.status_code == 413
    assert answer.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert sent <= 6  # stopped after about 4 MiB, not after 64


async def test_codec_server_lets_only_the_web_ui_origin_call_from_a_browser() -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        }

    async with _client(DEV) as client:
        ui = await client.options("/decode", headers=preflight("http://127.0.0.1:8233"))
        other = await client.options("/decode", headers=preflight("http://evil.example"))
    assert ui.status_code == 200
    assert ui.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    assert "access-control-allow-origin" not in other.headers


def test_the_codec_server_needs_only_its_secrets_outside_dev() -> None:
    """It reaches neither Temporal nor a database nor the external services: their checks are
    the API's and the worker's, not its own."""
    minimal = Settings(
        environment="production",
        jwt_secret=SECRET,
        codec_keys=f"k1:{OLD}",
        jwt_audience="withdraw-api",
        jwt_issuer="https://id.test/",
        temporal_address="temporal.internal:7233",
    )
    create_codec_app(minimal, _codec(f"k1:{OLD}"))
    with pytest.raises(ValueError, match="needs TLS"):  # what the worker would be refused
        minimal.check_production()
