"""RTSP over TLS (rtsps://): whom to trust, the handshake with errors an operator can act on,
and non-blocking reads that leave no decrypted bytes stranded.

Trust, per camera (`tls:` in the registry, `TlsOptions` here):
- nothing: the server certificate must chain to the system CA store (OpenSSL's, so
  `SSL_CERT_FILE` / `SSL_CERT_DIR` work process-wide) and name the host of the URL;
- `ca_file`: the same checks against that PEM bundle instead (cameras mostly carry
  certificates of a private CA);
- `sha256`: the certificate must be exactly this one (its SHA-256 fingerprint); chain and host
  name are not checked. This is how a self-signed camera is accepted: pinning one certificate
  keeps out a man in the middle, which switching verification off would let in.

Reads: an `ssl.SSLSocket` in non-blocking mode raises `SSLWantReadError` (not
`BlockingIOError`) when a TLS record is incomplete, and may hold decrypted bytes that poll()
cannot see (`pending()`); `read_available` handles both and tells the caller to come back.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from camera.rtsp.errors import RtspError
from sharpeye.registry.fingerprint import normalize_fingerprint

if TYPE_CHECKING:  # the client itself does not need the registry (or pydantic) at run time
    from sharpeye.registry.schema import CameraTls

DEFAULT_PORT = 322  # IANA's port for rtsps

# OpenSSL X509_V_ERR_* codes an operator meets with cameras, and what to do about each.
_EXPIRED = 10
_NOT_YET_VALID = 9
_SELF_SIGNED = 18
_UNKNOWN_ISSUER = frozenset({2, 19, 20, 21})  # issuer unknown or not trusted
_NAME_MISMATCH = frozenset({62, 64})  # host name, IP address


class RtspTlsError(RtspError):
    """TLS set-up failed (untrusted certificate, handshake, plain RTSP server, CA file)."""


def format_fingerprint(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)


@dataclass(frozen=True)
class TlsOptions:
    """How to trust one camera's certificate (see the module docstring)."""

    ca_file: str | None = None
    sha256: str | None = None  # normalised by `normalize_fingerprint`

    def __post_init__(self) -> None:
        if self.ca_file is not None and self.sha256 is not None:
            raise ValueError("give tls.ca_file or tls.sha256, not both")
        if self.sha256 is not None:
            object.__setattr__(self, "sha256", normalize_fingerprint(self.sha256))

    def trusting(self) -> str:
        """What the certificate was checked against, for error messages."""
        if self.sha256 is not None:
            return "the pinned tls.sha256"
        return f"CA file {self.ca_file}" if self.ca_file else "the system CA store"


def tls_options(block: CameraTls | None) -> TlsOptions | None:
    """A registry camera's `tls:` block as client options (None: the system CA store)."""
    if block is None:
        return None
    return TlsOptions(ca_file=block.ca_file, sha256=block.sha256)


