"""DeviceInfo and DeviceStatus answers as Hikvision and Dahua devices send them (GB2312
declared, GBK characters inside), read strictly: every malformed value refused naming its
element, lists bounded, and nothing but ManscdpError out of any mutation."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.gb28181.device_info import (
    MAX_ALARM_ITEMS,
    AlarmDuty,
    DeviceInfoResponse,
    DeviceStatusResponse,
    device_info_query,
    device_info_response,
    device_status_query,
    device_status_response,
)
from camera.gb28181.manscdp import ManscdpError, OtherMessage, parse

DEVICE = "34020000001320000001"

# A Hikvision camera's answer: its name holds 镕 (GBK, not GB2312) under a GB2312 declaration.
INFO = """<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>DeviceInfo</CmdType>
<SN>17430</SN>
<DeviceID>34020000001320000001</DeviceID>
<DeviceName>东门枪机镕</DeviceName>
<Result>OK</Result>
<Manufacturer>Hikvision</Manufacturer>
<Model>DS-2CD3T46WDV3-I3</Model>
<Firmware>V5.5.820</Firmware>
<Channel>1</Channel>
</Response>
""".encode("gb18030")

# A Dahua NVR's: two alarm inputs, one alarming; lower-case On/Off as some firmware writes.
STATUS = """<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>DeviceStatus</CmdType>
<SN>248</SN>
<DeviceID>34020000001320000001</DeviceID>
<Result>OK</Result>
<Online>ONLINE</Online>
<Status>OK</Status>
<Reason></Reason>
<Encode>On</Encode>
<Record>OFF</Record>
<DeviceTime>2026-12-07T12:00:00</DeviceTime>
<Alarmstatus Num="2">
<Item><DeviceID>34020000001340000001</DeviceID><DutyStatus>OFFDUTY</DutyStatus></Item>
<Item><DeviceID>34020000001340000002</DeviceID><DutyStatus>ALARM</DutyStatus></Item>
</Alarmstatus>
</Response>
""".encode("gb18030")


def test_a_hikvision_device_info_answer() -> None:
    assert parse(INFO) == DeviceInfoResponse(
        device_id=DEVICE,
        sn=17430,
        result="OK",
        device_name="东门枪机镕",
        manufacturer="Hikvision",
        model="DS-2CD3T46WDV3-I3",
        firmware="V5.5.820",
        channels=1,
    )


def test_a_dahua_device_status_answer() -> None:
    assert parse(STATUS) == DeviceStatusResponse(
        device_id=DEVICE,
        sn=248,
        result="OK",
        online=True,
        status_ok=True,
        reason="",
        encode=True,
        record=False,
        device_time="2026-12-07T12:00:00",
        alarms=(
            AlarmDuty("34020000001340000001", "OFFDUTY"),
            AlarmDuty("34020000001340000002", "ALARM"),
        ),
    )


def test_alarm_status_spelled_with_a_capital_s_and_no_alarms() -> None:
    body = STATUS.replace(b"Alarmstatus", b"AlarmStatus")
    status = parse(body)
    assert isinstance(status, DeviceStatusResponse) and len(status.alarms) == 2
    empty = parse(_status_without_alarms(b'<Alarmstatus Num="0"></Alarmstatus>'))
    assert isinstance(empty, DeviceStatusResponse) and empty.alarms == ()


def test_an_error_result_needs_nothing_more() -> None:
    body = (
        b"<Response><CmdType>DeviceStatus</CmdType><SN>1</SN>"
        b"<DeviceID>34020000001320000001</DeviceID><Result>ERROR</Result>"
        b"<Reason>busy</Reason></Response>"
    )
    status = parse(body)
    assert isinstance(status, DeviceStatusResponse)
    assert (status.result, status.online, status.status_ok, status.reason) == (
        "ERROR",
        None,
        None,
        "busy",
    )


def _status_without_alarms(alarms: bytes) -> bytes:
    start, end = STATUS.index(b"<Alarmstatus"), STATUS.index(b"</Response>")
    return STATUS[:start] + alarms + STATUS[end:]


def _items(n: int) -> bytes:
    item = b"<Item><DeviceID>34020000001340000001</DeviceID><DutyStatus>ONDUTY</DutyStatus></Item>"
    return item * n


@pytest.mark.parametrize(
    ("body", "exception"),
    [
        (INFO.replace(b"<Result>OK</Result>", b""), "<Result> is missing"),
        (INFO.replace(b"<Result>OK</Result>", b"<Result>MAYBE</Result>"), "<Result> is not one"),
        (INFO.replace(b"<Channel>1</Channel>", b"<Channel>-1</Channel>"), "<Channel> is not a"),
        (INFO.replace(b"<Channel>1</Channel>", b"<Channel>9999999</Channel>"), "<Channel>"),
        (INFO.replace(b"<Model>", b"<Model>" + b"x" * 300), "<Model> is longer"),
        (STATUS.replace(b"<Online>ONLINE</Online>", b""), "<Online> is missing"),
        (STATUS.replace(b"ONLINE", b"UP"), "<Online> is not one of ONLINE/OFFLINE"),
        (STATUS.replace(b"<Encode>On</Encode>", b"<Encode>1</Encode>"), "<Encode> is not one"),
        (STATUS.replace(b'Num="2"', b'Num="3"'), "but 2 items"),
        (STATUS.replace(b"ALARM</Duty", b"ALARMED</Duty"), "item 2: <DutyStatus> is not one"),
        (STATUS.replace(b"34020000001340000002", b"3402"), "item 2: <DeviceID> is not 20"),
        (STATUS.replace(b"2026-12-07T12:00:00", b"yesterday"), "<DeviceTime> is not a date"),
        (
            STATUS.replace(b"<Item>", b"<Row>", 1).replace(b"</Item>", b"</Row>", 1),
            "item 1: <Row> is not <Item>",
        ),
        (
            _status_without_alarms(
                b'<Alarmstatus Num="1">' + _items(1) + b"</Alarmstatus><AlarmStatus/>"
            ),
            "more than once",
        ),
        (
            _status_without_alarms(
                b"<Alarmstatus>" + _items(MAX_ALARM_ITEMS + 1) + b"</Alarmstatus>"
            ),
            f"more than {MAX_ALARM_ITEMS} items",
        ),
    ],
)
def test_refused_naming_the_element(body: bytes, exception: str) -> None:
    with pytest.raises(ManscdpError, match=re.escape(exception)):
        parse(body)


def test_written_answers_read_back() -> None:
    info = DeviceInfoResponse(DEVICE, 3, "OK", "西门·堃", "Uniview", "IPC2124", "B3210", 4)
    assert parse(device_info_response(info)) == info
    status = DeviceStatusResponse(
        DEVICE, 4, "OK", True, False, "disk full", True, True, "2026-12-07 12:00:00.500",
        (AlarmDuty("34020000001340000009", "ONDUTY"),),
    )  # fmt: skip
    assert parse(device_status_response(status)) == status


def test_queries_name_the_device() -> None:
    for build, cmd_type in (
        (device_info_query, "DeviceInfo"),
        (device_status_query, "DeviceStatus"),
    ):
        body = build(77, DEVICE)
        assert b'encoding="GB2312"' in body
        assert parse(body) == OtherMessage("Query", cmd_type, DEVICE, 77)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(STATUS) - 1), junk=st.binary(min_size=1, max_size=8))
def test_fuzz_mutated_status(position: int, junk: bytes) -> None:
    body = STATUS[:position] + junk + STATUS[position + len(junk) :]
    with contextlib.suppress(ManscdpError):  # anything else fails the test
        parse(body)
