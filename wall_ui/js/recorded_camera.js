// One camera in the playback view (issue 13): its recorded segments and gaps over the view's
// window, its <video>, its timeline, and showing the picture its recordings hold at a time
// of the shared clock (js/playback_sync.js decides when; this module knows how).
//
// The timeline is GET /api/cameras/{id}/recordings; each segment is an fMP4 evidence file
// fetched with the session's token as a blob (as the alarm clip is), so every segment viewed
// is audited like any evidence view, and no token ever sits in a URL.
//
// Segments play one after the other in one <video>, its src switched to the segment that
// covers the clock's time (the next one is fetched while the current one plays). Not Media
// Source Extensions: each segment is a complete fMP4 with its own init segment and
// timestamps from 0, and the recorder cuts one at every parameter-set change (size or codec
// may change at a boundary); MSE would need a timestampOffset per segment, a re-initialised
// SourceBuffer and changeType() where the codec changes, and its failures are silent. A src
// switch costs a short pause at a boundary and nothing else, and works for every segment the
// browser plays. A segment that cannot be fetched or played is marked on the timeline and
// skipped: its time shows as not recorded and playing goes on with the next one.
import { api, apiJson } from "./api.js";
import { Timeline, clockText } from "./timeline.js";

// A segment ending within this of the next one's start joins it (the recorder joins them
// within a frame); a larger distance is a gap.
const JOIN_S = 0.5;
// How long a seek waits for a camera's picture before the clock goes on without it.
const SETTLE_LIMIT_MS = 3000;

