"""DeviceInfo and DeviceStatus: what a device says it is, and how it is doing.

The platform asks with a Query MESSAGE (GB/T 28181-2016 A.2.4.4, A.2.4.5); the device
answers 200 and then sends a Response MESSAGE of its own (A.2.6.5, A.2.6.7) carrying the
query's SN:

    DeviceInfo:   Result, DeviceName, Manufacturer, Model, Firmware, Channel (count)
    DeviceStatus: Result, Online (ONLINE/OFFLINE), Status (OK/ERROR), Reason,
                  Encode/Record (ON/OFF), DeviceTime, Alarmstatus Num=n of
                  Item(DeviceID, DutyStatus ONDUTY/OFFDUTY/ALARM)

Read strictly, as the catalog is (`manscdp_xml`): Result is required (the standard makes
it so, and Hikvision, Dahua and Uniview all send it), enumerations are checked upper-cased
(devices differ in case, not in words), counts and lists are bounded, and an error names
the element. `Alarmstatus` is also read as `AlarmStatus`, the spelling some firmware uses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal, cast

from camera.gb28181.manscdp_xml import (
    DEVICE_ID,
    ManscdpError,
    choice,
    element,
    integer,
    query,
    render,
    text,
)

MAX_ALARM_ITEMS = 512  # alarm inputs in one status; NVRs have 4-32, platforms a few hundred
MAX_CHANNELS = 1_000_000  # a lower platform counts every camera below it
# Local time as the standard writes it; some firmware puts a space for the T.
_DEVICE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$", re.ASCII)

Result = Literal["OK", "ERROR"]
Duty = Literal["ONDUTY", "OFFDUTY", "ALARM"]
_RESULTS = ("OK", "ERROR")
_DUTIES = ("ONDUTY", "OFFDUTY", "ALARM")
_ON_OFF = ("ON", "OFF")


@dataclass(frozen=True)
class DeviceInfoResponse:
    device_id: str
    sn: int
    result: Result
    device_name: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    channels: int | None = None


@dataclass(frozen=True)
class AlarmDuty:
    device_id: str  # the alarm input's ID
    duty: Duty


@dataclass(frozen=True)
class DeviceStatusResponse:
    device_id: str
    sn: int
    result: Result
    online: bool | None = None  # None: not said (a Result of ERROR)
    status_ok: bool | None = None
    reason: str = ""
    encode: bool | None = None
    record: bool | None = None
    device_time: str = ""
    alarms: tuple[AlarmDuty, ...] = ()


def _on_off(root: ET.Element, tag: str) -> bool | None:
    value = choice(root, tag, _ON_OFF, required=False)
    return None if not value else value == "ON"


def parse_device_info(root: ET.Element, device_id: str, sn: int) -> DeviceInfoResponse:
    """The rest of a `<Response><CmdType>DeviceInfo`, its ID and SN already read."""
    result = cast(Result, choice(root, "Result", _RESULTS, required=True))
    channels = None
    if root.find("Channel") is not None:
        channels = integer(root, "Channel", limit=MAX_CHANNELS)
    return DeviceInfoResponse(
        device_id=device_id,
        sn=sn,
        result=result,
        device_name=text(root, "DeviceName"),
        manufacturer=text(root, "Manufacturer"),
        model=text(root, "Model"),
        firmware=text(root, "Firmware"),
        channels=channels,
    )


def parse_device_status(root: ET.Element, device_id: str, sn: int) -> DeviceStatusResponse:
    """The rest of a `<Response><CmdType>DeviceStatus`, its ID and SN already read. A
    Result of OK must say Online and Status; one of ERROR may say nothing more."""
    result = cast(Result, choice(root, "Result", _RESULTS, required=True))
    said = result == "OK"
    online = choice(root, "Online", ("ONLINE", "OFFLINE"), required=said)
    status = choice(root, "Status", ("OK", "ERROR"), required=said)
    device_time = text(root, "DeviceTime")
    if device_time and not _DEVICE_TIME.match(device_time):
        raise ManscdpError(f"<DeviceTime> is not a date and time: {device_time[:30]!r}")
    return DeviceStatusResponse(
        device_id=device_id,
        sn=sn,
        result=result,
        online=None if not online else online == "ONLINE",
        status_ok=None if not status else status == "OK",
        reason=text(root, "Reason"),
        encode=_on_off(root, "Encode"),
        record=_on_off(root, "Record"),
        device_time=device_time,
        alarms=_alarms(root),
    )


def _alarms(root: ET.Element) -> tuple[AlarmDuty, ...]:
    found = [n for n in root if n.tag in ("Alarmstatus", "AlarmStatus")]
    if not found:
        return ()
    if len(found) > 1:
        raise ManscdpError("<Alarmstatus> appears more than once")
    (node,) = found
    items = list(node)
    if len(items) > MAX_ALARM_ITEMS:
        raise ManscdpError(f"<Alarmstatus> holds more than {MAX_ALARM_ITEMS} items")
    declared = node.get("Num")
    if declared is not None and (not declared.isdigit() or int(declared) != len(items)):
        raise ManscdpError(f"<Alarmstatus Num={declared[:10]!r}> but {len(items)} items")
    out: list[AlarmDuty] = []
    for index, item in enumerate(items):
        where = f"<Alarmstatus> item {index + 1}: "
        if item.tag != "Item":
            raise ManscdpError(f"{where}<{item.tag[:30]}> is not <Item>")
        item_id = text(item, "DeviceID", where, required=True)
        if not DEVICE_ID.match(item_id):
            raise ManscdpError(f"{where}<DeviceID> is not 20 digits: {item_id[:24]!r}")
        duty = cast(Duty, choice(item, "DutyStatus", _DUTIES, where, required=True))
        out.append(AlarmDuty(item_id, duty))
    return tuple(out)


# --- writing --------------------------------------------------------------------------------


def device_info_query(sn: int, device_id: str) -> bytes:
    return query("DeviceInfo", sn, device_id)


def device_status_query(sn: int, device_id: str) -> bytes:
    return query("DeviceStatus", sn, device_id)


def _on_off_text(value: bool) -> str:
    return "ON" if value else "OFF"


def device_info_response(info: DeviceInfoResponse, *, encoding: str = "gb18030") -> bytes:
    """A device's (or, upward, this platform's) answer to a DeviceInfo query."""
    fields = [
        ("CmdType", "DeviceInfo"),
        ("SN", str(info.sn)),
        ("DeviceID", info.device_id),
        ("DeviceName", info.device_name),
        ("Result", info.result),
        ("Manufacturer", info.manufacturer),
        ("Model", info.model),
        ("Firmware", info.firmware),
    ]
    if info.channels is not None:
        fields.append(("Channel", str(info.channels)))
    return render(element("Response", fields), encoding)


def device_status_response(status: DeviceStatusResponse, *, encoding: str = "gb18030") -> bytes:
    fields = [("CmdType", "DeviceStatus"), ("SN", str(status.sn)), ("DeviceID", status.device_id)]
    fields.append(("Result", status.result))
    if status.online is not None:
        fields.append(("Online", "ONLINE" if status.online else "OFFLINE"))
    if status.status_ok is not None:
        fields.append(("Status", "OK" if status.status_ok else "ERROR"))
    if status.reason:
        fields.append(("Reason", status.reason))
    if status.encode is not None:
        fields.append(("Encode", _on_off_text(status.encode)))
    if status.record is not None:
        fields.append(("Record", _on_off_text(status.record)))
    if status.device_time:
        fields.append(("DeviceTime", status.device_time))
    root = element("Response", fields)
    alarms = ET.SubElement(root, "Alarmstatus", Num=str(len(status.alarms)))
    for alarm in status.alarms:
        item = ET.SubElement(alarms, "Item")
        ET.SubElement(item, "DeviceID").text = alarm.device_id
        ET.SubElement(item, "DutyStatus").text = alarm.duty
    return render(root, encoding)
