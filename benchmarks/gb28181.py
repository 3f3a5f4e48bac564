"""GB/T 28181: registered devices one node holds at the 60 s keepalive, and PS-over-RTP
cameras ingested per core beside the same footage over RTSP.

Registrations and keepalives (`gb28181_sip`): `sharpeye gb28181` (its own process, its own
Redis) on a generated registry of GB devices, loaded by SIPp (Debian `sip-tester`) playing
many devices from an injection file (`-inf`: distinct 20-digit IDs, Digest logins):
`gb28181_sipp/register.xml` (REGISTER → 401 → REGISTER with Digest → 200, then the
platform's Catalog query answered) and `keepalive.xml` (a Keepalive MESSAGE → 200), each at
rising rates for `--step-s`; a step passes when every call was answered 200 (no 4xx/5xx, no
answer missing after 5 s). The anchor is the same scenarios at the same rates against SIPp
itself as the platform (`uas.xml`: challenge, verify the Digest, 200, Catalog query;
keepalive 200), interleaved step by step: the cost of SIP itself on this machine.
- the figure, devices held per core: `--devices` registered, then each sending one keepalive
  per 60 s (devices/60 keepalives/s) for `--hold-s`, to the service and then to the anchor;
  devices / (the server's cores over that window + one re-registration per device per hour
  at its CPU per registration), the service being one asyncio process; `sharpeye gb28181
  status --json` then counts the devices online;
- beside it, from the ramps: CPU per registration / per keepalive = the server's CPU seconds
  over its highest passing step / calls answered; the projection 1 / (CPU per keepalive /
  60 s + CPU per registration / 3600 s); registrations/s and keepalives/s handled.

PS cameras per core (`gb28181_probe`): N channels of real footage as MPEG-PS over RTP (the
tests' device sender's packing, `gb28181_sender`) read by `ingest.engine.IngestEngine` as
`gb28181://` cameras, beside the same clip served by the simulated RTSP fleet and read by
the same engine (`benchmarks.ingest_probe sharpeye`), same mode (`--modes`: demux + health,
the figure; keyframe sampling), same window: cameras/core = N / (CPU seconds of the reading
process / wall seconds). Senders and fleet run in processes of their own, not counted.

Run: `.venv/bin/python -m benchmarks.gb28181` (small sizes, ≈ 5 min); the record's command
is the first line of benchmarks/results/gb28181.md. `--cameras-only` measures the cameras
again and keeps the record's devices (rows, figure and the run they came from).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import CLK, RESULTS, SimFleet, machine, today, write_results
from benchmarks.gb28181_report import figures, notes, plot
from benchmarks.gb28181_sip import (
    Anchor,
    Load,
    Platform,
    Step,
    count_states,
    device_id,
    device_states,
)
from benchmarks.ingest import run_probe
from sharpeye.bus.embedded import EmbeddedRedis

FPS = 25
ROOT = Path(__file__).resolve().parents[1]
KEEPALIVE_S = 60.0
REREGISTER_S = 3600.0
REGISTER_ROUNDS = 3


def rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def modes(text: str) -> list[str]:
    out = [m.strip() for m in text.split(",") if m.strip()]
    if not out or any(m not in ("demux", "keyframes") for m in out):
        raise argparse.ArgumentTypeError("modes: demux, keyframes, or both")
    return out


def best(steps: list[Step], target: str, kind: str) -> Step | None:
    """The highest-rate passing step of `target` and `kind`."""
    passing = [s for s in steps if s.target == target and s.kind == kind and s.passed]
    return max(passing, key=lambda s: s.rate, default=None)


def _per_call(step: Step | None) -> float:
    """CPU seconds per answered call (half a clock tick at least: a short step of a light
    server can read zero); NaN without a step."""
    return max(step.cpu_s, 0.5 / CLK) / step.ok if step is not None else float("nan")


def projected(steps: list[Step], target: str) -> float:
    """Devices per core from the ramp: 1 / (keepalive CPU / 60 s + registration CPU /
    3600 s), each from the target's highest passing step."""
    c_ka = _per_call(best(steps, target, "keepalive"))
    c_reg = _per_call(best(steps, target, "register"))
    return 1 / (c_ka / KEEPALIVE_S + c_reg / REREGISTER_S)


def held_per_core(hold: Step, held: int, reg: Step | None) -> float:
    """Devices per core as held: the server's cores over the hold (one keepalive per
    device per minute) plus one re-registration per device per hour at the ramp's cost."""
    cores = max(hold.cpu_s, 0.5 / CLK) / hold.wall_s + held / REREGISTER_S * _per_call(reg)
    return held / cores


