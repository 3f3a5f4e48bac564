"""The registry's `gb28181:` section: this instance as a GB/T 28181 platform.

```yaml
gb28181:
  platform_id: "34020000002000000001"   # 20 digits: province..county, type 200, serial
  domain: "3402000000"                  # default: the ID's first 10 digits
  listen: {host: 0.0.0.0, port: 5060}   # SIP over UDP and TCP on the same port
  keepalive_interval_s: 60              # offline after keepalive_misses intervals unheard
  device_password: {secret: gb-default} # for devices without their own
  devices:
    - {id: "34020000001320000001", name: East gate NVR, password: {password_env: GB_NVR1}}
```

Passwords are references (an environment variable or a key of the secrets file), resolved
like camera credentials when a device registers; the registry never holds one. IDs are
strings of digits: an unquoted 20-digit YAML number is read back as its digits, and a
number that lost leading zeros fails the length check with a hint to quote it.

Its own module, not schema.py: the schema imports this section, and these models need
nothing from it (a shared base would close an import circle).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

_DIGITS = re.compile(r"^[0-9]+$")
SipTransport = Literal["udp", "tcp"]


def _error(message: str, field: str | None = None) -> PydanticCustomError:
    # The same error type and ctx as schema.registry_error: the loader maps `field` to a line.
    return PydanticCustomError("registry", message, {"field": field} if field else None)


def _digits(value: Any, length: int, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _DIGITS.match(value) or len(value) != length:
        raise _error(f'{what} is {length} digits, as a quoted string ("3402...")')
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class PasswordRef(_Section):
    """Where a device's password lives; exactly one of the two."""

    password_env: str | None = Field(
        default=None, description="Environment variable holding the password."
    )
    secret: str | None = Field(
        default=None, description="Key in the secrets file (SHARPEYE_SECRETS_FILE)."
    )

    @model_validator(mode="after")
    def one_source(self) -> Self:
        if (self.password_env is None) == (self.secret is None):
            raise _error("give exactly one of password_env or secret")
        return self


class Gb28181Listen(_Section):
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the SIP service binds (UDP and TCP); 0.0.0.0 for every "
        "interface. Devices must reach it: set the address they are configured with.",
    )
    port: int = Field(default=5060, ge=0, le=65535, description="SIP port (0: any free one).")
    transports: list[SipTransport] = Field(
        default_factory=lambda: list[SipTransport](["udp", "tcp"]),
        min_length=1,
        description="Which to listen on.",
    )


class Gb28181Device(_Section):
    id: str = Field(description="The device's (or lower platform's) 20-digit GB/T 28181 ID.")
    name: str = Field(default="", description="Display name until the device reports its own.")
    password: PasswordRef | None = Field(
        default=None, description="Its registration password; default: device_password."
    )

    @field_validator("id", mode="before")
    @classmethod
    def twenty_digits(cls, value: Any) -> str:
        return _digits(value, 20, "a device id")

    @model_validator(mode="before")
    @classmethod
    def reject_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("password"), str | int):
            raise _error(
                "inline passwords are not allowed: use password: {password_env: ENV_VAR} or "
                "{secret: KEY} (in the secrets file named by SHARPEYE_SECRETS_FILE)",
                field="password",
            )
        return data


class Gb28181Config(_Section):
    """This instance as a GB/T 28181 platform that devices register to."""

    platform_id: str = Field(description="This platform's 20-digit SIP ID.")
    domain: str = Field(default="", description="SIP domain, 10 digits; default: ID[:10].")
    realm: str = Field(default="", description="Digest realm; default: the domain.")
    listen: Gb28181Listen = Field(default_factory=Gb28181Listen)
    keepalive_interval_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Devices' keepalive interval (GB/T 28181's default is 60 s).",
    )
    keepalive_misses: int = Field(
        default=3, ge=1, le=20, description="Intervals unheard before a device is offline."
    )
    register_expires_max_s: int = Field(
        default=3600, ge=60, description="Longest registration granted (Expires is capped)."
    )
    device_password: PasswordRef | None = Field(
        default=None, description="Password of devices listed without their own."
    )
    devices: list[Gb28181Device] = Field(
        default_factory=list, description="Devices allowed to register; any other is refused."
    )

    @field_validator("platform_id", mode="before")
    @classmethod
    def platform_digits(cls, value: Any) -> str:
        return _digits(value, 20, "platform_id")

    @field_validator("domain", mode="before")
    @classmethod
    def domain_digits(cls, value: Any) -> str:
        return "" if value in ("", None) else _digits(value, 10, "domain")

    @model_validator(mode="after")
    def defaults_and_devices(self) -> Self:
        if not self.domain:
            object.__setattr__(self, "domain", self.platform_id[:10])
        if not self.realm:
            object.__setattr__(self, "realm", self.domain)
        seen: set[str] = set()
        for index, device in enumerate(self.devices):
            if device.id in seen:
                raise _error(f"devices[{index}]: duplicate device id {device.id}", "devices")
            seen.add(device.id)
            if device.id == self.platform_id:
                raise _error(f"devices[{index}]: the platform's own id", "devices")
            if device.password is None and self.device_password is None:
                raise _error(
                    f"devices[{index}] ({device.id}): no password and no device_password",
                    "devices",
                )
        return self

    @cached_property
    def devices_by_id(self) -> dict[str, Gb28181Device]:
        return {d.id: d for d in self.devices}

    def password_of(self, device_id: str) -> PasswordRef | None:
        """The device's password reference; None if the device is not allowed."""
        device = self.devices_by_id.get(device_id)
        return None if device is None else device.password or self.device_password