# Building a context parses the whole CA bundle: share one per (options, file version) across
# cameras and reconnects; an edited CA file is picked up on the next connection.
_contexts: dict[tuple[TlsOptions, tuple[int, int] | None], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def client_context(opts: TlsOptions) -> ssl.SSLContext:
    """The SSL context for these options; RtspTlsError if the CA file is unusable."""
    version: tuple[int, int] | None = None
    if opts.ca_file is not None:
        try:
            st = os.stat(opts.ca_file)
        except OSError as exc:
            raise RtspTlsError(f"CA file {opts.ca_file}: {exc.strerror or exc}") from None
        version = (st.st_mtime_ns, st.st_size)
    key = (opts, version)
    with _contexts_lock:
        ctx = _contexts.get(key)
    if ctx is not None:
        return ctx
    if opts.sha256 is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # The pin replaces chain and name checks; it is compared after the handshake.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        try:
            # With a cafile only that bundle is trusted, not the system store as well.
            ctx = ssl.create_default_context(cafile=opts.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise RtspTlsError(
                f"CA file {opts.ca_file}: not a usable PEM bundle ({reason})"
            ) from None
    with _contexts_lock:
        if len(_contexts) > 256:  # edits of many CA files: do not keep every old version
            _contexts.clear()
        _contexts[key] = ctx
    return ctx


def connect_tls(
    sock: socket.socket, host: str, port: int, opts: TlsOptions, url: str, deadline: float
) -> ssl.SSLSocket:
    """Run the TLS handshake on a connected socket and check the certificate.

    The socket belongs to the returned SSLSocket; on failure it is closed. `url` is the
    redacted URL errors start with. TimeoutError when the deadline passes.
    """
    ctx = client_context(opts)
    tls = ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        tls.settimeout(max(0.001, deadline - time.monotonic()))
        tls.do_handshake()
        if opts.sha256 is not None:
            _check_pin(tls, opts.sha256, url)
        return tls
    except ssl.SSLCertVerificationError as exc:
        tls.close()
        raise RtspTlsError(
            f"{url}: TLS certificate verification failed: {_why(exc, host, opts)}"
        ) from None
    except (ssl.SSLError, ConnectionError) as exc:
        tls.close()
        if _speaks_plain_rtsp(host, port, deadline):
            raise RtspTlsError(
                f"{url}: the server speaks plain RTSP on port {port}, not RTSP over TLS: "
                "use rtsp:// or enable RTSPS on the camera"
            ) from None
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise RtspTlsError(f"{url}: TLS handshake failed ({reason})") from None
    except BaseException:
        tls.close()
        raise


def _check_pin(tls: ssl.SSLSocket, expected: str, url: str) -> None:
    der = tls.getpeercert(binary_form=True)
    if der is None:
        raise RtspTlsError(f"{url}: the server sent no certificate")
    actual = hashlib.sha256(der).digest()
    if actual.hex() != expected:
        raise RtspTlsError(
            f"{url}: TLS certificate verification failed: the camera's certificate "
            f"(SHA-256 {format_fingerprint(actual)}) is not the pinned tls.sha256"
        )


def _why(exc: ssl.SSLCertVerificationError, host: str, opts: TlsOptions) -> str:
    code = exc.verify_code
    if code == _EXPIRED:
        return "the certificate has expired (renew it on the camera, or check the clocks)"
    if code == _NOT_YET_VALID:
        return "the certificate is not valid yet (check the camera's and this host's clocks)"
    if code == _SELF_SIGNED:
        return (
            f"the certificate is self-signed, not trusted by {opts.trusting()} "
            "(pin it with tls.sha256, or give the CA that issued it in tls.ca_file)"
        )
    if code in _UNKNOWN_ISSUER:
        return f"unknown CA: the certificate's issuer is not trusted by {opts.trusting()}"
    if code in _NAME_MISMATCH:
        return f"host name mismatch: the certificate is not valid for {host}"
    return str(exc.verify_message or exc.reason or exc)


def _speaks_plain_rtsp(host: str, port: int, deadline: float) -> bool:
    """After a failed handshake: does a plain OPTIONS get an RTSP answer on that port?"""
    left = min(2.0, deadline - time.monotonic())
    if left <= 0:
        return False
    try:
        with socket.create_connection((host, port), timeout=left) as probe:
            probe.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: Sharpeye/0.1\r\n\r\n")
            return probe.recv(5) == b"RTSP/"
    except OSError:
        return False


def read_available(sock: ssl.SSLSocket, limit: int) -> tuple[bytes | None, bool]:
    """What a non-blocking SSL socket has now, up to `limit` bytes: (data, more).

    data is None when nothing is readable yet, b"" when the peer closed. `more` is true when
    decrypted bytes are left inside the SSL object: poll() will not report them, so the
    caller must read again without waiting for the socket to become readable.
    """
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        try:
            # One call returns at most one TLS record (16 KiB): loop for a bulk read.
            chunk = sock.recv(limit - total)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            break
        if not chunk:
            if not chunks:
                return b"", False
            break  # hand over what came first; the next read sees the close again
        chunks.append(chunk)
        total += len(chunk)
    if not chunks:
        return None, False
    return b"".join(chunks), sock.pending() > 0
