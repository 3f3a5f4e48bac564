"""Video walls in headless Chromium for a shift: logged in through the login form as an
operator would, a layout of tiles, maybe a tour; what each shows is read from the page.

Every alarm's first appearance on the wall is stamped in the page (a MutationObserver on the
alarm panel), and so is each time a login prompt shows, so nothing depends on the harness
polling at the right moment.
"""

from __future__ import annotations

import itertools
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Verified flags for WebRTC on loopback in headless Chromium (shared/REFERENCE.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]

# Stamps alarms as they first appear in the panel, and counts login prompts and "created"
# messages per alarm (two for one id is a duplicate the wall would ring twice for).
WATCH_SCRIPT = """
(() => {
  const s = window.__shift = {seen: {}, created: {}, loginPrompts: 0, promptTimes: []};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        let message;
        try { message = JSON.parse(event.data); } catch { return; }
        const alarm = message && message.alarm;
        if (!alarm || alarm.id === undefined) return;
        const id = String(alarm.id);
        if (message.change === "created") s.created[id] = (s.created[id] || 0) + 1;
      });
    }
  };
  const stamp = (node) => {
    if (node.nodeType !== 1) return;
    if (node.id && node.id.startsWith("alarm-")) {
      const id = node.id.slice(6);
      if (!(id in s.seen)) s.seen[id] = Date.now() / 1000;
    }
  };
  const isPrompt = (node) => node.nodeType === 1 && (
    (node.id === "login" && node.open) || (node.dataset && node.dataset.sessionPrompt === "shown"));
  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver((mutations) => {
      for (const m of mutations) {
        if (m.type === "childList") m.addedNodes.forEach(stamp);
        else if (s.armed && isPrompt(m.target)) {
          s.loginPrompts += 1;
          s.promptTimes.push(Date.now() / 1000);
        }
      }
    }).observe(document.body, {childList: true, subtree: true, attributes: true,
      attributeFilter: ["open", "data-session-prompt"]});
  });
})();
"""

TILES_SCRIPT = """
() => [...document.querySelectorAll("#wall .tile")].map((tile) => {
  const video = tile.querySelector("video");
  const quality = video && video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
  return {
    index: Number(tile.dataset.index),
    camera: tile.dataset.camera || null,
    frames: quality ? quality.totalVideoFrames : 0,
    time: video ? video.currentTime : 0,
    state: tile.dataset.state || "",
  };
})
"""


@dataclass
class WallSpec:
    user: str
    password: str
    layout: str
    tour: str | None = None  # a tour source (`group:ID`, `department:ID`) or none
    tour_seconds: int = 30
    cameras: list[str] = field(default_factory=list)  # fixed tiles when there is no tour
    alone: bool = False  # left alone for the whole run: never touched after set-up

    @property
    def name(self) -> str:
        return f"{self.user}-{self.layout}{'-tour' if self.tour else ''}"


@dataclass
class TileSample:
    t: float
    wall: str
    index: int
    camera: str | None
    frames: int
    time: float
    state: str


@dataclass
class Wall:
    spec: WallSpec
    page: Any
    context: Any
    department: str = ""
    errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    async def tiles(self) -> list[TileSample]:
        now = time.time()
        rows = await self.page.evaluate(TILES_SCRIPT)
        return [TileSample(now, self.spec.name, **row) for row in rows]

    async def watched(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.page.evaluate("() => window.__shift")
        return state

    async def screenshot(self, path: Path) -> None:
        await self.page.screenshot(path=str(path))


async def open_wall(browser: Any, api_url: str, spec: WallSpec) -> Wall:
    """A wall logged in through the form, laid out as the spec says."""
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    await context.add_init_script(WATCH_SCRIPT)
    page = await context.new_page()
    wall = Wall(spec, page, context)
    page.on("pageerror", lambda e: wall.errors.append(str(e)))
    page.on(
        "console",
        lambda m: wall.console_errors.append(m.text) if m.type == "error" else None,
    )
    await page.goto(f"{api_url}/?empty")
    await page.fill("#login input[name=username]", spec.user)
    await page.fill("#login input[name=password]", spec.password)
    await page.click("#login button[type=submit]")
    await page.wait_for_function("window.sharpeye !== undefined")
    await page.evaluate("window.sharpeye.ready")
    await page.evaluate("window.__shift.armed = true")
    me = await page.evaluate(
        """async () => {
          const token = sessionStorage.getItem("sharpeye.access_token");
          const r = await fetch("/api/auth/me", {headers: {Authorization: `Bearer ${token}`}});
          return r.ok ? r.json() : {};
        }"""
    )
    wall.department = str(me.get("department", ""))
    await page.evaluate(f"window.sharpeye.setLayout({spec.layout!r})")
    if spec.tour:
        await page.evaluate(f"window.sharpeye.tour.start({spec.tour!r}, {spec.tour_seconds})")
    else:
        for index, camera in enumerate(spec.cameras):
            await page.evaluate(f"window.sharpeye.assign({index}, {camera!r})")
    return wall


def playing_intervals(
    samples: list[TileSample], excused: list[tuple[float, float]], camera_excused: str
) -> tuple[int, int, list[dict[str, Any]]]:
    """(intervals playing, intervals counted, stalls) over consecutive samples of each tile.

    An interval counts when the tile showed one camera at both ends (a tour step in between
    gives the new camera time to start), except the first one after the tile took a camera
    while it had not shown a frame yet: a new player gets that one interval (a sample period,
    5 s by default) to start; a tile still without frames after it is a stall. It plays when
    frames advanced. Intervals that overlap a planned stop of `camera_excused` (plus the
    grace to come back) are left out.
    """
    by_tile: dict[tuple[str, int], list[TileSample]] = {}
    for s in samples:
        by_tile.setdefault((s.wall, s.index), []).append(s)
    playing = counted = 0
    stalls: list[dict[str, Any]] = []
    for (wall, index), rows in by_tile.items():
        rows.sort(key=lambda r: r.t)
        previous: str | None = None
        for a, b in itertools.pairwise(rows):
            starting = a.camera != previous
            previous = a.camera
            if a.camera is None or a.camera != b.camera:
                continue
            if a.camera == camera_excused and any(s <= b.t and a.t <= e for s, e in excused):
                continue
            if starting and a.frames == 0:
                continue
            counted += 1
            advanced = b.frames > a.frames or (b.frames < a.frames and b.time > 0)
            if advanced:
                playing += 1
            else:
                stalls.append(
                    {"wall": wall, "tile": index, "camera": a.camera, "from": a.t, "to": b.t}
                )
    return playing, counted, stalls
