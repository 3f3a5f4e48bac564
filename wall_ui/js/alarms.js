// The live alarm panel, fed by the API's alarm WebSocket (/api/alarms/live, alarms routed to
// the user's department), and camera health changes from /api/live.
// A new alarm goes to the top of the panel and pops its camera into the alarm tile.
import { accessToken, api } from "./api.js";

const MAX_SHOWN = 200;
const RECONNECT_MS = [500, 1000, 2000, 5000];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A WebSocket that reconnects with backoff; a 4401 close (token expired) asks for a login.
function live(path, onMessage, onState = () => {}) {
  let attempt = 0;
  const open = () => {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const token = accessToken();
    const socket = new WebSocket(
      `${proto}://${location.host}${path}?token=${encodeURIComponent(token || "")}`);
    socket.onopen = () => {
      attempt = 0;
      onState(true);
    };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = async (event) => {
      onState(false);
      if (event.code === 4401) await api("/api/auth/me").catch(() => {});
      const delay = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)];
      attempt += 1;
      setTimeout(open, delay);
    };
  };
  open();
}

export class AlarmPanel {
  // onChange(alarm, open): an alarm popped (open) or was handled (e.g. ring it on the map).
  constructor(list, liveDot, wall, catalog, onChange = () => {}) {
    this.onChange = onChange;
    this.list = list;
    this.liveDot = liveDot;
    this.wall = wall;
    this.catalog = catalog;
    this.alarms = new Map();
  }

  connect() {
    live("/api/alarms/live", (message) => this.onAlarm(message), (up) => {
      this.liveDot.className = `dot ${up ? "online" : "offline"}`;
    });
    live("/api/live", (message) => {
      if (message.type === "health") this.catalog.updateHealth(message);
    });
  }

  onAlarm(message) {
    const alarm = message.alarm;
    if (!alarm) return;
    const known = this.alarms.has(alarm.id);
    this.alarms.set(alarm.id, alarm);
    this.render(alarm);
    const open = alarm.state === undefined || alarm.state === "new";
    if (open && (!known || message.change === "created" || message.change === "escalated")) {
      this.wall.popAlarm(alarm, (a) => this.acknowledge(a));
      this.onChange(alarm, true);
    }
    if (!open) {
      this.wall.clearAlarm(alarm.id);
      this.onChange(alarm, false);
    }
  }

  render(alarm) {
    const id = `alarm-${alarm.id}`;
    const camera = this.catalog.byId.get(alarm.camera_id);
    const when = new Date((alarm.occurred_at || Date.now() / 1000) * 1000);
    const item = el("li", `alarm ${alarm.severity || ""} ${alarm.state || "new"}`);
    item.id = id;
    item.dataset.camera = alarm.camera_id;
    const title = el("div", "title", alarm.title || alarm.event_type || "Alarm");
    const meta = el("div", "meta",
      `${camera ? camera.name : alarm.camera_name || alarm.camera_id} · ${when.toLocaleTimeString()} · ${alarm.state || "new"}`);
    item.append(title, meta);
    if (!alarm.state || alarm.state === "new") {
      const ack = el("button", "ack", "Ack");
      ack.addEventListener("click", (e) => {
        e.stopPropagation();
        this.acknowledge(alarm);
      });
      item.append(ack);
    }
    item.addEventListener("click", () => this.wall.popAlarm(alarm, (a) => this.acknowledge(a)));
    const old = document.getElementById(id);
    if (old) old.replaceWith(item);
    else this.list.prepend(item);
    while (this.list.children.length > MAX_SHOWN) this.list.lastChild.remove();
  }

  async acknowledge(alarm) {
    try {
      await api(`/api/alarms/${alarm.id}/ack`, { method: "POST", json: { comment: "" } });
    } catch (error) {
      // Without the alarms API (or if it refuses) the wall still clears its own highlight.
      console.warn("acknowledge:", error.message);
    }
    const acked = { ...alarm, state: "acknowledged" };
    this.alarms.set(alarm.id, acked);
    this.render(acked);
    this.wall.clearAlarm(alarm.id);
    this.onChange(acked, false);
  }
}
