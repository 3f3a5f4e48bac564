"""The SIP endpoint: one UDP socket and one TCP listener on the same port, asyncio, with the
non-INVITE transactions GB/T 28181's REGISTER and MESSAGE need (RFC 3261 §17).

Server side: each request goes to the handler once; a retransmission (same Via branch,
sent-by and method) while the handler runs is dropped, and after it is answered with the
same response again (so a catalog part a device resends is never counted twice). Client
side: `request` sends, retransmits over UDP (Timer E: T1 doubling to T2) and waits for the
final response until Timer F. Provisional responses are ignored (non-INVITE).

Bad input never stops the endpoint: an unreadable datagram is logged and, when its
Via/From/To/Call-ID/CSeq were readable, answered 400 with a Warning that names the bad
header; a TCP stream that loses its framing is answered likewise and closed. Sizes are
bounded by the parser, connections by `max_connections`, idle TCP peers are closed, and
handlers in flight are capped (503 beyond).

Requests to a device travel the way its REGISTER came: to the UDP source address (what
NAT-ed devices expect) or down the device's own TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from camera.gb28181.sip_headers import SipParseError, SipUri
from camera.gb28181.sip_message import (
    SipRequest,
    SipResponse,
    StreamFramer,
    build_response,
    parse_message,
)

log = logging.getLogger(__name__)

T1 = 0.5
T2 = 4.0
TIMER_F = 64 * T1  # give up on a non-INVITE request after 32 s
# How long an answered server transaction is remembered (Timer J, 64*T1 on UDP).
ANSWER_TTL = 64 * T1
_READ_CHUNK = 65536
# Answered transactions remembered at most (a flood of distinct requests must not grow it).
_MAX_REMEMBERED = 200_000

Transport = Literal["UDP", "TCP"]


@dataclass(frozen=True)
class Peer:
    """Where a message came from, and so where its answer and our requests go."""

    transport: Transport
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


Handler = Callable[[SipRequest, Peer], Awaitable[SipResponse]]


class SipTimeoutError(TimeoutError):
    """No final response to our request before Timer F."""


class SipSendError(ConnectionError):
    """The peer cannot be reached (its TCP connection is gone)."""


def new_branch() -> str:
    # The RFC 3261 magic cookie tells the peer the branch is unique per transaction.
    return "z9hG4bK" + os.urandom(10).hex()


def new_tag() -> str:
    return os.urandom(6).hex()


def _warning(reason: str) -> tuple[str, str]:
    text = reason.replace('"', "'")[:200]
    return ("Warning", f'399 sharpeye "{text}"')


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        peer = Peer("UDP", str(addr[0]), int(addr[1]))
        self.endpoint._received(data, peer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for a device that went away: its transaction times out.
        log.debug("gb28181: UDP error: %s", exc)


class SipEndpoint:
    """Listen on `host:port` (UDP and/or TCP); `port` 0 picks one free for both."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        transports: Sequence[Transport] = ("UDP", "TCP"),
        max_connections: int = 20_000,
        max_inflight: int = 2_000,
        tcp_idle_s: float = 300.0,
        timer_f: float = TIMER_F,
    ) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._transports = tuple(transports)
        self._max_connections = max_connections
        self._max_inflight = max_inflight
        self._tcp_idle_s = tcp_idle_s
        self._timer_f = timer_f
        self._udp: _Udp | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[tuple[str, int], asyncio.StreamWriter] = {}
        # Server transactions: key -> response (None while the handler runs) and its time.
        self._answers: dict[tuple[str, str, str, str], tuple[SipResponse | None, float]] = {}
        # Client transactions: (branch, method) -> future of the final response.
        self._pending: dict[tuple[str, str], asyncio.Future[SipResponse]] = {}
        # INVITE client transactions that heard a provisional answer (retransmits stop).
        self._proceeding: set[str] = set()
        # ACKs of answered INVITEs by (Call-ID, CSeq number): a 200 the device sends again
        # (our ACK was lost) is ACKed again, for Timer B's length.
        self._acks: dict[tuple[str, int], tuple[bytes, Peer, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._cseq = itertools.count(1)
        self._running = 0  # handlers in flight
        self.bound_port = 0
        self.refused = 0  # messages refused as malformed, for status and tests
        self._refusal_logged: dict[str, float] = {}

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _attempt in range(20):
            try:
                await self._bind(loop)
                break
            except OSError:
                await self.stop()
                if self.port != 0:
                    raise
        else:
            raise OSError(f"gb28181: no free port for UDP and TCP on {self.host}")
        self._spawn(self._expire_answers())
        log.info(
            "gb28181: SIP listening on %s:%d (%s)",
            self.host,
            self.bound_port,
            "+".join(t.lower() for t in self._transports),
        )

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        port = self.port
        if "UDP" in self._transports:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, port)
            )
            self._udp = protocol
            port = transport.get_extra_info("sockname")[1]
        if "TCP" in self._transports:
            self._server = await asyncio.start_server(
                self._serve_tcp, self.host, port, limit=_READ_CHUNK
            )
            port = self._server.sockets[0].getsockname()[1]
        self.bound_port = int(port)

    async def stop(self) -> None:
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        self._udp = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._connections.values()):
            writer.close()
        self._connections.clear()
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- receiving --------------------------------------------------------------------------

    def _received(self, data: bytes, peer: Peer) -> None:
        try:
            message = parse_message(data, stream=peer.transport == "TCP")
        except SipParseError as exc:
            self._refuse(exc, peer)
            return
        if isinstance(message, SipResponse):
            self._on_response(message, peer)
        else:
            self._on_request(message, peer)

    def _refuse(self, exc: SipParseError, peer: Peer) -> None:
        self.refused += 1
        # One line per source address a minute: a device stuck resending garbage, or a
        # flood, must not drown the log (the count says how many).
        now = time.monotonic()
        if now - self._refusal_logged.get(peer.host, -60.0) >= 60.0:
            if len(self._refusal_logged) > 10_000:
                self._refusal_logged.clear()
            self._refusal_logged[peer.host] = now
            log.warning(
                "gb28181: refused a message from %s: %s (%d refused in all)",
                peer,
                exc,
                self.refused,
            )
        if exc.reply_headers is not None:
            response = build_response(
                exc.reply_headers, 400, to_tag=new_tag(), headers=[_warning(str(exc))]
            )
            self._send(response.to_bytes(), peer)

    def _on_request(self, request: SipRequest, peer: Peer) -> None:
        via = request.vias[0]
        # RFC 3261 §17.2.3; a peer without an RFC 3261 branch is told apart by Call-ID+CSeq.
        branch = via.branch or f"{request.call_id}:{request.cseq.number}"
        key = (branch, via.host, str(via.port), request.method)
        if key in self._answers:
            answer, _ = self._answers[key]
            if answer is not None:  # retransmission: the same answer again
                self._send(answer.to_bytes(), peer)
            return
        if self._running >= self._max_inflight or len(self._answers) >= _MAX_REMEMBERED:
            retry = [("Retry-After", "5")]
            busy = build_response(request.headers, 503, to_tag=new_tag(), headers=retry)
            self._send(busy.to_bytes(), peer)
            return
        self._answers[key] = (None, time.monotonic())
        self._running += 1
        self._spawn(self._handle(request, peer, key))

    async def _handle(
        self, request: SipRequest, peer: Peer, key: tuple[str, str, str, str]
    ) -> None:
        try:
            response = await self._handler(request, peer)
        except Exception:
            log.exception("gb28181: handler failed on %s from %s", request.method, peer)
            response = build_response(request.headers, 500, to_tag=new_tag())
        finally:
            self._running -= 1
        self._answers[key] = (response, time.monotonic())
        try:
            self._send(response.to_bytes(), peer)
        except SipSendError as exc:
            log.info("gb28181: cannot answer %s from %s: %s", request.method, peer, exc)

    def _on_response(self, response: SipResponse, peer: Peer) -> None:
        branch = response.vias[0].branch or ""
        future = self._pending.get((branch, response.cseq.method))
        if response.cseq.method == "INVITE" and future is not None and response.status < 200:
            self._proceeding.add(branch)
        if future is None and response.cseq.method == "INVITE" and response.status < 300:
            ack = self._acks.get((response.call_id, response.cseq.number))
            if ack is not None:
                self._send(ack[0], ack[1])
        elif future is None:
            log.debug("gb28181: response %d from %s matches no request", response.status, peer)
        elif response.status >= 200 and not future.done():
            future.set_result(response)

    async def _expire_answers(self) -> None:
        while True:
            await asyncio.sleep(ANSWER_TTL / 4)
            cutoff = time.monotonic() - ANSWER_TTL
            for key, (answer, at) in list(self._answers.items()):
                if answer is not None and at < cutoff:
                    del self._answers[key]
            for ack_key, (_, _, sent) in list(self._acks.items()):
                if sent < cutoff:
                    del self._acks[ack_key]

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = writer.get_extra_info("peername")
        peer = Peer("TCP", str(addr[0]), int(addr[1]))
        if len(self._connections) >= self._max_connections:
            log.warning("gb28181: refused TCP connection from %s: connection limit", peer)
            writer.close()
            return
        self._connections[(peer.host, peer.port)] = writer
        framer = StreamFramer()
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(_READ_CHUNK), self._tcp_idle_s)
                except TimeoutError:
                    log.info("gb28181: closing idle TCP connection from %s", peer)
                    return
                if not data:
                    return
                pings = framer.pings
                try:
                    messages = framer.feed(data)
                except SipParseError as exc:
                    # The stream's framing is lost: nothing after this point can be trusted.
                    self._refuse(exc, peer)
                    return
                if framer.pings != pings:
                    writer.write(b"\r\n")  # RFC 5626 pong
                for message in messages:
                    self._received(message, peer)
        except (ConnectionError, OSError) as exc:
            log.info("gb28181: TCP connection from %s lost: %s", peer, exc)
        finally:
            self._connections.pop((peer.host, peer.port), None)
            writer.close()

    # --- sending ----------------------------------------------------------------------------

    def _send(self, data: bytes, peer: Peer) -> None:
        if peer.transport == "UDP":
            if self._udp is None or self._udp.transport is None:
                raise SipSendError("UDP is not listening")
            self._udp.transport.sendto(data, (peer.host, peer.port))
            return
        writer = self._connections.get((peer.host, peer.port))
        if writer is None or writer.is_closing():
            raise SipSendError(f"no TCP connection to {peer}")
        writer.write(data)

    def local_host(self, peer: Peer) -> str:
        """The address `peer` reaches us at, for Via and Contact."""
        if peer.transport == "TCP":
            writer = self._connections.get((peer.host, peer.port))
            if writer is not None:
                return str(writer.get_extra_info("sockname")[0])
        if self.host not in ("0.0.0.0", "::", ""):
            return self.host
        # Listening on every address: ask the routing table which one faces the peer (a
        # connected UDP socket sends nothing).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((peer.host, peer.port))
            return str(probe.getsockname()[0])

    async def request(
        self,
        method: str,
        uri: SipUri,
        peer: Peer,
        headers: Sequence[tuple[str, str]],
        body: bytes = b"",
    ) -> SipResponse:
        """Send a non-INVITE request and wait for its final response. `headers` holds From,
        To, Call-ID and the rest; Via, CSeq and Max-Forwards are added here.
        SipTimeoutError after Timer F, SipSendError if the peer cannot be reached."""
        branch = new_branch()
        data = self._build(method, uri, peer, headers, body, next(self._cseq), branch)
        future: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._pending[(branch, method)] = future
        try:
            self._send(data, peer)
            deadline = time.monotonic() + self._timer_f
            interval = T1
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SipTimeoutError(f"{method} to {peer}: no answer in {self._timer_f:.0f} s")
                wait = min(interval, remaining) if peer.transport == "UDP" else remaining
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                if peer.transport == "UDP":  # Timer E
                    self._send(data, peer)
                    interval = min(interval * 2, T2)
        finally:
            self._pending.pop((branch, method), None)

    def _build(
        self,
        method: str,
        uri: SipUri,
        peer: Peer,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        cseq: int,
        branch: str,
    ) -> bytes:
        sent_by = f"{self.local_host(peer)}:{self.bound_port}"
        via = f"SIP/2.0/{peer.transport} {sent_by};rport;branch={branch}"
        request = SipRequest(
            (("Via", via), *headers, ("CSeq", f"{cseq} {method}"), ("Max-Forwards", "70")),
            body,
            method,
            uri,
        )
        return request.to_bytes()

    def next_cseq(self) -> int:
        return next(self._cseq)

    async def invite(
        self,
        uri: SipUri,
        peer: Peer,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        cseq: int,
        timeout_s: float,
    ) -> SipResponse:
        """An INVITE client transaction (RFC 3261 §17.1.1): retransmitted over UDP (Timer
        A) until the device answers anything, then its final answer awaited until
        `timeout_s` (a device ringing forever is given up with a CANCEL). A failure answer
        is ACKed here, within its transaction; a 2xx is the dialog's to ACK (`ack`).
        SipTimeoutError without a final answer, SipSendError if the peer is unreachable."""
        branch = new_branch()
        data = self._build("INVITE", uri, peer, headers, body, cseq, branch)
        future: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self._pending[(branch, "INVITE")] = future
        try:
            self._send(data, peer)
            deadline = time.monotonic() + timeout_s
            interval = T1
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if branch in self._proceeding:  # CANCEL only after a provisional answer
                        cancel = [h for h in headers if h[0] in ("From", "To", "Call-ID")]
                        self._send(
                            self._build("CANCEL", uri, peer, cancel, b"", cseq, branch), peer
                        )
                    raise SipTimeoutError(f"INVITE to {peer}: no answer in {timeout_s:.0f} s")
                retransmit = peer.transport == "UDP" and branch not in self._proceeding
                wait = min(interval, remaining) if retransmit else min(remaining, T1)
                with contextlib.suppress(TimeoutError):
                    response = await asyncio.wait_for(asyncio.shield(future), wait)
                    if response.status >= 300:  # §17.1.1.3: the ACK of a failure
                        to = response.require("To")
                        ack = [(n, to if n == "To" else v) for n, v in headers if n in _ACK_COPY]
                        self._send(self._build("ACK", uri, peer, ack, b"", cseq, branch), peer)
                    return response
                if retransmit and branch not in self._proceeding:  # Timer A
                    self._send(data, peer)
                    interval *= 2
        finally:
            self._pending.pop((branch, "INVITE"), None)
            self._proceeding.discard(branch)

    def ack(
        self, uri: SipUri, peer: Peer, headers: Sequence[tuple[str, str]], call_id: str, cseq: int
    ) -> None:
        """ACK a 2xx (its own transaction, no answer), remembered so that a 200 sent again
        is ACKed again."""
        data = self._build("ACK", uri, peer, headers, b"", cseq, new_branch())
        self._acks[(call_id, cseq)] = (data, peer, time.monotonic())
        self._send(data, peer)


_ACK_COPY = frozenset(["From", "To", "Call-ID", "Route"])
