"""`sharpeye up`: the whole platform on one node with embedded defaults.

Order: validate the registry (refuse to start on errors) → footage → store migrations →
Redis (embedded unless REDIS_URL) → simulated fleet → ingest worker → relay → demo duty
receiver → command API, then the demo's delivery destinations are pointed at the receiver
through the API. Children that die are restarted with backoff; Ctrl-C stops everything,
children first.

Every port comes from the settings (SHARPEYE_API_PORT, SHARPEYE_RELAY_PORT,
SHARPEYE_SIM_RTSP_PORT, SHARPEYE_SIM_ONVIF_PORT, SHARPEYE_RECEIVER_PORT) and every file
from SHARPEYE_DATA_DIR, so a harness can run several platforms side by side.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from sharpeye.backoff import Backoff
from sharpeye.bus.embedded import EmbeddedRedis
from sharpeye.logs import configure_logging
from sharpeye.plugins import BOOTSTRAP_ENV, DemoLogin, seed_demo
from sharpeye.registry import Registry, RegistryError, load_registry
from sharpeye.settings import Settings
from sharpeye.simulate.duty_receiver import READY_LINE, SECRET_ENV, demo_destinations
from sharpeye.supervise import Child, child_env, sharpeye_argv

log = logging.getLogger("sharpeye.up")
# The demo registry references these; the simulated fleet and ingest must agree on them.
DEMO_SECRETS = {
    "SHARPEYE_SIM_RTSP_PASSWORD": "sim-secret",
    "SHARPEYE_SIM_ONVIF_PASSWORD": "sim-onvif",
}


DEMO_ENV = "SHARPEYE_DEMO"
HEALTHY_RUN_S = 60.0  # a child up this long before it died starts its backoff afresh


def demo_requested(flag: bool) -> bool:
    """`--demo` or SHARPEYE_DEMO=1: only then are the demo's well-known logins created."""
    return flag or os.environ.get(DEMO_ENV, "").strip().lower() in {"1", "true", "yes"}


