// Recorded video of one camera (issue 13): a timeline of the last hours (or of the time
// around an alarm) showing what was recorded, the gaps and the camera's alarms; click it to
// seek; play/pause, 1×/2×/4×, a frame forward, and playing on across segment boundaries.
//
// The timeline is GET /api/cameras/{id}/recordings; each segment is an fMP4 evidence file
// fetched with the session's token as a blob (as the alarm clip is), so every segment viewed
// is audited like any evidence view, and no token ever sits in a URL.
//
// Segments play one after the other in one <video>, its src switched to the next segment's
// blob on `ended` (the next one is fetched while the current one plays). Not Media Source
// Extensions: each segment is a complete fMP4 with its own init segment and timestamps from
// 0, and the recorder cuts one at every parameter-set change (size or codec may change at a
// boundary); MSE would need a timestampOffset per segment, a re-initialised SourceBuffer and
// changeType() where the codec changes, and its failures are silent. A src switch costs a
// short pause at a boundary and nothing else, and works for every segment the browser plays.
import { api, apiJson, ApiError } from "./api.js";

const WINDOW_S = 2 * 3600; // the timeline from a tile: the last two hours
const AROUND_ALARM_S = 15 * 60; // from an alarm: a quarter of an hour either side
const BEFORE_ALARM_S = 10; // and playing from a little before it
const LATEST_S = 60; // from a tile: playing the last minute recorded
const FRAME_S = 1 / 25;
const SPEEDS = [1, 2, 4];
// A segment ending within this of the next one's start joins it (the recorder joins them
// within a frame); a larger distance is a gap the player jumps.
const JOIN_S = 0.5;

const evidencePath = (ref) => `/api/evidence/${ref.split("/").map(encodeURIComponent).join("/")}`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });

class Playback {
  // camera: id; title: shown name; at: Unix time to start from (null: the last recording).
  constructor(camera, title, at) {
    this.camera = camera;
    const now = Date.now() / 1000;
    this.start = at == null ? now - WINDOW_S : at - AROUND_ALARM_S;
    this.end = at == null ? now : Math.min(now, at + AROUND_ALARM_S);
    if (this.end <= this.start) this.end = this.start + 1;
    this.at = at;
    this.segments = [];
    this.gaps = [];
    this.alarms = [];
    this.current = -1; // index in segments of what the video plays
    this.urls = new Map(); // segment index -> blob URL (or its pending promise)
    this.closed = false;
    this.build(title);
  }

