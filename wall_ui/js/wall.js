// The video wall: a grid of tiles, each a WHEP player with overlays (name, health, delay).
// Tiles show the sub stream; a tile in full screen switches to the main stream. The last
// tile is the alarm tile: an alarm pops its camera there. Any tile whose camera has an
// unacknowledged alarm is highlighted, with that alarm's title and an Acknowledge button;
// the highlight follows the set of such alarms per camera (one acknowledged, another still
// new: still highlighted) through layout changes, tours and reassignments. The alarm bar
// shows the frame that raised the alarm, when its event saved one (click: larger), fetched
// once per alarm with the session's token (the API audits each view).
import { api, ApiError } from "./api.js";
import { openPlayback } from "./playback.js";
import { PtzControls } from "./ptz.js";
import { WhepPlayer } from "./whep.js";

export const LAYOUTS = {
  1: { cls: "grid-1", tiles: 1 },
  4: { cls: "grid-4", tiles: 4 },
  9: { cls: "grid-9", tiles: 9 },
  16: { cls: "grid-16", tiles: 16 },
  "1+5": { cls: "grid-1p5", tiles: 6 },
  "1+7": { cls: "grid-1p7", tiles: 8 },
};
const STATS_MS = 1000;
const MAX_SIDE = 8;

// A preset, or a custom grid "ROWSxCOLS" (up to 8×8).
export function layoutOf(key) {
  if (LAYOUTS[key]) return LAYOUTS[key];
  const m = /^(\d+)x(\d+)$/.exec(String(key));
  if (m) {
    const rows = Math.min(Math.max(Number(m[1]), 1), MAX_SIDE);
    const cols = Math.min(Math.max(Number(m[2]), 1), MAX_SIDE);
    return { cls: "grid-custom", tiles: rows * cols, template: `repeat(${rows}, 1fr) / repeat(${cols}, 1fr)` };
  }
  return LAYOUTS[16];
}

// An alarm's snapshot reference: the first JPEG among its event's evidence.
function snapshotRef(alarm) {
  const found = (alarm.evidence || []).find((e) => typeof e.ref === "string" && e.ref.endsWith(".jpg"));
  return found ? found.ref : null;
}

// An alarm's clip reference: the MP4 among its event's evidence (ingest writes it once the
// rule's window after the event has arrived, so it may not be there yet).
function clipRef(alarm) {
  const found = (alarm.evidence || []).find((e) => typeof e.ref === "string" && e.ref.endsWith(".mp4"));
  return found ? found.ref : null;
}

const evidencePath = (ref) => `/api/evidence/${ref.split("/").map(encodeURIComponent).join("/")}`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

class Tile {
  constructor(wall, index) {
    this.wall = wall;
    this.index = index;
    this.camera = null;
    this.player = null;
    this.stream = "sub";
    this.state = "empty";
    this.lastStats = null;
    this.node = el("div", "tile empty");
    this.node.dataset.index = String(index);
    this.video = el("video");
    this.video.muted = true;
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.name = el("div", "overlay name");
    this.health = el("span", "dot unknown");
    this.metrics = el("div", "overlay metrics");
    this.message = el("div", "overlay message");
    this.alarmBar = el("div", "overlay alarm-bar");
    this.alarmBar.hidden = true;
    this.snapshot = { ref: null, img: null, url: null }; // the alarm bar's picture
    this.clip = null; // the alarm clip playing over the tile: { box, url }
    this.name.prepend(this.health);
    this.ptz = new PtzControls(this);
    // The camera's recorded video (js/playback.js), on the hovered or selected tile.
    this.playback = el("button", "playback-open", "⏪ Playback");
    this.playback.title = "Recorded video of this camera";
    this.playback.addEventListener("click", (e) => {
      e.stopPropagation();
      if (this.camera) openPlayback(this.camera, { title: this.cameraName() });
    });
    this.node.append(this.video, this.name, this.metrics, this.message, this.alarmBar,
      this.ptz.node, this.playback);
    this.node.addEventListener("click", () => wall.select(this.index));
    this.node.addEventListener("dblclick", () => this.toggleFullscreen());
    this.node.addEventListener("dragover", (e) => {
      e.preventDefault();
      this.node.classList.add("drop");
    });
    this.node.addEventListener("dragleave", () => this.node.classList.remove("drop"));
    this.node.addEventListener("drop", (e) => {
      e.preventDefault();
      this.node.classList.remove("drop");
      const id = e.dataTransfer.getData("text/x-camera-id");
      if (id) wall.assign(this.index, id);
    });
  }

