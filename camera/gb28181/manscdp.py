"""MANSCDP: the XML bodies of GB/T 28181 MESSAGEs (application/MANSCDP+xml).

Read: Keepalive notifications and Catalog responses (one of several messages: `SumNum` is
the whole catalog, `DeviceList Num` this message's share). Anything else parses to
`OtherMessage` so the caller can answer it without knowing it yet. Written: the Catalog
query, plus Keepalive and Catalog response bodies (a lower platform sends those upward; the
tests use them too).

Bodies come from devices we do not control, so:
- size is bounded before anything is parsed (`MAX_BODY_BYTES`);
- the encoding is taken from the XML declaration: GB2312 (the standard's default), GBK and
  GB18030 are all decoded as GB18030, their superset, because devices declaring GB2312
  routinely send GBK characters (rare surnames, place names); UTF-8 is read as UTF-8, a body
  without a declaration as UTF-8 (the XML default), anything else is refused;
- XML is parsed by defusedxml with DTDs, entities and external references forbidden, so an
  entity bomb or an external entity is refused before it expands;
- every value read is checked (IDs are 20 digits, or 2-8 digit civil codes in catalogs;
  SN and counts are bounded integers) and errors name the element and, in a catalog, the item.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

import defusedxml
from defusedxml import ElementTree as SafeET

MAX_BODY_BYTES = 256 * 1024
MAX_TEXT = 256  # characters in one value (names, addresses)
MAX_ITEMS = 2000  # catalog items in one message; devices send a few dozen per message
CONTENT_TYPE = "Application/MANSCDP+xml"

_DECLARATION = re.compile(rb"^\s*<\?xml\s[^?>]*\?>", re.ASCII)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", re.ASCII)
_GB = frozenset({"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn"})
_UTF8 = frozenset({"utf-8", "utf8"})
DEVICE_ID = re.compile(r"^[0-9]{20}$")
_CIVIL_CODE = re.compile(r"^[0-9]{2}(?:[0-9]{2}){0,3}$")

ChannelKind = Literal[
    "camera", "alarm_input", "alarm_output", "device", "platform", "group", "civil"
]


class ManscdpError(ValueError):
    """A body Sharpeye will not read; the message names the element (and catalog item)."""


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
    """A body this slice does not act on yet (DeviceInfo, Alarm, ...), parsed far enough to
    answer it and log what it was."""

    root: str
    cmd_type: str
    device_id: str
    sn: int


Manscdp = Keepalive | CatalogResponse | OtherMessage


def decode(body: bytes) -> str:
    """The body as text, decoded per its XML declaration, without the declaration."""
    if len(body) > MAX_BODY_BYTES:
        raise ManscdpError(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    if not body.strip():
        raise ManscdpError("empty body")
    if body.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark says UTF-8 whatever follows
        body = body[3:]
        declared = _DECLARATION.match(body)
        return _decode(body[declared.end() :] if declared else body, "utf-8")
    declared = _DECLARATION.match(body)
    encoding = "utf-8"
    if declared:
        found = _ENCODING.search(declared.group(0))
        if found:
            name = found.group(1).decode("ascii").lower()
            if name in _GB:
                encoding = "gb18030"
            elif name not in _UTF8:
                raise ManscdpError(f"XML declaration: encoding {name!r} is not supported")
        body = body[declared.end() :]
    return _decode(body, encoding)


def _decode(body: bytes, encoding: str) -> str:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        label = "GB2312/GB18030" if encoding == "gb18030" else "UTF-8"
        raise ManscdpError(f"body is not valid {label} at byte {exc.start}") from None


def parse_xml(body: bytes) -> ET.Element:
    text = decode(body)
    try:
        root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as exc:
        raise ManscdpError(f"refused XML: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise ManscdpError(f"malformed XML: {exc}") from None
    return root


def _text(parent: ET.Element, tag: str, where: str = "", *, required: bool = False) -> str:
    node = parent.find(tag)
    if node is None:
        if required:
            raise ManscdpError(f"{where}<{tag}> is missing")
        return ""
    if len(node):
        raise ManscdpError(f"{where}<{tag}> must hold text, not elements")
    value = (node.text or "").strip()
    if len(value) > MAX_TEXT:
        raise ManscdpError(f"{where}<{tag}> is longer than {MAX_TEXT} characters")
    return value


def _int(parent: ET.Element, tag: str, where: str = "", *, limit: int = 2**31 - 1) -> int:
    value = _text(parent, tag, where, required=True)
    if not value.isascii() or not value.isdigit() or int(value) > limit:
        raise ManscdpError(f"{where}<{tag}> is not a number up to {limit}: {value[:20]!r}")
    return int(value)


def _device_id(parent: ET.Element, where: str = "") -> str:
    value = _text(parent, "DeviceID", where, required=True)
    if not DEVICE_ID.match(value):
        raise ManscdpError(f"{where}<DeviceID> is not 20 digits: {value[:24]!r}")
    return value


def _coordinate(parent: ET.Element, tag: str, where: str, bound: float) -> float | None:
    value = _text(parent, tag, where)
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
    cmd_type = _text(root, "CmdType", required=True)
    sn = _int(root, "SN")
    device_id = _device_id(root)
    if root.tag == "Notify" and cmd_type == "Keepalive":
        return Keepalive(device_id, sn, _text(root, "Status"))
    if root.tag == "Response" and cmd_type == "Catalog":
        return _catalog(root, device_id, sn)
    return OtherMessage(root.tag, cmd_type, device_id, sn)


def _catalog(root: ET.Element, device_id: str, sn: int) -> CatalogResponse:
    sum_num = _int(root, "SumNum", limit=1_000_000)
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
        item_id = _text(node, "DeviceID", where, required=True)
        if not DEVICE_ID.match(item_id) and not _CIVIL_CODE.match(item_id):
            raise ManscdpError(f"{where}<DeviceID> is not an ID or civil code: {item_id[:24]!r}")
        items.append(
            CatalogItem(
                device_id=item_id,
                name=_text(node, "Name", where),
                kind=kind_of(item_id),
                manufacturer=_text(node, "Manufacturer", where),
                model=_text(node, "Model", where),
                owner=_text(node, "Owner", where),
                civil_code=_text(node, "CivilCode", where),
                address=_text(node, "Address", where),
                parent_id=_text(node, "ParentID", where),
                status=_text(node, "Status", where).upper(),
                longitude=_coordinate(node, "Longitude", where, 180.0),
                latitude=_coordinate(node, "Latitude", where, 90.0),
            )
        )
    return CatalogResponse(device_id, sn, sum_num, tuple(items))


# --- writing --------------------------------------------------------------------------------


def _render(root: ET.Element, encoding: str) -> bytes:
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    label = "GB2312" if encoding == "gb18030" else "UTF-8"
    return f'<?xml version="1.0" encoding="{label}"?>\n{text}\n'.encode(encoding)


def _element(root: str, fields: list[tuple[str, str]]) -> ET.Element:
    node = ET.Element(root)
    for tag, value in fields:
        ET.SubElement(node, tag).text = value
    return node


def catalog_query(sn: int, device_id: str) -> bytes:
    return _render(
        _element("Query", [("CmdType", "Catalog"), ("SN", str(sn)), ("DeviceID", device_id)]),
        "gb18030",
    )


def keepalive(sn: int, device_id: str, status: str = "OK") -> bytes:
    fields = [
        ("CmdType", "Keepalive"),
        ("SN", str(sn)),
        ("DeviceID", device_id),
        ("Status", status),
    ]
    return _render(_element("Notify", fields), "gb18030")


def catalog_response(
    sn: int, device_id: str, sum_num: int, items: list[CatalogItem], *, encoding: str = "gb18030"
) -> bytes:
    """One message of a catalog answer: `items` is this message's share of `sum_num`."""
    root = _element(
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
    return _render(root, encoding)
