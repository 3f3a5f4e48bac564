"""`sharpeye gb28181 status` laid out for 100 columns: a device with long names, its info
and status, two streams on one channel and an unmapped channel render with every ID whole
on its line and nothing wider than 100 columns; the JSON is the API's shape (`DeviceOut`)."""

from __future__ import annotations

import json

from rich.console import Console

from ingest.gb28181.status import WIDTH, as_json, render
from sharpeye.bus.gb28181_view import ChannelView, DeviceView
from sharpeye.contracts.gb28181 import (
    GbAlarmDuty,
    GbCall,
    GbChannel,
    GbDevice,
    GbDeviceInfo,
    GbDeviceStatus,
)

NOW = 1_799_812_800.0
DEVICE = "34020000001320000001"
EAST, SOUTH = "34020000001310000001", "34020000001310000002"


def _view() -> DeviceView:
    device = GbDevice(
        device_id=DEVICE,
        name="东门 NVR 网络硬盘录像机",
        state="online",
        transport="UDP",
        address="192.168.100.200:50600",
        registered_at=NOW - 400,
        expires_at=NOW + 3200,
        last_keepalive=NOW - 3,
        keepalive_interval_s=60,
        keepalive_misses=3,
        catalog_sum=2,
        catalog_received=2,
        updated_at=NOW,
    )
    info = GbDeviceInfo(
        device_id=DEVICE,
        result="OK",
        device_name="东门硬盘录像机·堃",
        manufacturer="Dahua",
        model="DH-NVR4208-8P-4KS2",
        firmware="4.001.0000000.2.R,build:2022-03-15",
        channels=2,
        received_at=NOW - 300,
    )
    status = GbDeviceStatus(
        device_id=DEVICE,
        result="OK",
        online=True,
        status_ok=True,
        encode=True,
        record=False,
        device_time="2026-12-07T12:00:00",
        alarms=[
            GbAlarmDuty(alarm_id="34020000001340000001", duty="OFFDUTY"),
            GbAlarmDuty(alarm_id="34020000001340000002", duty="ALARM"),
        ],
        received_at=NOW - 300,
    )
    east = GbChannel(
        channel_id=EAST,
        device_id=DEVICE,
        name="东门入口·堃 (north side, by the gate)",
        kind="camera",
        status="ON",
        updated_at=NOW,
    )
    south = GbChannel(
        channel_id=SOUTH, device_id=DEVICE, name="南停车场镕", kind="camera", status="OFF",
        updated_at=NOW,
    )  # fmt: skip
    relay = GbCall(
        call_id="c1", device_id=DEVICE, channel_id=EAST, node_id="relay-node-a-0", role="relay",
        transport="udp", since=NOW - 12,
    )  # fmt: skip
    ingest = GbCall(
        call_id="c2", device_id=DEVICE, channel_id=EAST, node_id="node-a", role="ingest",
        transport="tcp", since=NOW - 4000,
    )  # fmt: skip
    return DeviceView(
        device=device,
        state="online",
        keepalive_age_s=3.0,
        info=info,
        status=status,
        channels=(
            ChannelView(east, "gb-east-gate", (relay, ingest)),
            ChannelView(south, None, ()),
        ),
        streams=(ingest, relay),
    )


def test_the_table_fits_100_columns_with_every_id_whole() -> None:
    console = Console(width=WIDTH, record=True, color_system=None)
    console.print(render([_view()], NOW))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    text = "\n".join(lines)
    for whole in (
        DEVICE,
        EAST,
        SOUTH,
        "udp 192.168.100.200:50600",
        "keepalive 3 s ago",
        "expires in 53 min",
        "catalog 2/2",
        "Dahua DH-NVR4208-8P-4KS2",
        "firmware 4.001.0000000.2.R,build:2022-03-15",
        "2 channels",
        "encode on",
        "record off",
        "alarms 1/2",
        "alarming: 34020000001340000002",
        "gb-east-gate",
        "relay relay-node-a-0 12 s",
        "ingest node-a 67 min",
        "1 registered, 1 online, 2 streams open",
    ):
        assert whole in text, f"{whole!r} not whole in:\n{text}"


def test_json_is_the_api_shape_in_full() -> None:
    (shown,) = json.loads(as_json([_view()], NOW))
    assert (shown["state"], shown["address"], shown["keepalive_age_s"]) == (
        "online",
        "192.168.100.200:50600",
        3.0,
    )
    assert [c["camera_id"] for c in shown["channels"]] == ["gb-east-gate", None]
    assert [s["node_id"] for s in shown["streams"]] == ["node-a", "relay-node-a-0"]
    assert [s["open_s"] for s in shown["channels"][0]["streams"]] == [12.0, 4000.0]
    assert len(shown["status"]["alarms"]) == 2
