"""DeviceInfo and DeviceStatus from the service's side, against what SIPp cannot send: the
queries follow the catalog's, one at a time; an answer is stored only when it carries the
SN of a query that is waiting; an answer naming another device, or malformed, is a 400
naming why; an answer nobody asked for is a 200, dropped; the API's on-demand request
makes the service ask again."""

from __future__ import annotations

import time

import pytest
import redis.asyncio

from camera.gb28181 import manscdp
from camera.gb28181.device_info import (
    DeviceInfoResponse,
    DeviceStatusResponse,
    device_info_response,
    device_status_response,
)
from ingest.gb28181.service import Gb28181Service
from sharpeye.bus.gb28181 import DEVICE_INFO_KEY, DEVICE_STATUS_KEY, ask_device_query
from sharpeye.contracts.gb28181 import GbDeviceInfo, GbDeviceQuery, GbDeviceStatus
from tests.ingest.gb28181.conftest import OTHER_DEVICE, PyDevice, until
from tests.ingest.gb28181.sipp import DEVICE_ID

pytestmark = pytest.mark.integration


def _queries(device: PyDevice) -> list[manscdp.OtherMessage]:
    out = []
    for request in device.requests:
        parsed = manscdp.parse(request.body)
        assert isinstance(parsed, manscdp.OtherMessage) and parsed.root == "Query"
        out.append(parsed)
    return out


async def test_answers_are_matched_to_their_query(
    service: Gb28181Service, bus: redis.asyncio.Redis
) -> None:
    async with PyDevice(service.port) as device:
        assert (await device.register()).status == 200

        async def three() -> list[manscdp.OtherMessage] | None:
            found = _queries(device)
            return found if len(found) == 3 else None

        catalog, info_q, status_q = await until(three, "the three queries after registering", 10)
        assert [q.cmd_type for q in (catalog, info_q, status_q)] == [
            "Catalog",
            "DeviceInfo",
            "DeviceStatus",
        ]
        assert len({catalog.sn, info_q.sn, status_q.sn}) == 3

        info = DeviceInfoResponse(DEVICE_ID, info_q.sn + 100, "OK", "西门", "Uniview", "IPC")
        # Not the SN asked: answered (a retransmission would not help), not stored.
        assert (await device.message(device_info_response(info))).status == 200
        assert await bus.hget(DEVICE_INFO_KEY, DEVICE_ID) is None
        # Another device's answer from this one: refused, naming it.
        other = DeviceInfoResponse(OTHER_DEVICE, info_q.sn, "OK")
        refused = await device.message(device_info_response(other))
        assert refused.status == 400
        assert f"DeviceInfo names device {OTHER_DEVICE}" in (refused.get("Warning") or "")
        # Malformed: refused, naming the element.
        bad = device_status_response(DeviceStatusResponse(DEVICE_ID, status_q.sn, "OK", True))
        bad = bad.replace(b"<Online>ONLINE</Online>", b"<Online>MAYBE</Online>")
        malformed = await device.message(bad)
        assert malformed.status == 400 and "<Online>" in (malformed.get("Warning") or "")

        right = DeviceInfoResponse(DEVICE_ID, info_q.sn, "OK", "西门·堃", "Uniview", "IPC", "B1", 4)
        assert (await device.message(device_info_response(right))).status == 200
        stored = GbDeviceInfo.model_validate_json(await bus.hget(DEVICE_INFO_KEY, DEVICE_ID))
        assert (stored.device_name, stored.manufacturer, stored.channels) == (
            "西门·堃",
            "Uniview",
            4,
        )
        # Once: the same answer again is one nobody waits for.
        assert (await device.message(device_info_response(right))).status == 200
        status = DeviceStatusResponse(DEVICE_ID, status_q.sn, "OK", True, True, "", True, False)
        assert (await device.message(device_status_response(status))).status == 200
        kept = GbDeviceStatus.model_validate_json(await bus.hget(DEVICE_STATUS_KEY, DEVICE_ID))
        assert (kept.online, kept.encode, kept.record, kept.alarms) == (True, True, False, [])

        # On demand (as the API asks): two more queries, and their answer replaces the last.
        query = GbDeviceQuery(device_id=DEVICE_ID, asked_by="admin", expires_at=time.time() + 60)
        await ask_device_query(bus, query)

        async def five() -> list[manscdp.OtherMessage] | None:
            found = _queries(device)
            return found if len(found) == 5 else None

        again = (await until(five, "the on-demand queries", 10))[3:]
        assert [q.cmd_type for q in again] == ["DeviceInfo", "DeviceStatus"]
        newer = DeviceStatusResponse(DEVICE_ID, again[1].sn, "OK", True, False, "disk full")
        assert (await device.message(device_status_response(newer))).status == 200
        kept = GbDeviceStatus.model_validate_json(await bus.hget(DEVICE_STATUS_KEY, DEVICE_ID))
        assert (kept.status_ok, kept.reason) == (False, "disk full")