const evidencePath = (ref) => `/api/evidence/${ref.split("/").map(encodeURIComponent).join("/")}`;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class RecordedCamera {
  // camera: id; title: its name; view: {start, end, before, marks, onSeek, onRemove}.
  constructor(camera, title, view) {
    this.camera = camera;
    this.title = title;
    this.start = view.start;
    this.end = view.end;
    this.marks = view.marks || [];
    this.segments = [];
    this.gaps = [];
    this.alarms = [];
    this.bad = new Set(); // indexes of segments that could not be fetched or played
    this.loaded = false; // the recordings were asked for (answered or refused)
    this.current = -1; // index in segments of what the video holds
    this.inGap = false; // the clock's time is not recorded here: no picture shown
    this.busy = false; // fetching or opening a segment
    this.switching = null;
    this.correctedAt = -Infinity; // performance.now() of the last drift correction
    this.corrections = 0;
    this.lead = 0.1; // seconds a correction's seek took, the last ones averaged
    this.urls = new Map(); // segment index -> blob URL (or its pending promise)
    this.closed = false;
    this.build(view);
  }

  build(view) {
    this.node = el("div", "pb-camera");
    this.node.dataset.camera = this.camera;
    const head = el("div", "pb-camera-head");
    this.note = el("span", "pb-cam-note muted", "loading the recordings…");
    const remove = el("button", "pb-remove", "✕");
    remove.title = "Remove this camera from the playback";
    remove.addEventListener("click", () => view.onRemove(this));
    head.append(el("span", "pb-cam-name", this.title), this.note, remove);
    this.video = el("video", "pb-video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.addEventListener("error", () => {
      if (!this.closed && this.current >= 0 && this.video.getAttribute("src")) this.skip(this.current);
    });
    this.gapNote = el("div", "pb-gapnote", "not recorded");
    this.node.append(head, this.video, this.gapNote);
    this.track = el("div", "pb-track");
    this.track.dataset.camera = this.camera;
    this.timeline = new Timeline(this.start, this.end, view.onSeek, view.before);
    this.track.append(el("span", "pb-track-name", this.title), this.timeline.node);
  }

  async load() {
    const q = `start=${this.start}&end=${this.end}`;
    const id = encodeURIComponent(this.camera);
    try {
      const body = await apiJson(`/api/cameras/${id}/recordings?${q}`);
      this.segments = body.segments;
      this.gaps = body.gaps;
      // Found damaged as listed (missing, truncated, not an MP4): skipped without a try.
      this.segments.forEach((s, i) => { if (s.damaged) this.bad.add(i); });
    } catch (err) {
      this.say(`no recordings: ${err.message}`);
    }
    // The camera's alarms in the window (those routed to the caller's department).
    try {
      const since = Math.floor(this.start);
      const alarms = await apiJson(`/api/alarms?camera_id=${id}&since=${since}&limit=200`);
      this.alarms = alarms.filter((a) => a.occurred_at >= this.start && a.occurred_at <= this.end);
    } catch {
      this.alarms = []; // the footage plays without its alarm marks
    }
    if (this.closed) return;
    this.draw();
    if (this.segments.length) this.say("");
    else if (!this.note.textContent.startsWith("no recordings")) this.say("nothing recorded in this time");
    this.loaded = true;
  }

  draw() {
    const { segments, gaps, bad, alarms, marks } = this;
    this.timeline.draw({ segments, gaps, bad, alarms, marks });
  }

  // The segment holding t (a join between two counts as the later one), or -1.
  indexAt(t) {
    return this.segments.findIndex((s, i) => !this.bad.has(i) && t >= s.start - JOIN_S && t < s.end);
  }

  // The start of the first playable segment after t, or null.
  nextStart(t) {
    const i = this.segments.findIndex((s, n) => !this.bad.has(n) && s.start > t);
    return i < 0 ? null : this.segments[i].start;
  }

  // Where in the current segment's video the wall-clock time t is.
  offsetAt(t) {
    const seg = this.segments[this.current];
    const length = this.video.duration || seg.end - seg.start;
    return Math.min(Math.max(0, t - seg.start), length);
  }

  // The wall-clock time of the picture shown (null when none is).
  wallTime() {
    if (this.current < 0 || this.inGap) return null;
    return this.segments[this.current].start + this.video.currentTime;
  }

  // The picture is moving: this camera can lead the clock.
  isPlaying() {
    const v = this.video;
    return !this.busy && !this.inGap && this.current >= 0 && !v.paused && !v.seeking &&
      !v.ended && v.readyState >= 3;
  }

  // Opens segment i at the clock's time, playing if the clock plays; one at a time.
  switchTo(i, clock) {
    if (!this.switching) {
      this.busy = true;
      this.setState("loading");
      this.switching = this.open(i, clock).finally(() => {
        this.busy = false;
        this.switching = null;
      });
    }
    return this.switching;
  }

  async open(i, clock) {
    let url;
    try {
      url = await this.urlOf(i);
    } catch (err) {
      // Gone with retention, or held on another node: say so and go on without it.
      this.skip(i, `unavailable (${err.message})`);
      return;
    }
    if (this.closed) return;
    this.current = i;
    this.showPicture();
    this.node.dataset.segment = String(i);
    if (this.video.src !== url) {
      this.video.src = url;
      const done = new AbortController();
      const opened = await new Promise((resolve) => {
        this.video.addEventListener("loadedmetadata", () => resolve(true), { signal: done.signal });
        this.video.addEventListener("error", () => resolve(false), { signal: done.signal });
      });
      done.abort();
      if (!opened || this.closed) return; // the error listener skipped it
    }
    // A new src resets the rate to the default one: both keep the clock's.
    this.setRate(clock.rate);
    this.video.currentTime = this.offsetAt(clock.now());
    if (clock.playing && !clock.held) this.video.play().catch(() => {});
    this.forget();
    this.urlOf(i + 1).catch(() => {}); // ready before this one ends
  }

  // A seek: the picture at the clock's (held) time, resolved once it shows or after a limit.
  async showAt(clock) {
    if (this.switching) await this.switching;
    if (!this.loaded || this.closed) return;
    const t = clock.now();
    const i = this.indexAt(t);
    if (i < 0) {
      this.showGap(t);
      return;
    }
    if (i !== this.current || this.inGap) await this.switchTo(i, clock);
    else this.video.currentTime = this.offsetAt(t);
    if (!this.video.seeking) return;
    await new Promise((resolve) => {
      this.video.addEventListener("seeked", resolve, { once: true });
      setTimeout(resolve, SETTLE_LIMIT_MS);
    });
  }

  // Back on the clock after drifting: aims ahead by what the last correction took.
  correct(clock) {
    const started = performance.now();
    this.correctedAt = started;
    this.corrections += 1;
    this.node.dataset.corrections = String(this.corrections);
    this.video.currentTime = this.offsetAt(clock.now() + this.lead * clock.rate);
    this.video.addEventListener("seeked", () => {
      this.lead = Math.min(1, (this.lead + (performance.now() - started) / 1000) / 2);
    }, { once: true });
    if (this.video.paused) this.video.play().catch(() => {});
  }

  // Nothing recorded here at t: no picture, and why where the index knows.
  showGap(t) {
    if (!this.video.paused) this.video.pause();
    if (this.inGap) return;
    const gap = this.gaps.find((g) => g.start <= t && t < g.end);
    this.gapNote.textContent = `not recorded${gap?.reason ? ` (${gap.reason})` : ""}`;
    this.inGap = true;
    this.node.classList.add("in-gap");
    this.setState("gap");
  }

  showPicture() {
    this.inGap = false;
    this.node.classList.remove("in-gap");
  }

  // Segment i cannot be fetched or played: marked, and its time treated as not recorded.
  skip(i, why = "cannot be played") {
    if (this.bad.has(i)) return;
    this.bad.add(i);
    this.say(`segment ${clockText(this.segments[i].start)} ${why}: skipped`);
    if (i === this.current) {
      this.video.pause();
      this.current = -1;
    }
    this.draw();
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

  setRate(rate) {
    if (this.video.playbackRate === rate && this.video.defaultPlaybackRate === rate) return;
    this.video.defaultPlaybackRate = rate;
    this.video.playbackRate = rate;
  }

  setState(state) {
    if (this.node.dataset.state !== state) this.node.dataset.state = state;
  }

  // The cursor and the picture's own time (data-time: for scripts and the tests).
  showTime(t) {
    this.timeline.setCursor(t);
    const own = this.wallTime();
    if (own != null) this.node.dataset.time = own.toFixed(2);
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
    this.track.remove();
  }
}
