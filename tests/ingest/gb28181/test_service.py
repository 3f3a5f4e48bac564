"""The registrar against what SIPp cannot send: unknown and misaddressed devices, malformed
SIP and MANSCDP, hostile XML, a keepalive from another address, retransmissions, and a
restart that keeps registrations. Every refusal is answered (with a Warning naming why) and
the service goes on serving."""

from __future__ import annotations

import time

import pytest
import redis.asyncio

from camera.gb28181 import manscdp
from camera.gb28181.manscdp import CatalogItem
from camera.gb28181.sip_message import SipResponse, parse_message
from ingest.gb28181.service import Gb28181Service
from sharpeye.bus.gb28181 import read_channels, read_devices
from tests.ingest.gb28181.conftest import (
    OTHER_DEVICE,
    PASSWORD_ENV,
    PyDevice,
    config,
    first_request,
    send_raw,
    until,
)
from tests.ingest.gb28181.sipp import DEVICE_ID, PASSWORD

pytestmark = pytest.mark.integration

RAW_REGISTER = (
    "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKraw{n}\r\n"
    "From: <sip:{device}@3402000000>;tag=1\r\n"
    "To: <sip:{device}@3402000000>\r\n"
    "Call-ID: raw{n}\r\n"
    "CSeq: {cseq}\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n\r\n"
)


def raw_register(n: int, device: str = DEVICE_ID, cseq: str = "1 REGISTER") -> bytes:
    return RAW_REGISTER.format(n=n, device=device, cseq=cseq).encode()


def answer(data: bytes | None) -> SipResponse:
    assert data is not None, "no answer"
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message


async def test_unknown_device_and_wrong_domain_get_403_without_a_challenge(
    service: Gb28181Service,
) -> None:
    unknown = answer(await send_raw(service.port, raw_register(1, "34020000001329999999")))
    assert unknown.status == 403
    assert unknown.get("WWW-Authenticate") is None
    assert "not in the registry" in (unknown.get("Warning") or "")
    wrong = raw_register(2).replace(b"@3402000000 SIP/2.0", b"@4401000000 SIP/2.0")
    misaddressed = answer(await send_raw(service.port, wrong))
    assert misaddressed.status == 403
    assert "wrong domain" in (misaddressed.get("Warning") or "")
    known = answer(await send_raw(service.port, raw_register(3)))
    assert known.status == 401
    assert 'realm="3402000000"' in known.require("WWW-Authenticate")


async def test_malformed_sip_is_answered_400_naming_the_header(service: Gb28181Service) -> None:
    soon = raw_register(4).replace(b"Expires: 3600", b"Expires: soon")
    bad = answer(await send_raw(service.port, soon))
    assert bad.status == 400
    assert "bad Expires header" in (bad.get("Warning") or "")
    long_body = raw_register(5).replace(b"Content-Length: 0", b"Content-Length: 90")
    short = answer(await send_raw(service.port, long_body))
    assert short.status == 400
    assert "bad Content-Length header" in (short.get("Warning") or "")
    # CSeq itself unreadable: a 400 could not be matched to the request; silence instead.
    assert await send_raw(service.port, raw_register(6, cseq="x REGISTER"), wait=0.5) is None
    assert await send_raw(service.port, b"\x00garbage\r\n\r\n", wait=0.5) is None
    assert await send_raw(service.port, raw_register(8)[:80], wait=0.5) is None
    assert service.endpoint.refused >= 4
    still = answer(await send_raw(service.port, raw_register(7)))
    assert still.status == 401


async def test_registered_device_bad_bodies_are_400_and_it_keeps_working(
    service: Gb28181Service, bus: redis.asyncio.Redis
) -> None:
    async with PyDevice(service.port) as device:
        assert (await device.register()).status == 200
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Notify><CmdType>&b;</CmdType></Notify>'
        )
        refused = await device.message(bomb)
        assert refused.status == 400
        assert "refused XML" in (refused.get("Warning") or "")
        truncated = await device.message(manscdp.keepalive(1, DEVICE_ID)[:60])
        assert truncated.status == 400
        assert "malformed XML" in (truncated.get("Warning") or "")
        odd = manscdp.keepalive(2, DEVICE_ID).replace(b"OK</Status>", b"\x81</Status>")
        assert (await device.message(odd)).status == 400
        assert (await device.message(manscdp.keepalive(3, DEVICE_ID))).status == 200
        stored = (await read_devices(bus))[DEVICE_ID]
        assert stored.state == "online" and stored.last_keepalive is not None


