"""Running SIPp (Debian `sip-tester`) as a GB/T 28181 device against Sharpeye on 127.0.0.1.

Every run is bounded (`-m 1`, `-timeout ... -timeout_error`) and binds a port chosen here
(SIPp's default is 5060, which a parallel run or a real service may hold). The catalog
and answer scenarios are re-encoded to GB18030 on the way (`gb18030_copy`).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
PLATFORM_ID = "34020000002000000001"
DOMAIN = "3402000000"
DEVICE_ID = "34020000001320000001"
PASSWORD = "gb-test-pass-1"


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if found is None:
        pytest.skip("SIPp not installed (scripts/install-system.sh adds sip-tester)")
    return found


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIPp binds its -p on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for SIPp")


@dataclass
class Sipp:
    process: asyncio.subprocess.Process
    logs: Path

    async def finish(self, within_s: float = 60.0) -> tuple[int, str]:
        """Wait for SIPp; its exit code and, for a failure's message, its error log."""
        try:
            rc = await asyncio.wait_for(self.process.wait(), within_s)
        except TimeoutError:
            self.process.kill()
            rc = await self.process.wait()
        errors = self.logs / "errors.log"
        return rc, errors.read_text(errors="replace")[-3000:] if errors.exists() else ""

    def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


def sipp_command(
    scenario: str,
    platform_port: int,
    logs: Path,
    *,
    transport: str = "u1",
    password: str = PASSWORD,
    device_id: str = DEVICE_ID,
    variables: dict[str, str] | None = None,
    timeout_s: int = 40,
    ooc: str | None = None,
    trace_messages: bool = False,
) -> list[str]:
    """SIPp's command line for `scenario` (and out of call `ooc`, by default catalog.xml for
    device.xml), its files written under `logs`; with `trace_messages`, every message SIPp
    sends and receives in `logs/messages.log`."""
    logs.mkdir(parents=True, exist_ok=True)
    command = [
        sipp_binary(),
        f"127.0.0.1:{platform_port}",
        "-sf",
        str(SCENARIOS / scenario),
        "-t",
        transport,
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-m",
        "1",
        "-s",
        PLATFORM_ID,
        "-au",
        device_id,
        "-ap",
        password,
        "-set",
        "devid",
        device_id,
        "-set",
        "domain",
        DOMAIN,
        "-nostdin",
        "-timeout",
        str(timeout_s),
        "-timeout_error",
        "-trace_err",
        "-error_file",
        str(logs / "errors.log"),
    ]
    if trace_messages:
        command += ["-trace_msg", "-message_file", str(logs / "messages.log")]
    for name, value in (variables or {}).items():
        command += ["-set", name, value]
    if ooc is None and scenario == "device.xml":
        ooc = "catalog.xml"
    if ooc is not None:
        command += ["-oocsf", str(gb18030_copy(SCENARIOS / ooc, logs))]
    return command


def gb18030_copy(scenario: Path, logs: Path) -> Path:
    """`scenario` (kept in UTF-8 for reading) re-encoded to GB18030 under `logs`, so the
    bodies SIPp sends go out as devices send them: declared GB2312, holding GBK characters
    outside GB2312 (堃, 镕) beside plain GB2312 ones. SIPp copies the bytes as they are, but
    reads `[`, `]` and `\\` as its own: a character with one of those as its second byte
    is refused here rather than mangled there."""
    text = scenario.read_text(encoding="utf-8")
    for char in sorted({c for c in text if ord(c) > 127}):
        if any(byte in b"[]\\" for byte in char.encode("gb18030")):
            raise ValueError(f"{scenario.name}: {char!r} encodes with a byte SIPp reads")
    copy = logs / f"{scenario.stem}-gb18030.xml"
    copy.write_bytes(text.encode("gb18030"))
    return copy


async def start_sipp(scenario: str, platform_port: int, logs: Path, **options: Any) -> Sipp:
    """SIPp started on `scenario` against the service's port (options: see sipp_command)."""
    command = sipp_command(scenario, platform_port, logs, **options)
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=logs,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return Sipp(process, logs)
