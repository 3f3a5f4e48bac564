"""The SIP endpoint on 127.0.0.1: server transactions answer a retransmission from memory
(the handler runs once), client transactions retransmit over UDP until answered, TCP is
framed by Content-Length and a stream that loses its framing is answered 400 and closed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from camera.gb28181.sip_headers import SipUri
from camera.gb28181.sip_message import SipRequest, SipResponse, parse_message, response_to
from camera.gb28181.transport import Peer, SipEndpoint, SipTimeoutError, new_tag

OPTIONS = (
    b"OPTIONS sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{n}\r\n"
    b"From: <sip:34020000001320000001@3402000000>;tag=1\r\n"
    b"To: <sip:34020000002000000001@3402000000>\r\n"
    b"Call-ID: t{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def options(n: int) -> bytes:
    return OPTIONS.replace(b"{n}", str(n).encode())


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, request: SipRequest, peer: Peer) -> SipResponse:
        self.calls += 1
        await asyncio.sleep(0.05)
        return response_to(request, 200, to_tag=new_tag())


async def test_udp_retransmission_is_answered_from_memory() -> None:
    handler = Counting()
    endpoint = SipEndpoint("127.0.0.1", 0, handler, transports=("UDP",))
    await endpoint.start()
    loop = asyncio.get_running_loop()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            target = ("127.0.0.1", endpoint.bound_port)
            await loop.sock_sendto(sock, options(1), target)
            await loop.sock_sendto(sock, options(1), target)  # while the handler runs: dropped
            first = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)
            await loop.sock_sendto(sock, options(1), target)  # after: the same answer again
            second = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)
            assert first == second
            assert handler.calls == 1
            await loop.sock_sendto(sock, options(2), target)  # a new transaction
            await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)
            assert handler.calls == 2
    finally:
        await endpoint.stop()


async def test_udp_request_is_retransmitted_until_answered() -> None:
    endpoint = SipEndpoint("127.0.0.1", 0, Counting(), transports=("UDP",), timer_f=5.0)
    await endpoint.start()
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer_sock:
        peer_sock.bind(("127.0.0.1", 0))
        peer_sock.setblocking(False)
        peer = Peer("UDP", "127.0.0.1", peer_sock.getsockname()[1])

        async def answer_the_second_copy() -> int:
            await loop.sock_recv(peer_sock, 65536)  # the first copy is "lost"
            data, addr = await loop.sock_recvfrom(peer_sock, 65536)
            request = parse_message(data)
            assert isinstance(request, SipRequest)
            await loop.sock_sendto(peer_sock, response_to(request, 200).to_bytes(), addr)
            return 2

        headers = [("From", "<sip:a@b>;tag=1"), ("To", "<sip:c@d>"), ("Call-ID", "x1")]
        try:
            copies, response = await asyncio.gather(
                answer_the_second_copy(),
                endpoint.request("MESSAGE", SipUri("c", "d"), peer, headers, b"<a/>"),
            )
            assert (copies, response.status) == (2, 200)
            with pytest.raises(SipTimeoutError):
                short = SipEndpoint("127.0.0.1", 0, Counting(), transports=("UDP",), timer_f=0.6)
                await short.start()
                try:
                    await short.request("MESSAGE", SipUri("c", "d"), peer, headers)
                finally:
                    await short.stop()
        finally:
            await endpoint.stop()


async def test_tcp_framing() -> None:
    handler = Counting()
    endpoint = SipEndpoint("127.0.0.1", 0, handler, transports=("TCP",))
    await endpoint.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.bound_port)
        tcp = [m.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP") for m in (options(3), options(4))]
        stream = b"\r\n\r\n" + tcp[0] + tcp[1]
        writer.write(stream[:30])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(stream[30:])
        assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"  # pong to the ping
        answers = [await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2) for _ in range(2)]
        assert all(a.startswith(b"SIP/2.0 200 OK") for a in answers)
        assert handler.calls == 2
        # No Content-Length on a stream: 400 naming it, and the connection is closed.
        writer.write(tcp[0].replace(b"Content-Length: 0\r\n", b"").replace(b"t3", b"t5"))
        refused = await asyncio.wait_for(reader.read(65536), 2)
        assert refused.startswith(b"SIP/2.0 400")
        assert b"Content-Length" in refused
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
    finally:
        await endpoint.stop()