  build(title) {
    this.node = el("div", "playback");
    this.node.setAttribute("role", "dialog");
    this.node.setAttribute("aria-label", `Playback: ${title}`);
    this.node.dataset.camera = this.camera;
    const head = el("div", "pb-head");
    const close = el("button", "pb-close", "✕");
    close.title = "Close playback";
    close.addEventListener("click", () => closePlayback());
    this.note = el("span", "pb-note muted", "loading the recordings…");
    head.append(el("strong", "", `⏪ ${title}`), this.note, close);
    this.video = el("video", "pb-video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.addEventListener("ended", () => this.next());
    this.video.addEventListener("timeupdate", () => this.showTime());
    this.video.addEventListener("play", () => this.showState());
    this.video.addEventListener("pause", () => this.showState());
    this.video.addEventListener("error", () => this.say("this segment cannot be played"));
    const bar = el("div", "pb-controls");
    this.playButton = el("button", "pb-play", "▶");
    this.playButton.title = "Play / pause";
    this.playButton.addEventListener("click", () => this.toggle());
    const step = el("button", "pb-step", "⏭ frame");
    step.title = "Pause and show the next frame";
    step.addEventListener("click", () => this.stepFrame());
    this.speed = el("select", "pb-speed");
    this.speed.setAttribute("aria-label", "Speed");
    for (const s of SPEEDS) this.speed.append(new Option(`${s}×`, String(s)));
    this.speed.addEventListener("change", () => this.setSpeed(Number(this.speed.value)));
    this.timeLabel = el("span", "pb-time", "");
    bar.append(this.playButton, step, this.speed, this.timeLabel);
    this.timeline = el("div", "pb-timeline");
    this.timeline.title = "Click to play from there";
    this.timeline.addEventListener("click", (e) => {
      const box = this.timeline.getBoundingClientRect();
      const t = this.start + ((e.clientX - box.left) / box.width) * (this.end - this.start);
      this.seek(t);
    });
    this.cursor = el("div", "pb-cursor");
    const scale = el("div", "pb-scale");
    scale.append(el("span", "", clock(this.start)), el("span", "", clock(this.end)));
    this.node.append(head, this.video, bar, this.timeline, scale);
  }

  async load() {
    const q = `start=${this.start}&end=${this.end}`;
    try {
      const body = await apiJson(`/api/cameras/${encodeURIComponent(this.camera)}/recordings?${q}`);
      this.segments = body.segments;
      this.gaps = body.gaps;
    } catch (err) {
      this.say(`no recordings: ${err.message}`);
      return;
    }
    // The camera's alarms in the window (those routed to the caller's department).
    try {
      const since = Math.floor(this.start);
      const alarms = await apiJson(
        `/api/alarms?camera_id=${encodeURIComponent(this.camera)}&since=${since}&limit=200`);
      this.alarms = alarms.filter((a) => a.occurred_at >= this.start && a.occurred_at <= this.end);
    } catch {
      this.alarms = []; // the footage plays without its alarm marks
    }
    if (this.closed) return;
    this.drawTimeline();
    if (!this.segments.length) {
      this.say("nothing recorded in this time");
      return;
    }
    this.say("");
    // From a tile: the last minute recorded (a seek into a gap plays on from its end).
    const last = this.segments[this.segments.length - 1].end;
    const from = this.at == null ? last - LATEST_S : this.at - BEFORE_ALARM_S;
    await this.seek(from);
  }

  drawTimeline() {
    const span = this.end - this.start;
    const place = (node, a, b) => {
      const left = Math.max(0, (a - this.start) / span);
      const right = Math.min(1, (b - this.start) / span);
      node.style.left = `${left * 100}%`;
      node.style.width = `${Math.max(0.002, right - left) * 100}%`;
      return node;
    };
    const parts = [];
    for (const s of this.segments) {
      const node = place(el("div", "pb-seg"), s.start, s.end);
      node.title = `recorded ${clock(s.start)}–${clock(s.end)}`;
      parts.push(node);
    }
    for (const g of this.gaps) {
      const node = place(el("div", "pb-gap"), g.start, g.end);
      node.title = `not recorded ${clock(g.start)}–${clock(g.end)}${g.reason ? `: ${g.reason}` : ""}`;
      parts.push(node);
    }
    for (const a of this.alarms) {
      const node = place(el("div", "pb-alarm"), a.occurred_at, a.occurred_at);
      node.title = `⚠ ${a.title || a.event_type} at ${clock(a.occurred_at)}`;
      node.dataset.alarm = String(a.id);
      node.addEventListener("click", (e) => {
        e.stopPropagation();
        this.seek(a.occurred_at - BEFORE_ALARM_S);
      });
      parts.push(node);
    }
    this.timeline.replaceChildren(...parts, this.cursor);
  }

  // The segment holding t, or the first one after it (t in a gap plays on from its end).
  indexAt(t) {
    const i = this.segments.findIndex((s) => t < s.end);
    return i;
  }

  async seek(t) {
    const i = this.indexAt(t);
    if (i < 0) {
      this.say("nothing recorded after this time");
      return;
    }
    const seg = this.segments[i];
    await this.playSegment(i, Math.max(0, t - seg.start));
  }

  async playSegment(i, offset) {
    const seg = this.segments[i];
    let url;
    try {
      url = await this.urlOf(i);
    } catch (err) {
      // Gone with retention, or held on another node: say so and go on with the next one.
      this.say(`segment ${clock(seg.start)} unavailable (${err.message})`);
      if (i + 1 < this.segments.length && !(err instanceof ApiError && err.status === 403)) {
        await this.playSegment(i + 1, 0);
      }
      return;
    }
    if (this.closed) return;
    const rate = Number(this.speed.value);
    const wasPaused = this.current >= 0 && this.video.paused && !this.video.ended;
    this.current = i;
    this.node.dataset.segment = String(i);
    if (this.video.src !== url) {
      this.video.src = url;
      await new Promise((resolve) => {
        this.video.addEventListener("loadedmetadata", resolve, { once: true });
        this.video.addEventListener("error", resolve, { once: true });
      });
    }
    if (this.closed) return;
    // A new src resets the rate to the default one: both keep the chosen speed.
    this.video.defaultPlaybackRate = rate;
    this.video.playbackRate = rate;
    this.video.currentTime = Math.min(offset, Math.max(0, (this.video.duration || 0) - 0.05));
    if (!wasPaused) await this.video.play().catch(() => {});
    this.forget();
    this.urlOf(i + 1).catch(() => {}); // ready before this one ends
    this.showTime();
  }

  // The next segment when one ends: across a gap, from the next recorded picture.
  async next() {
    const i = this.current + 1;
    if (i >= this.segments.length) {
      this.say("end of the recordings");
      this.showState();
      return;
    }
    const gap = this.segments[i].start - this.segments[this.current].end;
    if (gap > JOIN_S) this.say(`not recorded for ${Math.round(gap)} s: jumped to ${clock(this.segments[i].start)}`);
    await this.playSegment(i, 0);
  }

  urlOf(i) {
    if (i < 0 || i >= this.segments.length) return Promise.reject(new Error("no segment"));
    let entry = this.urls.get(i);
    if (!entry) {
      entry = api(evidencePath(this.segments[i].ref))
        .then((r) => r.blob())
        .then((blob) => URL.createObjectURL(blob));
      entry.catch(() => this.urls.delete(i)); // asked again next time
      this.urls.set(i, entry);
    }
    return entry;
  }

  // Blobs are whole segments (megabytes each): keep only the current one and its neighbours.
  forget() {
    for (const [i, entry] of this.urls) {
      if (Math.abs(i - this.current) > 1) {
        this.urls.delete(i);
        entry.then((url) => URL.revokeObjectURL(url)).catch(() => {});
      }
    }
  }

  toggle() {
    if (this.current < 0) return;
    if (this.video.paused) this.video.play().catch(() => {});
    else this.video.pause();
  }

  stepFrame() {
    if (this.current < 0) return;
    this.video.pause();
    this.video.currentTime = Math.min(this.video.currentTime + FRAME_S, this.video.duration || Infinity);
  }

  setSpeed(rate) {
    this.video.defaultPlaybackRate = rate;
    this.video.playbackRate = rate;
  }

  // The wall-clock time of the picture shown.
  now() {
    if (this.current < 0) return null;
    return this.segments[this.current].start + this.video.currentTime;
  }

  showTime() {
    const t = this.now();
    if (t == null) return;
    this.timeLabel.textContent = new Date(t * 1000).toLocaleString([], { hour12: false });
    this.cursor.style.left = `${((t - this.start) / (this.end - this.start)) * 100}%`;
    this.node.dataset.time = t.toFixed(2);
  }

  showState() {
    this.playButton.textContent = this.video.paused ? "▶" : "⏸";
  }

  say(text) {
    this.note.textContent = text;
  }

  close() {
    this.closed = true;
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
    for (const entry of this.urls.values()) entry.then((url) => URL.revokeObjectURL(url)).catch(() => {});
    this.urls.clear();
    this.node.remove();
  }
}

let open = null;

// Opens the playback view of `camera` (one at a time); `at`: an alarm's time to play around.
export function openPlayback(camera, { title = camera, at = null } = {}) {
  closePlayback();
  open = new Playback(camera, title, at);
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
