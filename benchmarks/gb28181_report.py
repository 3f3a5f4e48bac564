"""benchmarks/gb28181.py's records: the figures (results/gb28181.json), the notes beside
them (results/gb28181.md, appended to RESULTS.md by `benchmarks.summarize`) and the plot."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from benchmarks.common import Figure

MODE_LABEL = {"demux": "demux + health", "keyframes": "keyframe sampling + health"}


def figures(sip: dict[str, Any], ps: dict[str, Any], machine: str, date: str) -> list[Figure]:
    online = sip["held_states"].get("online", 0)
    regs, kas = sip["max_registrations_per_s"], sip["max_keepalives_per_s"]
    out = [
        Figure(
            figure="registered devices held at 60 s keepalive (per core of the GB service: "
            f"{sip['held']:,} devices held for real, a keepalive each per 60 s, "
            f"{sip['held_cores']:.3f} cores, plus a re-registration each per hour at "
            f"{sip['register_cpu_ms']:.2f} ms; {online:,} of them online in `sharpeye gb28181 "
            f"status`; up to {regs:g} registrations/s and {kas:g} keepalives/s handled without "
            f"4xx/5xx or timeouts; projected from the ramp's CPU per keepalive "
            f"({sip['keepalive_cpu_ms']:.2f} ms): {sip['projected_per_core']:,.0f}/core)",
            value=round(sip["held_per_core"], -2),
            unit="devices/core",
            anchor="SIPp as the platform (uas.xml: challenge, Digest check, 200, catalog "
            "query; keepalive 200, no state kept), the same load and derivation (ramp "
            f"projection {sip['anchor_projected_per_core']:,.0f}/core)",
            anchor_value=round(sip["anchor_held_per_core"], -2),
            goal="≥ 10,000 devices on one node",
            machine=machine,
            date=date,
        ),
    ]
    for mode, got in ps["modes"].items():
        ratio = got["ps"]["cams_per_core"] / got["rtsp"]["cams_per_core"]
        name = "PS cameras per core" + ("" if mode == "demux" else f", {MODE_LABEL[mode]}")
        out.append(
            Figure(
                figure=f"{name} ({ps['cameras']} channels of {ps['clip']} as MPEG-PS over "
                f"RTP, {MODE_LABEL[mode]} through the ingest engine, real time kept "
                f"{min(1.0, got['ps']['rt']):.0%}; {ratio:.2f}× RTSP)",
                value=round(got["ps"]["cams_per_core"], 1),
                unit="cameras/core",
                anchor="the same footage over RTSP (simulated fleet, ingest engine, same mode "
                f"and window), real time kept {min(1.0, got['rtsp']['rt']):.0%}",
                anchor_value=round(got["rtsp"]["cams_per_core"], 1),
                goal="≥ 0.8× RTSP",
                machine=machine,
                date=date,
            )
        )
    return out


def _ms(m: dict[str, float], cameras: int) -> str:
    return f"{1000 * m['cpu_s'] / m['wall_s'] / cameras:.2f}"


def notes(sip: dict[str, Any], ps: dict[str, Any], run: dict[str, Any]) -> str:
    before, after, cores = run["load_before"][0], run["load_after"][0], run["cores"]
    nice = f"nice -n {run['nice']} " if run["nice"] else ""
    machine = f"Load average {before} before, {after} after."
    if before > cores:
        how = f"yielded to it (nice {run['nice']})" if run["nice"] else "competed with it"
        machine = (
            f"Load average {before} before and {after} after on this {cores}-core machine: it "
            f"was busy with other work, and this run {how}, so absolute rates are a loaded "
            "machine's."
        )
    rounds = (
        ", ".join(f"{r['registered']:,} of {r['tried']:,}" for r in sip["hold_register_rounds"])
        or "none needed"
    )
    states = ", ".join(f"{n:,} {state}" for state, n in sorted(sip["held_states"].items()))
    answered = "every call answered 200" if sip["held_passed"] else "NOT every call answered"
    per_camera = "; ".join(
        f"{MODE_LABEL[mode]} {_ms(got['ps'], ps['cameras'])} / {_ms(got['rtsp'], ps['cameras'])} ms"
        for mode, got in ps["modes"].items()
    )
    kept = run.get("devices_from")
    devices_run = kept or run  # the hold and the ramp's steps are that run's
    if kept is not None:  # a --cameras-only run: the devices are an earlier run's
        first = (
            f"Cameras run {run['started']} ({run['minutes']} min): `{nice}.venv/bin/"
            f"{run['command']}`. {machine} Devices: kept from the run of {kept['started']} "
            f"(`{nice}.venv/bin/{kept['command']}`, load average {kept['load_before'][0]} "
            f"before, {kept['load_after'][0]} after). Each anchor ran in the same minutes as "
            "what it is compared with, interleaved step by step (SIP) or back to back "
            "(cameras), so the ratios compare like with like."
        )
    else:
        first = (
            f"Run {run['started']} ({run['minutes']} min): `{nice}.venv/bin/{run['command']}`. "
            f"{machine} Each anchor ran in the same minutes, interleaved step by step (SIP) or "
            "back to back (cameras), so the ratios compare like with like."
        )
    paragraphs = [
        first,
        f"Devices: the figure is the hold's. {sip['held']:,} devices were registered with "
        "Digest (those the ramp had not registered at half its best rate; a device whose "
        f"REGISTER failed tried again, up to 3 rounds: {rounds}), then sent "
        f"{sip['held'] / 60:.0f} keepalives/s for {devices_run['hold_s']:g} s, one per device per "
        f"minute ({answered}). `sharpeye gb28181` used {sip['held_cores']:.3f} cores "
        "meanwhile (its sweep of every session each second, logging and Redis writes "
        f"included: {sip['hold_keepalive_cpu_ms']:.2f} ms per keepalive); one re-registration "
        "per device per hour is added at the ramp's CPU per registration "
        f"({sip['register_cpu_ms']:.2f} ms); devices/core = devices / those cores, the service "
        f"being one asyncio process. `sharpeye gb28181 status --json` then: {states}. Service "
        f"RSS {sip['service_rss_mb']:.0f} MB. Its Redis added {sip['redis_keepalive_cpu_ms']:.2f} "
        "ms per keepalive, not counted (the node's Redis, shared by every service).",
        f"The ramp: steps of {devices_run['step_s']:g} s of SIPp calls at one rate, the service "
        "then the anchor. CPU per call is the server's CPU over its highest passing step over the "
        "calls answered (it falls as the rate rises: fixed costs spread); the projection is "
        "1 / (keepalive CPU / 60 s + registration CPU / 3600 s). The highest passing rates "
        f"(Sharpeye {sip['max_registrations_per_s']:g} registrations/s and "
        f"{sip['max_keepalives_per_s']:g} keepalives/s, SIPp "
        f"{sip['anchor_max_registrations_per_s']:g} and {sip['anchor_max_keepalives_per_s']:g}) "
        "are where a step first had a 4xx/5xx or a 5-s timeout on this machine, or the top of "
        "the ramp: not a ceiling found on a quiet one. The anchor is SIPp (C) answering the "
        "same requests without keeping state, parsing XML or writing Redis: the ratio says "
        "how much Sharpeye spends beyond SIP itself.",
        "Cameras: the PS sender (one process, the footage packed as GB/T 28181 devices do) "
        "and the RTSP fleet are not counted; the INVITE is answered by the probe itself (the "
        "SIP side is measured above), and the reader's call lease is refreshed on Redis as in "
        "production. A PS reader reads its socket at most every 100 ms while video flows "
        "(`ingest.gb_reader.READ_EVERY_S`), so a window's edges can fall inside a batch. "
        f"CPU per camera per second of video, PS / RTSP: {per_camera}. Rows: "
        "results/gb28181.rows.json.",
    ]
    return "\n\n".join(textwrap.fill(p, 92) for p in paragraphs) + "\n"


def plot(sip: dict[str, Any], ps: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(15, 4.5))
    for target, style in (("sharpeye", "-o"), ("sipp-uas", "--s")):
        for kind in ("register", "keepalive"):
            steps = [s for s in sip["steps"] if s["target"] == target and s["kind"] == kind]
            if steps:
                left.plot(
                    [s["rate"] for s in steps],
                    [s["cpu_ms_per_call"] for s in steps],
                    style,
                    label=f"{target} {kind}",
                )
    left.set_xscale("log")
    left.set_yscale("log")
    asked = sorted({s["rate"] for s in sip["steps"] if s["kind"] in ("register", "keepalive")})
    left.set_xticks(asked, [f"{r:g}" for r in asked])
    left.minorticks_off()
    left.set_xlabel("calls per second asked (SIPp)")
    left.set_ylabel("server CPU ms per call")
    left.set_title("CPU per registration / keepalive")
    left.legend(fontsize=8)

    bars = {
        "sharpeye\nheld": sip["held_per_core"],
        "sharpeye\nramp projection": sip["projected_per_core"],
        "SIPp UAS\nheld": sip["anchor_held_per_core"],
        "SIPp UAS\nramp projection": sip["anchor_projected_per_core"],
    }
    mid.bar(list(bars), list(bars.values()), color=["C0", "C0", "C7", "C7"])
    mid.axhline(10_000, color="C3", linestyle=":", label="goal 10,000")
    mid.set_yscale("log")
    mid.set_ylabel("devices per core at 60 s keepalive")
    mid.set_title("Registered devices held")
    mid.legend(fontsize=8)

    labels = list(ps["modes"])
    for j, (name, color) in enumerate((("ps", "C0"), ("rtsp", "C7"))):
        values = [ps["modes"][m][name]["cams_per_core"] for m in labels]
        xs = [k + j * 0.4 for k in range(len(labels))]
        right.bar(xs, values, width=0.4, color=color, label="PS over RTP" if j == 0 else "RTSP")
    for k, m in enumerate(labels):
        goal = 0.8 * ps["modes"][m]["rtsp"]["cams_per_core"]
        right.hlines(goal, k - 0.2, k + 0.6, color="C3", linestyle=":")
    right.set_xticks([k + 0.2 for k in range(len(labels))], [MODE_LABEL[m] for m in labels])
    right.set_ylabel("cameras per core (dotted: 0.8× RTSP)")
    right.set_title(f"{ps['cameras']} × {ps['clip']}, same run")
    right.legend(fontsize=8)
    fig.suptitle("GB/T 28181: one node's SIP service and PS ingest (same-run anchors)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