  show(cameraId, stream = "sub") {
    if (this.camera === cameraId && this.stream === stream && this.player) return;
    this.stopPlayer();
    if (this.camera !== cameraId) {
      this.ptz.show(cameraId);
      this.closeClip();
    }
    this.camera = cameraId;
    this.stream = stream;
    this.node.classList.toggle("empty", !cameraId);
    this.node.dataset.camera = cameraId || "";
    this.lastStats = null;
    this.metrics.textContent = "";
    this.refreshLabel();
    this.refreshAlarm();
    if (!cameraId) {
      this.setState("empty");
      return;
    }
    this.player = new WhepPlayer(this.video, cameraId, stream, (s, detail) =>
      this.setState(s, detail));
    this.player.start();
  }

  // Highlight and alarm bar from the wall's set of unacknowledged alarms for this camera.
  refreshAlarm() {
    const open = this.camera ? this.wall.newAlarmsOf(this.camera) : [];
    this.node.classList.toggle("alarmed", open.length > 0);
    this.alarmBar.hidden = open.length === 0;
    if (!open.length) {
      this.alarmBar.replaceChildren();
      this.setSnapshot(null);
      return;
    }
    // The popped alarm if it is this camera's, else the newest.
    const popped = this.wall.alarm;
    const shown = open.find((a) => popped && a.id === popped.id) || open[0];
    const more = open.length > 1 ? ` (+${open.length - 1} more)` : "";
    const button = el("button", "ack", "Acknowledge");
    button.addEventListener("click", async (e) => {
      e.stopPropagation();
      await this.wall.onAck(shown);
    });
    const title = el("span", "", `⚠ ${shown.title || shown.event_type || "alarm"}${more}`);
    const picture = this.setSnapshot(snapshotRef(shown));
    const clip = clipRef(shown);
    const clipButton = clip ? el("button", "clip", "▶ Clip") : null;
    if (clipButton) {
      clipButton.title = "The video around the alarm (the rule's seconds before and after)";
      clipButton.addEventListener("click", (e) => {
        e.stopPropagation();
        this.playClip(clip);
      });
    }
    const footage = el("button", "footage", "⏪ Footage");
    footage.title = "The recorded video around the alarm";
    footage.addEventListener("click", (e) => {
      e.stopPropagation();
      openPlayback(shown.camera_id, { title: this.cameraName(), at: shown.occurred_at });
    });
    this.alarmBar.replaceChildren(
      ...(picture ? [picture] : []), title, ...(clipButton ? [clipButton] : []), footage, button);
    this.alarmBar.dataset.alarm = String(shown.id);
  }

  // The <img> of the alarm's snapshot (fetched once per reference), or null without one.
  setSnapshot(ref) {
    const current = this.snapshot;
    if (current.ref === ref) return current.img;
    if (current.url) URL.revokeObjectURL(current.url);
    const snap = { ref, img: null, url: null };
    this.snapshot = snap;
    if (!ref) return null;
    const img = el("img", "alarm-snap");
    img.alt = "the frame that raised the alarm";
    img.title = "The frame that raised the alarm (click: larger)";
    img.addEventListener("click", (e) => {
      e.stopPropagation();
      img.classList.toggle("large");
    });
    snap.img = img;
    api(`/api/evidence/${ref.split("/").map(encodeURIComponent).join("/")}`)
      .then((response) => response.blob())
      .then((blob) => {
        if (this.snapshot !== snap) return; // another alarm shown meanwhile
        snap.url = URL.createObjectURL(blob);
        img.src = snap.url;
      })
      .catch(() => img.remove()); // gone with retention, or not ours to see
    return img;
  }

