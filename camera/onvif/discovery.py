"""WS-Discovery: multicast one ONVIF Probe and collect the ProbeMatches that come back.

A plain UDP exchange rather than the `wsdiscovery` package: that one parses only ProbeMatches
wrapped in `<d:ProbeMatches>`, which some firmwares (and ipycam) leave out, and it runs
background threads that join the multicast group on every interface. Here one socket sends
the Probe (on `interface_ip`, else on the interface the routing table picks for
239.255.255.250) and every `ProbeMatch` element in the answers is read, wrapper or not.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
MULTICAST_PORT = 3702
_REPEAT_AFTER_S = 0.1

_PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header>
<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>
<a:MessageID>{message_id}</a:MessageID>
<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address>
</a:ReplyTo>
<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
</s:Header>
<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>
</s:Envelope>"""


@dataclass(frozen=True)
class DiscoveredDevice:
    epr: str  # endpoint reference: the device's stable identity (usually urn:uuid:...)
    xaddrs: tuple[str, ...]  # device service URLs
    scopes: tuple[str, ...]
    types: tuple[str, ...]
    sender: str  # IP address the ProbeMatch came from

    def _scope(self, kind: str) -> str | None:
        prefix = f"onvif://www.onvif.org/{kind}/"
        values = [unquote(s[len(prefix) :]) for s in self.scopes if s.startswith(prefix)]
        return " ".join(values) if values else None

    @property
    def name(self) -> str | None:
        return self._scope("name")

    @property
    def hardware(self) -> str | None:
        return self._scope("hardware")

    @property
    def host_port(self) -> tuple[str, int] | None:
        """host and port of the first HTTP XAddr, for `probe_device`."""
        for xaddr in self.xaddrs:
            parts = urlsplit(xaddr)
            if parts.scheme in ("http", "https") and parts.hostname:
                default = 443 if parts.scheme == "https" else 80
                return parts.hostname, parts.port or default
        return None


def discover(
    timeout: float = 3.0,
    interface_ip: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[DiscoveredDevice]:
    """Probe for ONVIF devices and return those that answered within `timeout` seconds.

    `progress` receives a one-line message before the wait (the CLI shows it; default: log).
    """
    message_id = f"urn:uuid:{uuid.uuid4()}"
    probe = _PROBE.format(message_id=message_id).encode()
    found: dict[str, DiscoveredDevice] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        # TTL 1: discovery is link-local by design; never let the Probe be routed further.
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        if interface_ip:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_ip)
            )
        sock.bind((interface_ip or "", 0))
        where = f" on {interface_ip}" if interface_ip else ""
        (progress or log.info)(
            f"WS-Discovery Probe to {MULTICAST_GROUP}:{MULTICAST_PORT}{where}: "
            f"waiting {timeout:g} s for ONVIF devices to answer…"
        )
        dest = (MULTICAST_GROUP, MULTICAST_PORT)
        sock.sendto(probe, dest)
        # SOAP-over-UDP repeats multicast messages since UDP may drop them; once more will do.
        repeat_at: float | None = time.monotonic() + _REPEAT_AFTER_S
        deadline = time.monotonic() + timeout
        while (now := time.monotonic()) < deadline:
            if repeat_at is not None and now >= repeat_at:
                sock.sendto(probe, dest)
                repeat_at = None
            sock.settimeout(max(min(deadline, repeat_at or deadline) - now, 0.001))
            try:
                data, (sender, _) = sock.recvfrom(65535)
            except TimeoutError:
                continue
            for device in parse_probe_matches(data, sender, message_id):
                found.setdefault(device.epr, device)
    return sorted(found.values(), key=lambda d: (d.sender, d.xaddrs, d.epr))


def parse_probe_matches(
    data: bytes, sender: str, message_id: str | None = None
) -> list[DiscoveredDevice]:
    """Every ProbeMatch in one datagram, wrapped in ProbeMatches or not. An answer that
    relates to another Probe than `message_id` is ignored; malformed XML yields nothing."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        log.debug("unparsable WS-Discovery answer from %s: %s", sender, exc)
        return []
    relates = [_text(e) for e in root.iter() if _local(e.tag) == "RelatesTo"]
    if message_id and relates and message_id not in relates:
        return []
    devices = []
    for match in (e for e in root.iter() if _local(e.tag) == "ProbeMatch"):
        fields: dict[str, str] = {}
        for child in match.iter():
            local = _local(child.tag)
            if local == "Address" and "epr" not in fields:
                fields["epr"] = _text(child)
            elif local in ("XAddrs", "Scopes", "Types"):
                fields[local] = _text(child)
        epr = fields.get("epr") or f"{sender}:{fields.get('XAddrs', '')}"
        devices.append(
            DiscoveredDevice(
                epr=epr,
                xaddrs=tuple(fields.get("XAddrs", "").split()),
                scopes=tuple(fields.get("Scopes", "").split()),
                types=tuple(fields.get("Types", "").split()),
                sender=sender,
            )
        )
    return devices


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _text(element: ET.Element) -> str:
    return (element.text or "").strip()
