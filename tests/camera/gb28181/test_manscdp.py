"""MANSCDP bodies: keepalives and catalogs as devices send them (GB2312 with GBK characters
among them), and malformed, truncated, oversized or hostile XML refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.gb28181.manscdp import (
    MAX_BODY_BYTES,
    CatalogItem,
    CatalogResponse,
    Keepalive,
    ManscdpError,
    OtherMessage,
    catalog_query,
    catalog_response,
    decode,
    keepalive,
    kind_of,
    parse,
)

DEVICE = "34020000001320000001"
CHANNEL_1 = "34020000001310000001"
CHANNEL_2 = "34020000001310000002"

KEEPALIVE = b"""<?xml version="1.0" encoding="GB2312"?>
<Notify>
<CmdType>Keepalive</CmdType>
<SN>43</SN>
<DeviceID>34020000001320000001</DeviceID>
<Status>OK</Status>
</Notify>
"""

# As a Hikvision NVR sends it: GB2312 declared, one of two items in this message; the name
# holds 堃, which is GBK but not GB2312 (devices send such names all the time).
CATALOG = """<?xml version="1.0" encoding="GB2312"?>
<Response>
<CmdType>Catalog</CmdType>
<SN>17</SN>
<DeviceID>34020000001320000001</DeviceID>
<SumNum>2</SumNum>
<DeviceList Num="1">
<Item>
<DeviceID>34020000001310000001</DeviceID>
<Name>东门入口·堃</Name>
<Manufacturer>Hikvision</Manufacturer>
<Model>IP Camera</Model>
<Owner>Owner</Owner>
<CivilCode>340200</CivilCode>
<Address>安徽省合肥市</Address>
<Parental>0</Parental>
<ParentID>34020000001320000001</ParentID>
<Status>ON</Status>
<Longitude>117.28</Longitude>
<Latitude>31.86</Latitude>
</Item>
</DeviceList>
</Response>
""".encode("gb18030")


def test_keepalive() -> None:
    assert parse(KEEPALIVE) == Keepalive(DEVICE, 43, "OK")


def test_catalog_part_decodes_gb2312_with_gbk_characters() -> None:
    message = parse(CATALOG)
    assert isinstance(message, CatalogResponse)
    assert (message.device_id, message.sn, message.sum_num) == (DEVICE, 17, 2)
    (item,) = message.items
    assert item.name == "东门入口·堃"
    assert item.address == "安徽省合肥市"
    assert item.kind == "camera"
    assert (item.status, item.longitude, item.latitude) == ("ON", 117.28, 31.86)


def test_utf8_and_no_declaration_and_bom() -> None:
    text = CATALOG.decode("gb18030").replace('encoding="GB2312"', 'encoding="UTF-8"')
    assert parse(text.encode())
    bare = text.split("\n", 1)[1].encode()
    assert parse(bare)
    assert parse(b"\xef\xbb\xbf" + bare)


def test_writers_round_trip() -> None:
    items = [
        CatalogItem(CHANNEL_1, "北门", "camera", status="ON", longitude=117.0, latitude=31.0),
        CatalogItem(CHANNEL_2, "南门 & <停车场>", "camera", status="OFF"),
    ]
    body = catalog_response(5, DEVICE, 2, items)
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    message = parse(body)
    assert isinstance(message, CatalogResponse)
    assert [i.name for i in message.items] == ["北门", "南门 & <停车场>"]
    assert parse(keepalive(9, DEVICE)) == Keepalive(DEVICE, 9, "OK")
    query = parse(catalog_query(3, DEVICE))
    assert query == OtherMessage("Query", "Catalog", DEVICE, 3)


def test_kinds_from_the_type_code() -> None:
    assert kind_of("34020000001320000001") == "camera"
    assert kind_of("34020000001180000001") == "device"  # NVR
    assert kind_of("34020000002000000001") == "platform"
    assert kind_of("34020000002150000001") == "group"
    assert kind_of("34020000001340000001") == "alarm_input"
    assert kind_of("3402") == "civil"


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Notify><CmdType>&lol3;</CmdType><SN>1</SN><DeviceID>34020000001320000001</DeviceID></Notify>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<Notify><CmdType>&e;</CmdType><SN>1</SN><DeviceID>34020000001320000001</DeviceID></Notify>
"""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (BOMB, "refused XML"),
        (EXTERNAL, "refused XML"),
        (b"", "empty body"),
        (b" " * (MAX_BODY_BYTES + 1), "exceeds"),
        (CATALOG[: len(CATALOG) // 2], "malformed XML"),
        (KEEPALIVE.replace(b"<SN>43</SN>", b"<SN>4x</SN>"), "<SN> is not a number"),
        (KEEPALIVE.replace(b"<SN>43</SN>", b""), "<SN> is missing"),
        (KEEPALIVE.replace(b"0001</DeviceID>", b"01</DeviceID>"), "not 20 digits"),
        (KEEPALIVE.replace(b"Notify", b"Html"), "not a MANSCDP command"),
        (KEEPALIVE.replace(b"GB2312", b"ISO-8859-1"), "not supported"),
        (KEEPALIVE.replace(b"OK</Status>", b"\xff\xff</Status>"), "not valid GB2312"),
        (
            KEEPALIVE.replace(b'encoding="GB2312"', b'encoding="UTF-8"').replace(
                b"OK<", "名".encode("gb2312") + b"<"
            ),
            "not valid UTF-8",
        ),
        (CATALOG.replace(b'Num="1"', b'Num="3"'), "but 1 items"),
        (CATALOG.replace(b"<SumNum>2</SumNum>", b""), "<SumNum> is missing"),
        (
            CATALOG.replace(b"<DeviceID>34020000001310000001", b"<DeviceID>3402x"),
            "item 1: <DeviceID> is not an ID",
        ),
        (CATALOG.replace(b"117.28", b"east"), "item 1: <Longitude> is not a number"),
        (CATALOG.replace(b"31.86", b"91"), "item 1: <Latitude> is out of range"),
        (
            CATALOG.replace(b"<Model>IP Camera</Model>", b"<Model>" + b"x" * 300 + b"</Model>"),
            "item 1: <Model> is longer",
        ),
        (CATALOG.replace(b"<Model>IP Camera</Model>", b"<Model><b/></Model>"), "not elements"),
    ],
)
def test_refused_bodies_say_why(body: bytes, words: str) -> None:
    with pytest.raises(ManscdpError, match=words):
        parse(body)


