"""The SIP half of benchmarks/gb28181.py: SIPp load against `sharpeye gb28181` and against a
SIPp platform (the anchor), same scenarios, same run.

- `Platform`: `sharpeye gb28181` as its own process on a generated registry of `devices`
  GB/T 28181 devices (IDs 3402000000132nnnnnnn, one password) and its own Redis
  (`EmbeddedRedis`); `Anchor`: SIPp as UAS on `gb28181_sipp/uas.xml`.
- `Load.step`: one SIPp UAC run (`-t u1`, one port for every run so the platform's Catalog
  queries always reach a live SIPp) of `register.xml` or `keepalive.xml` at a rate, device
  IDs from an injection file (`-inf`); the server's CPU seconds (and its Redis's) over the
  run, answered and failed calls (a 4xx/5xx or no answer within `recv_timeout`),
  retransmissions, mean response time.
- `device_states`: what `sharpeye gb28181 status --json` says of the devices.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import cpu_seconds
from sharpeye.bus.embedded import EmbeddedRedis
from tests.ingest.gb28181.sipp import free_port

SCENARIOS = Path(__file__).resolve().parent / "gb28181_sipp"
PLATFORM_ID = "34020000002000000001"
DOMAIN = "3402000000"
PASSWORD = "gb-bench-pass-1"
PASSWORD_ENV = "SHARPEYE_GBBENCH_PASSWORD"
RECV_TIMEOUT_MS = 5000  # no answer within this: a failed call ("timeout")


def device_id(i: int) -> str:
    return f"{DOMAIN}132{i:07d}"


def registry_yaml(devices: int, sip_port: int) -> str:
    gb = {
        "platform_id": PLATFORM_ID,
        "listen": {"host": "127.0.0.1", "port": sip_port, "transports": ["udp"]},
        "keepalive_interval_s": 60,
        "keepalive_misses": 3,
        "device_password": {"password_env": PASSWORD_ENV},
        "devices": [{"id": device_id(i), "name": f"bench {i}"} for i in range(devices)],
    }
    registry = {
        "version": 1,
        "district": {"id": "bench", "name": "Bench"},
        "departments": [{"id": "police", "name": "Police", "kind": "police"}],
        "cameras": [],
        "gb28181": gb,
    }
    return yaml.safe_dump(registry, allow_unicode=True)


class Platform:
    """`sharpeye gb28181` (this checkout's) and its Redis, both measured by pid."""

    def __init__(self, devices: int, work: Path) -> None:
        self.work = work
        self.redis = EmbeddedRedis(work / "redis", write_url_file=False, persist=False)
        self.redis_url = self.redis.start()
        self.port = free_port()
        registry = work / "registry.yaml"
        registry.write_text(registry_yaml(devices, self.port))
        self.env = {
            **os.environ,
            "SHARPEYE_REGISTRY": str(registry),
            "SHARPEYE_DATA_DIR": str(work / "data"),
            "REDIS_URL": self.redis_url,
            PASSWORD_ENV: PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
        self.log = work / "gb28181.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sharpeye.cli", "gb28181"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while "serving" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"sharpeye gb28181 did not start:\n{self.log.read_text()[-2000:]}"
                )
            time.sleep(0.2)

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    @property
    def redis_pid(self) -> int | None:
        return self.redis.pid

    def rss_mb(self) -> float:
        from benchmarks.common import rss_mb

        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.redis.stop()


class Anchor:
    """SIPp as the platform: answers the same requests (uas.xml), keeps nothing."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(SCENARIOS / "uas.xml"),
                "-t",
                "u1",
                "-i",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-s",
                PLATFORM_ID,
                "-set",
                "domain",
                DOMAIN,
                "-set",
                "pw",
                PASSWORD,
                "-nostdin",
                "-trace_err",
                "-error_file",
                str(work / "anchor-errors.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=work,
        )
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise RuntimeError(f"the SIPp anchor did not start (exit {self.proc.returncode})")

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    @property
    def redis_pid(self) -> int | None:
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Step:
    target: str  # "sharpeye" | "sipp-uas"
    kind: str  # "register" | "keepalive" (the ramps), "hold-register" | "hold"
    rate: float  # asked, calls/s
    calls: int
    ok: int
    failed: int
    timeouts: int
    retransmissions: int
    wall_s: float
    cpu_s: float  # the server's process
    redis_cpu_s: float
    uac_cpu_s: float
    response_ms: float

    @property
    def passed(self) -> bool:
        return self.failed == 0 and self.ok == self.calls

    @property
    def achieved(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cpu_s / self.ok if self.ok else float("nan")

    def row(self) -> dict[str, Any]:
        return asdict(self) | {
            "passed": self.passed,
            "achieved_per_s": self.achieved,
            "cpu_ms_per_call": self.cpu_ms_per_call,
        }


def _stat(row: dict[str, str], key: str) -> int:
    try:
        return int(row.get(key) or 0)
    except ValueError:
        return 0


def _response_ms(value: str) -> float:
    """SIPp's 'HH:MM:SS:uuuuuu' mean response time, in ms."""
    parts = value.split(":")
    if len(parts) != 4:
        return float("nan")
    h, m, s, us = (int(p) for p in parts)
    return ((h * 60 + m) * 60 + s) * 1000 + us / 1000


class Load:
    """SIPp as the devices, always from the same port (a device's Contact stays valid)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.runs = 0

    def _inject(self, ids: Sequence[int], register: bool) -> Path:
        path = self.work / f"inject-{self.runs}.csv"
        with path.open("w") as f:
            f.write("SEQUENTIAL\n")
            for i in ids:
                d = device_id(i)
                auth = f"[authentication username={d} password={PASSWORD}]"
                f.write(f"{d};{auth}\n" if register else f"{d}\n")
        return path

    def step(
        self,
        server: Platform | Anchor,
        server_port: int,
        kind: str,
        rate: float,
        ids: Sequence[int],
        calls: int | None = None,
    ) -> Step:
        """`calls` (default one per device) register or keepalive calls at `rate`/s for the
        devices numbered `ids` (cycled), measured from SIPp's start to its exit."""
        self.runs += 1
        calls = len(ids) if calls is None else calls
        scenario = "keepalive.xml" if kind in ("keepalive", "hold") else "register.xml"
        inject = self._inject(ids, register=scenario == "register.xml")
        stats = self.work / f"stats-{self.runs}.csv"
        command = [
            "sipp",
            f"127.0.0.1:{server_port}",
            "-sf",
            str(SCENARIOS / scenario),
            "-oocsf",
            str(SCENARIOS / "answer.xml"),
            "-inf",
            str(inject),
            "-t",
            "u1",
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-s",
            PLATFORM_ID,
            "-set",
            "domain",
            DOMAIN,
            "-r",
            f"{rate:g}",
            "-m",
            str(calls),
            "-l",
            str(max(100, int(rate * 10))),
            "-recv_timeout",
            str(RECV_TIMEOUT_MS),
            "-nostdin",
            "-trace_stat",
            "-stf",
            str(stats),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            str(self.work / f"errors-{self.runs}.log"),
        ]
        pids = server.pids
        redis_pid = server.redis_pid
        redis0 = cpu_seconds([redis_pid]) if redis_pid else 0.0
        c0, t0 = cpu_seconds(pids), time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # its warnings are in the error file too
            cwd=self.work,
        )
        limit = time.monotonic() + calls / rate + RECV_TIMEOUT_MS / 1000 + 60
        uac_cpu = 0.0
        while proc.poll() is None:
            uac_cpu = cpu_seconds([proc.pid]) or uac_cpu
            if time.monotonic() > limit:
                proc.kill()
            time.sleep(0.05)
        c1, t1 = cpu_seconds(pids), time.monotonic()
        redis1 = cpu_seconds([redis_pid]) if redis_pid else 0.0
        last: dict[str, str] = {}
        if stats.exists():
            rows = list(csv.DictReader(stats.open(), delimiter=";"))
            last = rows[-1] if rows else {}
        return Step(
            target="sipp-uas" if isinstance(server, Anchor) else "sharpeye",
            kind=kind,
            rate=rate,
            calls=calls,
            ok=_stat(last, "SuccessfulCall(C)"),
            failed=_stat(last, "FailedCall(C)"),
            timeouts=_stat(last, "FailedTimeoutOnRecv(C)") + _stat(last, "FailedMaxUDPRetrans(C)"),
            retransmissions=_stat(last, "Retransmissions(C)"),
            wall_s=t1 - t0,
            cpu_s=c1 - c0,
            redis_cpu_s=redis1 - redis0,
            uac_cpu_s=uac_cpu,
            response_ms=_response_ms(last.get("ResponseTime1(C)", "")),
        )


def device_states(platform: Platform) -> dict[str, str]:
    """Device ID -> state (the effective one), as `sharpeye gb28181 status --json` says."""
    out = subprocess.run(
        [sys.executable, "-m", "sharpeye.cli", "gb28181", "status", "--json"],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"gb28181 status failed: {out.stderr[-2000:]}")
    return {str(r["device_id"]): str(r["state"]) for r in json.loads(out.stdout)}


def count_states(states: dict[str, str], devices: int) -> dict[str, int]:
    """How many of devices 0..devices-1 are in each state ('missing': never registered)."""
    counts: dict[str, int] = {}
    for i in range(devices):
        state = states.get(device_id(i), "missing")
        counts[state] = counts.get(state, 0) + 1
    return counts
