"""ICE policy of the relay: which local addresses it offers and which remote ones it tries.

aioice offers every interface address except 127.0.0.1 and resolves a browser's mDNS
(`*.local`) candidates by multicast. A relay on a command-centre LAN must send nothing to
networks it was not told about, so the addresses come from settings (default: loopback, the
same as the API's default bind) and remote candidates outside them are dropped from the
offer. The browser's own connectivity checks still reach us, so aioice learns its real
address as a peer-reflexive candidate.
"""

from __future__ import annotations

import ipaddress
import re

import aioice.ice

_original_host_addresses = aioice.ice.get_host_addresses
_CANDIDATE = re.compile(
    r"^a=candidate:(?P<f>\S+) (?P<c>\d+) (?P<p>\S+) (?P<prio>\d+) (?P<ip>\S+) (?P<port>\d+) "
    r"typ (?P<typ>\S+)(?P<rest>.*)$"
)


def use_host_addresses(addresses: list[str]) -> None:
    """Offer exactly these local addresses as host candidates ('auto': every interface).

    aioice reads the list from a module function; the relay is its process's only peer
    connection owner, so replacing it process-wide is the intended scope.
    """
    if not addresses or addresses == ["auto"]:

        def auto(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            found = _original_host_addresses(use_ipv4, use_ipv6)
            return [*found, "127.0.0.1"] if use_ipv4 else found

        aioice.ice.get_host_addresses = auto
        return
    for a in addresses:
        ipaddress.ip_address(a)  # ValueError names a typo at startup

    def fixed(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in addresses if (use_ipv4 and ":" not in a) or (use_ipv6 and ":" in a)]

    aioice.ice.get_host_addresses = fixed


def use_consent_timeout(seconds: float) -> None:
    """Drop a peer that answers no consent check for about `seconds` (RFC 7675: 30 s).

    aioice checks every CONSENT_INTERVAL (±20 %) and closes the connection after
    CONSENT_FAILURES misses in a row; aiortc then fails the peer connection, which ends the
    viewer's session. Module constants read on each check, so set process-wide like the
    host addresses above.
    """
    aioice.ice.CONSENT_INTERVAL = seconds / aioice.ice.CONSENT_FAILURES  # type: ignore[assignment]


def loopback_only(addresses: list[str]) -> bool:
    return (
        bool(addresses)
        and addresses != ["auto"]
        and all(ipaddress.ip_address(a).is_loopback for a in addresses)
    )


def filter_remote_candidates(sdp: str, only_loopback: bool) -> str:
    """Drop candidates the relay must not send to: mDNS names always, others off loopback
    when the relay itself is confined to loopback."""
    out = []
    for line in sdp.splitlines():
        m = _CANDIDATE.match(line)
        if m is not None:
            ip = m.group("ip")
            if ip.endswith(".local"):
                continue
            if only_loopback:
                try:
                    if not ipaddress.ip_address(ip).is_loopback:
                        continue
                except ValueError:
                    continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def announce(sdp: str, address: str | None) -> str:
    """Host candidates rewritten to `address` (a relay behind 1:1 NAT or a load balancer)."""
    if not address:
        return sdp
    out = []
    for line in sdp.splitlines():
        m = _CANDIDATE.match(line)
        if m is not None and m.group("typ") == "host":
            line = (
                f"a=candidate:{m.group('f')} {m.group('c')} {m.group('p')} {m.group('prio')} "
                f"{address} {m.group('port')} typ host{m.group('rest')}"
            )
        elif line.startswith("c=IN IP4 "):
            line = f"c=IN IP4 {address}"
        out.append(line)
    return "\r\n".join(out) + "\r\n"
