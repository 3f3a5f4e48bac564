// A WHEP player for one <video>: token from the API, offer to the relay, H.264 only.
// The relay takes no trickle ICE, so the offer waits (briefly) for candidate gathering.
//
// A view does not last for ever: the relay ends it at its maximum session length
// (SHARPEYE_RELAY_MAX_SESSION_S, announced in the answer's Sharpeye-Session-Max-Age) and
// whenever the API no longer allows its viewer (logout, revoked session, removed grant).
// Either way the player asks the API for a fresh token, without covering the picture: a
// view still allowed plays on, one no longer allowed gets 403 from the API (the tile says
// why and stops) or 401 (the corner sign-in panel opens, as for any call): it never
// re-connects in a loop.
import { apiJson, ApiError } from "./api.js";

const GATHER_MS = 1500;
const RETRY_MS = [1000, 2000, 5000, 10000];
// Re-negotiate this long before the relay's maximum session length (at most a tenth of it).
const RENEW_BEFORE_MS = 30000;
// A view that played this long and then ended is re-negotiated silently; one that ends
// sooner shows the error and backs off (a relay that keeps closing it is not hammered).
const QUIET_AFTER_MS = 20000;
// "disconnected" this long (the relay closed the view: no more consent answers) counts as
// lost, rather than waiting for ICE's "failed" (30 s).
const DISCONNECTED_MS = 4000;
// A quiet re-negotiation that has not played again after this says so on the tile (the API
// may be waiting for a sign-in): a frozen picture must not pass for live video.
const QUIET_MS = 5000;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MS);
  });
}

export class WhepPlayer {
  // onState(state, detail): "connecting" | "playing" | "error" | "stopped"
  constructor(video, cameraId, stream, onState) {
    this.video = video;
    this.cameraId = cameraId;
    this.stream = stream;
    this.onState = onState;
    this.pc = null;
    this.session = null;
    this.token = null;
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    this.renewTimer = null;
    this.lostTimer = null;
    this.quietTimer = null;
    this.playingSince = null;
  }

  // quiet: re-negotiating a view that was playing; keep its picture and say nothing.
  async start(quiet = false) {
    if (!quiet) this.onState("connecting");
    try {
      await this.connect();
      this.attempt = 0;
    } catch (error) {
      clearTimeout(this.quietTimer);
      if (this.stopped) return;
      // A refusal (403, 404, 406, 422: H.265) will not fix itself: show why, do not retry.
      const permanent = error instanceof ApiError && error.status >= 400 && error.status < 500;
      this.onState("error", error.message);
      if (!permanent) this.retry();
    }
  }

  // The view ended after playing a while, or is about to reach its maximum length: a fresh
  // token and offer, the last picture kept until the new one plays.
  renegotiate() {
    this.close();
    this.quietTimer = setTimeout(() => this.onState("connecting"), QUIET_MS);
    this.start(true);
  }

  lost(pc) {
    if (this.pc !== pc || this.stopped) return;
    const played = this.playingSince !== null && Date.now() - this.playingSince >= QUIET_AFTER_MS;
    this.playingSince = null;
    if (played) {
      this.renegotiate();
      return;
    }
    this.onState("error", "connection lost");
    this.retry();
  }

  retry() {
    this.close();
    const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    this.timer = setTimeout(() => this.start(), delay);
  }

  async connect() {
    const grant = await apiJson(`/api/cameras/${encodeURIComponent(this.cameraId)}/viewer-token`, {
      method: "POST",
    });
    if (this.stopped) return;
    this.token = grant.token;
    const url = this.stream === "main" ? grant.whep_url_main : grant.whep_url;
    const pc = new RTCPeerConnection({ iceServers: grant.ice_servers || [] });
    this.pc = pc;
    const transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    const h264 = (RTCRtpReceiver.getCapabilities("video")?.codecs || []).filter(
      (c) => c.mimeType === "video/H264",
    );
    if (h264.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(h264);
    pc.ontrack = (event) => {
      this.video.srcObject = event.streams[0] || new MediaStream([event.track]);
      this.video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc || this.stopped) return;
      const state = pc.connectionState;
      clearTimeout(this.lostTimer);
      if (state === "connected") {
        clearTimeout(this.quietTimer);
        if (this.playingSince === null) this.playingSince = Date.now();
        this.onState("playing");
      }
      if (state === "disconnected") {
        this.lostTimer = setTimeout(() => this.lost(pc), DISCONNECTED_MS);
      }
      if (state === "failed" || state === "closed") this.lost(pc);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${this.token}` },
      body: pc.localDescription.sdp,
    });
    if (response.status !== 201) {
      const body = await response.json().catch(() => ({}));
      throw new ApiError(response.status, body.detail || `relay answered ${response.status}`);
    }
    this.session = new URL(response.headers.get("Location"), url).href;
    const maxAge = Number(response.headers.get("Sharpeye-Session-Max-Age"));
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    // The relay ending the view sends a DTLS close: the connection's own state stays
    // "connected" until ICE consent runs out, the DTLS transport's says it at once.
    const dtls = transceiver.receiver.transport;
    if (dtls) {
      dtls.addEventListener("statechange", () => {
        if (dtls.state === "closed" || dtls.state === "failed") this.lost(pc);
      });
    }
    if (maxAge > 0) {
      const ms = maxAge * 1000;
      this.renewTimer = setTimeout(() => {
        if (this.pc === pc && !this.stopped) this.renegotiate();
      }, ms - Math.min(RENEW_BEFORE_MS, ms / 10));
    }
  }

  // Inbound video stats of the tile: frames decoded, fps, and the receive-side delay.
  async stats() {
    if (!this.pc) return null;
    const report = await this.pc.getStats();
    for (const s of report.values()) {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        const buffer = s.jitterBufferEmittedCount
          ? (s.jitterBufferDelay / s.jitterBufferEmittedCount) * 1000
          : null;
        const decode = s.framesDecoded ? (s.totalDecodeTime / s.framesDecoded) * 1000 : 0;
        return {
          framesDecoded: s.framesDecoded || 0,
          fps: s.framesPerSecond || 0,
          delayMs: buffer === null ? null : buffer + decode,
          width: s.frameWidth,
          height: s.frameHeight,
        };
      }
    }
    return null;
  }

  close() {
    clearTimeout(this.timer);
    clearTimeout(this.renewTimer);
    clearTimeout(this.lostTimer);
    clearTimeout(this.quietTimer);
    this.playingSince = null;
    if (this.session) {
      fetch(this.session, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${this.token}` },
        keepalive: true,
      }).catch(() => {});
      this.session = null;
    }
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
  }

  stop() {
    this.stopped = true;
    this.close();
    this.video.srcObject = null;
    this.onState("stopped");
  }
}