def test_decode_honours_the_declaration() -> None:
    assert (
        decode('<?xml version="1.0" encoding="gb18030"?><a>镕</a>'.encode("gb18030")) == "<a>镕</a>"
    )
    assert decode("<a>镕</a>".encode()) == "<a>镕</a>"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024))
def test_fuzz_random_bytes(body: bytes) -> None:
    try:
        parse(body)
    except ManscdpError as exc:
        assert str(exc)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(CATALOG)), st.binary(max_size=16))
def test_fuzz_mutated_catalog(position: int, junk: bytes) -> None:
    for body in (CATALOG[:position] + junk + CATALOG[position:], CATALOG[:position]):
        try:
            message = parse(body)
        except ManscdpError:
            continue
        assert isinstance(message, CatalogResponse | OtherMessage | Keepalive)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_names_survive_gb18030(name: str) -> None:
    # Any text a device could name a channel (XML-legal) comes back as it was written.
    legal = "".join(
        c for c in name if c in "\t\n" or (0x20 <= ord(c) < 0xD800) or 0xE000 <= ord(c) < 0xFFFE
    ).strip()
    item = CatalogItem(CHANNEL_1, legal, "camera")
    message = parse(catalog_response(1, DEVICE, 1, [item]))
    assert isinstance(message, CatalogResponse)
    assert message.items[0].name == legal.strip()
