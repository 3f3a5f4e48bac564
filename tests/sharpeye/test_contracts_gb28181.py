"""A device record read back after its SIP service stopped ages into offline by itself."""

from __future__ import annotations

from sharpeye.contracts.gb28181 import GbDevice


def device(**changes: object) -> GbDevice:
    fields: dict[str, object] = {
        "device_id": "34020000001320000001",
        "state": "online",
        "transport": "UDP",
        "address": "10.0.0.9:5060",
        "registered_at": 1000.0,
        "expires_at": 4600.0,
        "last_keepalive": 1100.0,
        "keepalive_interval_s": 60.0,
        "keepalive_misses": 3,
        "updated_at": 1100.0,
    }
    return GbDevice.model_validate(fields | changes)


def test_effective_state() -> None:
    assert device().effective_state(1100.0 + 180) == "online"
    assert device().effective_state(1100.0 + 181) == "offline"  # 3 keepalives missed
    assert device(last_keepalive=None).effective_state(1000.0 + 181) == "offline"
    assert device(expires_at=1200.0).effective_state(1201.0) == "offline"
    assert device(state="unregistered").effective_state(1100.0) == "unregistered"
    assert device(state="offline").effective_state(1100.0) == "offline"
