"""The reading and writing primitives every MANSCDP body shares: size bound, decoding per
the XML declaration, defused parsing, and bounded, checked values.

Its own module so each family of commands (`manscdp`: keepalive and catalog;
`device_info`: DeviceInfo and DeviceStatus) parses with the same rules without importing
the other. Bodies come from devices we do not control, so:
- size is bounded before anything is parsed (`MAX_BODY_BYTES`);
- the encoding is taken from the XML declaration: GB2312 (the standard's default), GBK and
  GB18030 are all decoded as GB18030, their superset, because devices declaring GB2312
  routinely send GBK characters (rare surnames, place names); UTF-8 is read as UTF-8, a body
  without a declaration as UTF-8 (the XML default), anything else is refused;
- XML is parsed by defusedxml with DTDs, entities and external references forbidden, so an
  entity bomb or an external entity is refused before it expands;
- every value read is checked (IDs are 20 digits, numbers bounded, text bounded) and errors
  name the element.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml
from defusedxml import ElementTree as SafeET

MAX_BODY_BYTES = 256 * 1024
MAX_TEXT = 256  # characters in one value (names, addresses)
CONTENT_TYPE = "Application/MANSCDP+xml"

_DECLARATION = re.compile(rb"^\s*<\?xml\s[^?>]*\?>", re.ASCII)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", re.ASCII)
_GB = frozenset({"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn"})
_UTF8 = frozenset({"utf-8", "utf8"})
DEVICE_ID = re.compile(r"^[0-9]{20}$")


class ManscdpError(ValueError):
    """A body Sharpeye will not read; the message names the element (and catalog item)."""


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


def text(parent: ET.Element, tag: str, where: str = "", *, required: bool = False) -> str:
    """The stripped text of `parent`'s child `tag` ("" when absent and not required)."""
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


def integer(parent: ET.Element, tag: str, where: str = "", *, limit: int = 2**31 - 1) -> int:
    value = text(parent, tag, where, required=True)
    if not value.isascii() or not value.isdigit() or int(value) > limit:
        raise ManscdpError(f"{where}<{tag}> is not a number up to {limit}: {value[:20]!r}")
    return int(value)


def device_id(parent: ET.Element, where: str = "") -> str:
    value = text(parent, "DeviceID", where, required=True)
    if not DEVICE_ID.match(value):
        raise ManscdpError(f"{where}<DeviceID> is not 20 digits: {value[:24]!r}")
    return value


def choice(
    parent: ET.Element, tag: str, allowed: tuple[str, ...], where: str = "", *, required: bool
) -> str:
    """One of `allowed` (devices differ in letter case: compared upper-cased), or "" when
    absent and not required; anything else is refused naming the element."""
    value = text(parent, tag, where, required=required).upper()
    if not value and not required:
        return ""
    if value not in allowed:
        raise ManscdpError(f"{where}<{tag}> is not one of {'/'.join(allowed)}: {value[:20]!r}")
    return value


# --- writing --------------------------------------------------------------------------------


def render(root: ET.Element, encoding: str) -> bytes:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    label = "GB2312" if encoding == "gb18030" else "UTF-8"
    return f'<?xml version="1.0" encoding="{label}"?>\n{body}\n'.encode(encoding)


def element(root: str, fields: list[tuple[str, str]]) -> ET.Element:
    node = ET.Element(root)
    for tag, value in fields:
        ET.SubElement(node, tag).text = value
    return node


def query(cmd_type: str, sn: int, device_id: str) -> bytes:
    """A Query body (Catalog, DeviceInfo, DeviceStatus), declared GB2312 as devices expect."""
    fields = [("CmdType", cmd_type), ("SN", str(sn)), ("DeviceID", device_id)]
    return render(element("Query", fields), "gb18030")
