// The live alarm panel, fed by the API's alarm WebSocket (/api/alarms/live, alarms routed to
// the user's department), and camera health changes from /api/live.
// At login and after every reconnect the panel loads the department's open alarms, then
// follows the socket. A new alarm goes to the top of the panel and pops its camera into the
// alarm tile; a tile stays highlighted while its camera has any unacknowledged alarm.
import { api, apiJson, freshToken, renew, session } from "./api.js";
import { openPlayback } from "./playback.js";

const MAX_SHOWN = 200;
const RECONNECT_MS = [500, 1000, 2000, 5000];
const OPEN_STATES = ["new", "acknowledged"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const nextLogin = () => new Promise((resolve) =>
  session.addEventListener("login", () => resolve(), { once: true }));

// A WebSocket that reconnects with backoff. The token goes in the first message, never in
// the URL (URLs end up in access logs). The server answers "hello" once subscribed:
// onHello then loads what may have been missed. A 4401 close (session ended, or the token
// expired while the tab slept) renews the token, or waits for a sign-in if the session is
// gone.
function live(path, { onMessage, onState = () => {}, onHello = () => {} }) {
  let attempt = 0;
  const open = async () => {
    let token = await freshToken();
    while (!token) {
      await nextLogin();
      token = await freshToken();
    }
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${proto}://${location.host}${path}`);
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token }));
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.kind === "hello" || message.type === "hello") {
        attempt = 0;
        onState(true);
        onHello(message);
        return;
      }
      onMessage(message);
    };
    socket.onclose = async (event) => {
      onState(false);
      if (event.code === 4401 && await renew() === false) await nextLogin();
      const delay = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)];
      attempt += 1;
      setTimeout(open, delay);
    };
  };
  open();
}

export class AlarmPanel {
  // onChange(alarm, open): an alarm popped (open) or was handled (e.g. ring it on the map).
  // onChange(cameraId, alarmed): whether the camera still has unacknowledged alarms (e.g.
  // ring it on the map).
  constructor(list, liveDot, wall, catalog, onChange = () => {}) {
    this.onChange = onChange;
    wall.onAck = (alarm) => this.acknowledge(alarm);
    this.list = list;
    this.liveDot = liveDot;
    this.wall = wall;
    this.catalog = catalog;
    this.alarms = new Map();
  }

  connect() {
    live("/api/alarms/live", {
      onMessage: (message) => this.onAlarm(message),
      onState: (up) => {
        this.liveDot.className = `dot ${up ? "online" : "offline"}`;
      },
      onHello: () => this.loadOpen(),
    });
    live("/api/live", {
      onMessage: (message) => {
        if (message.type === "health") this.catalog.updateHealth(message);
      },
    });
  }

  // The department's open alarms (those raised before this login, or while the socket was
  // down); then alarms the panel shows as open but the API no longer lists were closed
  // meanwhile: read each once.
  async loadOpen() {
    let open;
    try {
      open = await apiJson("/api/alarms?open=true&limit=500");
    } catch (error) {
      console.warn("open alarms:", error.message);
      return;
    }
    const listed = new Set(open.map((a) => a.id));
    for (const alarm of open.slice().reverse()) this.merge(alarm, false);
    for (const [id, alarm] of this.alarms) {
      if (listed.has(id) || !OPEN_STATES.includes(alarm.state || "new")) continue;
      try {
        this.merge(await apiJson(`/api/alarms/${id}`), false);
      } catch {
        // Not the API's (a test message) or no longer visible: leave it as it is.
      }
    }
    // Nothing on the alarm tile yet (a fresh login): show the newest unacknowledged one.
    const newest = open.find((a) => a.state === "new");
    if (newest && !this.wall.alarm) this.wall.popAlarm(newest);
  }

  // Keep `alarm` unless the panel already has a newer state of it (a live change that
  // overtook the list); returns whether it was taken.
  merge(alarm, live) {
    const known = this.alarms.get(alarm.id);
    if (known && !live && (known.updated_at || 0) > (alarm.updated_at || 0)) return false;
    this.alarms.set(alarm.id, alarm);
    this.render(alarm);
    this.wall.noteAlarm(alarm);
    this.onChange(alarm.camera_id, this.wall.newAlarmsOf(alarm.camera_id).length > 0);
    return true;
  }

  onAlarm(message) {
    const alarm = message.alarm;
    if (!alarm) return;
    const known = this.alarms.has(alarm.id);
    this.merge(alarm, true);
    const isNew = alarm.state === undefined || alarm.state === "new";
    if (isNew && (!known || message.change === "created" || message.change === "escalated")) {
      this.wall.popAlarm(alarm);
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
    const footage = el("button", "footage", "⏪");
    footage.title = "The recorded video around the alarm";
    footage.addEventListener("click", (e) => {
      e.stopPropagation();
      openPlayback(alarm.camera_id, {
        title: camera ? camera.name : alarm.camera_name || alarm.camera_id,
        at: alarm.occurred_at,
      });
    });
    item.append(footage);
    if (!alarm.state || alarm.state === "new") {
      const ack = el("button", "ack", "Ack");
      ack.addEventListener("click", (e) => {
        e.stopPropagation();
        this.acknowledge(alarm);
      });
      item.append(ack);
    }
    item.addEventListener("click", () => this.wall.popAlarm(this.alarms.get(alarm.id) || alarm));
    const old = document.getElementById(id);
    if (old) old.replaceWith(item);
    else this.list.prepend(item);
    while (this.list.children.length > MAX_SHOWN) this.list.lastChild.remove();
  }

  async acknowledge(alarm) {
    let acked = { ...alarm, state: "acknowledged" };
    try {
      const response = await api(`/api/alarms/${alarm.id}/ack`, {
        method: "POST",
        json: { comment: "" },
      });
      acked = await response.json().catch(() => acked);
    } catch (error) {
      // Without the alarms API (or if it refuses) the wall still clears its own highlight.
      console.warn("acknowledge:", error.message);
    }
    this.merge(acked.state ? acked : { ...alarm, state: "acknowledged" }, true);
  }
}