def sip_benchmark(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    ramp_regs = sum(int(r * a.step_s) for r in a.reg_rates)
    platform = Platform(max(a.devices, ramp_regs), work / "platform")
    anchor = Anchor(work)
    load = Load(work)
    steps: list[Step] = []

    def show(s: Step) -> None:
        print(
            f"{s.target:9} {s.kind:9} {s.rate:6g}/s calls={s.calls:6} ok={s.ok:6} "
            f"failed={s.failed} retrans={s.retransmissions} cpu={s.cpu_ms_per_call:.3f} ms/call "
            f"resp={s.response_ms:.1f} ms",
            flush=True,
        )
        steps.append(s)

    try:
        # Ramps, the platform and the anchor in turn at each rate; a target stops rising
        # at its first failing step. `clean`: devices 0..clean-1 surely registered.
        clean, first, up = 0, 0, {"sharpeye": True, "sipp-uas": True}
        for rate in a.reg_rates:
            n = int(rate * a.step_s)
            if up["sharpeye"]:
                s = load.step(platform, platform.port, "register", rate, range(first, first + n))
                show(s)
                up["sharpeye"] = s.passed
                clean = first + n if s.passed and clean == first else clean
            if up["sipp-uas"]:
                s = load.step(anchor, anchor.port, "register", rate, range(first, first + n))
                show(s)
                up["sipp-uas"] = s.passed
            first += n
        if clean == 0:
            raise RuntimeError(f"no registration step passed: see {work}")
        up = {"sharpeye": True, "sipp-uas": True}
        for rate in a.ka_rates:
            n = int(rate * a.step_s)
            if up["sharpeye"]:
                s = load.step(platform, platform.port, "keepalive", rate, range(clean), n)
                show(s)
                up["sharpeye"] = s.passed
            if up["sipp-uas"]:
                s = load.step(anchor, anchor.port, "keepalive", rate, range(clean), n)
                show(s)
                up["sipp-uas"] = s.passed
        # Hold: every device registered, then one keepalive each per 60 s, to the service
        # and then to the anchor.
        held = max(a.devices, clean)
        reg = best(steps, "sharpeye", "register")
        # Half the best ramp rate: a ramp step is a burst of a few seconds, this is minutes.
        rate = (reg.rate if reg is not None else a.reg_rates[0]) / 2
        pending, rounds = list(range(clean, held)), []
        for _ in range(REGISTER_ROUNDS):  # devices whose REGISTER failed try again
            if not pending:
                break
            show(load.step(platform, platform.port, "hold-register", rate, pending))
            states = device_states(platform)
            missing = [i for i in pending if states.get(device_id(i)) != "online"]
            rounds.append({"tried": len(pending), "registered": len(pending) - len(missing)})
            pending = missing
        ka_rate = round(held / KEEPALIVE_S, 3)
        calls = int(ka_rate * a.hold_s)
        hold = load.step(platform, platform.port, "hold", ka_rate, range(held), calls)
        show(hold)
        anchor_hold = load.step(anchor, anchor.port, "hold", ka_rate, range(held), calls)
        show(anchor_hold)
        counts = count_states(device_states(platform), held)
        rss = platform.rss_mb()
        print(f"held {held}: {counts}, registered in {rounds}, RSS {rss:.0f} MB", flush=True)
    finally:
        anchor.stop()
        platform.stop()
    ka_best, reg_best = best(steps, "sharpeye", "keepalive"), best(steps, "sharpeye", "register")
    anchor_ka, anchor_reg = (
        best(steps, "sipp-uas", "keepalive"),
        best(steps, "sipp-uas", "register"),
    )
    return {
        "steps": [s.row() for s in steps],
        "held": held,
        "held_states": counts,
        "hold_register_rounds": rounds,
        "held_passed": hold.passed and anchor_hold.passed,
        "held_cores": hold.cpu_s / hold.wall_s,
        "held_per_core": held_per_core(hold, held, reg_best),
        "anchor_held_per_core": held_per_core(anchor_hold, held, anchor_reg),
        "projected_per_core": projected(steps, "sharpeye"),
        "anchor_projected_per_core": projected(steps, "sipp-uas"),
        "keepalive_cpu_ms": 1000 * _per_call(ka_best),
        "register_cpu_ms": 1000 * _per_call(reg_best),
        "anchor_keepalive_cpu_ms": 1000 * _per_call(anchor_ka),
        "anchor_register_cpu_ms": 1000 * _per_call(anchor_reg),
        "hold_keepalive_cpu_ms": 1000 * _per_call(hold),
        "redis_keepalive_cpu_ms": 1000 * hold.redis_cpu_s / max(1, hold.ok),
        "max_keepalives_per_s": ka_best.rate if ka_best else 0.0,
        "max_registrations_per_s": reg_best.rate if reg_best else 0.0,
        "anchor_max_keepalives_per_s": anchor_ka.rate if anchor_ka else 0.0,
        "anchor_max_registrations_per_s": anchor_reg.rate if anchor_reg else 0.0,
        "service_rss_mb": rss,
    }


def gb_probe(
    cameras: int, clip: Path, mode: str, warmup: float, duration: float, redis_url: str
) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gb28181_probe",
            *("--cameras", str(cameras), "--clip", str(clip), "--mode", mode),
            *("--warmup", str(warmup), "--duration", str(duration), "--redis-url", redis_url),
        ],
        capture_output=True,
        text=True,
        timeout=warmup + duration + 180,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"GB probe failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def ps_benchmark(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Per mode: the PS channels' probe, then the RTSP fleet's, same cameras and window."""
    clip = ROOT / "var" / "footage" / f"{a.clip}.mkv"
    if not clip.exists():
        raise SystemExit(f"{clip} missing: run `sharpeye footage prepare`")
    out: dict[str, Any] = {"cameras": a.cameras, "clip": a.clip, "modes": {}}
    for mode in a.modes:
        redis = EmbeddedRedis(work / "ps-redis", write_url_file=False, persist=False)
        url = redis.start()
        try:
            gb = gb_probe(a.cameras, clip, mode, a.warmup, a.window, url)
        finally:
            redis.stop()
        fleet = SimFleet(a.cameras, a.clip)
        try:
            rtsp = run_probe("sharpeye", fleet.urls(), mode, a.warmup, a.window)
        finally:
            fleet.stop()
        got: dict[str, Any] = {}
        for name, m in (("ps", gb), ("rtsp", rtsp)):
            cores = m["cpu_s"] / m["wall_s"]
            got[name] = m | {
                "cams_per_core": a.cameras / cores if cores > 0 else float("inf"),
                "rt": m["min_fps"] / FPS,
            }
            print(
                f"{mode:9} {name:5} n={a.cameras} cams/core={got[name]['cams_per_core']:.0f} "
                f"cpu={cores:.3f} cores rt={got[name]['rt']:.2f}",
                flush=True,
            )
        out["modes"][mode] = got
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=2000, help="devices held for real")
    ap.add_argument("--reg-rates", type=rates, default=rates("25,50,100"), help="per s")
    ap.add_argument("--ka-rates", type=rates, default=rates("50,100,200,400"), help="per s")
    ap.add_argument("--step-s", type=float, default=4.0, help="seconds per ramp step")
    ap.add_argument("--hold-s", type=float, default=60.0, help="keepalive window of the hold")
    ap.add_argument("--cameras", type=int, default=4, help="PS channels, and RTSP cameras")
    ap.add_argument("--clip", default="vtest-720p")
    ap.add_argument("--modes", type=modes, default=["demux"], help="demux (the figure), keyframes")
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--window", type=float, default=12.0, help="measured seconds (cameras)")
    ap.add_argument("--no-write", action="store_true", help="print, keep results as they are")
    ap.add_argument(
        "--cameras-only",
        action="store_true",
        help="skip the devices half: keep the record's (results/gb28181.rows.json)",
    )
    return ap


