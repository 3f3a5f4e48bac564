"""The delivery tests' receiver is the simulated duty system itself (one receiver, not a
copy per test package): real HTTP on 127.0.0.1, records every POST, can be taken down (its
socket closed) and brought back on the same port."""

from __future__ import annotations

from sharpeye.simulate.duty_receiver import DutyReceiver as Receiver
from sharpeye.simulate.duty_receiver import Received

__all__ = ["Received", "Receiver"]
