// PTZ controls on a tile: arrows pan/tilt, +/− zoom, home, and the camera's presets (go to,
// save here). Shown on hover or on the selected tile, and only for a camera whose ONVIF
// device has PTZ and a caller whose role may steer it: GET /api/cameras/{id}/ptz says both
// (404: no PTZ). Each press moves for a moment then stops (the API bounds the move).
import { api, apiJson } from "./api.js";

const SPEED = 0.5;
const PRESS_S = 0.4;
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
      button.addEventListener("click", () =>
        velocity ? this.command("move", { ...velocity, duration_s: PRESS_S }) : this.command("home"));
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

  async command(path, body) {
    const cameraId = this.camera;
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