  // The alarm's clip over the live picture, with controls; fetched with the session's token
  // (audited as any evidence view). A clip not written yet (404) is asked for again.
  async playClip(ref) {
    this.closeClip();
    const box = el("div", "overlay clip-player");
    const video = el("video");
    video.controls = true;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    const note = el("div", "clip-note", "loading the clip…");
    const close = el("button", "clip-close", "✕");
    close.title = "Back to live video";
    close.addEventListener("click", (e) => {
      e.stopPropagation();
      this.closeClip();
    });
    box.addEventListener("click", (e) => e.stopPropagation());
    box.append(video, note, close);
    box.dataset.state = "loading";
    this.node.append(box);
    const clip = { box, url: null, ref };
    this.clip = clip;
    for (let tries = 0; tries < 40 && this.clip === clip; tries += 1) {
      try {
        const blob = await (await api(evidencePath(ref))).blob();
        if (this.clip !== clip) return;
        clip.url = URL.createObjectURL(blob);
        video.src = clip.url;
        note.textContent = "";
        box.dataset.state = "playing";
        return;
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404) {
          note.textContent = `no clip: ${err.message}`;
          box.dataset.state = "error";
          return;
        }
        note.textContent = "the clip is still being written…";
        await new Promise((resolve) => setTimeout(resolve, 1500));
      }
    }
    if (this.clip === clip) {
      note.textContent = "no clip was written for this alarm";
      box.dataset.state = "error";
    }
  }

  closeClip() {
    if (!this.clip) return;
    if (this.clip.url) URL.revokeObjectURL(this.clip.url);
    this.clip.box.remove();
    this.clip = null;
  }

  cameraName() {
    return this.wall.catalog.byId.get(this.camera)?.name || this.camera;
  }

  refreshLabel() {
    const camera = this.camera ? this.wall.catalog.byId.get(this.camera) : null;
    this.name.replaceChildren(this.health, camera ? ` ${camera.name}` : this.camera || "");
    this.health.className = `dot ${camera ? camera.health.state : "unknown"}`;
    this.health.title = camera ? camera.health.state : "";
  }

  setState(state, detail) {
    this.state = state;
    this.node.dataset.state = state;
    this.message.textContent = state === "error" ? detail || "error" : state === "connecting" ? "connecting…" : "";
  }

  async updateStats() {
    if (!this.player) return;
    const s = await this.player.stats();
    if (!s) return;
    this.lastStats = s;
    const delay = s.delayMs === null ? "–" : `${Math.round(s.delayMs)} ms`;
    this.metrics.textContent = `${Math.round(s.fps)} fps · delay ${delay}${s.height ? ` · ${s.height}p` : ""}`;
  }

  toggleFullscreen() {
    if (!this.camera) return;
    if (document.fullscreenElement === this.node) {
      document.exitFullscreen();
    } else {
      this.node.requestFullscreen?.().catch(() => {});
      this.show(this.camera, "main");
    }
  }

  stopPlayer() {
    if (this.player) this.player.stop();
    this.player = null;
  }
}

export class Wall extends EventTarget {
  constructor(container, catalog) {
    super();
    this.container = container;
    this.catalog = catalog;
    this.tiles = [];
    this.layoutKey = "16";
    this.selected = 0;
    // The alarm last popped into the alarm tile, and every unacknowledged alarm by camera.
    this.alarm = null;
    this.newAlarms = new Map();
    // Set by the alarm panel: acknowledges an alarm through the API.
    this.onAck = async () => {};
    this.setLayout("16");
    document.addEventListener("fullscreenchange", () => {
      for (const t of this.tiles) {
        if (t.stream === "main" && document.fullscreenElement !== t.node) t.show(t.camera, "sub");
      }
    });
    catalog.addEventListener("health", (e) => {
      for (const t of this.tiles) if (t.camera === e.detail.id) t.refreshLabel();
    });
    catalog.addEventListener("change", () => this.tiles.forEach((t) => {
      t.refreshLabel();
      t.ptz.refresh();
    }));
    setInterval(() => this.tiles.forEach((t) => t.updateStats()), STATS_MS);
  }

  get alarmTile() {
    return this.tiles[this.tiles.length - 1];
  }

