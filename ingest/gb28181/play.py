"""Live video from registered devices: the GB/T 28181 service INVITEs a channel on a reader's
behalf, ACKs the answer, and BYEs when the reader no longer wants the stream; a device's own
BYE ends the reader's call.

The INVITE goes out of the registrar's own SIP endpoint (the device knows that address and
answers there), to the address the device registered from, with a Request-URI naming the
channel, as wvp and the devices expect: `sip:<channel>@<device host:port>`, `Subject:
<channel>:<ssrc>,<platform>:0`.

How a reader reaches this: in-process (`InProcessSignalling`, a blocking facade a reader
thread calls, running the coroutines on the service's event loop), or from the ingest
worker and the relay over Redis (`ingest.gb28181.remote.RemotePlay` serves the requests,
`camera.gb28181.signalling.RedisSignalling` sends them): the same `PlaySignalling` shape.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from camera.gb28181.invite import (
    MediaAnswer,
    MediaOffer,
    PlayHandle,
    SdpError,
    make_ssrc,
    offer_sdp,
    parse_answer,
)
from camera.gb28181.sip_headers import SipParseError, SipUri, parse_name_addr
from camera.gb28181.sip_message import SipRequest, SipResponse, response_to
from camera.gb28181.source import GbPlayError
from camera.gb28181.transport import Peer, SipEndpoint, SipSendError, SipTimeoutError, new_tag
from sharpeye.registry.gb28181 import Gb28181Config

log = logging.getLogger(__name__)

BYE_TIMEOUT_S = 4.0


class _Device(Protocol):
    @property
    def peer(self) -> Peer: ...
    @property
    def online(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...


class Registrar(Protocol):
    """What a Player needs of the service (`ingest.gb28181.service`), which owns it."""

    @property
    def config(self) -> Gb28181Config: ...
    @property
    def endpoint(self) -> SipEndpoint: ...
    @property
    def sessions(self) -> Mapping[str, _Device]: ...


@dataclass
class _Dialog:
    handle: PlayHandle
    target: SipUri  # the device's Contact from its 200: where in-dialog requests go
    peer: Peer
    headers: list[tuple[str, str]]  # From (our tag), To (its tag), Call-ID


class Player:
    """The calls this service holds, by Call-ID."""

    def __init__(self, service: Registrar) -> None:
        self.service = service
        self.dialogs: dict[str, _Dialog] = {}
        self._ssrc_seq = itertools.count(int.from_bytes(os.urandom(2), "big"))

    async def play(
        self, device_id: str, channel_id: str, offer: MediaOffer, timeout_s: float
    ) -> PlayHandle:
        """INVITE the channel and ACK its answer; GbPlayError naming the device and the
        channel when it is not registered, refuses, answers SDP we cannot use or stays
        silent for `timeout_s`."""
        where = f"device {device_id} channel {channel_id}"
        session = self.service.sessions.get(device_id)
        if session is None:
            raise GbPlayError(f"{where}: the device is not registered")
        if not session.online:
            raise GbPlayError(f"{where}: the device is offline ({session.reason})")
        config = self.service.config
        endpoint = self.service.endpoint
        ssrc = make_ssrc(config.domain, next(self._ssrc_seq))
        peer = session.peer
        call_id = f"{os.urandom(10).hex()}@{config.platform_id}"
        host = endpoint.local_host(peer)
        headers = [
            ("From", f"<sip:{config.platform_id}@{config.domain}>;tag={new_tag()}"),
            ("To", f"<sip:{channel_id}@{config.domain}>"),
            ("Call-ID", call_id),
        ]
        invite_headers = [
            *headers,
            ("Contact", f"<sip:{config.platform_id}@{host}:{endpoint.bound_port}>"),
            ("Subject", f"{channel_id}:{ssrc},{config.platform_id}:0"),
            ("Content-Type", "APPLICATION/SDP"),
        ]
        uri = SipUri(channel_id, peer.host, peer.port)
        body = offer_sdp(config.platform_id, channel_id, offer, ssrc)
        cseq = endpoint.next_cseq()
        try:
            response = await endpoint.invite(uri, peer, invite_headers, body, cseq, timeout_s)
        except SipTimeoutError:
            raise GbPlayError(f"{where}: no answer to the INVITE in {timeout_s:g} s") from None
        except SipSendError as exc:
            raise GbPlayError(f"{where}: cannot reach the device: {exc}") from None
        if response.status >= 300:
            raise GbPlayError(f"{where}: INVITE refused {response.status} {response.reason}")
        try:
            to = response.require("To")
            contacts = response.get_all("Contact")
            target = parse_name_addr(contacts[0], "Contact").uri if contacts else uri
        except SipParseError as exc:
            raise GbPlayError(f"{where}: unusable 200 to the INVITE: {exc}") from None
        dialog_headers = [headers[0], ("To", to), headers[2]]
        endpoint.ack(target, peer, dialog_headers, call_id, cseq)
        handle = PlayHandle(call_id, device_id, channel_id, _answer(response, ssrc, where))
        dialog = _Dialog(handle, target, peer, dialog_headers)
        if handle.answer.transport != offer.transport:
            await self._bye(dialog, "the device answered another transport")
            raise GbPlayError(f"{where}: answered {handle.answer.transport}, not {offer.transport}")
        self.dialogs[call_id] = dialog
        log.info(
            "gb28181: playing %s (SSRC %s, %s from %s:%d)",
            where,
            ssrc,
            handle.answer.transport,
            handle.answer.host,
            handle.answer.port,
        )
        return handle

    async def stop(self, handle: PlayHandle, reason: str = "stream no longer wanted") -> None:
        dialog = self.dialogs.pop(handle.call_id, None)
        if dialog is not None:
            await self._bye(dialog, reason)

    async def stop_all(self) -> None:
        for dialog in list(self.dialogs.values()):
            await self.stop(dialog.handle, "service stopping")

    async def _bye(self, dialog: _Dialog, reason: str) -> None:
        h = dialog.handle
        h.reason = reason
        h.ended.set()
        try:
            response = await self.service.endpoint.request(
                "BYE", dialog.target, dialog.peer, dialog.headers
            )
            log.info(
                "gb28181: BYE to device %s channel %s (%s): %d",
                h.device_id,
                h.channel_id,
                reason,
                response.status,
            )
        except (SipTimeoutError, SipSendError) as exc:
            log.info("gb28181: BYE to device %s unanswered: %s", h.device_id, exc)

    def drop_device(self, device_id: str, reason: str) -> None:
        """The device is gone (unregistered, registration lapsed): its calls end for their
        readers, with the reason; no BYE to a device that said it is leaving."""
        for call_id, dialog in list(self.dialogs.items()):
            h = dialog.handle
            if h.device_id == device_id:
                del self.dialogs[call_id]
                h.reason = f"device {device_id} not registered ({reason})"
                h.ended.set()

    def on_bye(self, request: SipRequest) -> SipResponse:
        """The device ends a call: 200, and the reader learns it (481 if no such call)."""
        dialog = self.dialogs.pop(request.call_id, None)
        if dialog is None:
            return response_to(request, 481)
        h = dialog.handle
        h.reason = "the device ended the stream (BYE)"
        h.ended.set()
        log.info("gb28181: device %s ended channel %s (BYE)", h.device_id, h.channel_id)
        return response_to(request, 200)


def _answer(response: SipResponse, ssrc: str, where: str) -> MediaAnswer:
    try:
        return parse_answer(response.body, ssrc)
    except SdpError as exc:
        raise GbPlayError(f"{where}: unusable SDP answer: {exc}") from None


class InProcessSignalling:
    """`camera.gb28181.source.PlaySignalling` for reader threads of the service's process:
    each call runs on the service's loop and blocks the calling thread until it is done."""

    def __init__(self, player: Player, loop: asyncio.AbstractEventLoop) -> None:
        self.player = player
        self.loop = loop

    def start(
        self, device_id: str, channel_id: str, offer: MediaOffer, timeout_s: float
    ) -> PlayHandle:
        coro = self.player.play(device_id, channel_id, offer, timeout_s)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s + 5)

    def stop(self, handle: PlayHandle) -> None:
        future = asyncio.run_coroutine_threadsafe(self.player.stop(handle), self.loop)
        try:
            future.result(BYE_TIMEOUT_S + 40)
        except Exception:  # a BYE that failed must not keep a reader from ending
            log.exception("gb28181: BYE for %s failed", handle.call_id)
