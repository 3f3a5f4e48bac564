"""Every UDP datagram waiting on a socket in one system call: `recvmmsg(2)`, for
`GbSource`.

Why not `socket.recv` in a loop: a GB/T 28181 camera sends ~200 RTP packets a second (720p
at 2 Mb/s in 1400-byte payloads), and each `recv` is a system call that also releases and
retakes the GIL. With a reader thread per camera the GIL is wanted by others most of the
time, so each release is a handoff (a futex wake, a context switch): measured in the
benchmark's probe (`benchmarks.gb28181_probe`), receiving alone (select, then a `recv` per
packet, nothing parsed) cost 1.6 ms of CPU per camera-second, four times RTSP's whole
reader. `recvmmsg` takes what has arrived in one call, and as it is made non-blocking
(`MSG_DONTWAIT`: the thread waits in `select` or a sleep before, never here) it runs with
the GIL held (`ctypes.PyDLL`): no handoff at all.

The datagrams land in one anonymous mapping, each at the start of a 64 KiB slot: any UDP
datagram fits (its payload is at most 65,507 bytes), so none is ever truncated, and as the
kernel only backs the pages written, a slot costs the first page or two of what comes (a
4 KiB page for a 1400-byte packet), not 64 KiB. Where `recvmmsg` is missing (not Linux,
no libc through ctypes), `recv_into` per datagram into the same slots gives the same
answer.
"""

from __future__ import annotations

import ctypes
import mmap
import socket
import sys
from collections.abc import Callable
from typing import Any

SLOT = 65536  # at least the largest UDP payload: nothing is cut
BATCH = 32  # datagrams per call; a keyframe's burst takes a few calls


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IoVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


def _load_recvmmsg() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # PyDLL: called with the GIL held (the call never blocks, see above).
        fn: Any = ctypes.PyDLL(None, use_errno=True).recvmmsg
    except (OSError, AttributeError):
        return None
    fn.argtypes = [
        ctypes.c_int,
        ctypes.POINTER(_MMsgHdr),
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_RECVMMSG = _load_recvmmsg()


class DatagramReader:
    """Reads what is waiting on a UDP socket into its slots; `view` is where it lands."""

    def __init__(self, batch: int = BATCH, *, use_recvmmsg: bool = True) -> None:
        self.batch = batch
        self._mem = mmap.mmap(-1, SLOT * batch)
        self.view = memoryview(self._mem)
        self._recvmmsg = _RECVMMSG if use_recvmmsg else None
        self._msgs = (_MMsgHdr * batch)()
        self._iovs = (_IoVec * batch)()
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._mem))
        for k in range(batch):
            self._iovs[k].iov_base = base + k * SLOT
            self._iovs[k].iov_len = SLOT
            hdr = self._msgs[k].msg_hdr
            hdr.msg_iov = ctypes.pointer(self._iovs[k])
            hdr.msg_iovlen = 1

    def read(self, sock: socket.socket) -> list[tuple[int, int]]:
        """(start, end) in `view` of each datagram waiting, in arrival order, at most
        `batch`; [] when none is (or the socket reports an error: an ICMP unreachable from
        an earlier send is not ours to mind, and the caller's timeout covers a dead one).
        The slots are reused by the next call: take what is needed before it."""
        fn = self._recvmmsg
        if fn is None:
            return self._read_each(sock)
        n = fn(sock.fileno(), self._msgs, self.batch, socket.MSG_DONTWAIT, None)
        msgs = self._msgs
        return [(k * SLOT, k * SLOT + msgs[k].msg_len) for k in range(n)] if n > 0 else []

    def _read_each(self, sock: socket.socket) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        view = self.view
        for k in range(self.batch):
            start = k * SLOT
            try:
                n = sock.recv_into(view[start : start + SLOT], SLOT, socket.MSG_DONTWAIT)
            except OSError:  # nothing more waiting (BlockingIOError), or an ICMP error
                break
            out.append((start, start + n))
        return out
