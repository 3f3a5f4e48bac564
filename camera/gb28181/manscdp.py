"""MANSCDP: the XML bodies of GB/T 28181 MESSAGEs (application/MANSCDP+xml).

Read: Keepalive notifications, Catalog responses (one of several messages: `SumNum` is
the whole catalog, `DeviceList Num` this message's share) and DeviceInfo/DeviceStatus
responses (`device_info`). Anything else parses to `OtherMessage` so the caller can answer
it without knowing it yet. Written: the Catalog query, plus Keepalive and Catalog response
bodies (a lower platform sends those upward; the tests use them too).

How a body is bounded, decoded (GB2312 read as GB18030) and parsed (defusedxml, no
entities) is `manscdp_xml`; every value read is checked (IDs are 20 digits, or 2-8 digit
civil codes in catalogs; SN and counts are bounded integers) and errors name the element
and, in a catalog, the item.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from camera.gb28181.device_info import (
    DeviceInfoResponse,
    DeviceStatusResponse,
    parse_device_info,
    parse_device_status,
)
from camera.gb28181.manscdp_xml import (
    CONTENT_TYPE,
    DEVICE_ID,
    MAX_BODY_BYTES,
    MAX_TEXT,
    ManscdpError,
    decode,
    element,
    integer,
    parse_xml,
    query,
    render,
    text,
)
from camera.gb28181.manscdp_xml import device_id as read_device_id

__all__ = [
    "CONTENT_TYPE",
    "MAX_BODY_BYTES",
    "MAX_TEXT",
    "CatalogItem",
    "CatalogResponse",
    "DeviceInfoResponse",
    "DeviceStatusResponse",
    "Keepalive",
    "ManscdpError",
    "OtherMessage",
    "catalog_query",
    "catalog_response",
    "decode",
    "keepalive",
    "kind_of",
    "parse",
    "parse_xml",
]

MAX_ITEMS = 2000  # catalog items in one message; devices send a few dozen per message
_CIVIL_CODE = re.compile(r"^[0-9]{2}(?:[0-9]{2}){0,3}$")

ChannelKind = Literal[
    "camera", "alarm_input", "alarm_output", "device", "platform", "group", "civil"
]


@dataclass(frozen=True)
class Keepalive:
    device_id: str
    sn: int
    status: str


@dataclass(frozen=True)
class CatalogItem:
    device_id: str
    name: str
    kind: ChannelKind
    manufacturer: str = ""
    model: str = ""
    owner: str = ""
    civil_code: str = ""
    address: str = ""
    parent_id: str = ""
    status: str = ""
    longitude: float | None = None
    latitude: float | None = None


@dataclass(frozen=True)
class CatalogResponse:
    device_id: str
    sn: int
    sum_num: int
    items: tuple[CatalogItem, ...]


@dataclass(frozen=True)
class OtherMessage:
    """A body this service does not act on yet (Alarm, ...), parsed far enough to answer
    it and log what it was."""

    root: str
    cmd_type: str
    device_id: str
    sn: int


Manscdp = Keepalive | CatalogResponse | DeviceInfoResponse | DeviceStatusResponse | OtherMessage


def _coordinate(parent: ET.Element, tag: str, where: str, bound: float) -> float | None:
    value = text(parent, tag, where)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ManscdpError(f"{where}<{tag}> is not a number: {value[:20]!r}") from None
    if not -bound <= number <= bound:
        raise ManscdpError(f"{where}<{tag}> is out of range: {value[:20]!r}")
    return number


def kind_of(device_id: str) -> ChannelKind:
    """What an ID names, from its type code (digits 11-13, GB/T 28181-2016 Annex D)."""
    if _CIVIL_CODE.match(device_id):
        return "civil"
    code = int(device_id[10:13])
    if code in (131, 132):
        return "camera"
    if code == 134:
        return "alarm_input"
    if code == 135:
        return "alarm_output"
    if code in (215, 216):
        return "group"
    if code >= 200:
        return "platform"
    return "device"


def parse(body: bytes) -> Manscdp:
    """One MANSCDP body; ManscdpError with the reason on anything malformed or refused."""
    root = parse_xml(body)
    if root.tag not in ("Notify", "Response", "Query", "Control"):
        raise ManscdpError(f"root element <{root.tag[:30]}> is not a MANSCDP command")
    cmd_type = text(root, "CmdType", required=True)
    sn = integer(root, "SN")
    device_id = read_device_id(root)
    if root.tag == "Notify" and cmd_type == "Keepalive":
        return Keepalive(device_id, sn, text(root, "Status"))
    if root.tag == "Response" and cmd_type == "Catalog":
        return _catalog(root, device_id, sn)
    if root.tag == "Response" and cmd_type == "DeviceInfo":
        return parse_device_info(root, device_id, sn)
    if root.tag == "Response" and cmd_type == "DeviceStatus":
        return parse_device_status(root, device_id, sn)
    return OtherMessage(root.tag, cmd_type, device_id, sn)


def _catalog(root: ET.Element, device_id: str, sn: int) -> CatalogResponse:
    sum_num = integer(root, "SumNum", limit=1_000_000)
    device_list = root.find("DeviceList")
    nodes: list[ET.Element] = []
    if device_list is not None:
        nodes = list(device_list)
        if len(nodes) > MAX_ITEMS:
            raise ManscdpError(f"<DeviceList> holds more than {MAX_ITEMS} items")
        declared = device_list.get("Num")
        if declared is not None and (not declared.isdigit() or int(declared) != len(nodes)):
            raise ManscdpError(f"<DeviceList Num={declared[:10]!r}> but {len(nodes)} items")
    elif sum_num:
        raise ManscdpError("<DeviceList> is missing")
    items: list[CatalogItem] = []
    for index, node in enumerate(nodes):
        where = f"<DeviceList> item {index + 1}: "
        if node.tag != "Item":
            raise ManscdpError(f"{where}<{node.tag[:30]}> is not <Item>")
        item_id = text(node, "DeviceID", where, required=True)
        if not DEVICE_ID.match(item_id) and not _CIVIL_CODE.match(item_id):
            raise ManscdpError(f"{where}<DeviceID> is not an ID or civil code: {item_id[:24]!r}")
        items.append(
            CatalogItem(
                device_id=item_id,
                name=text(node, "Name", where),
                kind=kind_of(item_id),
                manufacturer=text(node, "Manufacturer", where),
                model=text(node, "Model", where),
                owner=text(node, "Owner", where),
                civil_code=text(node, "CivilCode", where),
                address=text(node, "Address", where),
                parent_id=text(node, "ParentID", where),
                status=text(node, "Status", where).upper(),
                longitude=_coordinate(node, "Longitude", where, 180.0),
                latitude=_coordinate(node, "Latitude", where, 90.0),
            )
        )
    return CatalogResponse(device_id, sn, sum_num, tuple(items))


# --- writing --------------------------------------------------------------------------------


def catalog_query(sn: int, device_id: str) -> bytes:
    return query("Catalog", sn, device_id)


def keepalive(sn: int, device_id: str, status: str = "OK") -> bytes:
    fields = [
        ("CmdType", "Keepalive"),
        ("SN", str(sn)),
        ("DeviceID", device_id),
        ("Status", status),
    ]
    return render(element("Notify", fields), "gb18030")


def catalog_response(
    sn: int, device_id: str, sum_num: int, items: list[CatalogItem], *, encoding: str = "gb18030"
) -> bytes:
    """One message of a catalog answer: `items` is this message's share of `sum_num`."""
    root = element(
        "Response",
        [
            ("CmdType", "Catalog"),
            ("SN", str(sn)),
            ("DeviceID", device_id),
            ("SumNum", str(sum_num)),
        ],
    )
    device_list = ET.SubElement(root, "DeviceList", Num=str(len(items)))
    for item in items:
        fields = [
            ("DeviceID", item.device_id),
            ("Name", item.name),
            ("Manufacturer", item.manufacturer),
            ("Model", item.model),
            ("Owner", item.owner),
            ("CivilCode", item.civil_code),
            ("Address", item.address),
            ("Parental", "0"),
            ("ParentID", item.parent_id),
            ("Status", item.status or "ON"),
        ]
        if item.longitude is not None and item.latitude is not None:
            fields += [("Longitude", str(item.longitude)), ("Latitude", str(item.latitude))]
        node = ET.SubElement(device_list, "Item")
        for tag, value in fields:
            ET.SubElement(node, tag).text = value
    return render(root, encoding)
