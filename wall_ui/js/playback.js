// Recorded video in the wall (issue 13): a view over the page with up to MAX_CAMERAS cameras
// on one clock, each with its video and its timeline of the last hours (or of the time
// around an alarm or a search hit): what was recorded, the gaps and the camera's alarms.
// Click any timeline to seek every camera; play/pause, 1×/2×/4× and a frame forward apply
// to all; a camera with nothing recorded at the clock's time says "not recorded" while the
// others play. Cameras are added from the view's list (the wall's cameras first, then every
// camera the caller may see: the catalog only holds those) and removed with their ✕.
//
// js/recorded_camera.js fetches and shows one camera's segments; js/playback_sync.js is the
// shared clock and keeps every camera on it; js/timeline.js draws a camera's timeline.
import { Sync } from "./playback_sync.js";
import { RecordedCamera } from "./recorded_camera.js";
import { clockText } from "./timeline.js";

const WINDOW_S = 2 * 3600; // the timeline from a tile: the last two hours
const AROUND_S = 15 * 60; // from an alarm or a search hit: a quarter of an hour either side
const BEFORE_S = 10; // and playing from a little before it
const LATEST_S = 60; // from a tile: playing the last minute recorded
const FRAME_S = 1 / 25;
const SPEEDS = [1, 2, 4];
export const MAX_CAMERAS = 4;

// What the "add a camera" list offers, set by the page: cameras() the catalog's cameras
// ({id, name}), onWall() the ids on the wall's tiles (listed first).
let sources = { cameras: () => [], onWall: () => [] };

