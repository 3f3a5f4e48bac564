// One camera's recorded timeline in the playback view (issue 13): over the view's window,
// what was recorded (green), the gaps (hatched red, their reason in the tooltip), segments
// that could not be played (grey), the camera's alarms and other marks (a search hit), and a
// cursor at the shared clock's time. A click anywhere on it asks to play from that time;
// a click on an alarm mark, from a little before the alarm.

export const clockText = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false });

function el(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

export class Timeline {
  // start, end: the window (Unix times); onSeek(t): a click asks to play from t;
  // before: how long before an alarm its mark plays from.
  constructor(start, end, onSeek, before) {
    this.start = start;
    this.end = end;
    this.onSeek = onSeek;
    this.before = before;
    this.node = el("div", "pb-timeline");
    this.node.title = "Click to play every camera from there";
    this.node.addEventListener("click", (e) => {
      const box = this.node.getBoundingClientRect();
      this.onSeek(this.start + ((e.clientX - box.left) / box.width) * (this.end - this.start));
    });
    this.cursor = el("div", "pb-cursor");
    this.node.append(this.cursor);
  }

  // A node spanning a..b (clipped to the window; a mark at least a sliver wide).
  place(node, a, b) {
    const span = this.end - this.start;
    const left = Math.max(0, (a - this.start) / span);
    const right = Math.min(1, (b - this.start) / span);
    node.style.left = `${left * 100}%`;
    node.style.width = `${Math.max(0.002, right - left) * 100}%`;
    return node;
  }

  // segments, gaps: as GET /api/cameras/{id}/recordings lists them; bad: indexes of
  // segments that could not be played; alarms: GET /api/alarms rows; marks: [{at, title}].
  draw({ segments = [], gaps = [], bad = new Set(), alarms = [], marks = [] }) {
    const parts = [];
    segments.forEach((s, i) => {
      const node = this.place(el("div", bad.has(i) ? "pb-seg pb-bad" : "pb-seg"), s.start, s.end);
      node.title = bad.has(i)
        ? `cannot be played ${clockText(s.start)}–${clockText(s.end)}${s.damaged ? `: ${s.damaged}` : ""}`
        : `recorded ${clockText(s.start)}–${clockText(s.end)}`;
      parts.push(node);
    });
    for (const g of gaps) {
      const node = this.place(el("div", "pb-gap"), g.start, g.end);
      node.title = `not recorded ${clockText(g.start)}–${clockText(g.end)}${g.reason ? `: ${g.reason}` : ""}`;
      parts.push(node);
    }
    for (const a of alarms) {
      const node = this.place(el("div", "pb-alarm"), a.occurred_at, a.occurred_at);
      node.title = `⚠ ${a.title || a.event_type} at ${clockText(a.occurred_at)}`;
      node.dataset.alarm = String(a.id);
      node.addEventListener("click", (e) => {
        e.stopPropagation();
        this.onSeek(a.occurred_at - this.before);
      });
      parts.push(node);
    }
    for (const m of marks) {
      const node = this.place(el("div", "pb-mark"), m.at, m.at);
      node.title = `${m.title} at ${clockText(m.at)}`;
      node.addEventListener("click", (e) => {
        e.stopPropagation();
        this.onSeek(m.at - this.before);
      });
      parts.push(node);
    }
    this.node.replaceChildren(...parts, this.cursor);
  }

  setCursor(t) {
    this.cursor.style.left = `${((t - this.start) / (this.end - this.start)) * 100}%`;
  }
}
