"""Janus (Debian `janus`) as the benchmark's anchor: its streaming plugin, one mountpoint.

Janus skips interfaces flagged loopback when gathering ICE candidates, and the benchmark
must not send to anything but 127.0.0.1: a tiny LD_PRELOAD shim (built here with gcc)
clears IFF_LOOPBACK in getifaddrs() for Janus alone, and `ice_enforce_list` keeps it on lo.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.relay_load import CountingViewer

LIBDIR = Path("/usr/lib/x86_64-linux-gnu/janus")
SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
int getifaddrs(struct ifaddrs **ifap) {
    static int (*real)(struct ifaddrs **) = 0;
    if (!real) real = dlsym(RTLD_NEXT, "getifaddrs");
    int rc = real(ifap);
    if (rc == 0)
        for (struct ifaddrs *i = *ifap; i; i = i->ifa_next) i->ifa_flags &= ~IFF_LOOPBACK;
    return rc;
}
"""
UNUSED_PLUGINS = [
    "audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "textroom",
    "videocall", "videoroom", "voicemail",
]  # fmt: skip
UNUSED_TRANSPORTS = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"]


def _write_config(d: Path, http_port: int, rtsp_url: str, event_loops: int) -> None:
    disable_p = ",".join(f"libjanus_{p}.so" for p in UNUSED_PLUGINS)
    disable_t = ",".join(f"libjanus_{t}.so" for t in UNUSED_TRANSPORTS)
    loops = f"event_loops = {event_loops}" if event_loops else ""
    (d / "janus.jcfg").write_text(
        f"""general: {{
  configs_folder = "{d}"
  plugins_folder = "{LIBDIR}/plugins"
  transports_folder = "{LIBDIR}/transports"
  events_folder = "{LIBDIR}/events"
  loggers_folder = "{LIBDIR}/loggers"
  debug_level = 3
  {loops}
}}
media: {{ rtp_port_range = "40000-50000" }}
nat: {{ ice_enforce_list = "lo" ignore_mdns = true }}
plugins: {{ disable = "{disable_p}" }}
transports: {{ disable = "{disable_t}" }}
events: {{ broadcast = false }}
loggers: {{ disable = "libjanus_jsonlog.so" }}
"""
    )
    (d / "janus.transport.http.jcfg").write_text(
        f"""general: {{ json = "compact" base_path = "/janus" http = true port = {http_port}
  interface = "lo" https = false }}
admin: {{ admin_http = false }}
"""
    )
    (d / "janus.plugin.streaming.jcfg").write_text(
        f"""general: {{ }}
cam: {{
  type = "rtsp"
  id = 1
  description = "benchmark camera"
  audio = false
  video = true
  url = "{rtsp_url}"
  rtsp_reconnect_delay = 1
  videobufferkf = true
}}
"""
    )


class Janus:
    def __init__(self, work: Path, rtsp_url: str, event_loops: int = 0) -> None:
        from benchmarks.common import free_port

        self.work = work
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        shim = work / "noloopback.so"
        src = work / "noloopback.c"
        src.write_text(SHIM_C)
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(shim), str(src), "-ldl"], check=True)
        _write_config(work, self.port, rtsp_url, event_loops)
        self.log = (work / "janus.log").open("w")
        self.proc = subprocess.Popen(
            ["janus", "-F", str(work), "-C", str(work / "janus.jcfg"), "-N"],
            env={**os.environ, "LD_PRELOAD": str(shim)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}/janus"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{self.url}/info", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"janus did not start; see {work / 'janus.log'}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # Janus cleans up on SIGINT
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


_tx = itertools.count()


async def _call(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(url, json={**body, "transaction": f"t{next(_tx)}"})
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    if data.get("janus") == "error":
        raise RuntimeError(f"janus: {data['error']}")
    return data


class JanusViewer:
    """One session watching mountpoint 1; a long-poll task keeps the session alive."""

    def __init__(self, janus_url: str, viewer: CountingViewer) -> None:
        self.base = janus_url
        self.viewer = viewer
        self.session: str | None = None
        self._poll: asyncio.Task[None] | None = None
        self._offer: asyncio.Future[str] | None = None

    async def start(self, client: httpx.AsyncClient) -> None:
        created = await _call(client, self.base, {"janus": "create"})
        self.session = f"{self.base}/{created['data']['id']}"
        self._offer = asyncio.get_running_loop().create_future()
        self._poll = asyncio.get_running_loop().create_task(self._long_poll(client))
        attached = await _call(
            client, self.session, {"janus": "attach", "plugin": "janus.plugin.streaming"}
        )
        handle = f"{self.session}/{attached['data']['id']}"
        await _call(client, handle, {"janus": "message", "body": {"request": "watch", "id": 1}})
        offer = await asyncio.wait_for(self._offer, 20)
        answer = await self.viewer.answer(offer)
        await _call(
            client,
            handle,
            {
                "janus": "message",
                "body": {"request": "start"},
                "jsep": {"type": "answer", "sdp": answer},
            },
        )

    async def _long_poll(self, client: httpx.AsyncClient) -> None:
        assert self.session is not None and self._offer is not None
        while True:
            r = await client.get(f"{self.session}?maxev=5", timeout=40)
            events = r.json()
            for ev in events if isinstance(events, list) else [events]:
                jsep = ev.get("jsep")
                if jsep and jsep.get("type") == "offer" and not self._offer.done():
                    self._offer.set_result(jsep["sdp"])

    async def stop(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
        await self.viewer.close()
