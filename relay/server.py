"""The relay's HTTP face: WHEP (draft-ietf-wish-whep) per camera, and `serve(settings)`.

    POST    /whep/{camera}[/{sub|main}]   SDP offer → 201, SDP answer, Location of the session,
                                          Sharpeye-Session-Max-Age (s) after which it ends
    DELETE  /whep/sessions/{id}           ends the session
    PATCH   /whep/sessions/{id}           405: no trickle ICE (answers carry every candidate)
    OPTIONS on both                       CORS preflight / Accept-Post
    GET     /metrics                      Prometheus: viewers, upstreams, traffic, drops
    GET     /relay/stats                  totals as JSON

Every WHEP request needs `Authorization: Bearer <viewer token>` (or `?token=` for players
that cannot set headers) for that camera. The command API is the authority on who sees what
(registry grants and grants made through the API): it checks the caller's scope when it
issues a token, so at the offer the relay checks the signature, the camera and the expiry.
A playing view is then rechecked with the API every SHARPEYE_RELAY_RECHECK_S (5 s,
`relay.recheck`) and closed once its viewer's session, user or grant is gone, and every view
ends at SHARPEYE_RELAY_MAX_SESSION_S (12 h), when the wall asks for a fresh token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query, Request, Response, status
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from relay.gb_pull import GbAccess
from relay.ice import use_consent_timeout, use_host_addresses
from relay.metrics import exposition, registry_for
from relay.recheck import ViewerRecheck
from relay.sessions import CapacityError, OfferError, SessionManager
from relay.sources import SourceError, Sources, StreamKind
from relay.upstream import UnsupportedCodecError, UpstreamError
from sharpeye.health_text import relay_error, scrub_detail
from sharpeye.registry import Registry, RegistryError, RegistryWatcher, load_registry
from sharpeye.relay_settings import RelaySettings, get_relay_settings
from sharpeye.settings import Settings, get_settings
from sharpeye.tokens import TokenError, TokenSigner, ViewerClaims, signer_for

log = logging.getLogger(__name__)
SDP = "application/sdp"
MAX_AGE_HEADER = "Sharpeye-Session-Max-Age"


@dataclass
class RelayState:
    manager: SessionManager
    sources: Sources
    signer: TokenSigner
    metrics: CollectorRegistry


def create_relay_app(
    settings: Settings | None = None,
    relay_settings: RelaySettings | None = None,
    *,
    signer: TokenSigner | None = None,
    registry: Registry | None = None,
    registry_poll_s: float = 1.0,
) -> FastAPI:
    app_settings = settings or get_settings()
    rs = relay_settings or get_relay_settings()
    use_host_addresses(rs.ice_addresses)
    use_consent_timeout(rs.consent_timeout_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reg = registry
        if reg is None:
            reg = await asyncio.to_thread(load_registry, app_settings.registry)
        sources = Sources(reg, app_settings.secrets_file)
        # gb28181:// cameras: asked of `sharpeye gb28181` over the node's Redis.
        gb = GbAccess.for_relay(app_settings, rs.worker)
        manager = SessionManager(rs, gb=gb)
        state = RelayState(
            manager, sources, signer or signer_for(app_settings.data_dir), registry_for(manager)
        )
        app.state.relay = state
        stop = asyncio.Event()
        watcher_task = None
        recheck = ViewerRecheck(
            manager,
            state.signer,
            rs.recheck_url(app_settings.api_host, app_settings.api_port),
            rs.recheck_s,
        )
        recheck_task = asyncio.create_task(recheck.run(stop), name="relay-recheck")
        if registry is None:

            def on_change(new: Registry, diff: object) -> None:
                sources.update(new)

            def on_error(err: RegistryError) -> None:
                log.warning("registry edit ignored by the relay:\n%s", err)

            watcher = RegistryWatcher(
                app_settings.registry, on_change, on_error, interval=registry_poll_s, initial=reg
            )
            watcher_task = asyncio.create_task(watcher.run(stop), name="relay-registry")
        try:
            yield
        finally:
            stop.set()
            for task in (watcher_task, recheck_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await state.manager.close()  # the upstreams' BYEs asked for first
            await asyncio.to_thread(gb.close)

    app = FastAPI(title="Sharpeye relay", summary="WHEP endpoints per camera", lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=rs.cors_origins(app_settings.api_host, app_settings.api_port),
        allow_methods=["POST", "DELETE", "PATCH", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-Match"],
        expose_headers=["Location", "ETag", "Link", "Accept-Patch", MAX_AGE_HEADER],
    )

    def state_of(request: Request) -> RelayState:
        st = getattr(request.app.state, "relay", None)
        if not isinstance(st, RelayState):
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "relay is not started")
        return st

    def authorize(
        st: RelayState, camera_id: str, authorization: str | None, token: str | None
    ) -> ViewerClaims:
        return authorized(st, camera_id, authorization, token)[1]

    def authorized(
        st: RelayState, camera_id: str, authorization: str | None, token: str | None
    ) -> tuple[str, ViewerClaims]:
        """The token and its claims, or 401/403."""
        value = token
        if authorization is not None:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() == "bearer" and credential:
                value = credential.strip()
        if not value:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a viewer token is required (POST /api/cameras/{id}/viewer-token)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            return value, st.signer.verify(value, camera_id)
        except TokenError as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"viewer token refused: {exc}") from None

    def ice_links(with_turn: bool) -> dict[str, str]:
        """ICE servers as Link headers; TURN servers (they carry a credential that lets
        anyone relay traffic through them) only for a caller with a valid viewer token."""
        parts = []
        for d in rs.ice_server_dicts():
            if d["urls"].startswith(("turn:", "turns:")) and not with_turn:
                continue
            link = f'<{d["urls"]}>; rel="ice-server"'
            if "username" in d:
                link += f'; username="{d["username"]}"; credential="{d["credential"]}"'
                link += '; credential-type="password"'
            parts.append(link)
        return {"Link": ", ".join(parts)} if parts else {}

    @app.options("/whep/{camera_id}")
    @app.options("/whep/{camera_id}/{stream}")
    async def whep_options(
        request: Request,
        camera_id: str,
        stream: str = "sub",
        authorization: Annotated[str | None, Header()] = None,
        token: Annotated[str | None, Query()] = None,
    ) -> Response:
        # ICE server discovery (WHEP) needs no token, but the TURN part does: without one the
        # answer lists STUN servers only. A bad token is not refused here: OPTIONS stays a
        # harmless probe, it just learns no credential.
        with_turn = False
        if authorization is not None or token is not None:
            try:
                authorize(state_of(request), camera_id, authorization, token)
                with_turn = True
            except HTTPException:
                pass
        return Response(
            status_code=status.HTTP_204_NO_CONTENT,
            headers={"Accept-Post": SDP, **ice_links(with_turn)},
        )

    @app.post("/whep/{camera_id}", status_code=201)
    @app.post("/whep/{camera_id}/{stream}", status_code=201)
    async def whep_offer(
        request: Request,
        camera_id: str,
        stream: StreamKind = "sub",
        authorization: Annotated[str | None, Header()] = None,
        token: Annotated[str | None, Query()] = None,
    ) -> Response:
        st = state_of(request)
        credential, claims = authorized(st, camera_id, authorization, token)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != SDP:
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send the offer as {SDP}")
        offer = (await request.body()).decode("utf-8", "replace")
        try:
            spec = await st.sources.resolve(camera_id, stream)
            session, answer = await st.manager.create(
                spec, claims.department, offer, token=credential, claims=claims
            )
        except SourceError as exc:
            # Error bodies reach any browser holding a token: the kind of failure and the
            # camera id, never its address, login or secrets file (those go to the log).
            log.warning("camera %s: %s", camera_id, scrub_detail(str(exc)))
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, relay_error(camera_id, str(exc))
            ) from None
        except UnsupportedCodecError as exc:
            # 422 with the reason: the wall shows it on the tile instead of a black picture.
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        except UpstreamError as exc:
            log.warning("camera %s: %s", camera_id, scrub_detail(str(exc)))
            raise HTTPException(
                status.HTTP_502_BAD_GATEWAY, relay_error(camera_id, str(exc))
            ) from None
        except OfferError as exc:
            raise HTTPException(status.HTTP_406_NOT_ACCEPTABLE, str(exc)) from None
        except CapacityError as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}
            ) from None
        location = f"/whep/sessions/{session.id}"
        return Response(
            content=answer,
            status_code=status.HTTP_201_CREATED,
            media_type=SDP,
            headers={
                "Location": location,
                "ETag": f'"{session.id}"',
                # How long the view may last: the wall re-negotiates shortly before.
                MAX_AGE_HEADER: str(int(rs.max_session_s)),
                **ice_links(True),
            },
        )

    @app.options("/whep/sessions/{session_id}")
    async def session_options(session_id: str) -> Response:
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.delete("/whep/sessions/{session_id}")
    async def whep_delete(
        request: Request,
        session_id: str,
        authorization: Annotated[str | None, Header()] = None,
        token: Annotated[str | None, Query()] = None,
    ) -> Response:
        st = state_of(request)
        session = st.manager.sessions.get(session_id)
        if session is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such WHEP session")
        authorize(st, session.camera_id, authorization, token)
        await st.manager.end(session_id)
        return Response(status_code=status.HTTP_200_OK)

    @app.patch("/whep/sessions/{session_id}")
    async def whep_patch(session_id: str) -> Response:
        return Response(
            "trickle ICE is not supported: gather candidates before the offer",
            status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
            headers={"Allow": "DELETE, OPTIONS"},
        )

    @app.get("/relay/stats")
    async def stats(request: Request) -> dict[str, int]:
        """Totals only: which cameras are watched is not public."""
        st = state_of(request)
        upstreams = list(st.manager.pool.upstreams.values())
        return {
            "sessions": len(st.manager.sessions),
            "upstreams": len(upstreams),
            "frames_in": sum(u.frames for u in upstreams),
        }

    @app.get("/metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        """Prometheus exposition: totals only, no camera ids (scraped on the internal network)."""
        return Response(exposition(state_of(request).metrics), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(settings: Settings) -> None:
    """`sharpeye relay`: the WHEP relay on SHARPEYE_RELAY_HOST:SHARPEYE_RELAY_PORT.

    With SHARPEYE_RELAY_WORKERS=N this process is worker 0 and starts workers 1..N-1 (one
    event loop, so one core, each) on the next ports, stopping them when it stops.
    """
    import uvicorn

    from relay.workers import Workers
    from sharpeye.logs import configure_logging

    configure_logging()
    rs = get_relay_settings()
    port = rs.port + rs.worker
    app = create_relay_app(settings, rs)
    with Workers(rs):
        print(f"relay on http://{rs.host}:{port}/whep/<camera> (worker {rs.worker})", flush=True)
        # log_config=None: uvicorn's loggers go through configure_logging's root handler
        # (JSON, secrets scrubbed) rather than handlers of their own.
        uvicorn.run(app, host=rs.host, port=port, log_level="warning", log_config=None)