export function setPlaybackSources({ cameras, onWall }) {
  sources = { cameras: cameras || sources.cameras, onWall: onWall || sources.onWall };
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

class Playback {
  // camera: id; title: shown name; at: Unix time to start from (null: the last recording);
  // before: seconds before `at` to play from; mark: a title for a mark at `at` (a hit).
  constructor(camera, title, { at = null, before = BEFORE_S, mark = null } = {}) {
    const now = Date.now() / 1000;
    this.start = at == null ? now - WINDOW_S : at - AROUND_S;
    this.end = at == null ? now : Math.min(now, at + AROUND_S);
    if (this.end <= this.start) this.end = this.start + 1;
    this.at = at;
    this.before = before;
    this.marks = mark && at != null ? [{ at, title: mark }] : [];
    this.cameras = [];
    this.closed = false;
    this.sync = new Sync(() => this.cameras, (t) => this.showTime(t), (text) => this.say(text));
    this.build(title);
    this.first = this.add(camera, title);
  }

  build(title) {
    this.node = el("div", "playback");
    this.node.setAttribute("role", "dialog");
    this.node.setAttribute("aria-label", `Playback: ${title}`);
    const head = el("div", "pb-head");
    const close = el("button", "pb-close", "✕");
    close.title = "Close playback";
    close.addEventListener("click", () => closePlayback());
    this.note = el("span", "pb-note muted", "");
    this.picker = el("select", "pb-add");
    this.picker.setAttribute("aria-label", "Add a camera");
    this.picker.title = `Play another camera in step with these (${MAX_CAMERAS} at most)`;
    this.picker.addEventListener("change", () => {
      const id = this.picker.value;
      this.picker.value = "";
      if (id) this.add(id, this.nameOf(id));
    });
    head.append(el("strong", "", `⏪ ${title}`), this.note, this.picker, close);
    this.videos = el("div", "pb-videos");
    const bar = el("div", "pb-controls");
    this.playButton = el("button", "pb-play", "▶");
    this.playButton.title = "Play / pause every camera";
    this.playButton.addEventListener("click", () => this.toggle());
    const step = el("button", "pb-step", "⏭ frame");
    step.title = "Pause and show the next frame";
    step.addEventListener("click", () => this.sync.step(FRAME_S));
    this.speed = el("select", "pb-speed");
    this.speed.setAttribute("aria-label", "Speed");
    for (const s of SPEEDS) this.speed.append(new Option(`${s}×`, String(s)));
    this.speed.addEventListener("change", () => this.sync.setRate(Number(this.speed.value)));
    this.timeLabel = el("span", "pb-time", "");
    bar.append(this.playButton, step, this.speed, this.timeLabel);
    this.tracks = el("div", "pb-tracks");
    const scale = el("div", "pb-scale");
    scale.append(el("span", "", clockText(this.start)), el("span", "", clockText(this.end)));
    this.node.append(head, this.videos, bar, this.tracks, scale);
  }

  nameOf(id) {
    return sources.cameras().find((c) => c.id === id)?.name || id;
  }

  // Another camera on the clock (one already shown, or past MAX_CAMERAS: nothing).
  add(camera, title = camera) {
    if (this.cameras.length >= MAX_CAMERAS || this.cameras.some((c) => c.camera === camera)) return null;
    const recorded = new RecordedCamera(camera, title, {
      start: this.start,
      end: this.end,
      before: this.before,
      marks: this.cameras.length ? [] : this.marks,
      onSeek: (t) => this.seek(t),
      onRemove: (c) => this.remove(c),
    });
    recorded.video.addEventListener("ended", () => this.sync.tick()); // on to the next one
    this.cameras.push(recorded);
    this.videos.append(recorded.node);
    this.tracks.append(recorded.track);
    this.arrange();
    if (this.cameras.length > 1) recorded.load(); // the clock's next tick places it
    return recorded;
  }

  remove(camera) {
    if (this.cameras.length === 1) {
      closePlayback();
      return;
    }
    this.cameras = this.cameras.filter((c) => c !== camera);
    camera.close();
    this.arrange();
  }

  // The videos side by side (two) or in a square (three or four); the list of the others.
  arrange() {
    this.videos.dataset.count = String(this.cameras.length);
    this.node.dataset.cameras = this.cameras.map((c) => c.camera).join(",");
    const shown = new Set(this.cameras.map((c) => c.camera));
    const all = sources.cameras().filter((c) => !shown.has(c.id));
    const wall = new Set(sources.onWall().filter((id) => !shown.has(id)));
    const group = (label, cameras) => {
      const node = el("optgroup");
      node.label = label;
      node.append(...cameras.map((c) => new Option(c.name || c.id, c.id)));
      return node;
    };
    const full = this.cameras.length >= MAX_CAMERAS;
    const placeholder = new Option(full ? `${MAX_CAMERAS} cameras at most` : "＋ camera…", "");
    const groups = [];
    const onWall = all.filter((c) => wall.has(c.id));
    if (onWall.length) groups.push(group("On the wall", onWall));
    const others = all.filter((c) => !wall.has(c.id));
    if (others.length) groups.push(group(onWall.length ? "Other cameras" : "Cameras", others));
    this.picker.replaceChildren(placeholder, ...groups);
    this.picker.disabled = full;
  }

  async load() {
    await this.first.load();
    if (this.closed) return;
    const segments = this.first.segments;
    if (!segments.length) return;
    // From a tile: the last minute recorded (a seek into a gap plays on from its end).
    const last = segments[segments.length - 1].end;
    await this.seek(this.at == null ? last - LATEST_S : this.at - this.before, { play: true });
  }

  seek(t, options) {
    return this.sync.seek(t, options);
  }

  toggle() {
    if (this.sync.clock.playing) this.sync.pause();
    else this.sync.play();
    this.showState();
  }

  // Each tick: the clock's time, the cursors, and the first camera's segment (for scripts).
  showTime(t) {
    for (const c of this.cameras) c.showTime(t);
    this.showState();
    if (!t) return;
    this.timeLabel.textContent = new Date(t * 1000).toLocaleString([], { hour12: false });
    this.node.dataset.time = t.toFixed(2);
    if (this.sync.target != null) this.node.dataset.seek = this.sync.target.toFixed(2);
    if (this.cameras[0]?.current >= 0) this.node.dataset.segment = String(this.cameras[0].current);
  }

  showState() {
    const playing = this.sync.clock.playing;
    const text = playing ? "⏸" : "▶";
    if (this.playButton.textContent !== text) this.playButton.textContent = text;
    this.node.dataset.playing = String(playing);
  }

  say(text) {
    this.note.textContent = text;
  }

  close() {
    this.closed = true;
    this.sync.close();
    for (const c of this.cameras) c.close();
    this.cameras = [];
    this.node.remove();
  }
}

let open = null;

// Opens the playback view of `camera` (one view at a time); `at`: the time of an alarm or a
// search hit to play around, `before`: how long before it, `mark`: a hit's mark's title;
// `others`: [{id, title}] more cameras on the same clock from the start.
export function openPlayback(camera, { title = camera, at = null, before, mark, others = [] } = {}) {
  closePlayback();
  open = new Playback(camera, title, { at, before, mark });
  for (const o of others) open.add(o.id, o.title || o.id);
  document.body.append(open.node);
  open.load();
  return open;
}

export function closePlayback() {
  if (open) open.close();
  open = null;
}

export function currentPlayback() {
  return open;
}