def run(a: argparse.Namespace, work: Path | None = None) -> dict[str, Any]:
    """Both halves, their files under `work` (default: a new temporary folder);
    {'sip':, 'ps':, 'run':} (see the module's docstring)."""
    started = datetime.now(UTC)
    load0 = os.getloadavg()
    work = work or Path(tempfile.mkdtemp(prefix="gbbench-"))
    kept: dict[str, Any] = {}
    if getattr(a, "cameras_only", False):
        record = json.loads((RESULTS / "gb28181.rows.json").read_text())
        sip = record["sip"]
        # The run that measured them, through any cameras-only runs since.
        kept = {"devices_from": record["run"].get("devices_from", record["run"])}
    else:
        sip = sip_benchmark(a, work)
    ps = ps_benchmark(a, work)
    argv: list[str] = getattr(a, "argv", [])
    return {
        "sip": sip,
        "ps": ps,
        "run": kept
        | {
            "command": " ".join(["python", "-m", "benchmarks.gb28181", *argv]),
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "minutes": round((time.time() - started.timestamp()) / 60, 1),
            "load_before": [round(x, 1) for x in load0],
            "load_after": [round(x, 1) for x in os.getloadavg()],
            "work": str(work),
            "nice": os.nice(0),
            "cores": os.cpu_count() or 1,
            "hold_s": a.hold_s,
            "step_s": a.step_s,
        },
    }


def main() -> None:
    a = parser().parse_args()
    a.argv = sys.argv[1:]
    got = run(a)
    print(json.dumps(got["run"]), flush=True)
    if a.no_write:
        return
    sip, ps = got["sip"], got["ps"]
    path = write_results("gb28181", figures(sip, ps, machine(), today()))
    (RESULTS / "gb28181.rows.json").write_text(json.dumps(got, indent=2) + "\n")
    (RESULTS / "gb28181.md").write_text(notes(sip, ps, got["run"]))
    plot(sip, ps, RESULTS / "gb28181.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