def run_up(settings: Settings, simulate: bool = True, demo: bool = False) -> int:
    configure_logging()
    demo = demo_requested(demo)
    try:
        registry = load_registry(settings.registry)
    except RegistryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"up: refusing to start: fix {settings.registry} (see above)", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"up: cannot read the registry {settings.registry}: {exc}", file=sys.stderr)
        return 2
    print(f"== registry {settings.registry}: {len(registry.cameras)} cameras", flush=True)
    data = settings.data_dir
    logs = data / "logs"
    redis: EmbeddedRedis | None = None
    env_extra: dict[str, str] = {}
    if simulate:
        from sharpeye.simulate.footage import prepare

        prepare(data)
        for key, value in DEMO_SECRETS.items():
            env_extra[key] = os.environ.get(key, value)
    # Migrate once here: ingest (sightings) and the API both upgrade at startup, and two
    # processes creating the same tables at once on a fresh database would collide.
    from sharpeye.store.db import upgrade_database

    upgrade_database(settings)
    demo_users = seed_users(settings, demo)
    if settings.redis_url:
        env_extra["REDIS_URL"] = settings.redis_url
    else:
        print("== starting embedded Redis (no REDIS_URL set)", flush=True)
        redis = EmbeddedRedis(data)
        env_extra["REDIS_URL"] = redis.start()
    env = child_env(env_extra)
    children: list[Child] = []
    if simulate:
        children.append(
            Child(
                "fleet",
                sharpeye_argv("simulate", "--registry", str(settings.registry)),
                env,
                logs,
                ready=lambda line: "fleet ready" in line,
            )
        )
    children.append(Child("ingest", sharpeye_argv("ingest"), env, logs))
    children.append(
        Child("relay", sharpeye_argv("relay"), env, logs, ready=lambda line: "relay on" in line)
    )
    receiver_url = f"http://127.0.0.1:{settings.receiver_port}/"
    receiver_secret = _receiver_secret(data) if simulate else ""
    if simulate:
        # Before the API: deliveries of the first alarms find the duty phones answering.
        children.append(
            Child(
                "receiver",
                [sys.executable, "-m", "sharpeye.simulate.duty_receiver"],
                {**env, SECRET_ENV: receiver_secret},
                logs,
                ready=lambda line: READY_LINE in line,
            )
        )
    children.append(
        Child("api", sharpeye_argv("api"), env, logs, ready=lambda line: "API on" in line)
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for child in children:
            print(f"== starting {child.name} (log: {child.log_path})", flush=True)
            child.start()
            if not child.wait_ready(120):
                print(f"up: {child.name} failed to start:\n{child.tail()}", file=sys.stderr)
                return 1
        url = f"http://{settings.api_host}:{settings.api_port}/"
        if not _answers(url + "healthz", 60):
            print(f"up: the API does not answer on {url}:\n{children[-1].tail()}", file=sys.stderr)
            return 1
        receiver_note = ""
        if simulate:
            admin = next((u for u in demo_users if "administrator" in u.roles), None)
            routed = _route_demo_alarms(url, admin, registry, receiver_url, receiver_secret)
            receiver_note = f"  Duty receiver: {receiver_url}"
            if not routed:
                receiver_note += " (no destination set: alarms are delivered nowhere)"
        print(f"== Sharpeye is up. Wall: {url}  API docs: {url}docs{receiver_note}", flush=True)
        if not demo and not has_users(settings):
            print(first_admin_hint(), flush=True)
        for user in demo_users:
            roles = ", ".join(user.roles)
            print(
                f"== demo login {user.username} / {user.password} ({user.department}: {roles})",
                flush=True,
            )
        print("== `sharpeye status` shows camera health; Ctrl-C stops everything", flush=True)
        _supervise(children, stop)
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        if redis is not None:
            redis.stop()
        print("== stopped", flush=True)


def _answers(url: str, timeout: float) -> bool:
    """True once the URL answers 200: "listening" is what the banner promises, not "started"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _receiver_secret(data: Path) -> str:
    """The demo webhooks' signing key: made once per data directory (0600), so the receiver
    and the stored destinations agree across restarts."""
    path = data / "receiver" / "secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    secret = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secret)
    return secret


def _call(api: str, method: str, path: str, token: str | None, body: object = None) -> object:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _route_demo_alarms(
    api: str, admin: DemoLogin | None, registry: Registry, receiver: str, secret: str
) -> int:
    """Point every department's duty desk, duty officer and head at the demo receiver, the
    way an administrator would (PUT /api/destinations, audited); returns how many.

    Without this the demo's alarms and escalations are delivered nowhere. Each start sets
    the URL and key (the receiver's port may have changed) and keeps an administrator's
    enabled/disabled choice; a demo admin whose password was changed leaves them as they are.
    """
    if admin is None:
        return 0
    try:
        login = _call(
            api,
            "POST",
            "api/auth/login",
            None,
            {"username": admin.username, "password": admin.password},
        )
        if not isinstance(login, dict):
            raise KeyError("access_token")
        token = str(login["access_token"])
        present = _call(api, "GET", "api/destinations", token)
        enabled = {d["id"]: d["enabled"] for d in present} if isinstance(present, list) else {}
        wanted = demo_destinations([(d.id, d.name) for d in registry.departments], receiver, secret)
        for dest_id, body in wanted.items():
            body["enabled"] = enabled.get(dest_id, True)
            _call(api, "PUT", f"api/destinations/{dest_id}", token, body)
        # An API without sessions has no logout: the token then just expires.
        with contextlib.suppress(urllib.error.HTTPError):
            _call(api, "POST", "api/auth/logout", token)
        return len(wanted)
    except (OSError, KeyError, ValueError) as exc:
        log.warning("demo destinations not set (%s): alarms are delivered nowhere", exc)
        return 0


def seed_users(settings: Settings, demo: bool) -> list[DemoLogin]:
    """The demo's users (idempotent) with `demo`; otherwise none. Their passwords are in the
    README, so a real registry (which has a `police` department too) must never get them
    by default: a real install creates its first administrator on purpose. The service that
    owns users seeds them (entry point `sharpeye.demo`: the foundation imports no service)."""
    if not demo:
        return []
    return seed_demo(settings)


def has_users(settings: Settings) -> bool:
    from sqlalchemy import select

    from sharpeye.store.db import create_engine_for, session_factory, session_scope
    from sharpeye.store.models import UserRow

    engine = create_engine_for(settings)
    try:
        with session_scope(session_factory(engine)) as s:
            return s.execute(select(UserRow.id).limit(1)).first() is not None
    finally:
        engine.dispose()


def first_admin_hint() -> str:
    if os.environ.get(BOOTSTRAP_ENV):
        return f"== the first administrator comes from {BOOTSTRAP_ENV}"
    return (
        "== no user yet: nobody can log in. Restart with "
        f"{BOOTSTRAP_ENV}=<user>:<password of 8+ characters> to create the first "
        "administrator, or `sharpeye up --demo` (SHARPEYE_DEMO=1) for the demo's logins"
    )


def _supervise(children: list[Child], stop: threading.Event) -> None:
    backoffs = {c.name: Backoff(base_s=1.0, max_s=30.0) for c in children}
    started = dict.fromkeys(backoffs, time.monotonic())
    while not stop.wait(1.0):
        for child in children:
            if child.alive():
                continue
            backoff = backoffs[child.name]
            if time.monotonic() - started[child.name] > HEALTHY_RUN_S:
                backoff.reset()  # it ran well for a while: a fresh failure, not a crash loop
            delay = backoff.next_delay()
            code = child.proc.returncode if child.proc else None
            log.error("%s exited (%s); restarting in %.1f s", child.name, code, delay)
            if stop.wait(delay):
                return
            child.restarts += 1
            child.start()
            started[child.name] = time.monotonic()
