// Several cameras' recorded video on one clock (issue 13): one timeline seek moves all of
// them, play/pause/speed/step apply to all, and each camera shows the picture its own
// recordings hold at the shared time ("not recorded" where it has a gap).
//
// The clock is the wall-clock time (Unix seconds) of the picture shown. While a camera's
// video plays, the clock follows that camera (the leader) rather than the page's own timer:
// a browser short of CPU plays slower than real time, and a timer would run ahead of every
// video and have them all seek forever. The others follow the clock: one whose picture is
// more than DRIFT_S away is put back on it, aiming ahead by what its last correction took,
// so that it lands on the clock rather than behind it. With no camera playing (every one in
// a gap, or between segments) the clock runs on its own timer; where no camera has anything
// recorded at its time it jumps to the next recorded picture of any of them.

export const DRIFT_S = 0.3;
const TICK_MS = 100;
// After a correction, a camera's video is left alone this long: its seek must settle.
const SETTLE_MS = 400;
// A paused picture further than this from the clock is moved to it (an eighth of a frame:
// every camera stops on the same picture, and a frame step moves each by one frame).
const STILL_S = 0.005;

export class SharedClock {
  constructor(t = 0) {
    this.t = t;
    this.rate = 1;
    this.playing = false;
    this.held = false; // a seek in progress: the time stands still until every camera is there
    this.anchor = performance.now();
  }

  now() {
    if (!this.playing || this.held) return this.t;
    return this.t + ((performance.now() - this.anchor) / 1000) * this.rate;
  }

  set(t) {
    this.t = t;
    this.anchor = performance.now();
  }

  play() {
    this.set(this.now());
    this.playing = true;
  }

  pause(at = this.now()) {
    this.set(at);
    this.playing = false;
  }

  setRate(rate) {
    this.set(this.now());
    this.rate = rate;
  }

  hold(t) {
    this.set(t);
    this.held = true;
  }

  release() {
    this.set(this.t);
    this.held = false;
  }
}

// Keeps `camera` (a RecordedCamera) on the clock: the segment covering the clock's time,
// its video playing at the clock's rate within DRIFT_S of it, or paused on its picture;
// "not recorded" where nothing covers the time.
export function follow(camera, clock) {
  if (camera.busy || !camera.loaded) return;
  const t = clock.now();
  const i = camera.indexAt(t);
  if (i < 0) {
    camera.showGap(t);
    return;
  }
  if (i !== camera.current || camera.inGap) {
    camera.switchTo(i, clock);
    return;
  }
  const v = camera.video;
  const target = camera.offsetAt(t);
  if (!clock.playing || clock.held) {
    if (!v.paused) v.pause();
    if (Math.abs(v.currentTime - target) > STILL_S) v.currentTime = target;
    camera.setState("paused");
    return;
  }
  if (v.seeking || performance.now() - camera.correctedAt < SETTLE_MS) return;
  camera.setRate(clock.rate);
  if (Math.abs(v.currentTime - target) > DRIFT_S) camera.correct(clock);
  else if (v.paused && !v.ended) v.play().catch(() => {});
  camera.setState("playing");
}

export class Sync {
  // cameras(): the RecordedCameras in the view; onTick(t) after each tick; say(text) notes.
  constructor(cameras, onTick, say) {
    this.clock = new SharedClock();
    this.cameras = cameras;
    this.onTick = onTick;
    this.say = say;
    this.leader = null;
    this.seeking = 0; // the number of the latest seek: an older one finishing is dropped
    this.target = null; // the time the latest seek went to
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  // The camera the clock follows: the last leader while it plays, or the first that does.
  pickLeader() {
    const playing = (c) => this.cameras().includes(c) && c.isPlaying();
    if (!playing(this.leader)) this.leader = this.cameras().find(playing) ?? null;
    return this.leader;
  }

  tick() {
    const clock = this.clock;
    if (clock.held) return;
    if (clock.playing) {
      const leader = this.pickLeader();
      if (leader) clock.set(leader.wallTime());
      else if (!this.anyRecordedAt(clock.now())) this.jumpGap(clock.now());
    }
    for (const camera of this.cameras()) follow(camera, clock);
    this.onTick(clock.now());
  }

  // Some camera shows (or is fetching) a picture at t, or has yet to say what it holds.
  anyRecordedAt(t) {
    return this.cameras().some((c) => c.busy || !c.loaded || c.indexAt(t) >= 0);
  }

  // Nothing recorded at t on any camera: on to the next recorded picture of any of them.
  jumpGap(t) {
    const next = this.nextRecorded(t);
    if (next == null) {
      this.say("end of the recordings");
      this.clock.pause(t);
      return;
    }
    this.say(`not recorded for ${Math.round(next - t)} s: jumped to ${new Date(next * 1000).toLocaleTimeString([], { hour12: false })}`);
    this.clock.set(next);
  }

  nextRecorded(t) {
    const starts = this.cameras().map((c) => c.nextStart(t)).filter((s) => s != null);
    return starts.length ? Math.min(...starts) : null;
  }

  // Every camera to the picture at t (t in a gap of all of them: the next recorded one),
  // the clock standing still until they are all there; then playing on if it was playing
  // (or `play`).
  async seek(t, { play = false } = {}) {
    const seek = ++this.seeking;
    if (!this.anyRecordedAt(t)) {
      const next = this.nextRecorded(t);
      if (next == null) {
        this.say("nothing recorded after this time");
        return;
      }
      t = next;
    }
    this.leader = null;
    this.target = t;
    this.clock.hold(t);
    if (play) this.clock.playing = true;
    await Promise.all(this.cameras().map((c) => c.showAt(this.clock)));
    if (seek !== this.seeking) return;
    this.clock.release();
    this.tick();
  }

  play() {
    this.clock.play();
    this.tick();
  }

  // Every video paused; the clock on the leader's picture, the others moved to it.
  pause() {
    const leader = this.clock.playing
      ? this.pickLeader() ?? this.cameras().find((c) => !c.busy && c.wallTime() != null)
      : null;
    for (const c of this.cameras()) c.video.pause();
    this.clock.pause(leader ? leader.wallTime() : this.clock.now());
    this.tick();
  }

  // Paused, one frame on: every camera's picture at the new time (set at once where the
  // segment is already loaded).
  step(frame) {
    if (this.clock.playing) this.pause();
    this.clock.set(this.clock.now() + frame);
    this.tick();
  }

  setRate(rate) {
    this.clock.setRate(rate);
    for (const c of this.cameras()) c.setRate(rate);
  }

  close() {
    clearInterval(this.timer);
    this.seeking += 1;
  }
}
