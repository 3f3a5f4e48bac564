"""Who may register: the checks of a REGISTER before and after its Digest answer.

Each check returns a `Refusal` (status and the reason, for the log and a Warning header) or
None. The order matters for what a stranger learns: addressing and the device list are
checked before any challenge, so an unknown ID is told 403 without a nonce, and a known one
with a wrong password is told 403 only after a Digest answer that does not verify.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from camera.gb28181.digest import DigestResponse, NonceIssuer, challenge, verify
from camera.gb28181.sip_headers import SipParseError, SipUri, parse_expires, parse_uri
from camera.gb28181.sip_message import SipRequest
from sharpeye.registry.credentials import resolve_credentials
from sharpeye.registry.errors import CredentialError
from sharpeye.registry.gb28181 import Gb28181Config
from sharpeye.registry.schema import CredentialRef

DEFAULT_EXPIRES = 3600


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str  # for our log
    # Extra response headers (a challenge).
    headers: tuple[tuple[str, str], ...] = ()
    # For the peer's Warning when `reason` tells more than an unauthenticated peer should
    # learn (our configuration, another device's address).
    public: str = ""

    @property
    def warning(self) -> str:
        return self.public or self.reason


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def not_this_platform(uri: SipUri, config: Gb28181Config) -> str | None:
    """Why `uri` does not name this platform, or None: its user part, if any, must be the
    platform's ID, and its host the domain, the ID or an IP address (devices are configured
    with the platform's address, and many put it there)."""
    if uri.user is not None and uri.user != config.platform_id:
        return f"addressed to {uri.user[:24]}, not this platform"
    if uri.host != config.domain and uri.host != config.platform_id and not _is_ip(uri.host):
        return f"wrong domain {uri.host[:40]!r} (this platform's is {config.domain})"
    return None


def check_addressing(request: SipRequest, config: Gb28181Config) -> Refusal | str:
    """The device ID being registered, or why not: the request must name this platform and
    the device must register itself (From and To name the same ID)."""
    wrong = not_this_platform(request.uri, config)
    if wrong is not None:
        return Refusal(403, wrong)
    device_id = request.to.uri.user or ""
    if request.from_.uri.user != device_id:
        return Refusal(403, "From and To name different devices (no third-party registration)")
    if config.password_of(device_id) is None:
        return Refusal(403, f"device {device_id[:24]!r} is not in the registry's gb28181 devices")
    return device_id


def requested_expires(request: SipRequest) -> int:
    """Expires header, else the Contact's expires parameter, else the default; SipParseError
    naming the header if unreadable."""
    value = request.get("Expires")
    if value is not None:
        return parse_expires(value)
    contacts = request.get_all("Contact")
    if len(contacts) == 1 and contacts[0] != "*":
        for part in contacts[0].split(";")[1:]:
            name, _, param = part.partition("=")
            if name.strip().lower() == "expires":
                return parse_expires(param, "Contact")
    return DEFAULT_EXPIRES


def check_answer(
    request: SipRequest,
    answer: DigestResponse,
    device_id: str,
    config: Gb28181Config,
    nonces: NonceIssuer,
    secrets_file: Path | None,
) -> Refusal | None:
    """None if the Digest answer proves the device's password; else 401 (a fresh or stale
    nonce: challenge again) or 403 (wrong credentials, or a password we cannot look up)."""
    fresh = nonces.check(answer.nonce, answer.nc)
    if fresh in ("invalid", "stale"):
        # 'invalid' is mostly a nonce from before a restart: challenge again, never 403.
        stale = fresh == "stale"
        header = ("WWW-Authenticate", challenge(config.realm, nonces.issue(), stale=stale))
        return Refusal(401, f"{fresh} nonce", (header,))
    if fresh == "replayed":
        return Refusal(403, "replayed Digest answer (nonce count did not grow)")
    if answer.username != device_id:
        return Refusal(403, f"Digest username {answer.username[:24]!r} is not the device's ID")
    if answer.realm != config.realm:
        return Refusal(403, f"Digest realm {answer.realm[:24]!r} is not {config.realm}")
    try:
        digest_uri = parse_uri(answer.uri, "Authorization")
    except SipParseError:
        return Refusal(403, "Digest uri is not a SIP URI")
    # Devices differ in what they put here (the Request-URI, or the platform's address as
    # configured): it must name this platform as the Request-URI must.
    wrong = not_this_platform(digest_uri, config)
    if wrong is not None:
        return Refusal(403, f"Digest uri {wrong}")
    ref = config.password_of(device_id)
    assert ref is not None  # check_addressing let only listed devices through
    try:
        credentials = resolve_credentials(
            CredentialRef(username=device_id, password_env=ref.password_env, secret=ref.secret),
            secrets_file,
        )
    except CredentialError as exc:
        why = f"cannot look up the device's password: {exc}"
        return Refusal(403, why, public="the platform cannot check this device's password")
    if not verify(answer, "REGISTER", credentials.password):
        return Refusal(403, "wrong password (Digest answer does not verify)")
    return None
