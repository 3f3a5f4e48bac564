// PTZ controls on a tile: arrows pan/tilt, +/− zoom, home, and the camera's presets (go to,
// save here). Shown on hover or on the selected tile, and only for a camera whose ONVIF
// device has PTZ and a caller whose role may steer it: GET /api/cameras/{id}/ptz says both
// (404: no PTZ). An arrow or zoom button moves the camera while it is held: the press
// starts a move the device ends by itself after HOLD_S unless renewed, the wall renews it
// every RENEW_MS while held and sends stop on release, so a closed or crashed wall never
// leaves a camera turning. Keyboard activation (no pointer) moves for PRESS_S.
import { api, apiJson } from "./api.js";

const SPEED = 0.5;
const PRESS_S = 0.4;
const HOLD_S = 1.0;
const RENEW_MS = 400;
// [label, title, move velocities]
const BUTTONS = [
  ["▲", "Tilt up", { tilt: SPEED }],
  ["◀", "Pan left", { pan: -SPEED }],
  ["⌂", "Home", null],
  ["▶", "Pan right", { pan: SPEED }],
  ["▼", "Tilt down", { tilt: -SPEED }],
  ["+", "Zoom in", { zoom: SPEED }],
  ["−", "Zoom out", { zoom: -SPEED }],
];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class PtzControls {
  constructor(tile) {
    this.tile = tile;
    this.camera = null;
    this.known = false; // the catalog had the camera when it was shown
    this.node = el("div", "ptz");
    this.node.hidden = true;
    // Clicks steer the camera; they must not select the tile or toggle full screen.
    for (const type of ["click", "dblclick"]) this.node.addEventListener(type, (e) => e.stopPropagation());
    const pad = el("div", "ptz-pad");
    for (const [label, title, velocity] of BUTTONS) {
      const button = el("button", "", label);
      button.title = title;
      button.dataset.ptz = title.toLowerCase().replace(" ", "-");
      if (!velocity) {
        button.addEventListener("click", () => this.command("home"));
      } else {
        button.addEventListener("pointerdown", (e) => {
          if (e.button !== 0) return;
          button.setPointerCapture(e.pointerId); // the release arrives even off the button
          this.hold(velocity);
        });
        for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
          button.addEventListener(type, () => this.release());
        }
        // detail 0: activated from the keyboard, where there is no press to hold.
        button.addEventListener("click", (e) => {
          if (e.detail === 0) this.command("move", { ...velocity, duration_s: PRESS_S });
        });
      }
      pad.append(button);
    }
    this.presets = el("select", "ptz-presets");
    this.presets.title = "Go to a preset";
    this.presets.addEventListener("change", () => {
      const token = this.presets.value;
      this.presets.value = "";
      if (token) this.command(`presets/${encodeURIComponent(token)}/goto`);
    });
    const save = el("button", "ptz-save", "Save");
    save.title = "Save this position as a preset";
    save.addEventListener("click", () => this.savePreset());
    this.status = el("span", "ptz-status");
    this.node.append(pad, this.presets, save, this.status);
  }

  // Called when the tile shows another camera; the answer for a camera no longer shown is dropped.
  async show(cameraId) {
    const camera = cameraId ? this.tile.wall.catalog.byId.get(cameraId) : null;
    this.release(); // a camera held turning when the tile changes is stopped
    this.camera = cameraId;
    this.known = Boolean(camera);
    this.node.hidden = true;
    if (!camera || !camera.has_onvif) return;
    try {
      const state = await apiJson(`/api/cameras/${encodeURIComponent(cameraId)}/ptz`);
      if (this.camera !== cameraId || !state.can_control) return;
      this.fillPresets(state.presets);
      this.setPosition(state.position);
      this.node.hidden = false;
    } catch (e) {
      // 404: no PTZ on this camera; a device error leaves the tile without controls.
      if (e.status !== 404) console.warn(`PTZ of ${cameraId}: ${e.message}`);
    }
  }

  // After the catalog (re)loads: a camera shown before it was known gets its controls now.
  refresh() {
    if (this.camera && !this.known) this.show(this.camera);
  }

  fillPresets(presets) {
    const options = [new Option("Presets…", ""), ...presets.map((p) => new Option(p.name, p.token))];
    this.presets.replaceChildren(...options);
  }

  setPosition(p) {
    const fmt = (v) => (v === null ? "–" : v.toFixed(2));
    this.status.textContent = `P ${fmt(p.pan)} T ${fmt(p.tilt)} Z ${fmt(p.zoom)}`;
  }

  // Start moving and keep renewing until release(): one request at a time, the next
  // RENEW_MS after the previous one went out (or at once if it took longer), so requests
  // never pile up on a slow device.
  hold(velocity) {
    this.release();
    const cameraId = this.camera;
    const url = `/api/cameras/${encodeURIComponent(cameraId)}/ptz/start`;
    const body = { ...velocity, timeout_s: HOLD_S };
    const start = () =>
      apiJson(url, { method: "POST", json: body })
        .then((position) => { if (this.camera === cameraId) this.setPosition(position); })
        .catch((e) => { this.status.textContent = e.message; });
    this.node.classList.add("busy");
    const held = { cameraId, active: true, timer: 0, wake: null, done: null };
    held.done = (async () => {
      while (held.active) {
        const sent = performance.now();
        await start();
        const wait = RENEW_MS - (performance.now() - sent);
        if (held.active && wait > 0) {
          await new Promise((resolve) => {
            held.wake = resolve;
            held.timer = setTimeout(resolve, wait);
          });
        }
      }
    })();
    this.held = held;
  }

  async release() {
    const held = this.held;
    if (!held) return;
    this.held = null;
    held.active = false;
    clearTimeout(held.timer);
    if (held.wake) held.wake();
    await held.done; // stop goes out after the last start, never before it
    await this.command("stop", undefined, held.cameraId);
  }

  async command(path, body, cameraId = this.camera) {
    this.node.classList.add("busy");
    try {
      const position = await apiJson(`/api/cameras/${encodeURIComponent(cameraId)}/ptz/${path}`, {
        method: "POST",
        json: body,
      });
      if (this.camera === cameraId) this.setPosition(position);
    } catch (e) {
      this.status.textContent = e.message;
    } finally {
      this.node.classList.remove("busy");
    }
  }

  async savePreset() {
    const cameraId = this.camera;
    const name = (prompt("Name of the preset:", "") || "").trim();
    if (!name) return;
    const base = `/api/cameras/${encodeURIComponent(cameraId)}/ptz`;
    try {
      await api(`${base}/presets`, { method: "POST", json: { name } });
      const state = await apiJson(base);
      if (this.camera === cameraId) this.fillPresets(state.presets);
      this.status.textContent = `saved “${name}”`;
    } catch (e) {
      this.status.textContent = e.message;
    }
  }
}
