"""The GB/T 28181 benchmark's short variant: 100 SIPp devices registered and kept alive
against `sharpeye gb28181` and against the SIPp anchor, every one online in `gb28181
status`; two PS-over-RTP channels and two RTSP cameras read by the ingest engine in both
modes. Every figure of the record run is produced; the figures themselves are the
benchmark's (benchmarks/gb28181.py), the bounds here tell "works" from "broken"."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.gb28181 import parser, run
from benchmarks.gb28181_report import figures, notes, plot
from tests.ingest.gb28181.sipp import sipp_binary

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_every_figure_is_measured(tmp_path: Path, footage: object) -> None:
    sipp_binary()  # skips without SIPp
    small = {"devices": 100, "reg-rates": "10,20", "ka-rates": "20,40", "step-s": 2}
    small |= {"hold-s": 6, "cameras": 2, "modes": "demux,keyframes", "warmup": 6, "window": 4}
    args = parser().parse_args([w for k, v in small.items() for w in (f"--{k}", str(v))])
    got = run(args, tmp_path)
    sip, ps = got["sip"], got["ps"]
    figs = figures(sip, ps, "machine", "date")
    assert [f.figure.split(" (")[0] for f in figs] == [
        "registered devices held at 60 s keepalive",
        "PS cameras per core",
        "PS cameras per core, keyframe sampling + health",
    ]
    assert all(f.value > 0 and f.anchor_value > 0 for f in figs), figs
    # Every ramp step answered in full at these rates, on both servers.
    assert all(s["passed"] for s in sip["steps"]), sip["steps"]
    assert sip["held"] == 100 and sip["held_passed"]
    assert sip["held_states"] == {"online": 100}
    assert sip["hold_register_rounds"][0] == {"tried": 40, "registered": 40}
    for mode in ("demux", "keyframes"):
        m = ps["modes"][mode]
        assert m["ps"]["online"] == 2
        assert m["ps"]["rt"] > 0.5 and m["rtsp"]["rt"] > 0.5, m
    assert "Load average" in notes(sip, ps, got["run"])
    plot(sip, ps, tmp_path / "gb28181.png")
    assert (tmp_path / "gb28181.png").stat().st_size > 10_000