  setLayout(key) {
    const layout = layoutOf(key);
    const cameras = this.tiles.map((t) => t.camera);
    // An alarm on the alarm tile moves with it to the new layout's alarm tile (the last);
    // the other tiles keep their cameras by position.
    const popped = this.alarm && this.newAlarmsOf(this.alarm.camera_id).length ? this.alarm : null;
    if (popped && cameras.length) cameras[cameras.length - 1] = null;
    for (const t of this.tiles.slice(layout.tiles)) t.stopPlayer();
    this.tiles = this.tiles.slice(0, layout.tiles);
    while (this.tiles.length < layout.tiles) this.tiles.push(new Tile(this, this.tiles.length));
    this.layoutKey = LAYOUTS[key] || /^\d+x\d+$/.test(String(key)) ? String(key) : "16";
    this.container.className = layout.cls;
    this.container.style.gridTemplate = layout.template || "";
    this.container.replaceChildren(...this.tiles.map((t) => t.node));
    const last = this.tiles.length - 1;
    this.tiles.forEach((t, i) => {
      t.node.classList.toggle("alarm-tile", i === last);
      const want = i === last && popped ? popped.camera_id : cameras[i] ?? null;
      if (t.camera !== want) t.show(want);
      else t.refreshAlarm();
    });
    this.select(Math.min(this.selected, last));
    this.dispatchEvent(new Event("layout"));
    this.dispatchEvent(new Event("change"));
  }

  select(index) {
    this.selected = index;
    this.tiles.forEach((t, i) => t.node.classList.toggle("selected", i === index));
  }

  assign(index, cameraId) {
    const tile = this.tiles[index];
    if (!tile) return;
    tile.show(cameraId);
    this.dispatchEvent(new Event("change"));
  }

  // The selected tile, or the first empty one after it.
  pick(cameraId) {
    const empty = this.tiles.findIndex((t) => !t.camera);
    this.assign(empty >= 0 ? empty : this.selected, cameraId);
  }

  fill(cameraIds) {
    this.tiles.forEach((t, i) => t.show(cameraIds[i] ?? null));
    this.dispatchEvent(new Event("change"));
  }

  clear() {
    this.fill([]);
  }

  snapshot() {
    return { layout: this.layoutKey, cameras: this.tiles.map((t) => t.camera) };
  }

  restore(saved) {
    this.setLayout(saved.layout);
    this.fill(saved.cameras || []);
  }

  // The camera's unacknowledged alarms, newest first.
  newAlarmsOf(cameraId) {
    const open = this.newAlarms.get(cameraId);
    return open ? [...open.values()].sort((a, b) => (b.created_at || 0) - (a.created_at || 0)) : [];
  }

  // An alarm was raised or changed: keep the set of unacknowledged ones, re-highlight.
  noteAlarm(alarm) {
    const camera = alarm.camera_id;
    const open = this.newAlarms.get(camera) || new Map();
    if (alarm.state === undefined || alarm.state === "new") open.set(alarm.id, alarm);
    else open.delete(alarm.id);
    if (open.size) this.newAlarms.set(camera, open);
    else this.newAlarms.delete(camera);
    if (this.alarm && this.alarm.id === alarm.id && !open.has(alarm.id)) {
      // Handled: the alarm tile goes on showing the camera's next alarm, if it has one.
      this.alarm = open.size ? this.newAlarmsOf(camera)[0] : null;
    }
    for (const t of this.tiles) if (t.camera === camera) t.refreshAlarm();
  }

  // An alarm pops its camera into the alarm tile.
  popAlarm(alarm) {
    this.alarm = alarm;
    this.alarmTile.show(alarm.camera_id);
    this.alarmTile.refreshAlarm();
  }

  async stats() {
    await Promise.all(this.tiles.map((t) => t.updateStats()));
    return this.tiles.map((t) => ({
      index: t.index,
      camera: t.camera,
      state: t.state,
      stream: t.stream,
      framesDecoded: t.lastStats ? t.lastStats.framesDecoded : 0,
      delayMs: t.lastStats ? t.lastStats.delayMs : null,
    }));
  }
}
