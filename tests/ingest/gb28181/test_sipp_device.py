"""A real SIP peer, SIPp, plays a GB/T 28181 device against the service on 127.0.0.1, over
UDP and over TCP: it registers with Digest, keeps alive, answers the catalog query with two
GB2312 messages and the DeviceInfo and DeviceStatus queries as a Dahua NVR does, falls
silent (offline), comes back, and unregisters. A wrong password is refused 403. The state is
read back from Redis, as `sharpeye gb28181 status` reads it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio

from ingest.gb28181.service import Gb28181Service
from sharpeye.bus.gb28181 import (
    DEVICE_INFO_KEY,
    DEVICE_STATUS_KEY,
    read_channels,
    read_devices,
)
from sharpeye.contracts.gb28181 import GbAlarmDuty, GbDevice, GbDeviceInfo, GbDeviceStatus
from tests.ingest.gb28181.conftest import until
from tests.ingest.gb28181.sipp import DEVICE_ID, start_sipp

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def device_where(
    bus: redis.asyncio.Redis, test: Callable[[GbDevice], bool]
) -> GbDevice | None:
    device = (await read_devices(bus)).get(DEVICE_ID)
    return device if device is not None and test(device) else None


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
async def test_device_lifecycle(
    service: Gb28181Service, bus: redis.asyncio.Redis, tmp_path: Path, transport: str
) -> None:
    sipp = await start_sipp(
        "device.xml",
        service.port,
        tmp_path,
        transport=transport,
        # Keepalives 0.3 s apart, then 5 s of silence: offline after 3 s (1 s interval, 3 missed).
        variables={"ka_gap_ms": "300", "silence_ms": "5000", "end_ms": "500"},
    )
    try:
        registered = await until(
            lambda: device_where(bus, lambda d: d.state == "online" and d.catalog_received == 2),
            "the device online with its 2-item catalog",
        )
        assert registered.name == "东门 NVR"
        assert registered.transport == ("UDP" if transport == "u1" else "TCP")
        assert registered.catalog_sum == 2
        assert registered.expires_at - registered.registered_at == 3600

        channels = await read_channels(bus, DEVICE_ID)
        assert {c.channel_id: (c.name, c.status, c.kind) for c in channels.values()} == {
            "34020000001310000001": ("东门入口·堃", "ON", "camera"),
            "34020000001310000002": ("南停车场镕", "OFF", "camera"),
        }
        east = channels["34020000001310000001"]
        assert (east.address, east.longitude, east.latitude) == ("合肥市东门", 117.28, 31.86)
        assert east.device_id == DEVICE_ID

        async def answer(key: str) -> str | None:
            found: str | None = await bus.hget(key, DEVICE_ID)
            return found

        info = GbDeviceInfo.model_validate_json(
            await until(lambda: answer(DEVICE_INFO_KEY), "the DeviceInfo answer")
        )
        assert (info.result, info.device_name, info.manufacturer, info.model) == (
            "OK",
            "东门硬盘录像机·堃",
            "Dahua",
            "DH-NVR4208-8P-4KS2",
        )
        assert (info.firmware, info.channels) == ("4.001.0000000.2.R,build:2022-03-15", 2)
        status = GbDeviceStatus.model_validate_json(
            await until(lambda: answer(DEVICE_STATUS_KEY), "the DeviceStatus answer")
        )
        assert (status.result, status.online, status.status_ok) == ("OK", True, True)
        assert (status.encode, status.record, status.device_time) == (
            True,
            False,
            "2026-12-07T12:00:00",
        )
        assert status.alarms == [
            GbAlarmDuty(alarm_id="34020000001340000001", duty="OFFDUTY"),
            GbAlarmDuty(alarm_id="34020000001340000002", duty="ALARM"),
        ]

        offline = await until(
            lambda: device_where(bus, lambda d: d.state == "offline"),
            "the device offline after 3 missed keepalives",
        )
        assert offline.reason is not None and "no keepalive" in offline.reason
        assert offline.effective_state(time.time()) == "offline"

        back = await until(
            lambda: device_where(
                bus, lambda d: d.state == "online" and d.updated_at > offline.updated_at
            ),
            "the device online again after its next keepalive",
        )
        assert back.last_keepalive is not None

        rc, errors = await sipp.finish()
        assert rc == 0, errors
        final = (await read_devices(bus))[DEVICE_ID]
        assert final.state == "unregistered"
        assert final.effective_state(time.time()) == "unregistered"
        assert DEVICE_ID not in service.sessions
        # The catalog stays listed under its device (offline), for the wall to say so.
        assert len(await read_channels(bus, DEVICE_ID)) == 2
    finally:
        sipp.stop()


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
async def test_wrong_password_is_refused(
    service: Gb28181Service, bus: redis.asyncio.Redis, tmp_path: Path, transport: str
) -> None:
    # The scenario itself expects 401 then 403: SIPp fails on any other answer.
    sipp = await start_sipp(
        "wrong_password.xml", service.port, tmp_path, transport=transport, password="wrong"
    )
    try:
        rc, errors = await sipp.finish()
        assert rc == 0, errors
    finally:
        sipp.stop()
    assert await read_devices(bus) == {}
    assert service.sessions == {}
