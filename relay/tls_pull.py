"""An rtsps:// camera connection on the relay's event loop, as a transport for `_Pull`.

asyncio cannot adopt a socket whose TLS session is already up (`create_connection` refuses an
`ssl.SSLSocket`), and camera/'s client ran the handshake and DESCRIBE/SETUP/PLAY over it. So
the loop only watches the file descriptor, and reads go through the SSL object here:
non-blocking, until it has nothing left, so no decrypted bytes stay behind where the
selector cannot see them (`camera.rtsp.tls.read_available`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from camera.rtsp.tls import read_available

READ_SIZE = 262144


class TlsTransport(asyncio.Transport):
    """Enough of a transport for the relay's pull: data in, keep-alives out, close."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, protocol: asyncio.Protocol
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._protocol = protocol
        self._fd = sock.fileno()
        self._closed = False
        sock.setblocking(False)
        protocol.connection_made(self)
        loop.add_reader(self._fd, self._readable)
        # Bytes decrypted during the set-up may already sit in the SSL object: no readiness
        # event would announce them.
        loop.call_soon(self._readable)

    def _readable(self) -> None:
        while not self._closed:
            try:
                data, _more = read_available(self._sock, READ_SIZE)
            except OSError as exc:  # ssl.SSLError included: a broken TLS stream
                self._finish(exc)
                return
            if data is None:
                return  # the SSL object is empty: the selector will say when more comes
            if not data:
                if not self._protocol.eof_received():
                    self._finish(None)
                return
            self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if self._closed:
            return
        # Only small requests go out (keep-alive, teardown): a full send buffer
        # (SSLWantWriteError, an OSError) costs one keep-alive, and the session timeout
        # allows for several.
        with contextlib.suppress(OSError):
            self._sock.send(data)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._finish(None)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name == "peercert":
            return self._sock.getpeercert()
        return default

    def _finish(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._fd)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, exc)