async def test_catalog_query_follows_registration_and_parts_assemble(
    service: Gb28181Service, bus: redis.asyncio.Redis
) -> None:
    async with PyDevice(service.port) as device:
        assert (await device.register()).status == 200
        query = await until(lambda: first_request(device), "the catalog query after registering", 5)
        parsed = manscdp.parse(query.body)
        assert isinstance(parsed, manscdp.OtherMessage)
        assert (parsed.root, parsed.cmd_type, parsed.device_id) == ("Query", "Catalog", DEVICE_ID)
        items = [
            CatalogItem(f"3402000000131000000{i}", f"通道{i}", "camera", status="ON")
            for i in range(1, 4)
        ]
        # Three items over two messages; the second sent twice, as a device whose 200 was lost
        # sends it again in a new transaction: items are keyed by ID, so it counts once.
        first = manscdp.catalog_response(parsed.sn, DEVICE_ID, 3, items[:2])
        second = manscdp.catalog_response(parsed.sn, DEVICE_ID, 3, items[2:])
        assert (await device.message(first)).status == 200
        partial = (await read_devices(bus))[DEVICE_ID]
        assert (partial.catalog_sum, partial.catalog_received) == (3, 2)
        assert (await device.message(second)).status == 200
        assert (await device.message(second)).status == 200
        channels = await read_channels(bus, DEVICE_ID)
        assert sorted(c.name for c in channels.values()) == ["通道1", "通道2", "通道3"]
        # A later, smaller catalog replaces the first one whole.
        again = manscdp.catalog_response(parsed.sn + 1, DEVICE_ID, 1, items[:1])
        assert (await device.message(again)).status == 200
        assert list(await read_channels(bus, DEVICE_ID)) == [items[0].device_id]


async def test_message_rules(service: Gb28181Service) -> None:
    async with PyDevice(service.port, OTHER_DEVICE) as stranger:
        # Known but not registered: 403 (devices re-register on it).
        assert (await stranger.message(manscdp.keepalive(1, OTHER_DEVICE))).status == 403
    async with PyDevice(service.port) as device:
        assert (await device.register()).status == 200
        async with PyDevice(service.port, DEVICE_ID, host="127.0.0.2") as impostor:
            spoofed = await impostor.message(manscdp.keepalive(1, DEVICE_ID))
            assert spoofed.status == 403
            warning = spoofed.get("Warning") or ""
            assert "not from the address the device registered from" in warning
            assert "127.0.0.1" not in warning  # another device's address is not told
        wrong_id = await device.message(manscdp.keepalive(2, OTHER_DEVICE))
        assert wrong_id.status == 400


async def test_wrong_password_then_right_one(service: Gb28181Service) -> None:
    async with PyDevice(service.port) as device:
        refused = await device.register(password="not-it")
        assert refused.status == 403
        assert "wrong password" in (refused.get("Warning") or "")
        assert service.sessions == {}
        assert (await device.register(PASSWORD)).status == 200
        assert DEVICE_ID in service.sessions


async def test_expires_is_capped_and_zero_unregisters(
    service: Gb28181Service, bus: redis.asyncio.Redis
) -> None:
    async with PyDevice(service.port) as device:
        granted = await device.register(expires=999_999)
        assert granted.get("Expires") == "3600"
        assert granted.get("Date")  # devices set their clocks from it
        assert (await device.register(expires=0)).status == 200
        assert (await read_devices(bus))[DEVICE_ID].state == "unregistered"
        assert DEVICE_ID not in service.sessions


async def test_registrations_survive_a_restart(
    service: Gb28181Service, bus: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with PyDevice(service.port) as device:
        assert (await device.register()).status == 200
        port = service.port
        await service.stop()
        restarted = Gb28181Service(config(port), bus)
        await restarted.start()
        try:
            # No new REGISTER: the keepalive is accepted from the restored registration.
            assert (await device.message(manscdp.keepalive(1, DEVICE_ID))).status == 200
            stored = (await read_devices(bus))[DEVICE_ID]
            assert stored.effective_state(time.time()) == "online"
        finally:
            await restarted.stop()


async def test_a_password_that_cannot_be_looked_up_is_403_without_telling_why(
    service: Gb28181Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(PASSWORD_ENV)  # passwords are resolved at each REGISTER
    async with PyDevice(service.port) as device:
        refused = await device.register()
    assert refused.status == 403
    warning = refused.get("Warning") or ""
    assert "cannot check this device's password" in warning
    assert PASSWORD_ENV not in warning  # our configuration stays ours
    assert PASSWORD_ENV in caplog.text  # and the log says what to fix
