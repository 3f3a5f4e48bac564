"""Test certificates made at test time (`cryptography`): a CA and servers for 127.0.0.1.

`make_pki(dir)` writes a CA, a server certificate it signed for 127.0.0.1 and localhost, and
a second, unrelated CA (for "wrong CA" cases); `server_cert(...)` makes the odd ones
(self-signed, expired, other host names). `TlsPeer` serves a certificate on 127.0.0.1 from a
thread. Nothing here is valid beyond loopback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCAL_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Issued:
    cert: Path  # PEM certificate
    key: Path  # PEM private key (unencrypted)

    @property
    def sha256(self) -> str:
        """The certificate's SHA-256 fingerprint as AB:CD:..., as `openssl x509` prints it."""
        der = ssl.PEM_cert_to_DER_cert(self.cert.read_text())
        return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued  # signed by `ca`, for 127.0.0.1 and localhost
    other_ca: Issued  # a CA that signed nothing the tests serve


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> Issued:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _alt_names(names: tuple[str, ...]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = []
    for n in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            general.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(general)


def make_ca(directory: Path, name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Sharpeye test {name}"))
        .issuer_name(_name(f"Sharpeye test {name}"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(directory, name, cert, key)


def server_cert(
    directory: Path,
    name: str,
    issuer: Issued | None,
    names: tuple[str, ...] = LOCAL_NAMES,
    expired: bool = False,
) -> Issued:
    """A server certificate for `names`, signed by `issuer` (None: self-signed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    if issuer is not None:
        ca_cert = x509.load_pem_x509_certificate(issuer.cert.read_bytes())
        ca_key = serialization.load_pem_private_key(issuer.key.read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        issuer_name, sign_key = ca_cert.subject, ca_key
    else:
        issuer_name, sign_key = _name(f"Sharpeye test {name}"), key
    start = _now() - dt.timedelta(days=1)
    end = _now() + dt.timedelta(days=30)
    if expired:
        start, end = _now() - dt.timedelta(days=60), _now() - dt.timedelta(days=30)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Sharpeye test {name}"))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(_alt_names(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return _write(directory, name, builder.sign(sign_key, hashes.SHA256()), key)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca(directory, "ca")
    return Pki(ca, server_cert(directory, "server", ca), make_ca(directory, "other-ca"))


class TlsPeer:
    """A TLS server on 127.0.0.1 presenting `issued`: runs handshakes, then sends `payload`
    in one write and holds the connection until the client closes (enough to test what a
    client makes of a certificate, and of data bigger than one TLS record)."""

    def __init__(self, issued: Issued, payload: bytes = b"") -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(issued.cert, issued.key)
        self.payload = payload
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TlsPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed: the test is over
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                if self.payload:
                    tls.sendall(self.payload)
                while tls.recv(4096):
                    pass
        except (OSError, ssl.SSLError):
            pass  # refused handshakes are what several tests are about
